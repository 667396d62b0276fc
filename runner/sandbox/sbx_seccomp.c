/* The sandbox's seccomp filter, built once per sbx and kept as a BPF
 * program the child installs right before execve. Default allow, with a
 * deny list of the kernel surfaces untrusted code never needs, and an
 * allow list of socket families (AF_UNIX, AF_INET, AF_INET6): every other
 * family (AF_ALG, TIPC, RDS, CAN, XDP, netlink, packet, ...) is a kernel
 * attack surface a judged program never needs. */
#include "runner/sandbox/sbx_internal.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

/* Denied with EPERM; names unknown to this libseccomp are skipped. */
static const char *const seccomp_denied[] = {"ptrace",
                                             "process_vm_readv",
                                             "process_vm_writev",
                                             "keyctl",
                                             "add_key",
                                             "request_key",
                                             "bpf",
                                             "perf_event_open",
                                             "userfaultfd",
                                             "io_uring_setup",
                                             "io_uring_enter",
                                             "io_uring_register",
                                             "mount",
                                             "umount",
                                             "umount2",
                                             "mount_setattr",
                                             "move_mount",
                                             "open_tree",
                                             "fsopen",
                                             "fsconfig",
                                             "fsmount",
                                             "fspick",
                                             "pivot_root",
                                             "chroot",
                                             "unshare",
                                             "setns",
                                             "kexec_load",
                                             "kexec_file_load",
                                             "reboot",
                                             "swapon",
                                             "swapoff",
                                             "init_module",
                                             "finit_module",
                                             "delete_module",
                                             "acct",
                                             "syslog",
                                             "quotactl",
                                             "quotactl_fd",
                                             "name_to_handle_at",
                                             "open_by_handle_at",
                                             "iopl",
                                             "ioperm",
                                             "lookup_dcookie",
                                             "settimeofday",
                                             "clock_settime",
                                             "clock_adjtime",
                                             "adjtimex",
                                             "vhangup",
                                             "pidfd_getfd",
                                             "kcmp",
                                             "fanotify_init",
                                             "uselib",
                                             "nfsservctl",
                                             "move_pages",
                                             "migrate_pages",
                                             "mbind",
                                             "set_mempolicy",
                                             "landlock_create_ruleset",
                                             "modify_ldt",
                                             NULL};

/* The only socket families allowed (socket, socketpair); others: EAFNOSUPPORT. */
static const unsigned sbx_socket_families[] = {AF_UNIX, AF_INET, AF_INET6};

/* personality: only the query (0xffffffff) is allowed; setting one
 * (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, ...) weakens the process: EPERM. */
#define SBX_PERSONALITY_QUERY 0xffffffffu

static int seccomp_rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
                        const struct scmp_arg_cmp *cmp)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0; /* not on this architecture or unknown to libseccomp */
    return seccomp_rule_add_array(ctx, action, nr, n, cmp);
}

