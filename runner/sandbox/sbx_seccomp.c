/* The sandbox's seccomp filter, built once per sbx with libseccomp and kept
 * as a BPF program the child installs right before execve. Default allow,
 * with a deny list of the kernel surfaces untrusted code never needs. */
#include "runner/sandbox/sbx_internal.h"

#include <errno.h>
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
                                             NULL};

static int seccomp_rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
                        const struct scmp_arg_cmp *cmp)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0; /* not on this architecture or unknown to libseccomp */
    return seccomp_rule_add_array(ctx, action, nr, n, cmp);
}

static int seccomp_add_all(scmp_filter_ctx ctx)
{
    const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
    int rc = 0;
    for (size_t i = 0; seccomp_denied[i] && rc == 0; i++)
        rc = seccomp_rule(ctx, eperm, seccomp_denied[i], 0, NULL);
    static const int bad_families[] = {AF_NETLINK, AF_PACKET, AF_VSOCK, AF_KEY, AF_BLUETOOTH};
    for (size_t i = 0; i < sizeof bad_families / sizeof bad_families[0] && rc == 0; i++) {
        struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)bad_families[i]);
        rc = seccomp_rule(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socket", 1, &c);
        if (rc == 0)
            rc = seccomp_rule(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socketpair", 1, &c);
    }
    static const unsigned long ns_flags[] = {CLONE_NEWUSER,  CLONE_NEWNS,  CLONE_NEWPID,
                                             CLONE_NEWNET,   CLONE_NEWIPC, CLONE_NEWUTS,
                                             CLONE_NEWCGROUP};
    for (size_t i = 0; i < sizeof ns_flags / sizeof ns_flags[0] && rc == 0; i++) {
        struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]);
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
        struct scmp_arg_cmp c = SCMP_A1(SCMP_CMP_EQ, TIOCSTI);
        rc = seccomp_rule(ctx, eperm, "ioctl", 1, &c);
    }
    return rc;
}

int sbx_seccomp_build(struct sock_fprog *prog, dp_err *err)
{
    memset(prog, 0, sizeof *prog);
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return dp_err_set(err, DP_EINTERNAL, "seccomp: seccomp_init failed");
    /* Foreign architectures (x32, i386 on x86_64) are killed outright. */
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (rc == 0)
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0); /* the child sets it itself */
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
