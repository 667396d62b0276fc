/* Opening and closing a sandbox slot: probe, require check, cgroup, seccomp
 * filter, child stacks, the root skeleton, and a self-test run. */
#include "runner/sandbox/sbx_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"

#define SBX_STACK_SIZE (128 * 1024)

const char *sbx_status_name(sbx_status st)
{
    static const char *const names[] = {"OK", "RE", "SG", "TO-cpu", "TO-wall", "ML", "OL", "XX"};
    if ((unsigned)st >= sizeof names / sizeof names[0])
        return "XX";
    return names[st];
}

void sbx_result_free(sbx_result *r)
{
    if (!r)
        return;
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
    r->out_len = r->err_len = 0;
}

static sbx_mount_op *op_add(struct sbx *s, sbx_mount_kind kind, const char *src, const char *rel,
                            dp_err *err)
{
    sbx_plan *p = &s->plan;
    if (p->n_ops >= SBX_MAX_MOUNTS) {
        dp_err_set(err, DP_EINTERNAL, "sandbox: too many root operations");
        return NULL;
    }
    sbx_mount_op *op = &p->ops[p->n_ops];
    op->kind = kind;
    op->src = NULL;
    if (src) {
        if (s->n_owned >= SBX_MAX_MOUNTS || !(s->owned[s->n_owned] = strdup(src))) {
            dp_err_set(err, DP_ENOMEM, "sandbox: out of memory building the root");
            return NULL;
        }
        op->src = s->owned[s->n_owned++];
    }
    int n = snprintf(op->dst, sizeof op->dst, "%s%s", s->stage, rel);
    if (n < 0 || (size_t)n >= sizeof op->dst) {
        dp_err_set(err, DP_EINVAL, "sandbox: path too long: %s", rel);
        return NULL;
    }
    p->n_ops++;
    return op;
}

#define OP(kind, src, rel)                                                                         \
    do {                                                                                           \
        if (!op_add(s, (kind), (src), (rel), err))                                                 \
            return err ? err->code : DP_EINTERNAL;                                                 \
    } while (0)

/* Mirrors one host path into the new root: a symlink stays a symlink, a
 * directory or file gets a read-only bind. Missing paths are skipped. */
static int op_mirror(struct sbx *s, const char *host, int *binds, const char **bind_src,
                     dp_err *err)
{
    struct stat st;
    if (lstat(host, &st) != 0)
        return DP_OK;
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlink(host, target, sizeof target - 1);
        if (n <= 0)
            return DP_OK;
        target[n] = '\0';
        OP(SBX_M_SYMLINK, target, host);
        return DP_OK;
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return DP_OK;
    OP(S_ISDIR(st.st_mode) ? SBX_M_DIR : SBX_M_FILE, NULL, host);
    bind_src[(*binds)++] = host;
    return DP_OK;
}

int sbx_build_static_ops(struct sbx *s, dp_err *err)
{
    static const char *const top[] = {"/usr",   "/bin",   "/sbin",  "/lib",
                                      "/lib32", "/lib64", "/libx32"};
    static const char *const etc[] = {
        "/etc/ld.so.cache", "/etc/ld.so.conf",    "/etc/ld.so.conf.d",   "/etc/alternatives",
        "/etc/localtime",   "/etc/nsswitch.conf", "/etc/resolv.conf",    "/etc/ssl",
        "/etc/python3",     "/etc/mime.types",    "/etc/java-17-openjdk"};
    static const char *const devs[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                                       "/dev/urandom"};
    const char *bind_src[32];
    int binds = 0;
    s->plan.n_ops = 0;
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++) {
        int rc = op_mirror(s, top[i], &binds, bind_src, err);
        if (rc)
            return rc;
    }
    OP(SBX_M_DIR, NULL, "/etc");
    for (size_t i = 0; i < sizeof etc / sizeof etc[0]; i++) {
        int rc = op_mirror(s, etc[i], &binds, bind_src, err);
        if (rc)
            return rc;
    }
    char passwd[256], group[160];
    snprintf(passwd, sizeof passwd,
             "root:x:0:0:root:/root:/bin/sh\nsandbox:x:%u:%u:sandbox:/box:/bin/sh\n"
             "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
             s->uid, s->gid);
    snprintf(group, sizeof group, "root:x:0:\nsandbox:x:%u:\nnogroup:x:65534:\n", s->gid);
    OP(SBX_M_WRITE, passwd, "/etc/passwd");
    OP(SBX_M_WRITE, group, "/etc/group");
    OP(SBX_M_WRITE, "127.0.0.1 localhost sandbox\n::1 localhost\n", "/etc/hosts");
    OP(SBX_M_WRITE, "sandbox\n", "/etc/hostname");
    OP(SBX_M_DIR, NULL, "/box");
    OP(SBX_M_DIR, NULL, "/tmp");
    OP(SBX_M_DIR, NULL, "/proc");
    OP(SBX_M_DIR, NULL, "/dev");
    for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++)
        OP(SBX_M_FILE, NULL, devs[i]);
    OP(SBX_M_SYMLINK, "/proc/self/fd", "/dev/fd");
    OP(SBX_M_SYMLINK, "/proc/self/fd/0", "/dev/stdin");
    OP(SBX_M_SYMLINK, "/proc/self/fd/1", "/dev/stdout");
    OP(SBX_M_SYMLINK, "/proc/self/fd/2", "/dev/stderr");
    OP(SBX_M_SYMLINK, "/tmp", "/dev/shm");
    for (int i = 0; i < binds; i++)
        OP(SBX_M_BIND_RO, bind_src[i], bind_src[i]);
    OP(SBX_M_SEAL, NULL, "");
    for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++)
        OP(SBX_M_BIND_DEV, devs[i], devs[i]);
    s->plan.n_skel_ops = s->plan.n_ops; /* the rest must be fresh each run */
    OP(SBX_M_TMPFS, NULL, "/tmp");
    if (s->prot & SBX_P_PIDNS)
        OP(SBX_M_PROC, NULL, "/proc");
    s->n_static_ops = s->plan.n_ops;
    return DP_OK;
}

