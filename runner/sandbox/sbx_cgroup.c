/* cgroup v1/v2 file handling for the sandbox slots. See sbx_cgroup.h. */
#include "runner/sandbox/sbx_cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const cg_v1_names[SBX_CG_N] = {"memory", "pids", "cpuacct"};

static int cg_write(const char *dir, const char *file, const char *value)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    /* O_TRUNC is what a shell's `echo v > file` does: cgroupfs accepts it. */
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = strlen(value);
    ssize_t n = write(fd, value, len);
    int e = n == (ssize_t)len ? 0 : (n < 0 ? -errno : -EIO);
    close(fd);
    return e;
}

static int cg_open_file(const char *dir, const char *file, int flags)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return open(path, flags | O_CLOEXEC);
}

/* Reads the whole (small) file at fd offset 0 into buf, NUL-terminated. */
static ssize_t cg_pread_text(int fd, char *buf, size_t len)
{
    ssize_t n = pread(fd, buf, len - 1, 0);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

static int cg_read_file(const char *dir, const char *file, char *buf, size_t len)
{
    int fd = cg_open_file(dir, file, O_RDONLY);
    if (fd < 0)
        return -errno;
    ssize_t n = cg_pread_text(fd, buf, len);
    int e = n < 0 ? -errno : 0;
    close(fd);
    return e;
}

/* Value of "key N" in a flat keyed file's text (cpu.stat, memory.events). */
static uint64_t cg_keyed(const char *text, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, key, klen) == 0 && p[klen] == ' ')
            return strtoull(p + klen + 1, NULL, 10);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return 0;
}

int sbx_cg_detect(const char *fsroot, const char *self_cgroup, int *version,
                  char bases[SBX_CG_N][PATH_MAX], dp_err *err)
{
    char buf[512];
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", fsroot);
    if (cg_read_file(path, "cgroup.controllers", buf, sizeof buf) == 0) {
        if (!strstr(buf, "memory") || !strstr(buf, "pids"))
            return dp_err_set(err, DP_ENOTFOUND,
                              "cgroup v2 at %s lacks the memory or pids controller", fsroot);
        /* "0::/path" is our own cgroup; slots go beside us, in our parent. */
        const char *line = strstr(self_cgroup, "0::");
        const char *rel = line ? line + 3 : "/";
        size_t rl = strcspn(rel, "\n");
        char own[PATH_MAX];
        snprintf(own, sizeof own, "%.*s", (int)rl, rel);
        char *slash = strrchr(own, '/');
        if (slash)
            *slash = '\0';
        *version = 2;
        for (int i = 0; i < SBX_CG_N; i++)
            snprintf(bases[i], PATH_MAX, "%s%s", fsroot, own);
        return DP_OK;
    }
    for (int i = 0; i < SBX_CG_N; i++) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", fsroot, cg_v1_names[i]);
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            return dp_err_set(err, DP_ENOTFOUND, "no cgroup v2 and no cgroup v1 %s hierarchy at %s",
                              cg_v1_names[i], fsroot);
        /* Lines look like "4:memory:/a/b" (or "2:cpu,cpuacct:/x"). */
        const char *rel = "/";
        size_t rl = 1;
        for (const char *p = self_cgroup; p && *p;) {
            const char *c1 = strchr(p, ':');
            const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            const char *eol = strchr(p, '\n');
            if (!eol)
                eol = p + strlen(p);
            if (c2 && c2 < eol) {
                size_t nl = strlen(cg_v1_names[i]);
                for (const char *q = c1 + 1; q < c2;) {
                    size_t wl = strcspn(q, ",:");
                    if (wl == nl && strncmp(q, cg_v1_names[i], nl) == 0) {
                        rel = c2 + 1;
                        rl = (size_t)(eol - rel);
                    }
                    q += wl + 1;
                }
            }
            p = *eol ? eol + 1 : NULL;
        }
        if (rl == 1 && rel[0] == '/')
            rl = 0;
        snprintf(bases[i], PATH_MAX, "%s/%s%.*s", fsroot, cg_v1_names[i], (int)rl, rel);
    }
    *version = 1;
    return DP_OK;
}

