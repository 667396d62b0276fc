/* The child side of a run: the supervisor (PID 1 of the run's namespaces)
 * and the command it starts. Both share memory with the runner thread that
 * cloned them (CLONE_VM: no copy of the runner's address space), so this
 * file makes raw system calls only: no libc state, no errno (the runner
 * thread's errno is the same TLS slot), no locks, no allocation, and no
 * sanitizer instrumentation. Everything it needs was prepared in sbx_plan. */
#include "runner/sandbox/sbx_internal.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/futex.h>
#include <linux/mount.h>
#include <linux/prctl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SBX_CHILD __attribute__((no_sanitize_address, no_sanitize("undefined"), noinline))

/* Raw system call returning -errno on failure, without touching errno. */
#if defined(__x86_64__)
SBX_CHILD static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
SBX_CHILD static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc 0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    return x0;
}
#else
#error "sbx_child.c: raw system calls are written for x86_64 and aarch64"
#endif

#define S0(n) sys6((n), 0, 0, 0, 0, 0, 0)
#define S1(n, a) sys6((n), (long)(a), 0, 0, 0, 0, 0)
#define S2(n, a, b) sys6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define S3(n, a, b, c) sys6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define S4(n, a, b, c, d) sys6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define S5(n, a, b, c, d, e) sys6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

SBX_CHILD static size_t c_strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

/* Appends s to buf (cap bytes, always NUL-terminated). */
SBX_CHILD static void c_append(char *buf, size_t cap, const char *s)
{
    size_t n = c_strlen(buf);
    while (*s && n + 1 < cap)
        buf[n++] = *s++;
    buf[n] = '\0';
}

SBX_CHILD static void c_append_num(char *buf, size_t cap, long v)
{
    char tmp[24];
    int i = 23;
    tmp[i] = '\0';
    int neg = v < 0;
    unsigned long u = neg ? (unsigned long)-v : (unsigned long)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u && i > 1);
    if (neg)
        tmp[--i] = '-';
    c_append(buf, cap, tmp + i);
}

SBX_CHILD static const char *c_errname(long e)
{
    switch (e) {
    case 1:
        return "EPERM";
    case 2:
        return "ENOENT";
    case 13:
        return "EACCES";
    case 8:
        return "ENOEXEC";
    case 20:
        return "ENOTDIR";
    case 22:
        return "EINVAL";
    case 16:
        return "EBUSY";
    case 12:
        return "ENOMEM";
    case 11:
        return "EAGAIN";
    case 28:
        return "ENOSPC";
    case 38:
        return "ENOSYS";
    default:
        return "errno";
    }
}

/* Records why the sandbox could not be built, and ends this process. */
SBX_CHILD __attribute__((noreturn)) static void c_fail(sbx_plan *p, const char *what,
                                                       const char *path, long rc)
{
    p->setup_msg[0] = '\0';
    c_append(p->setup_msg, SBX_MSG_MAX, what);
    if (path) {
        c_append(p->setup_msg, SBX_MSG_MAX, " ");
        c_append(p->setup_msg, SBX_MSG_MAX, path);
    }
    c_append(p->setup_msg, SBX_MSG_MAX, ": ");
    c_append(p->setup_msg, SBX_MSG_MAX, c_errname(-rc));
    c_append(p->setup_msg, SBX_MSG_MAX, " (");
    c_append_num(p->setup_msg, SBX_MSG_MAX, -rc);
    c_append(p->setup_msg, SBX_MSG_MAX, ")");
    __atomic_store_n(&p->setup_failed, 1, __ATOMIC_SEQ_CST);
    for (;;)
        S1(SYS_exit_group, 126);
}

#define CHECK(p, expr, what, path)                                                                 \
    do {                                                                                           \
        long rc_ = (expr);                                                                         \
        if (rc_ < 0)                                                                               \
            c_fail((p), (what), (path), rc_);                                                      \
    } while (0)

