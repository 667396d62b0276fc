/* One sandboxed run, parent side: prepare the plan, clone the supervisor,
 * give it its ids and cgroup, then watch pipes, wall clock and CPU until
 * everything of the run is gone, and classify how it ended. */
#include "runner/sandbox/sbx_internal.h"
#include "runner/sandbox/sbx_tree.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SBX_TICK_NS (5 * 1000 * 1000) /* CPU and memory polled every 5 ms */
#define SBX_DEFAULT_OUTPUT (64u << 20)
#define SBX_CHOWN_MAX 100000

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Bump allocator for the run's translated strings: one malloc per run. */
typedef struct {
    char *base;
    size_t used, cap;
} run_arena;

static char *arena_printf(run_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *arena_printf(run_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(a->base + a->used, a->cap - a->used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= a->cap - a->used)
        return NULL;
    char *r = a->base + a->used;
    a->used += (size_t)n + 1;
    return r;
}

/* Host path under the workspace -> the same path under /box. */
static const char *translate(run_arena *a, const char *arg, const char *ws, size_t wl, int mounted)
{
    if (!mounted || strncmp(arg, ws, wl) != 0 || (arg[wl] != '/' && arg[wl] != '\0'))
        return arg;
    return arena_printf(a, "/box%s", arg + wl);
}

/* The slot uid must be able to write its workspace. Walks with directory fds
 * and never follows a symlink (sbx_tree.h). */
static int give_workspace(struct sbx *s, const char *ws, dp_err *err)
{
    dp_err why = {0};
    if (sbx_tree_chown(ws, s->uid, s->gid, &why) != DP_OK)
        return dp_err_set(err, DP_EIO, "sandbox: workspace %s: cannot hand it to the slot user: %s",
                          ws, why.msg);
    return DP_OK;
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, text, strlen(text));
    int e = n < 0 ? -errno : 0;
    close(fd);
    return e;
}

static int write_id_maps(struct sbx *s, pid_t pid, dp_err *err)
{
    char path[64], map[64];
    int e;
    if (!s->root) {
        snprintf(path, sizeof path, "/proc/%d/setgroups", (int)pid);
        if ((e = write_file(path, "deny")) != 0)
            return dp_err_set(err, DP_EIO, "sandbox: %s: %s", path, strerror(-e));
    }
    snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
    snprintf(map, sizeof map, "%u %u 1\n", s->uid, s->root ? s->uid : (unsigned)geteuid());
    if ((e = write_file(path, map)) != 0)
        return dp_err_set(err, DP_EIO, "sandbox: %s: %s", path, strerror(-e));
    snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
    snprintf(map, sizeof map, "%u %u 1\n", s->gid, s->root ? s->gid : (unsigned)getegid());
    if ((e = write_file(path, map)) != 0)
        return dp_err_set(err, DP_EIO, "sandbox: %s: %s", path, strerror(-e));
    return DP_OK;
}

typedef struct {
    pid_t pid;
    int pidfd;
    sbx_status kill_reason; /* SBX_OK = not killed by us */
    int killed;
} run_child;

static void kill_run(struct sbx *s, run_child *c, sbx_status reason)
{
    if (c->killed)
        return;
    c->killed = 1;
    c->kill_reason = reason;
    /* With a PID namespace the supervisor is its init: killing it kills all. */
    if (s->cg.version)
        sbx_cg_kill(&s->cg, 0);
    if (s->plan.b_pid > 0 && !s->plan.use_pidns)
        kill(-s->plan.b_pid, SIGKILL);
    kill(c->pid, SIGKILL);
}