static void cg_close_fds(sbx_cgroup *cg)
{
    int *fds[] = {&cg->fd_cpu,     &cg->fd_peak,    &cg->fd_current, &cg->fd_oom,
                  &cg->fd_join[0], &cg->fd_join[1], &cg->fd_join[2]};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}

int sbx_cg_open(sbx_cgroup *cg, int version, char bases[SBX_CG_N][PATH_MAX], const char *name,
                dp_err *err)
{
    memset(cg, 0, sizeof *cg);
    cg->fd_cpu = cg->fd_peak = cg->fd_current = cg->fd_oom = -1;
    for (int i = 0; i < SBX_CG_N; i++)
        cg->fd_join[i] = -1;
    cg->mem_limit = cg->pids_limit = 0; /* unknown: the first prepare writes */
    int ndirs = version == 2 ? 1 : SBX_CG_N;
    if (version == 2) {
        /* Controllers must be enabled in the parent for the slot to get the files. */
        int e = cg_write(bases[0], "cgroup.subtree_control", "+memory +pids +cpu");
        if (e != 0 && e != -ENOENT)
            return dp_err_set(err, DP_EIO, "cgroup v2: enable controllers in %s: %s", bases[0],
                              strerror(-e));
    }
    for (int i = 0; i < ndirs; i++) {
        snprintf(cg->dir[i], PATH_MAX, "%s/%s", bases[i], name);
        if (mkdir(cg->dir[i], 0755) != 0 && errno != EEXIST) {
            int e = errno;
            for (int j = 0; j < i; j++)
                rmdir(cg->dir[j]);
            return dp_err_set(err, DP_EIO, "cgroup: mkdir %s: %s", cg->dir[i], strerror(e));
        }
    }
    if (version == 2) {
        snprintf(cg->dir[SBX_CG_PIDS], PATH_MAX, "%s", cg->dir[0]);
        snprintf(cg->dir[SBX_CG_CPU], PATH_MAX, "%s", cg->dir[0]);
    }
    cg->version = version;
    const char *cpu_file = version == 2 ? "cpu.stat" : "cpuacct.usage";
    const char *cur_file = version == 2 ? "memory.current" : "memory.usage_in_bytes";
    const char *peak_file = version == 2 ? "memory.peak" : "memory.max_usage_in_bytes";
    cg->fd_cpu = cg_open_file(cg->dir[SBX_CG_CPU], cpu_file, O_RDWR);
    if (cg->fd_cpu < 0)
        cg->fd_cpu = cg_open_file(cg->dir[SBX_CG_CPU], cpu_file, O_RDONLY);
    cg->fd_current = cg_open_file(cg->dir[SBX_CG_MEM], cur_file, O_RDONLY);
    cg->fd_peak = cg_open_file(cg->dir[SBX_CG_MEM], peak_file, O_RDWR);
    cg->fd_oom = cg_open_file(cg->dir[SBX_CG_MEM],
                              version == 2 ? "memory.events" : "memory.oom_control", O_RDONLY);
    if (cg->fd_cpu < 0 || cg->fd_current < 0) {
        dp_err_set(err, DP_EIO, "cgroup: cannot open %s or %s in %s", cpu_file, cur_file,
                   cg->dir[SBX_CG_MEM]);
        sbx_cg_close(cg);
        return DP_EIO;
    }
    for (int i = 0; i < ndirs; i++) {
        const char *jf = version == 2 ? "cgroup.procs" : "tasks";
        cg->fd_join[i] = cg_open_file(cg->dir[i], jf, O_WRONLY);
        if (cg->fd_join[i] < 0) {
            dp_err_set(err, DP_EIO, "cgroup: cannot open %s in %s: %s", jf, cg->dir[i],
                       strerror(errno));
            sbx_cg_close(cg);
            return DP_EIO;
        }
    }
    if (version == 2) {
        int e = cg_write(cg->dir[0], "memory.swap.max", "0");
        if (e != 0 && e != -ENOENT) {
            dp_err_set(err, DP_EIO, "cgroup: memory.swap.max in %s: %s", cg->dir[0], strerror(-e));
            sbx_cg_close(cg);
            return DP_EIO;
        }
    }
    return DP_OK;
}