SBX_CHILD static void c_reset_signals(void)
{
    /* The runner's handlers were copied to us; they must never run here. */
    struct {
        unsigned long handler;
        unsigned long flags;
        void *restorer;
        uint64_t mask;
    } sa = {0};
    sa.handler = 0; /* SIG_DFL */
    for (int sig = 1; sig < 65; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            S4(SYS_rt_sigaction, sig, &sa, 0, 8);
}

/* Applies ops[from..to) under the staging dir st. Returns 0, or the
 * negative errno with *what and *path naming the failed step. Raw system
 * calls only: run by the child per run, and by sbx_open for the skeleton. */
SBX_CHILD long sbx_apply_ops(const sbx_plan *p, int from, int to, const char **what,
                             const char **path)
{
    const char *st = p->stage;
    long rc = 0;
#define OPCHECK(expr, w, pth)                                                                      \
    do {                                                                                           \
        if ((rc = (expr)) < 0) {                                                                   \
            *what = (w);                                                                           \
            *path = (pth);                                                                         \
            return rc;                                                                             \
        }                                                                                          \
    } while (0)
    for (int i = from; i < to; i++) {
        const sbx_mount_op *op = &p->ops[i];
        switch (op->kind) {
        case SBX_M_DIR:
            OPCHECK(S3(SYS_mkdirat, AT_FDCWD, op->dst, 0755), "mkdir", op->dst);
            break;
        case SBX_M_SYMLINK:
            OPCHECK(S3(SYS_symlinkat, op->src, AT_FDCWD, op->dst), "symlink", op->dst);
            break;
        case SBX_M_FILE:
        case SBX_M_WRITE: {
            long fd =
                S4(SYS_openat, AT_FDCWD, op->dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
            OPCHECK(fd, "create", op->dst);
            if (op->kind == SBX_M_WRITE)
                rc = S3(SYS_write, fd, op->src, c_strlen(op->src));
            S1(SYS_close, fd);
            OPCHECK(rc, "write", op->dst);
            break;
        }
        case SBX_M_BIND_RO:
        case SBX_M_BIND_RW:
        case SBX_M_BIND_DEV:
            OPCHECK(S5(SYS_mount, op->src, op->dst, 0, MS_BIND | MS_REC, 0), "bind", op->src);
            if (op->kind == SBX_M_BIND_RW)
                OPCHECK(S5(SYS_mount, 0, op->dst, 0,
                           MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_RELATIME, 0),
                        "remount", op->dst);
            break;
        case SBX_M_SEAL: {
            /* Everything bound so far, and the root itself, becomes read-only. */
            struct mount_attr attr = {0};
            attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
            rc = S5(SYS_mount_setattr, AT_FDCWD, st, AT_RECURSIVE, &attr, sizeof attr);
            if (rc == -38) { /* ENOSYS: before 5.12, one remount per mount */
                for (int j = 0; j < i; j++)
                    if (p->ops[j].kind == SBX_M_BIND_RO)
                        OPCHECK(S5(SYS_mount, 0, p->ops[j].dst, 0,
                                   MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, 0),
                                "remount read-only", p->ops[j].dst);
                rc = S5(SYS_mount, 0, st, 0,
                        MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, 0);
            }
            OPCHECK(rc, "seal read-only", st);
            break;
        }
        case SBX_M_TMPFS:
            OPCHECK(S5(SYS_mount, "tmpfs", op->dst, "tmpfs", MS_NOSUID | MS_NODEV, p->tmp_opts),
                    "mount tmpfs on", op->dst);
            break;
        case SBX_M_PROC:
            OPCHECK(S5(SYS_mount, "proc", op->dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                       "hidepid=2"),
                    "mount proc on", op->dst);
            break;
        }
    }
#undef OPCHECK
    return 0;
}

SBX_CHILD static void c_build_root(sbx_plan *p)
{
    const char *st = p->stage;
    CHECK(p, S5(SYS_mount, 0, "/", 0, MS_REC | MS_PRIVATE, 0), "make mounts private", "/");
    if (p->skeleton) {
        /* The slot's prebuilt read-only skeleton is already at st (copied
         * with our mount namespace, locked to its parent): a recursive bind
         * of it on itself gives a top mount pivot_root accepts. */
        CHECK(p, S5(SYS_mount, st, st, 0, MS_BIND | MS_REC, 0), "bind skeleton on", st);
    } else {
        CHECK(p,
              S5(SYS_mount, "tmpfs", st, "tmpfs", MS_NOSUID | MS_NODEV,
                 "size=1m,nr_inodes=4096,mode=755"),
              "mount root tmpfs on", st);
    }
    const char *what = 0, *path = 0;
    long rc = sbx_apply_ops(p, p->skeleton ? p->n_skel_ops : 0, p->n_ops, &what, &path);
    if (rc < 0)
        c_fail(p, what, path, rc);
    CHECK(p, S1(SYS_chdir, st), "chdir", st);
    CHECK(p, S2(SYS_pivot_root, ".", "."), "pivot_root", st);
    CHECK(p, S2(SYS_umount2, ".", MNT_DETACH), "detach old root", st);
}

SBX_CHILD static void c_setrlimit(sbx_plan *p, int res, const struct rlimit *rl, const char *name)
{
    CHECK(p, S4(SYS_prlimit64, 0, res, rl, 0), "setrlimit", name);
}

/* The command: drop everything, then exec. On failure tells stderr why. */
SBX_CHILD static int c_command_main(void *arg)
{
    sbx_plan *p = arg;
    /* Join the slot's cgroups first: everything from here on, and every
     * descendant, is accounted and limited there (see sbx_cgroup.fd_join). */
    for (int i = 0; i < p->n_cg_join; i++)
        CHECK(p, S3(SYS_write, p->fd_cg_join[i], "0", 1), "join cgroup", 0);
    S0(SYS_setsid);
    S2(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
    const struct rlimit zero = {0, 0};
    c_setrlimit(p, RLIMIT_CORE, &zero, "core");
    c_setrlimit(p, RLIMIT_MEMLOCK, &zero, "memlock");
    c_setrlimit(p, RLIMIT_FSIZE, &p->rl_fsize, "fsize");
    c_setrlimit(p, RLIMIT_NOFILE, &p->rl_nofile, "nofile");
    c_setrlimit(p, RLIMIT_STACK, &p->rl_stack, "stack");
    if (p->rl_cpu.rlim_max != RLIM_INFINITY)
        c_setrlimit(p, RLIMIT_CPU, &p->rl_cpu, "cpu");
    if (p->set_as)
        c_setrlimit(p, RLIMIT_AS, &p->rl_as, "as");
    if (p->set_nproc)
        c_setrlimit(p, RLIMIT_NPROC, &p->rl_nproc, "nproc");
    if (p->prot & SBX_P_CAPS) {
        for (int cap = 0; cap <= p->cap_last; cap++)
            S2(SYS_prctl, PR_CAPBSET_DROP, cap);
        S5(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        /* Never regain capabilities through uid 0 or setuid transitions. */
        S2(SYS_prctl, PR_SET_SECUREBITS,
           0x2b); /* NOROOT, its lock, NO_SETUID_FIXUP and KEEP_CAPS locked off */
    }
    if (p->set_uid) {
        CHECK(p, S2(SYS_setgroups, 0, 0), "setgroups", 0);
        CHECK(p, S3(SYS_setresgid, p->gid, p->gid, p->gid), "setresgid", 0);
        CHECK(p, S3(SYS_setresuid, p->uid, p->uid, p->uid), "setresuid", 0);
    }
    if (p->prot & SBX_P_CAPS) {
        struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
        struct __user_cap_data_struct data[2] = {{0, 0, 0}, {0, 0, 0}};
        CHECK(p, S2(SYS_capset, &hdr, data), "capset", 0);
    }
    if (p->set_uid) /* the uid change cleared it (see sbx_child_main) */
        S2(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
    CHECK(p, S5(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs", 0);
    if (p->filter)
        CHECK(p, S3(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, p->filter), "seccomp", 0);
    uint64_t none = 0;
    S4(SYS_rt_sigprocmask, SIG_SETMASK, &none, 0, 8);
    long rc = -2;
    for (int i = 0; i < p->n_exec; i++) {
        rc = S3(SYS_execve, p->exec_paths[i], p->argv, p->envp);
        if (rc != -2 && rc != -20 && rc != -13) /* ENOENT, ENOTDIR, EACCES: try the next */
            break;
    }
    char msg[SBX_MSG_MAX] = "sandbox: cannot execute ";
    c_append(msg, sizeof msg, p->argv[0]);
    c_append(msg, sizeof msg, ": ");
    c_append(msg, sizeof msg, c_errname(-rc));
    c_append(msg, sizeof msg, "\n");
    S3(SYS_write, 2, msg, c_strlen(msg));
    __atomic_store_n(&p->exec_failed, (int)-rc, __ATOMIC_SEQ_CST);
    for (;;)
        S1(SYS_exit_group, 127);
}

SBX_CHILD int sbx_child_main(void *arg)
{
    sbx_plan *p = arg;
    uint64_t all = ~(uint64_t)0;
    S4(SYS_rt_sigprocmask, SIG_SETMASK, &all, 0, 8);
    c_reset_signals();
    S2(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
    /* Wait until the parent has written our uid/gid maps and cgroup. */
    while (__atomic_load_n(&p->go, __ATOMIC_SEQ_CST) == 0)
        S4(SYS_futex, &p->go, FUTEX_WAIT, 0, 0);
    if (p->go < 0)
        for (;;)
            S1(SYS_exit_group, 1);
    if (!p->use_pidns)
        S2(SYS_prctl, PR_SET_CHILD_SUBREAPER, 1);
    S1(SYS_umask, 022);
    if (p->use_userns) {
        /* Files we create in the new root must belong to a mapped id. */
        S1(SYS_setfsgid, p->gid);
        S1(SYS_setfsuid, p->uid);
        /* An fsuid/fsgid change clears the parent-death signal (the kernel's
         * commit_creds): set it again, or a runner that dies (SIGKILL, or
         * _exit past its grace) leaves us and the job running for good. */
        S2(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
    }
    CHECK(p, S2(SYS_dup2, p->fd_in, 0), "dup2", "stdin");
    CHECK(p, S2(SYS_dup2, p->fd_out, 1), "dup2", "stdout");
    CHECK(p, S2(SYS_dup2, p->fd_err, 2), "dup2", "stderr");
    /* Only 0-2 and the cgroup join fds (O_CLOEXEC: the command's exec
     * closes them) stay open. */
    unsigned from = 3;
    for (int i = 0; i < p->n_cg_join; i++) {
        unsigned fd = (unsigned)p->fd_cg_join[i]; /* ascending */
        if (fd > from)
            CHECK(p, S3(SYS_close_range, from, fd - 1, 0), "close_range", 0);
        if (fd + 1 > from)
            from = fd + 1;
    }
    CHECK(p, S3(SYS_close_range, from, ~0U, 0), "close_range", 0);
    if (p->prot & SBX_P_MOUNTNS)
        c_build_root(p);
    if (p->prot & SBX_P_UTSNS)
        S2(SYS_sethostname, "sandbox", 7);
    CHECK(p, S1(SYS_chdir, p->cwd), "chdir", p->cwd);
    /* vfork semantics: we resume once the command has exec'd (or died). */
    int pid = clone(c_command_main, p->stack_b, CLONE_VM | CLONE_VFORK | SIGCHLD, p);
    if (pid < 0)
        c_fail(p, "clone command", 0, -11);
    p->b_pid = pid;
    for (;;) {
        int status = 0;
        long r = S4(SYS_wait4, -1, &status, __WALL, 0);
        if (r == pid) {
            p->b_status = status;
            __atomic_store_n(&p->b_done, 1, __ATOMIC_SEQ_CST);
            if (p->use_pidns)
                break; /* our exit kills everything left in the namespace */
            S2(SYS_kill, -pid, SIGKILL);
        } else if (r == -10) { /* ECHILD: nothing left */
            break;
        }
    }
    for (;;)
        S1(SYS_exit_group, 0);
}