static int prepare_plan(struct sbx *s, const char *const argv[], const char *ws,
                        const char *const envp[], const sbx_limits *lim, run_arena *a, dp_err *err)
{
    sbx_plan *p = &s->plan;
    int mounted = (s->prot & SBX_P_MOUNTNS) != 0;
    size_t wl = strlen(ws);
    while (wl > 1 && ws[wl - 1] == '/')
        wl--;
    size_t argc = 0, need = 256 + 2 * wl;
    for (; argv[argc]; argc++)
        need += strlen(argv[argc]) + 8;
    const char *path_env = "/usr/local/bin:/usr/bin:/bin";
    for (size_t i = 0; envp && envp[i]; i++)
        if (strncmp(envp[i], "PATH=", 5) == 0)
            path_env = envp[i] + 5;
    need += (strlen(path_env) + 1) * 2 + SBX_MAX_EXEC * (strlen(argv[0]) + 2) +
            (argc + 1) * sizeof(char *) + 16;
    a->base = malloc(need);
    a->cap = need;
    a->used = 0;
    if (!a->base)
        return dp_err_set(err, DP_ENOMEM, "sandbox: out of memory");
    /* The pointer array goes first, aligned. */
    char **av = (char **)(void *)a->base;
    a->used = (argc + 1) * sizeof(char *);
    for (size_t i = 0; i < argc; i++) {
        const char *t = translate(a, argv[i], ws, wl, mounted);
        if (!t)
            return dp_err_set(err, DP_EINTERNAL, "sandbox: argument space");
        av[i] = (char *)t;
    }
    av[argc] = NULL;
    p->argv = av;
    static char *const empty_env[] = {NULL};
    p->envp = envp ? (char *const *)envp : empty_env;
    p->n_exec = 0;
    if (strchr(av[0], '/')) {
        p->exec_paths[p->n_exec++] = av[0];
    } else {
        for (const char *q = path_env; *q && p->n_exec < SBX_MAX_EXEC;) {
            size_t dl = strcspn(q, ":");
            const char *c = arena_printf(a, "%.*s/%s", (int)dl, q, av[0]);
            if (!c)
                return dp_err_set(err, DP_EINTERNAL, "sandbox: PATH space");
            p->exec_paths[p->n_exec++] = c;
            q += dl;
            if (*q == ':')
                q++;
        }
    }
    if (p->n_exec == 0)
        return dp_err_set(err, DP_EINVAL, "sandbox: empty PATH for %s", av[0]);
    p->cwd = mounted ? "/box" : ws;
    p->n_ops = s->n_static_ops;
    p->skeleton = s->skel_built;
    if (mounted) {
        if (p->n_ops >= SBX_MAX_MOUNTS)
            return dp_err_set(err, DP_EINTERNAL, "sandbox: too many mounts");
        sbx_mount_op *op = &p->ops[p->n_ops++];
        op->kind = SBX_M_BIND_RW;
        op->src = arena_printf(a, "%.*s", (int)wl, ws);
        snprintf(op->dst, sizeof op->dst, "%s/box", s->stage);
        if (!op->src)
            return dp_err_set(err, DP_EINTERNAL, "sandbox: workspace path space");
    }
    uint64_t tmp_kb = lim->memory_kb ? lim->memory_kb : 256 * 1024;
    if (tmp_kb > 1024 * 1024)
        tmp_kb = 1024 * 1024;
    snprintf(p->tmp_opts, sizeof p->tmp_opts, "size=%lluk,nr_inodes=16384,mode=1777",
             (unsigned long long)tmp_kb);

    p->prot = s->prot;
    p->use_userns = (s->prot & SBX_P_USERNS) != 0;
    p->use_pidns = (s->prot & SBX_P_PIDNS) != 0;
    p->set_uid = (s->prot & SBX_P_UID) != 0 || p->use_userns;
    p->set_groups = p->set_uid && s->root;
    p->uid = s->uid;
    p->gid = s->gid;
    p->stage = s->stage;
    unsigned fl = 0;
    if (s->prot & SBX_P_USERNS)
        fl |= CLONE_NEWUSER;
    if (s->prot & SBX_P_MOUNTNS)
        fl |= CLONE_NEWNS;
    if (s->prot & SBX_P_PIDNS)
        fl |= CLONE_NEWPID;
    p->join_netns = 0;
    if ((s->prot & SBX_P_NETNS) && !lim->network) {
        if (s->netns_fd >= 0 && s->host_netns_fd >= 0)
            p->join_netns = 1;
        else
            fl |= CLONE_NEWNET;
    }
    if (s->prot & SBX_P_IPCNS)
        fl |= CLONE_NEWIPC;
    if (s->prot & SBX_P_UTSNS)
        fl |= CLONE_NEWUTS;
    p->clone_flags = fl;
    /* rlimits: the per-process backstops behind the cgroup. */
    rlim_t cpu_s = lim->cpu_ms ? lim->cpu_ms / 1000 + 1 : RLIM_INFINITY;
    p->rl_cpu.rlim_cur = cpu_s;
    p->rl_cpu.rlim_max = cpu_s == RLIM_INFINITY ? RLIM_INFINITY : cpu_s + 1;
    rlim_t fs = lim->fsize_bytes ? lim->fsize_bytes : RLIM_INFINITY;
    if (fs > s->hard_fsize.rlim_max)
        fs = s->hard_fsize.rlim_max;
    p->rl_fsize.rlim_cur = p->rl_fsize.rlim_max = fs;
    rlim_t nf = lim->open_files ? lim->open_files : 64;
    if (nf > s->hard_nofile.rlim_max)
        nf = s->hard_nofile.rlim_max;
    p->rl_nofile.rlim_cur = p->rl_nofile.rlim_max = nf;
    rlim_t stk = 64u << 20;
    if (lim->memory_kb && lim->memory_kb * 1024 < stk)
        stk = lim->memory_kb * 1024;
    if (stk > s->hard_stack.rlim_max)
        stk = s->hard_stack.rlim_max;
    p->rl_stack.rlim_cur = p->rl_stack.rlim_max = stk;
    p->set_nproc = lim->processes && p->set_uid;
    p->rl_nproc.rlim_cur = p->rl_nproc.rlim_max = lim->processes;
    p->set_as = lim->memory_kb && !s->cg.version;
    p->rl_as.rlim_cur = p->rl_as.rlim_max = lim->memory_kb * 1024;
    p->filter = s->filter.filter ? &s->filter : NULL;
    p->n_cg_join = sbx_cg_join_fds(&s->cg, p->fd_cg_join);
    p->go = 0;
    p->setup_failed = 0;
    p->setup_msg[0] = '\0';
    p->exec_failed = 0;
    p->b_pid = 0;
    p->b_done = 0;
    p->b_status = 0;
    return DP_OK;
}