/* The slot's persistent empty netns: made by this thread unsharing and
 * switching straight back. It holds only a down loopback; a run cannot
 * change it (its user namespace has no capability over a netns owned by
 * the host's), and its sockets die with its processes, so nothing carries
 * over to the next run. Failure just means fresh netns per run. */
static void open_slot_netns(struct sbx *s)
{
    s->host_netns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (s->host_netns_fd < 0)
        return;
    if (unshare(CLONE_NEWNET) != 0)
        return;
    s->netns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (setns(s->host_netns_fd, CLONE_NEWNET) != 0) {
        /* This thread is stuck in the empty netns: say so loudly. */
        dp_log(DP_LOG_ERROR, "sandbox_netns_switch_back_failed", "reason", strerror(errno),
               (char *)NULL);
    }
}

/* A runner killed before sbx_close leaves its skeletons mounted. Sweeps
 * the staging dirs that are mount points in this mount namespace and were
 * made by a process that no longer exists (the pid is in the name; a live
 * process reusing it only delays the sweep). Only mounts of this namespace
 * are touched: rmdir of a dir mounted in another namespace would detach
 * it there. */
static void sweep_stale_stages(void)
{
    FILE *mi = fopen("/proc/self/mountinfo", "re");
    if (!mi)
        return;
    char line[1024];
    while (fgets(line, sizeof line, mi)) {
        /* "ID PARENT MAJ:MIN ROOT MOUNTPOINT ..." */
        char mp[256];
        if (sscanf(line, "%*s %*s %*s %*s %255s", mp) != 1)
            continue;
        size_t pl = strlen(SBX_STAGE_PREFIX);
        int pid = 0, slot = 0, used = 0;
        if (strncmp(mp, SBX_STAGE_PREFIX, pl) != 0 ||
            sscanf(mp + pl, "%d-%d-%*6[A-Za-z0-9]%n", &pid, &slot, &used) < 2 ||
            mp[pl + (size_t)used] != '\0' || used == 0 || pid <= 0)
            continue; /* not a staging dir itself (a bind under one, or another name) */
        if (pid == (int)getpid() || kill(pid, 0) == 0 || errno != ESRCH)
            continue;
        if (umount2(mp, MNT_DETACH) == 0) {
            rmdir(mp);
            dp_log(DP_LOG_INFO, "sandbox_stale_skeleton_removed", "path", mp, (char *)NULL);
        }
    }
    fclose(mi);
}

static void skeleton_remove(struct sbx *s)
{
    if (s->skel_built && umount2(s->stage, MNT_DETACH) != 0)
        dp_log(DP_LOG_WARN, "sandbox_skeleton_umount_failed", "path", s->stage, "reason",
               strerror(errno), (char *)NULL);
    s->skel_built = 0;
}