static int deny_family(scmp_filter_ctx ctx, enum scmp_compare op, unsigned family)
{
    struct scmp_arg_cmp c = {.arg = 0, .op = op, .datum_a = family, .datum_b = 0};
    int rc = seccomp_rule(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socket", 1, &c);
    return rc ? rc : seccomp_rule(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socketpair", 1, &c);
}

static int seccomp_add_all(scmp_filter_ctx ctx)
{
    const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
    int rc = 0;
    for (size_t i = 0; seccomp_denied[i] && rc == 0; i++)
        rc = seccomp_rule(ctx, eperm, seccomp_denied[i], 0, NULL);
    /* libseccomp has no "not in": deny each family below, between and
     * above the allowed ones (sbx_socket_families is sorted). */
    unsigned lo = 0;
    for (size_t i = 0; i < sizeof sbx_socket_families / sizeof sbx_socket_families[0]; i++) {
        for (unsigned fam = lo; fam < sbx_socket_families[i] && rc == 0; fam++)
            rc = deny_family(ctx, SCMP_CMP_EQ, fam);
        lo = sbx_socket_families[i] + 1;
    }
    if (rc == 0)
        rc = deny_family(ctx, SCMP_CMP_GE, lo);
    if (rc == 0) {
        struct scmp_arg_cmp c = {
            .arg = 0, .op = SCMP_CMP_NE, .datum_a = SBX_PERSONALITY_QUERY, .datum_b = 0};
        rc = seccomp_rule(ctx, eperm, "personality", 1, &c);
    }
    static const unsigned long ns_flags[] = {CLONE_NEWUSER,  CLONE_NEWNS,  CLONE_NEWPID,
                                             CLONE_NEWNET,   CLONE_NEWIPC, CLONE_NEWUTS,
                                             CLONE_NEWCGROUP};
    for (size_t i = 0; i < sizeof ns_flags / sizeof ns_flags[0] && rc == 0; i++) {
        struct scmp_arg_cmp c = {
            .arg = 0, .op = SCMP_CMP_MASKED_EQ, .datum_a = ns_flags[i], .datum_b = ns_flags[i]};
        rc = seccomp_rule(ctx, eperm, "clone", 1, &c);
    }
    /* clone3 passes flags in memory we cannot inspect: ENOSYS makes libc fall back to clone. */
    if (rc == 0)
        rc = seccomp_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
    static const struct {
        const char *name;
        unsigned arg;
    } chmods[] = {{"chmod", 1}, {"fchmod", 1}, {"fchmodat", 2}, {"fchmodat2", 2}};
    static const unsigned long setid_bits[] = {S_ISUID, S_ISGID};
    for (size_t i = 0; i < sizeof chmods / sizeof chmods[0] && rc == 0; i++)
        for (size_t b = 0; b < 2 && rc == 0; b++) {
            struct scmp_arg_cmp c = {chmods[i].arg, SCMP_CMP_MASKED_EQ, setid_bits[b],
                                     setid_bits[b]};
            rc = seccomp_rule(ctx, eperm, chmods[i].name, 1, &c);
        }
    if (rc == 0) {
        struct scmp_arg_cmp c = {.arg = 1, .op = SCMP_CMP_EQ, .datum_a = TIOCSTI, .datum_b = 0};
        rc = seccomp_rule(ctx, eperm, "ioctl", 1, &c);
    }
    return rc;
}

int sbx_seccomp_build_reference(struct sock_fprog *prog, dp_err *err)
{
    memset(prog, 0, sizeof *prog);
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return dp_err_set(err, DP_EINTERNAL, "seccomp: seccomp_init failed");
    /* Foreign architectures (x32, i386 on x86_64) are killed outright. */
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (rc == 0)
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0); /* the child sets it itself */
    if (rc == 0) /* a binary tree of syscall numbers, not a linear list: see docs/sandbox.md */
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    if (rc == 0)
        rc = seccomp_add_all(ctx);
    int fd = -1;
    if (rc == 0) {
        fd = memfd_create("sbx-seccomp", MFD_CLOEXEC);
        rc = fd < 0 ? -errno : seccomp_export_bpf(ctx, fd);
    }
    seccomp_release(ctx);
    if (rc != 0) {
        if (fd >= 0)
            close(fd);
        return dp_err_set(err, DP_EINTERNAL, "seccomp: building the filter: %s", strerror(-rc));
    }
    off_t size = lseek(fd, 0, SEEK_END);
    struct sock_filter *f = size > 0 ? malloc((size_t)size) : NULL;
    if (!f || pread(fd, f, (size_t)size, 0) != size) {
        free(f);
        close(fd);
        return dp_err_set(err, DP_ENOMEM, "seccomp: reading the exported filter");
    }
    close(fd);
    prog->filter = f;
    prog->len = (unsigned short)((size_t)size / sizeof *f);
    return DP_OK;
}

/* The compact filter: the same policy as the libseccomp one, hand-laid so
 * it is short. Attaching a filter costs ~1.5-4 us per instruction (the
 * kernel converts and JITs it for every run), and libseccomp spends 161
 * instructions (binary tree; 144 linear), mostly on 64-bit argument halves:
 * attach ~100 us here against ~115 us (tree) and ~235 us (linear), measured
 * in docs/sandbox.md. Here denied numbers are
 * merged into ranges and arguments are compared on their low 32 bits,
 * which is what the kernel reads for all of them (int domain, int flags
 * bits, umode_t, unsigned int ioctl cmd, unsigned int persona): it differs
 * from libseccomp's 64-bit compare only for high bits the kernel ignores. */
#if defined(__x86_64__)
#define SBX_AUDIT_ARCH AUDIT_ARCH_X86_64
#define SBX_X32_BIT 0x40000000u
#elif defined(__aarch64__)
#define SBX_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#define SBX_BPF_MAX 250 /* jump offsets are 8 bits */

/* Jump targets: an instruction index, or one of the shared returns. */
enum {
    T_NEXT = -1,
    T_ALLOW = -2,
    T_EPERM = -3,
    T_AFNO = -4,
    T_NOSYS = -5,
    T_KILL = -6,
    T_SOCK = -7, /* the argument blocks */
    T_CLONE = -8,
    T_MODE1 = -9,
    T_MODE2 = -10,
    T_IOCTL = -11,
    T_PERS = -12,
    T_LAST = 12
};

typedef struct {
    struct sock_filter insn[SBX_BPF_MAX];
    int jt[SBX_BPF_MAX], jf[SBX_BPF_MAX]; /* symbolic targets of each jump */
    int n;
    int overflow;
} bpf_buf;

static int bpf_emit(bpf_buf *b, uint16_t code, uint32_t k, int jt, int jf)
{
    if (b->n >= SBX_BPF_MAX - 8) { /* room for the returns */
        b->overflow = 1;
        return b->n;
    }
    b->insn[b->n] = (struct sock_filter){code, 0, 0, k};
    b->jt[b->n] = jt;
    b->jf[b->n] = jf;
    return b->n++;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int nr_of(const char *name)
{
    int nr = seccomp_syscall_resolve_name(name);
    return nr == __NR_SCMP_ERROR ? -1 : nr; /* negative: not a syscall here */
}

/* One dispatch leaf: numbers lo..hi go to target. */
typedef struct {
    uint32_t lo, hi;
    int target;
} sc_entry;

static int cmp_entry(const void *a, const void *b)
{
    uint32_t x = ((const sc_entry *)a)->lo, y = ((const sc_entry *)b)->lo;
    return (x > y) - (x < y);
}

/* A binary search over the sorted leaves: the kernel emulates the filter
 * once per syscall number at attach time (to cache the always-allowed
 * ones), so the path length, not only the size, sets the attach cost:
 * ~7 steps instead of ~60 with a linear list. */
static void emit_tree(bpf_buf *b, const sc_entry *e, int n)
{
    if (n <= 3) {
        for (int i = 0; i < n; i++) {
            if (e[i].lo == e[i].hi) {
                bpf_emit(b, BPF_JMP | BPF_JEQ | BPF_K, e[i].lo, e[i].target, T_NEXT);
            } else { /* lo <= nr <= hi */
                int at = bpf_emit(b, BPF_JMP | BPF_JGE | BPF_K, e[i].lo, T_NEXT, 0);
                bpf_emit(b, BPF_JMP | BPF_JGT | BPF_K, e[i].hi, T_NEXT, e[i].target);
                b->jf[at] = at + 2;
            }
        }
        bpf_emit(b, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
        return;
    }
    int mid = n / 2;
    int at = bpf_emit(b, BPF_JMP | BPF_JGE | BPF_K, e[mid].lo, 0, T_NEXT);
    emit_tree(b, e, mid);
    b->jt[at] = b->n;
    emit_tree(b, e + mid, n - mid);
}

#define ARG_LO(i) ((uint32_t)(offsetof(struct seccomp_data, args) + 8u * (i)))

int sbx_seccomp_build(struct sock_fprog *prog, dp_err *err)
{
    memset(prog, 0, sizeof *prog);
#if !defined(SBX_AUDIT_ARCH) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    return sbx_seccomp_build_reference(prog, err);
#else
    bpf_buf *b = calloc(1, sizeof *b);
    int denied[128], nd = 0;
    if (!b)
        return dp_err_set(err, DP_ENOMEM, "seccomp: out of memory");
    for (size_t i = 0; seccomp_denied[i] && nd < 128; i++) {
        int nr = nr_of(seccomp_denied[i]);
        if (nr >= 0)
            denied[nd++] = nr;
    }
    qsort(denied, (size_t)nd, sizeof denied[0], cmp_int);
    const uint16_t LD = BPF_LD | BPF_W | BPF_ABS, JEQ = BPF_JMP | BPF_JEQ | BPF_K,
                   JSET = BPF_JMP | BPF_JSET | BPF_K;
    bpf_emit(b, LD, (uint32_t)offsetof(struct seccomp_data, arch), 0, 0);
    bpf_emit(b, JEQ, SBX_AUDIT_ARCH, T_NEXT, T_KILL); /* foreign arch: kill */
    bpf_emit(b, LD, (uint32_t)offsetof(struct seccomp_data, nr), 0, 0);
#ifdef SBX_X32_BIT
    bpf_emit(b, BPF_JMP | BPF_JGE | BPF_K, SBX_X32_BIT, T_KILL, T_NEXT); /* x32 ABI: kill */
#endif
    /* Dispatch entries: denied numbers merged into ranges, plus the calls
     * whose arguments are checked, sorted by number. */
    sc_entry ent[160];
    int ne = 0;
    for (int i = 0; i < nd;) {
        int j = i;
        while (j + 1 < nd && denied[j + 1] <= denied[j] + 1)
            j++;
        ent[ne++] = (sc_entry){(uint32_t)denied[i], (uint32_t)denied[j], T_EPERM};
        i = j + 1;
    }
    static const struct {
        const char *name;
        int target;
    } checked[] = {{"clone3", T_NOSYS},    {"socket", T_SOCK},     {"socketpair", T_SOCK},
                   {"clone", T_CLONE},     {"chmod", T_MODE1},     {"fchmod", T_MODE1},
                   {"fchmodat", T_MODE2},  {"fchmodat2", T_MODE2}, {"ioctl", T_IOCTL},
                   {"personality", T_PERS}};
    for (size_t i = 0; i < sizeof checked / sizeof checked[0]; i++) {
        int nr = nr_of(checked[i].name);
        if (nr >= 0)
            ent[ne++] = (sc_entry){(uint32_t)nr, (uint32_t)nr, checked[i].target};
    }
    qsort(ent, (size_t)ne, sizeof ent[0], cmp_entry);
    emit_tree(b, ent, ne);
    int lab[T_LAST + 1] = {0};
    /* socket, socketpair: only the allowed families. */
    lab[-T_SOCK] = bpf_emit(b, LD, ARG_LO(0), 0, 0);
    for (size_t i = 0; i < sizeof sbx_socket_families / sizeof sbx_socket_families[0]; i++)
        bpf_emit(b, JEQ, sbx_socket_families[i], T_ALLOW, T_NEXT);
    bpf_emit(b, BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EAFNOSUPPORT & 0xffff), 0, 0);
    /* personality: the query only. */
    lab[-T_PERS] = bpf_emit(b, LD, ARG_LO(0), 0, 0);
    bpf_emit(b, JEQ, SBX_PERSONALITY_QUERY, T_ALLOW, T_EPERM);
    /* clone: no new namespaces. */
    lab[-T_CLONE] = bpf_emit(b, LD, ARG_LO(0), 0, 0);
    bpf_emit(b, JSET,
             CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
                 CLONE_NEWUTS | CLONE_NEWCGROUP,
             T_EPERM, T_ALLOW);
    /* chmod family: no setuid/setgid bits (mode is argument 1 or 2). */
    lab[-T_MODE1] = bpf_emit(b, LD, ARG_LO(1), 0, 0);
    bpf_emit(b, JSET, S_ISUID | S_ISGID, T_EPERM, T_ALLOW);
    lab[-T_MODE2] = bpf_emit(b, LD, ARG_LO(2), 0, 0);
    bpf_emit(b, JSET, S_ISUID | S_ISGID, T_EPERM, T_ALLOW);
    /* ioctl: no TIOCSTI (faking terminal input). */
    lab[-T_IOCTL] = bpf_emit(b, LD, ARG_LO(1), 0, 0);
    bpf_emit(b, JEQ, TIOCSTI, T_EPERM, T_ALLOW);
    /* The shared returns, then every symbolic jump resolved. */
    int *ret_at = lab;
    ret_at[-T_ALLOW] = b->n;
    b->insn[b->n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    ret_at[-T_EPERM] = b->n;
    b->insn[b->n++] =
        (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & 0xffff));
    ret_at[-T_AFNO] = b->n;
    b->insn[b->n++] =
        (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EAFNOSUPPORT & 0xffff));
    ret_at[-T_NOSYS] = b->n;
    b->insn[b->n++] =
        (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & 0xffff));
    ret_at[-T_KILL] = b->n;
    b->insn[b->n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    int bad = b->overflow;
    for (int i = 0; i < b->n - 5 && !bad; i++) {
        if (BPF_CLASS(b->insn[i].code) != BPF_JMP)
            continue;
        int t[2] = {b->jt[i], b->jf[i]};
        for (int k = 0; k < 2; k++) {
            int to = t[k] == T_NEXT ? i + 1 : t[k] < 0 ? ret_at[-t[k]] : t[k];
            int off = to - (i + 1);
            if (off < 0 || off > 255)
                bad = 1;
            else if (k == 0)
                b->insn[i].jt = (uint8_t)off;
            else
                b->insn[i].jf = (uint8_t)off;
        }
    }
    if (bad) {
        free(b);
        return dp_err_set(err, DP_EINTERNAL, "seccomp: compact filter does not fit");
    }
    prog->filter = malloc((size_t)b->n * sizeof(struct sock_filter));
    if (!prog->filter) {
        free(b);
        return dp_err_set(err, DP_ENOMEM, "seccomp: out of memory");
    }
    memcpy(prog->filter, b->insn, (size_t)b->n * sizeof(struct sock_filter));
    prog->len = (unsigned short)b->n;
    free(b);
    return DP_OK;
#endif
}
