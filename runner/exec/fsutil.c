/* Workspace helpers; see fsutil.h. */
#include "runner/exec/fsutil.h"

#include "runner/sandbox/sbx_tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

int exec_mkjobdir(const char *parent, int slot, uint64_t cap_bytes, char *out, size_t out_len,
                  dp_err *err)
{
    int n = snprintf(out, out_len, "%s/job-%d-XXXXXX", parent, slot);
    if (n < 0 || (size_t)n >= out_len)
        return dp_err_set(err, DP_EINVAL, "workdir path too long: %s", parent);
    if (mkdtemp(out) == NULL)
        return dp_err_set(err, DP_EIO, "cannot create job directory under %s: %s", parent,
                          strerror(errno));
    if (cap_bytes == 0) {
        if (chmod(out, 0755) != 0)
            return dp_err_set(err, DP_EIO, "chmod %s: %s", out, strerror(errno));
        return DP_OK;
    }
    char opts[64];
    snprintf(opts, sizeof opts, "size=%llu,mode=0755", (unsigned long long)cap_bytes);
    if (mount("dispatch-ws", out, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0) {
        int e = errno;
        rmdir(out);
        return dp_err_set(err, DP_EIO,
                          "cannot mount a %llu-byte tmpfs for the workspace at %s: %s "
                          "(RUNNER_WORKSPACE_BYTES=0 runs without the cap)",
                          (unsigned long long)cap_bytes, out, strerror(e));
    }
    return DP_OK;
}

int exec_workspace_full(const char *path)
{
    struct statvfs sv;
    if (statvfs(path, &sv) != 0)
        return 0;
    return (uint64_t)sv.f_bavail * sv.f_frsize < EXEC_WORKSPACE_FULL_SLACK;
}

static sbx_tree_step rm_entry(int dfd, const char *name, const struct stat *st, void *arg,
                              dp_err *err)
{
    (void)arg;
    if (S_ISDIR(st->st_mode))
        return SBX_TREE_DESCEND; /* emptied, then removed in rm_leave */
    if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
        return SBX_TREE_NEXT;
    if (errno == EACCES && fchmod(dfd, 0700) == 0 && unlinkat(dfd, name, 0) == 0)
        return SBX_TREE_NEXT; /* not root: a sandboxed program made the directory read-only */
    dp_err_set(err, DP_EIO, "cannot remove %s: %s", name, strerror(errno));
    return SBX_TREE_FAIL;
}

static int rm_leave(int dfd, const char *name, void *arg, dp_err *err)
{
    (void)arg;
    if (unlinkat(dfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        return dp_err_set(err, DP_EIO, "cannot remove directory %s: %s", name, strerror(errno));
    return DP_OK;
}

int exec_rmtree(const char *path, dp_err *err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? DP_OK
                               : dp_err_set(err, DP_EIO, "stat %s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0 && errno != ENOENT)
            return dp_err_set(err, DP_EIO, "cannot remove %s: %s", path, strerror(errno));
        return DP_OK;
    }
    sbx_tree_ops ops = {rm_entry, rm_leave};
    dp_err why = {0};
    if (sbx_tree_walk(path, &ops, NULL, &why) != DP_OK)
        return dp_err_set(err, DP_EIO, "cannot remove %s: %s", path, why.msg);
    if (rmdir(path) != 0 && errno != ENOENT)
        return dp_err_set(err, DP_EIO, "cannot remove %s: %s", path, strerror(errno));
    return DP_OK;
}

int exec_rmjobdir(const char *path, dp_err *err)
{
    /* a capped workspace is a tmpfs: unmounting frees it all at once.
     * EINVAL: not a mount point (no cap); EPERM: not root, so not mounted */
    if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL && errno != ENOENT &&
        errno != EPERM)
        return dp_err_set(err, DP_EIO, "cannot unmount the workspace %s: %s", path,
                          strerror(errno));
    return exec_rmtree(path, err);
}

int exec_sweep_stale(const char *parent, int slot, dp_err *err)
{
    DIR *d = opendir(parent);
    if (d == NULL)
        return dp_err_set(err, DP_EIO, "cannot read %s: %s", parent, strerror(errno));
    char prefix[32];
    snprintf(prefix, sizeof prefix, "job-%d-", slot);
    int removed = 0, rc = DP_OK;
    struct dirent *e;
    while (rc == DP_OK && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", parent, e->d_name);
        rc = exec_rmjobdir(path, err);
        removed += rc == DP_OK;
    }
    closedir(d);
    return rc == DP_OK ? removed : rc;
}

int exec_file_exists(const char *dir, const char *rel)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return 0;
    struct stat st;
    int ok = fstatat(dfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
    close(dfd);
    return ok;
}