/* Fills the result's exit fields and asks sbx_verdict for the status. */
static void classify(struct sbx *s, const sbx_limits *lim, const run_child *c, int output_over,
                     sbx_result *out)
{
    sbx_plan *p = &s->plan;
    sbx_run_facts f = {.setup_failed = p->setup_failed,
                       .first_limit = c->kill_reason,
                       .command_done = p->b_done,
                       .wait_status = p->b_status,
                       .oom = out->oom,
                       .output_over = output_over,
                       .cpu_ms = out->cpu_ms,
                       .cpu_limit_ms = lim->cpu_ms,
                       .memory_kb = out->memory_kb,
                       .memory_limit_kb = lim->memory_kb};
    if (p->b_done && WIFEXITED(p->b_status))
        out->exit_code = WEXITSTATUS(p->b_status);
    else if (p->b_done && WIFSIGNALED(p->b_status))
        out->signal = WTERMSIG(p->b_status);
    out->status = sbx_verdict(&f);
    if (p->setup_failed)
        snprintf(out->message, sizeof out->message, "sandbox setup: %s", p->setup_msg);
    else if (c->kill_reason == SBX_XX)
        snprintf(out->message, sizeof out->message, "sandbox: supervising the run failed");
    else if (out->status == SBX_XX && !p->b_done && c->kill_reason == SBX_OK)
        snprintf(out->message, sizeof out->message, "sandbox supervisor ended before the command");
    else if (p->b_done && p->exec_failed)
        snprintf(out->message, sizeof out->message, "cannot execute %s: %s", p->argv[0],
                 strerror(p->exec_failed));
}

/* A non-root runner is non-dumpable (sbx_open: it holds the registration
 * token), which makes the /proc files of every process sharing its memory,
 * the supervisor's uid_map included, root's: it could not write the maps.
 * So it is dumpable while a run's maps are written (tens of microseconds;
 * counted: slots run concurrently). Only processes of the runner's own uid
 * on the host could use that window; its runs cannot name it (PID
 * namespace) and seccomp denies them ptrace and process_vm_*. */
static pthread_mutex_t dumpable_mu = PTHREAD_MUTEX_INITIALIZER;
static int dumpable_users;

static void dumpable_hold(int on)
{
    pthread_mutex_lock(&dumpable_mu);
    if (on ? dumpable_users++ == 0 : --dumpable_users == 0)
        prctl(PR_SET_DUMPABLE, on, 0, 0, 0);
    pthread_mutex_unlock(&dumpable_mu);
}

static int start_child(struct sbx *s, run_child *c, dp_err *err)
{
    sbx_plan *p = &s->plan;
    c->pidfd = -1;
    unsigned flags = p->clone_flags;
    /* The child inherits this thread's netns: switch into the slot's for
     * the clone only (setns moves just this thread). */
    int joined = p->join_netns && setns(s->netns_fd, CLONE_NEWNET) == 0;
    if (p->join_netns && !joined)
        flags |= CLONE_NEWNET;
    c->pid = clone(sbx_child_main, p->stack_a, (int)(flags | CLONE_VM | CLONE_PIDFD), p, &c->pidfd);
    int clone_errno = errno;
    int back = joined ? setns(s->host_netns_fd, CLONE_NEWNET) : 0;
    if (c->pid < 0)
        return dp_err_set(err, DP_EIO, "sandbox: clone: %s", strerror(clone_errno));
    int rc = DP_OK;
    if (back != 0)
        rc = dp_err_set(err, DP_EIO, "sandbox: back to the runner's netns: %s", strerror(errno));
    if (rc == DP_OK && p->use_userns) {
        if (!s->root)
            dumpable_hold(1);
        rc = write_id_maps(s, c->pid, err);
        if (!s->root)
            dumpable_hold(0);
    }
    __atomic_store_n(&p->go, rc == DP_OK ? 1 : -1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &p->go, FUTEX_WAKE, 1, NULL, NULL, 0);
    return rc;
}

