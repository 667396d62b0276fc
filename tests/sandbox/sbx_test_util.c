/* See sbx_test_util.h. */
#include "tests/sandbox/sbx_test_util.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/sandbox/sbx_cgroup.h"
#include "runner/sandbox/sbx_cgself.h"

int sbxt_workspace(char *ws, size_t len)
{
    snprintf(ws, len, "/tmp/sbx-test-ws-XXXXXX");
    if (!mkdtemp(ws))
        return -1;
    chmod(ws, 0755);
    const char *bin = getenv("HOSTILE_BIN");
    if (!bin)
        return -1;
    char dst[PATH_MAX];
    snprintf(dst, sizeof dst, "%s/hostile", ws);
    int in = open(bin, O_RDONLY | O_CLOEXEC);
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    int rc = in >= 0 && out >= 0 ? 0 : -1;
    char buf[65536];
    ssize_t n;
    while (rc == 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n)
            rc = -1;
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return rc;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void sbxt_rmtree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int sbxt_count_uid(unsigned uid)
{
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char path[300], line[256];
        snprintf(path, sizeof path, "/proc/%s/status", de->d_name);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "Uid:", 4) == 0) {
                unsigned r = 0;
                if (sscanf(line + 4, "%u", &r) == 1 && r == uid)
                    n++;
                break;
            }
        fclose(f);
    }
    closedir(d);
    return n;
}

int sbxt_cgroup_exists(int slot)
{
    char self[8192];
    int version = 0;
    char bases[SBX_CG_N][PATH_MAX];
    if (sbx_cg_read_self(self, sizeof self) < 0 ||
        sbx_cg_detect("/sys/fs/cgroup", self, &version, bases, NULL) != 0)
        return 0;
    for (int i = 0; i < SBX_CG_N; i++) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%.4000s/dispatch-sbx-%d-%d", bases[i], (int)getpid(), slot);
        struct stat st;
        if (stat(path, &st) == 0)
            return 1;
    }
    return 0;
}

void sbxt_cgroup_remove(pid_t pid, int slot)
{
    char self[8192];
    int version = 0;
    char bases[SBX_CG_N][PATH_MAX];
    if (sbx_cg_read_self(self, sizeof self) < 0 ||
        sbx_cg_detect("/sys/fs/cgroup", self, &version, bases, NULL) != 0)
        return;
    for (int i = 0; i < SBX_CG_N; i++) {
        char dir[PATH_MAX + 64], procs[PATH_MAX + 96];
        snprintf(dir, sizeof dir, "%.4000s/dispatch-sbx-%d-%d", bases[i], (int)pid, slot);
        snprintf(procs, sizeof procs, "%s/cgroup.procs", dir);
        for (int tries = 0; tries < 100 && rmdir(dir) != 0 && errno == EBUSY; tries++) {
            FILE *f = fopen(procs, "re");
            int p;
            while (f && fscanf(f, "%d", &p) == 1)
                kill(p, SIGKILL);
            if (f)
                fclose(f);
            usleep(10000);
        }
    }
}