/* Builds the slot's read-only root skeleton once, at the staging dir in the
 * runner's mount namespace (root only): each run then copies it with its
 * mount namespace and adds only /box, /tmp and /proc, instead of ~60 mount,
 * mkdir and symlink calls per run. The tmpfs is made private first so the
 * binds under it never propagate to the host. Failure (logged) just means
 * each run builds its root itself, as without root. */
static void skeleton_build(struct sbx *s)
{
    sbx_plan *p = &s->plan;
    if (!s->root || !(s->prot & SBX_P_MOUNTNS))
        return;
    sweep_stale_stages();
    p->stage = s->stage;
    if (mount("tmpfs", s->stage, "tmpfs", MS_NOSUID | MS_NODEV,
              "size=1m,nr_inodes=4096,mode=755") != 0) {
        dp_log(DP_LOG_WARN, "sandbox_skeleton_unavailable", "path", s->stage, "reason",
               strerror(errno), (char *)NULL);
        return;
    }
    s->skel_built = 1;
    const char *what = "make private", *path = s->stage;
    long rc = mount(NULL, s->stage, NULL, MS_PRIVATE, NULL) != 0 ? -errno : 0;
    if (rc == 0)
        rc = sbx_apply_ops(p, 0, p->n_skel_ops, &what, &path);
    if (rc != 0) {
        dp_log(DP_LOG_WARN, "sandbox_skeleton_unavailable", "step", what, "path", path, "reason",
               strerror((int)-rc), (char *)NULL);
        skeleton_remove(s);
    }
}

static int open_cgroup(struct sbx *s, dp_err *err)
{
    char self[8192];
    ssize_t n = sbx_cg_read_self(self, sizeof self);
    if (n < 0)
        return dp_err_set(err, DP_EIO, "cgroup: /proc/self/cgroup: %s", strerror((int)-n));
    int version = 0;
    char bases[SBX_CG_N][PATH_MAX];
    int rc = sbx_cg_detect("/sys/fs/cgroup", self, &version, bases, err);
    if (rc)
        return rc;
    char name[64];
    snprintf(name, sizeof name, "dispatch-sbx-%d-%d", (int)getpid(), s->slot);
    return sbx_cg_open(&s->cg, version, bases, name, err);
}

/* Runs /bin/true once: the proof that every protection claimed works here. */
static int self_test(struct sbx *s, dp_err *err)
{
    char ws[] = "/tmp/dispatch-sbx-selftest-XXXXXX";
    if (!mkdtemp(ws))
        return dp_err_set(err, DP_EIO, "sandbox: self-test workspace: %s", strerror(errno));
    const char *const argv[] = {"/bin/true", NULL};
    sbx_limits lim = {.cpu_ms = 2000, .wall_ms = 5000, .memory_kb = 65536, .processes = 8};
    sbx_result r;
    int rc = sbx_run(s, argv, ws, NULL, NULL, 0, &lim, &r, err);
    rmdir(ws);
    if (rc)
        return rc;
    if (r.status != SBX_OK)
        rc = dp_err_set(err, DP_EUNAVAIL, "sandbox: self-test run ended %s: %s",
                        sbx_status_name(r.status), r.message[0] ? r.message : r.err);
    sbx_result_free(&r);
    return rc;
}

/* Protections that, when the self-test fails, are given up in this order. */
static const unsigned degrade_steps[] = {SBX_P_PIDNS, SBX_P_MOUNTNS | SBX_P_PIVOT,
                                         SBX_P_USERNS | SBX_P_NETNS | SBX_P_IPCNS | SBX_P_UTSNS |
                                             SBX_P_PIDNS};

