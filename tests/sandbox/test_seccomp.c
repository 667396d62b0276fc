/* The compact hand-laid seccomp filter against the libseccomp-compiled
 * reference of the same policy: both are run through a classic-BPF
 * interpreter over every syscall number and the interesting arguments,
 * and must decide the same (the compact one is stricter only on arguments
 * with high bits set, which the kernel ignores). Then the compact filter is
 * installed in a child and the kernel's answers are checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner/sandbox/sbx_internal.h"

/* Runs a seccomp cBPF program (the subset both builders emit). */
static uint32_t bpf_run(const struct sock_fprog *p, const struct seccomp_data *d)
{
    uint32_t a = 0;
    for (unsigned pc = 0; pc < p->len; pc++) {
        const struct sock_filter *f = &p->filter[pc];
        switch (f->code) {
        case BPF_LD | BPF_W | BPF_ABS:
            assert_true(f->k + 4 <= sizeof *d);
            memcpy(&a, (const char *)d + f->k, 4);
            break;
        case BPF_JMP | BPF_JA:
            pc += f->k;
            break;
        case BPF_JMP | BPF_JEQ | BPF_K:
            pc += a == f->k ? f->jt : f->jf;
            break;
        case BPF_JMP | BPF_JGE | BPF_K:
            pc += a >= f->k ? f->jt : f->jf;
            break;
        case BPF_JMP | BPF_JGT | BPF_K:
            pc += a > f->k ? f->jt : f->jf;
            break;
        case BPF_JMP | BPF_JSET | BPF_K:
            pc += (a & f->k) ? f->jt : f->jf;
            break;
        case BPF_ALU | BPF_AND | BPF_K:
            a &= f->k;
            break;
        case BPF_RET | BPF_K:
            return f->k;
        default:
            fail_msg("unexpected BPF opcode 0x%x at %u", f->code, pc);
        }
    }
    fail_msg("BPF program fell off its end");
    return 0;
}

static struct sock_fprog compact, reference;