static int cg_write_u64(const char *dir, const char *file, uint64_t v)
{
    char buf[32];
    if (v == UINT64_MAX)
        snprintf(buf, sizeof buf, "%s", "max");
    else
        snprintf(buf, sizeof buf, "%" PRIu64, v);
    return cg_write(dir, file, buf);
}

/* oom_kill count of the slot (kept open: the supervisor polls it every tick). */
static uint64_t cg_oom_count(sbx_cgroup *cg)
{
    char buf[1024];
    if (cg->fd_oom < 0 || cg_pread_text(cg->fd_oom, buf, sizeof buf) < 0)
        return 0;
    return cg_keyed(buf, "oom_kill");
}

int sbx_cg_oom(sbx_cgroup *cg)
{
    return cg_oom_count(cg) > cg->oom_base;
}

static uint64_t cg_cpu_raw_ns(sbx_cgroup *cg)
{
    char buf[512];
    if (cg_pread_text(cg->fd_cpu, buf, sizeof buf) < 0)
        return 0;
    if (cg->version == 2)
        return cg_keyed(buf, "usage_usec") * 1000;
    return strtoull(buf, NULL, 10);
}

static int cg_set_memory(sbx_cgroup *cg, uint64_t v)
{
    const char *dir = cg->dir[SBX_CG_MEM];
    if (cg->version == 2)
        return cg_write_u64(dir, "memory.max", v);
    uint64_t lim = v == UINT64_MAX ? (uint64_t)-1 / 2 : v; /* v1 takes "-1" or bytes */
    char buf[32];
    if (v == UINT64_MAX)
        snprintf(buf, sizeof buf, "-1");
    else
        snprintf(buf, sizeof buf, "%" PRIu64, lim);
    /* memsw must stay >= the memory limit: order the writes accordingly. */
    int e_sw = cg_write(dir, "memory.memsw.limit_in_bytes", buf);
    int e = cg_write(dir, "memory.limit_in_bytes", buf);
    if (e_sw == -EINVAL)
        e_sw = cg_write(dir, "memory.memsw.limit_in_bytes", buf);
    if (e == 0 && e_sw != 0 && e_sw != -ENOENT)
        e = e_sw;
    return e;
}

int sbx_cg_prepare(sbx_cgroup *cg, uint64_t mem_bytes, uint64_t pids, dp_err *err)
{
    const char *mdir = cg->dir[SBX_CG_MEM];
    /* Page cache charged by the previous run would count against this one.
     * But every run leaves ~1 MiB of charges that are freed asynchronously
     * anyway (per-CPU charge stock, deferred kernel frees; it does not grow
     * run after run), and the reclaim costs ~0.4 ms: only reclaim when more
     * than SBX_CG_RECLAIM_MIN is charged. The peak may thus include up to
     * that much of the previous run (over-reported, never under). */
    char cur[64];
    uint64_t left = UINT64_MAX;
    if (cg_pread_text(cg->fd_current, cur, sizeof cur) > 0)
        left = strtoull(cur, NULL, 10);
    if (left > SBX_CG_RECLAIM_MIN) {
        if (cg->version == 2)
            (void)cg_write(mdir, "memory.reclaim", "1G");
        else
            (void)cg_write(mdir, "memory.force_empty", "0");
    }
    uint64_t mem = mem_bytes ? mem_bytes : UINT64_MAX;
    if (mem != cg->mem_limit) {
        int e = cg_set_memory(cg, mem);
        if (e != 0)
            return dp_err_set(err, DP_EIO, "cgroup: memory limit in %s: %s", mdir, strerror(-e));
        cg->mem_limit = mem;
    }
    uint64_t pl = pids ? pids : UINT64_MAX;
    if (pl != cg->pids_limit) {
        int e = cg_write_u64(cg->dir[SBX_CG_PIDS], "pids.max", pl);
        if (e != 0)
            return dp_err_set(err, DP_EIO, "cgroup: pids.max in %s: %s", cg->dir[SBX_CG_PIDS],
                              strerror(-e));
        cg->pids_limit = pl;
    }
    if (cg->fd_peak >= 0) {
        /* v1: writing 0 resets max_usage; v2 (6.12+): any write resets this fd's peak. */
        const char *v = cg->version == 2 ? "reset" : "0";
        if (pwrite(cg->fd_peak, v, strlen(v), 0) < 0 && cg->version == 2) {
            close(cg->fd_peak); /* an older kernel: fall back to polling memory.current */
            cg->fd_peak = -1;
        }
    }
    cg->polled_peak = 0;
    cg->oom_base = cg_oom_count(cg);
    if (cg->version == 1 && pwrite(cg->fd_cpu, "0", 1, 0) == 1)
        cg->cpu_base_ns = 0;
    else
        cg->cpu_base_ns = cg_cpu_raw_ns(cg);
    return DP_OK;
}