static void reap_child(run_child *c, struct rusage *ru)
{
    int st;
    while (wait4(c->pid, &st, __WALL, ru) < 0 && errno == EINTR)
        ;
    close(c->pidfd);
    c->pidfd = -1;
}

/* Watches the run until the supervisor is gone; returns when all is reaped. */
static void supervise(struct sbx *s, const sbx_limits *lim, run_child *c, sbx_stream st[2],
                      uint64_t t0, struct rusage *ru)
{
    int open_streams = 2;
    uint64_t wall_deadline = lim->wall_ms ? t0 + (uint64_t)lim->wall_ms * 1000000u : 0;
    int dead = 0;
    while (!dead) {
        struct pollfd pf[3];
        int n = 0;
        for (int i = 0; i < 2; i++)
            if (st[i].fd >= 0) {
                pf[n].fd = st[i].fd;
                pf[n++].events = POLLIN;
            }
        pf[n].fd = c->pidfd;
        pf[n++].events = POLLIN;
        uint64_t wait = SBX_TICK_NS;
        uint64_t now = now_ns();
        if (wall_deadline && wall_deadline > now && wall_deadline - now < wait)
            wait = wall_deadline - now;
        if (!lim->cpu_ms && !wall_deadline && s->cg.fd_peak >= 0)
            wait = 100 * 1000000u; /* nothing to poll for: just wake up now and then */
        struct timespec ts = {(time_t)(wait / 1000000000u), (long)(wait % 1000000000u)};
        int r = ppoll(pf, (nfds_t)n, &ts, NULL);
        if (r < 0 && errno != EINTR)
            break;
        /* Memory first: see sbx_verdict.c for why the order decides. */
        if (s->cg.version && sbx_cg_oom(&s->cg))
            kill_run(s, c, SBX_ML);
        for (int i = 0; i < 2; i++) {
            if (st[i].fd < 0)
                continue;
            if (sbx_stream_read(&st[i]) == 0) {
                close(st[i].fd);
                st[i].fd = -1;
                open_streams--;
            }
            if (st[i].over)
                kill_run(s, c, SBX_OL);
        }
        now = now_ns();
        if (wall_deadline && now >= wall_deadline)
            kill_run(s, c, SBX_TO_WALL);
        if (s->cg.version) {
            uint64_t cpu_ns = 0;
            sbx_cg_cpu_ns(&s->cg, &cpu_ns);
            if (lim->cpu_ms && cpu_ns >= (uint64_t)lim->cpu_ms * 1000000u)
                kill_run(s, c, SBX_TO_CPU);
        }
        if (!s->plan.use_pidns && s->plan.b_done && s->cg.version)
            sbx_cg_kill(&s->cg, c->pid); /* no PID namespace: end what the command left */
        struct pollfd pd = {c->pidfd, POLLIN, 0};
        if (poll(&pd, 1, 0) == 1) {
            reap_child(c, ru);
            dead = 1;
        }
    }
    if (!dead) {
        kill_run(s, c, SBX_XX);
        reap_child(c, ru);
    }
    /* Everything that could write is gone: take what is left in the pipes
     * (an overflow found now is judged by sbx_verdict, after memory and time). */
    for (int i = 0; i < 2; i++)
        if (st[i].fd >= 0) {
            sbx_stream_read(&st[i]);
            close(st[i].fd);
            st[i].fd = -1;
        }
    (void)open_streams;
}