static int setup(void **state)
{
    (void)state;
    dp_err err = {0};
    if (sbx_seccomp_build(&compact, &err) || sbx_seccomp_build_reference(&reference, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(compact.filter);
    free(reference.filter);
    return 0;
}

static void test_compact_is_shorter(void **state)
{
    (void)state;
    printf("# compact %u instructions, libseccomp %u\n", compact.len, reference.len);
    assert_true(compact.len < reference.len);
}

static void test_same_decisions(void **state)
{
    (void)state;
    static const uint64_t vals[] = {0,
                                    1,
                                    AF_INET,
                                    AF_INET6,
                                    AF_UNIX,
                                    AF_NETLINK,
                                    AF_PACKET,
                                    AF_VSOCK,
                                    AF_KEY,
                                    AF_BLUETOOTH,
                                    AF_ALG,
                                    AF_TIPC,
                                    AF_RDS,
                                    AF_CAN,
                                    AF_XDP,
                                    AF_INET6 + 1,
                                    AF_MAX,
                                    ADDR_NO_RANDOMIZE,
                                    READ_IMPLIES_EXEC,
                                    SIGCHLD,
                                    CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_THREAD | SIGCHLD,
                                    CLONE_NEWUSER,
                                    CLONE_NEWNS | SIGCHLD,
                                    CLONE_NEWPID,
                                    CLONE_NEWNET,
                                    CLONE_NEWIPC,
                                    CLONE_NEWUTS,
                                    CLONE_NEWCGROUP,
                                    0755,
                                    04755,
                                    02755,
                                    06777,
                                    TIOCSTI,
                                    TIOCGWINSZ,
                                    0xffffffffu};
    size_t nv = sizeof vals / sizeof vals[0];
    unsigned differ = 0, checked = 0;
    struct seccomp_data d;
    for (int nr = 0; nr < 1024; nr++)
        for (int argi = 0; argi < 3; argi++)
            for (size_t v = 0; v < nv; v++) {
                memset(&d, 0, sizeof d);
                d.nr = nr;
                d.arch = AUDIT_ARCH_X86_64;
#if defined(__aarch64__)
                d.arch = AUDIT_ARCH_AARCH64;
#endif
                d.args[argi] = vals[v];
                uint32_t c = bpf_run(&compact, &d), r = bpf_run(&reference, &d);
                if (c != r) {
                    printf("# nr %d arg%d=0x%llx: compact 0x%x, libseccomp 0x%x\n", nr, argi,
                           (unsigned long long)vals[v], c, r);
                    differ++;
                }
                checked++;
            }
    /* Foreign architecture and (x86_64) the x32 ABI: killed by both. */
    memset(&d, 0, sizeof d);
    d.arch = AUDIT_ARCH_I386;
    assert_int_equal(bpf_run(&compact, &d), SECCOMP_RET_KILL_PROCESS);
    assert_int_equal(bpf_run(&reference, &d), SECCOMP_RET_KILL_PROCESS);
#if defined(__x86_64__)
    d.arch = AUDIT_ARCH_X86_64;
    d.nr = 0x40000000 + SYS_getpid;
    assert_int_equal(bpf_run(&compact, &d), SECCOMP_RET_KILL_PROCESS);
    assert_int_equal(bpf_run(&reference, &d), SECCOMP_RET_KILL_PROCESS);
    /* Stricter: TIOCSTI with high bits set (the kernel drops them). */
    d.nr = SYS_ioctl;
    d.args[1] = TIOCSTI | (1ull << 32);
    assert_int_equal(bpf_run(&compact, &d), SECCOMP_RET_ERRNO | EPERM);
#endif
    printf("# %u decisions compared, %u differ\n", checked, differ);
    assert_int_equal(differ, 0);
}

/* Installed for real: the kernel gives the answers the policy says. */
static void test_installed(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int bad = 0;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
            syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &compact))
            _exit(100);
        errno = 0;
        bad |= !(syscall(SYS_umount2, "/nonexistent", 0) < 0 && errno == EPERM) << 0;
        bad |= !(syscall(SYS_ptrace, 0, 0, 0, 0) < 0 && errno == EPERM) << 1;
        bad |= !(socket(AF_NETLINK, SOCK_RAW, 0) < 0 && errno == EAFNOSUPPORT) << 2;
        bad |= !(syscall(SYS_clone3, NULL, 0) < 0 && errno == ENOSYS) << 3;
        bad |= !(unshare(CLONE_NEWNS) < 0 && errno == EPERM) << 4;
        bad |= !(syscall(SYS_fchmod, -1, 04755) < 0 && errno == EPERM) << 5;
        int fd = socket(AF_INET, SOCK_DGRAM, 0); /* allowed */
        bad |= (fd < 0) << 6;
        bad |= (getpid() <= 0) << 7;
        bad |= !(socket(AF_ALG, SOCK_SEQPACKET, 0) < 0 && errno == EAFNOSUPPORT) << 8;
        bad |= !(socket(AF_TIPC, SOCK_RDM, 0) < 0 && errno == EAFNOSUPPORT) << 9;
        bad |= !(personality(ADDR_NO_RANDOMIZE) < 0 && errno == EPERM) << 10;
        bad |= (personality(0xffffffff) < 0) << 11; /* the query stays */
        bad |= (socket(AF_UNIX, SOCK_STREAM, 0) < 0) << 12;
        bad |= (socket(AF_INET6, SOCK_STREAM, 0) < 0 && errno == EAFNOSUPPORT) << 13;
#if defined(__x86_64__)
        bad |= !(syscall(SYS_modify_ldt, 0, NULL, 0) < 0 && errno == EPERM) << 14;
#endif
        if (bad)
            fprintf(stderr, "# kernel answers differ from the policy: bits 0x%x\n", bad);
        _exit(bad ? 1 : 0); /* an exit status keeps 8 bits only */
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compact_is_shorter),
        cmocka_unit_test(test_same_decisions),
        cmocka_unit_test(test_installed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