int sbx_cg_join_fds(const sbx_cgroup *cg, int fds[SBX_CG_N])
{
    int n = 0;
    for (int i = 0; cg->version && i < SBX_CG_N; i++)
        if (cg->fd_join[i] >= 0) {
            int j = n++;
            for (; j > 0 && fds[j - 1] > cg->fd_join[i]; j--) /* ascending */
                fds[j] = fds[j - 1];
            fds[j] = cg->fd_join[i];
        }
    return n;
}

int sbx_cg_attach(sbx_cgroup *cg, pid_t pid, dp_err *err)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%d", (int)pid);
    int n = cg->version == 2 ? 1 : SBX_CG_N;
    for (int i = 0; i < n; i++) {
        int e = cg_write(cg->dir[i], "cgroup.procs", buf);
        if (e != 0)
            return dp_err_set(err, DP_EIO, "cgroup: attach %d to %s: %s", (int)pid, cg->dir[i],
                              strerror(-e));
    }
    return DP_OK;
}

int sbx_cg_cpu_ns(sbx_cgroup *cg, uint64_t *ns)
{
    uint64_t raw = cg_cpu_raw_ns(cg);
    *ns = raw > cg->cpu_base_ns ? raw - cg->cpu_base_ns : 0;
    if (cg->fd_peak < 0) {
        char buf[64];
        if (cg_pread_text(cg->fd_current, buf, sizeof buf) > 0) {
            uint64_t cur = strtoull(buf, NULL, 10);
            if (cur > cg->polled_peak)
                cg->polled_peak = cur;
        }
    }
    return 0;
}

int sbx_cg_stats(sbx_cgroup *cg, uint64_t *peak_bytes, int *oom)
{
    char buf[64];
    *peak_bytes = cg->polled_peak;
    if (cg->fd_peak >= 0 && cg_pread_text(cg->fd_peak, buf, sizeof buf) > 0)
        *peak_bytes = strtoull(buf, NULL, 10);
    *oom = sbx_cg_oom(cg);
    return 0;
}

long sbx_cg_count(sbx_cgroup *cg)
{
    char buf[64];
    if (cg_read_file(cg->dir[SBX_CG_PIDS], "pids.current", buf, sizeof buf) != 0)
        return -1;
    return strtol(buf, NULL, 10);
}

long sbx_cg_kill(sbx_cgroup *cg, pid_t spare)
{
    if (cg->version == 2)
        return cg_write(cg->dir[0], "cgroup.kill", "1") == 0 ? 1 : -1;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/cgroup.procs", cg->dir[SBX_CG_PIDS]);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    long n = 0;
    int pid;
    while (fscanf(f, "%d", &pid) == 1) {
        if (pid != spare && pid > 0 && kill(pid, SIGKILL) == 0)
            n++;
    }
    fclose(f);
    return n;
}

void sbx_cg_close(sbx_cgroup *cg)
{
    if (cg->version == 0)
        return;
    cg_close_fds(cg);
    int ndirs = cg->version == 2 ? 1 : SBX_CG_N;
    for (int tries = 0; tries < 100; tries++) {
        long left = sbx_cg_count(cg);
        if (left <= 0)
            break;
        sbx_cg_kill(cg, 0);
        usleep(1000);
    }
    for (int i = 0; i < ndirs; i++)
        rmdir(cg->dir[i]);
    cg->version = 0;
}
