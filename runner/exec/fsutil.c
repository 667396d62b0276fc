/* Workspace helpers; see fsutil.h. */
#include "runner/exec/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int exec_mkjobdir(const char *parent, int slot, char *out, size_t out_len, dp_err *err)
{
    int n = snprintf(out, out_len, "%s/job-%d-XXXXXX", parent, slot);
    if (n < 0 || (size_t)n >= out_len)
        return dp_err_set(err, DP_EINVAL, "workdir path too long: %s", parent);
    if (mkdtemp(out) == NULL)
        return dp_err_set(err, DP_EIO, "cannot create job directory under %s: %s", parent,
                          strerror(errno));
    if (chmod(out, 0755) != 0)
        return dp_err_set(err, DP_EIO, "chmod %s: %s", out, strerror(errno));
    return DP_OK;
}

/* Empties the directory open as dfd (takes ownership of dfd). depth bounds
 * the recursion so a hostile tree cannot exhaust the stack. */
static int rm_contents(int dfd, const char *path, int depth, dp_err *err)
{
    if (depth > 256) {
        close(dfd);
        return dp_err_set(err, DP_EIO, "cannot remove %s: tree deeper than 256", path);
    }
    DIR *d = fdopendir(dfd);
    if (d == NULL) {
        close(dfd);
        return dp_err_set(err, DP_EIO, "cannot read %s: %s", path, strerror(errno));
    }
    int rc = DP_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (unlinkat(dfd, e->d_name, 0) == 0 || errno == ENOENT)
            continue;
        if (errno != EISDIR && errno != EPERM) {
            rc = dp_err_set(err, DP_EIO, "cannot remove %s/%s: %s", path, e->d_name,
                            strerror(errno));
            break;
        }
        /* a directory: make it ours to read and write, empty it, remove it */
        fchmodat(dfd, e->d_name, 0700, 0);
        int sub = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) {
            rc = dp_err_set(err, DP_EIO, "cannot open %s/%s: %s", path, e->d_name, strerror(errno));
            break;
        }
        char child[4096 + 260]; /* for messages only: the walk itself uses fds */
        snprintf(child, sizeof child, "%.4095s/%s", path, e->d_name);
        rc = rm_contents(sub, child, depth + 1, err);
        if (rc != DP_OK)
            break;
        if (unlinkat(dfd, e->d_name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
            rc = dp_err_set(err, DP_EIO, "cannot remove %s: %s", child, strerror(errno));
            break;
        }
        /* entries may have moved under readdir's feet: start over */
        rewinddir(d);
    }
    closedir(d);
    return rc;
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
    chmod(path, 0700);
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return dp_err_set(err, DP_EIO, "cannot open %s: %s", path, strerror(errno));
    int rc = rm_contents(dfd, path, 0, err);
    if (rc != DP_OK)
        return rc;
    if (rmdir(path) != 0 && errno != ENOENT)
        return dp_err_set(err, DP_EIO, "cannot remove %s: %s", path, strerror(errno));
    return DP_OK;
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
        rc = exec_rmtree(path, err);
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