/* With a cgroup, prove nothing of the run is left; kill stragglers. */
static int ensure_empty(struct sbx *s)
{
    if (!s->cg.version)
        return 1;
    for (int tries = 0; tries < 200; tries++) {
        long n = sbx_cg_count(&s->cg);
        if (n == 0)
            return 1;
        sbx_cg_kill(&s->cg, 0);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

int sbx_run(sbx *s, const char *const argv[], const char *workspace, const char *const envp[],
            const char *stdin_data, size_t stdin_len, const sbx_limits *limits, sbx_result *out,
            dp_err *err)
{
    if (!out)
        return dp_err_set(err, DP_EINVAL, "sbx_run: no result");
    memset(out, 0, sizeof *out);
    out->exit_code = -1;
    if (!s || !argv || !argv[0] || !argv[0][0] || !limits)
        return dp_err_set(err, DP_EINVAL, "sbx_run: missing sandbox, argv or limits");
    if (!workspace || workspace[0] != '/')
        return dp_err_set(err, DP_EINVAL, "sbx_run: workspace must be an absolute path");
    struct stat wst;
    if (stat(workspace, &wst) != 0 || !S_ISDIR(wst.st_mode))
        return dp_err_set(err, DP_EINVAL, "sbx_run: workspace %s is not a directory", workspace);
    sbx_limits lim = *limits;
    if (lim.output_bytes == 0)
        lim.output_bytes = SBX_DEFAULT_OUTPUT;
    run_arena arena = {0};
    sbx_stream st[2] = {{.fd = -1}, {.fd = -1}};
    int fds[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
    int rc = prepare_plan(s, argv, workspace, envp, &lim, &arena, err);
    if (rc == DP_OK && s->root)
        rc = give_workspace(s, workspace, err);
    if (rc == DP_OK && s->cg.version)
        rc = sbx_cg_prepare(&s->cg, lim.memory_kb * 1024, lim.processes,
                            err); /* the supervisor is not in it */
    if (rc == DP_OK) {
        fds[0][0] = sbx_high_fd(sbx_stdin_fd(stdin_data, stdin_len));
        if (fds[0][0] < 0 || pipe2(fds[1], O_CLOEXEC) != 0 || pipe2(fds[2], O_CLOEXEC) != 0)
            rc = dp_err_set(err, DP_EIO, "sandbox: pipes: %s", strerror(errno));
    }
    for (int i = 0; rc == DP_OK && i < 2; i++) {
        st[i].limit = lim.output_bytes;
        st[i].cap = 4096 < lim.output_bytes + 1 ? 4096 : lim.output_bytes + 1;
        st[i].buf = malloc(st[i].cap);
        if (!st[i].buf)
            rc = dp_err_set(err, DP_ENOMEM, "sandbox: output buffer");
        fds[i + 1][1] = sbx_high_fd(fds[i + 1][1]);
        st[i].fd = fds[i + 1][0];
        fds[i + 1][0] = -1;
        fcntl(st[i].fd, F_SETFL, O_NONBLOCK);
    }
    s->plan.fd_in = fds[0][0];
    s->plan.fd_out = fds[1][1];
    s->plan.fd_err = fds[2][1];
    s->plan.fd_runner = s->runner_pidfd;
    run_child c = {.pid = -1, .pidfd = -1, .kill_reason = SBX_OK};
    uint64_t t0 = now_ns();
    if (rc == DP_OK) {
        rc = start_child(s, &c, err);
        if (rc != DP_OK && c.pid > 0) {
            kill(c.pid, SIGKILL);
            struct rusage ru;
            reap_child(&c, &ru);
        }
    }
    for (int i = 0; i < 3; i++) /* the child has its copies */
        for (int j = 0; j < 2; j++)
            if (fds[i][j] >= 0)
                close(fds[i][j]);
    if (rc == DP_OK) {
        struct rusage ru = {0};
        supervise(s, &lim, &c, st, t0, &ru);
        out->wall_ms = (uint32_t)((now_ns() - t0) / 1000000u);
        uint64_t cpu_ns = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000u +
                          (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u;
        out->memory_kb = (uint64_t)ru.ru_maxrss;
        if (s->cg.version) {
            uint64_t peak = 0;
            sbx_cg_cpu_ns(&s->cg, &cpu_ns);
            sbx_cg_stats(&s->cg, &peak, &out->oom);
            out->memory_kb = peak / 1024;
        }
        out->cpu_ms = (uint32_t)(cpu_ns / 1000000u);
        out->output_truncated = st[0].over || st[1].over;
        classify(s, &lim, &c, out->output_truncated, out);
        if (!ensure_empty(s)) {
            out->status = SBX_XX;
            snprintf(out->message, sizeof out->message, "processes of the run survived SIGKILL");
        }
    }
    for (int i = 0; i < 2; i++) {
        if (st[i].fd >= 0)
            close(st[i].fd);
        if (rc == DP_OK && st[i].buf)
            st[i].buf[st[i].len] = '\0';
    }
    free(arena.base);
    if (rc != DP_OK) {
        free(st[0].buf);
        free(st[1].buf);
        return rc;
    }
    out->out = st[0].buf;
    out->out_len = st[0].len;
    out->err = st[1].buf;
    out->err_len = st[1].len;
    return DP_OK;
}