sbx *sbx_open(const sbx_config *cfg, dp_err *err)
{
    if (!cfg || cfg->slot < 0 || cfg->slot > 999) {
        dp_err_set(err, DP_EINVAL, "sbx_open: slot must be 0..999");
        return NULL;
    }
    unsigned required = 0;
    if (sbx_parse_require(cfg->require, &required, err))
        return NULL;
    struct sbx *s = calloc(1, sizeof *s);
    if (!s) {
        dp_err_set(err, DP_ENOMEM, "sbx_open: out of memory");
        return NULL;
    }
    s->slot = cfg->slot;
    s->netns_fd = s->host_netns_fd = -1;
    s->runner_pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0); /* close-on-exec; -1 < 5.3 */
    s->root = geteuid() == 0;
    s->uid = s->gid = 60000u + (uint32_t)cfg->slot;
    s->prot = sbx_probe_bits();
    if (required & SBX_P_WORD_DEFAULT)
        required |= sbx_default_require(s->root);
    if (sbx_require_check(required, s->prot, s->root, cfg->require, err))
        goto fail;
    s->plan.cap_last = 40;
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
    if (f) {
        if (fscanf(f, "%d", &s->plan.cap_last) != 1)
            s->plan.cap_last = 40;
        fclose(f);
    }
    getrlimit(RLIMIT_NOFILE, &s->hard_nofile);
    getrlimit(RLIMIT_FSIZE, &s->hard_fsize);
    getrlimit(RLIMIT_STACK, &s->hard_stack);
    /* The runner holds the registration token: no core dumps, no ptrace by peers. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    snprintf(s->stage, sizeof s->stage, SBX_STAGE_PREFIX "%d-%d-XXXXXX", (int)getpid(), s->slot);
    s->stacks_len = 2 * (SBX_STACK_SIZE + 4096);
    s->stacks = mmap(NULL, s->stacks_len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (s->stacks == MAP_FAILED) {
        s->stacks = NULL;
        dp_err_set(err, DP_ENOMEM, "sbx_open: child stacks: %s", strerror(errno));
        goto fail;
    }
    /* Guard pages below each stack. */
    mprotect(s->stacks, 4096, PROT_NONE);
    mprotect(s->stacks + SBX_STACK_SIZE + 4096, 4096, PROT_NONE);
    s->plan.stack_a = s->stacks + SBX_STACK_SIZE + 4096;
    s->plan.stack_b = s->stacks + s->stacks_len;
    if (!mkdtemp(s->stage)) {
        s->stage[0] = '\0';
        dp_err_set(err, DP_EIO, "sbx_open: staging directory: %s", strerror(errno));
        goto fail;
    }
    if (s->prot & SBX_P_SECCOMP) {
        if (sbx_seccomp_build(&s->filter, err))
            goto fail;
    }
    if (s->root && (s->prot & SBX_P_NETNS))
        open_slot_netns(s);
    dp_err cg_err = {.msg = "no writable cgroup hierarchy (probe)"};
    if (!(s->prot & SBX_P_CGROUP) || open_cgroup(s, &cg_err) != DP_OK) {
        s->prot &= ~(unsigned)SBX_P_CGROUP;
        dp_log(DP_LOG_WARN, "sandbox_cgroup_unavailable", "reason", cg_err.msg, "effect",
               "memory limited per process (RLIMIT_AS), CPU by RLIMIT_CPU; require 'cgroup' to "
               "refuse instead",
               (char *)NULL);
        if (sbx_require_check(required, s->prot, s->root, cfg->require, err))
            goto fail;
    }
    for (size_t step = 0;; step++) {
        skeleton_remove(s);
        if (sbx_build_static_ops(s, err))
            goto fail;
        skeleton_build(s);
        dp_err test_err;
        if (self_test(s, &test_err) == DP_OK)
            break;
        /* Give up a protection only when the operator did not require it. */
        if (step >= sizeof degrade_steps / sizeof degrade_steps[0] ||
            (degrade_steps[step] & s->prot & required)) {
            dp_err_set(err, DP_EUNAVAIL,
                       "%s; refusing to run without the required protections. To run with "
                       "less, knowingly, set DISPATCH_SANDBOX_REQUIRE to the protections you "
                       "require (now '%s'), or 'none'",
                       test_err.msg, cfg->require && cfg->require[0] ? cfg->require : "default");
            goto fail;
        }
        dp_log(DP_LOG_WARN, "sandbox_degraded", "reason", test_err.msg, (char *)NULL);
        s->prot &= ~degrade_steps[step];
        for (int i = 0; i < s->n_owned; i++)
            free(s->owned[i]);
        s->n_owned = 0;
    }
    sbx_require_warn(required, s->prot, s->root, cfg->require);
    return s;
fail:
    sbx_close(s);
    return NULL;
}

void sbx_close(sbx *s)
{
    if (!s)
        return;
    sbx_cg_close(&s->cg);
    skeleton_remove(s);
    free(s->filter.filter);
    if (s->netns_fd >= 0)
        close(s->netns_fd);
    if (s->host_netns_fd >= 0)
        close(s->host_netns_fd);
    if (s->runner_pidfd >= 0)
        close(s->runner_pidfd);
    for (int i = 0; i < s->n_owned; i++)
        free(s->owned[i]);
    if (s->stage[0])
        rmdir(s->stage);
    if (s->stacks)
        munmap(s->stacks, s->stacks_len);
    free(s);
}
