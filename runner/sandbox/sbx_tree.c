/* fd-based tree walk; see sbx_tree.h. */
#include "runner/sandbox/sbx_tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What the walk remembers of each directory it is inside: who it is (to
 * check the climb back) and its name in its parent (for leave). */
typedef struct {
    dev_t dev;
    ino_t ino;
    char *name;
} tree_frame;

/* Opens name (a directory per st) below dfd without following a symlink,
 * and checks it is still the directory st describes. -1 with errno. */
static int open_dir_at(int dfd, const char *name, const struct stat *st)
{
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == EACCES) {
        /* a sandboxed program may have made it unreadable; AT_SYMLINK_NOFOLLOW
         * so a symlink swapped in meanwhile is refused, not followed */
        if (fchmodat(dfd, name, 0700, AT_SYMLINK_NOFOLLOW) == 0)
            fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0)
        return -1;
    struct stat now;
    if (fstat(fd, &now) != 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
        close(fd);
        errno = ESTALE; /* replaced between the look and the open */
        return -1;
    }
    return fd;
}

static void frames_free(tree_frame *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(f[i].name);
    free(f);
}

int sbx_tree_walk(const char *root, const sbx_tree_ops *ops, void *arg, dp_err *err)
{
    struct stat st;
    if (lstat(root, &st) != 0)
        return dp_err_set(err, DP_EIO, "%s: %s", root, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return dp_err_set(err, DP_EINVAL, "%s: not a directory", root);
    int fd = open_dir_at(AT_FDCWD, root, &st);
    if (fd < 0)
        return dp_err_set(err, DP_EIO, "cannot open %s: %s", root, strerror(errno));
    size_t n = 1, cap = 16;
    tree_frame *fr = calloc(cap, sizeof *fr);
    if (fr == NULL) {
        close(fd);
        return dp_err_set(err, DP_ENOMEM, "out of memory");
    }
    fr[0] = (tree_frame){st.st_dev, st.st_ino, NULL};
    int rc = DP_OK;
    while (rc == DP_OK) {
        DIR *d = fdopendir(fd);
        if (d == NULL) {
            rc = dp_err_set(err, DP_EIO, "cannot read a directory below %s: %s", root,
                            strerror(errno));
            close(fd);
            break;
        }
        fd = -1;
        struct dirent *e = NULL;
        while (rc == DP_OK && fd < 0 && (errno = 0, e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            struct stat est;
            if (fstatat(dirfd(d), e->d_name, &est, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno != ENOENT)
                    rc = dp_err_set(err, DP_EIO, "%s: entry %s: %s", root, e->d_name,
                                    strerror(errno));
                continue;
            }
            sbx_tree_step step = ops->entry(dirfd(d), e->d_name, &est, arg, err);
            if (step == SBX_TREE_FAIL) {
                rc = err != NULL && err->code != 0 ? err->code : DP_EIO;
            } else if (step == SBX_TREE_DESCEND) {
                if (!S_ISDIR(est.st_mode) || est.st_dev != fr[0].dev) {
                    rc = dp_err_set(err, DP_EIO, "%s: entry %s: %s", root, e->d_name,
                                    S_ISDIR(est.st_mode) ? "another mount" : "not a directory");
                    break;
                }
                char *name = strdup(e->d_name);
                tree_frame *grown = n == cap ? realloc(fr, 2 * cap * sizeof *fr) : fr;
                if (name == NULL || grown == NULL) {
                    free(name);
                    rc = dp_err_set(err, DP_ENOMEM, "out of memory");
                    break;
                }
                fr = grown;
                cap = n == cap ? 2 * cap : cap;
                fd = open_dir_at(dirfd(d), name, &est);
                if (fd < 0) {
                    rc = dp_err_set(err, DP_EIO, "%s: cannot open %s: %s", root, name,
                                    strerror(errno));
                    free(name);
                    break;
                }
                fr[n++] = (tree_frame){est.st_dev, est.st_ino, name};
            }
        }
        if (rc == DP_OK && fd < 0 && e == NULL && errno != 0)
            rc = dp_err_set(err, DP_EIO, "%s: readdir: %s", root, strerror(errno));
        if (rc != DP_OK || fd >= 0) {
            closedir(d);
            continue; /* failed, or walk into the directory just opened */
        }
        if (n == 1) { /* the root is done */
            closedir(d);
            break;
        }
        /* this directory is done: climb back to the parent it was entered from */
        fd = openat(dirfd(d), "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        closedir(d);
        struct stat up;
        if (fd < 0 || fstat(fd, &up) != 0 || up.st_dev != fr[n - 2].dev ||
            up.st_ino != fr[n - 2].ino) {
            rc = dp_err_set(err, DP_EIO, "%s: directory %s moved during the walk", root,
                            fr[n - 1].name);
            break;
        }
        n--;
        rc = ops->leave != NULL ? ops->leave(fd, fr[n].name, arg, err) : DP_OK;
        free(fr[n].name);
        fr[n].name = NULL;
    }
    if (fd >= 0 && rc != DP_OK)
        close(fd);
    frames_free(fr, n);
    return rc;
}

typedef struct {
    uid_t uid;
    gid_t gid;
} chown_arg;

static int owned(const struct stat *st, const chown_arg *a)
{
    return st->st_uid == a->uid && st->st_gid == a->gid;
}

static sbx_tree_step chown_entry(int dfd, const char *name, const struct stat *st, void *arg,
                                 dp_err *err)
{
    chown_arg *a = arg;
    if (owned(st, a))
        return SBX_TREE_NEXT;
    if (S_ISDIR(st->st_mode))
        return SBX_TREE_DESCEND; /* given away in leave, once its contents are */
    if (fchownat(dfd, name, a->uid, a->gid, AT_SYMLINK_NOFOLLOW) != 0 && errno != ENOENT) {
        dp_err_set(err, DP_EIO, "chown %s: %s", name, strerror(errno));
        return SBX_TREE_FAIL;
    }
    return SBX_TREE_NEXT;
}

static int chown_leave(int dfd, const char *name, void *arg, dp_err *err)
{
    chown_arg *a = arg;
    if (fchownat(dfd, name, a->uid, a->gid, AT_SYMLINK_NOFOLLOW) != 0)
        return dp_err_set(err, DP_EIO, "chown %s: %s", name, strerror(errno));
    return DP_OK;
}

int sbx_tree_chown(const char *root, uid_t uid, gid_t gid, dp_err *err)
{
    chown_arg a = {uid, gid};
    sbx_tree_ops ops = {chown_entry, chown_leave};
    int rc = sbx_tree_walk(root, &ops, &a, err);
    if (rc != DP_OK)
        return rc;
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fchown(fd, uid, gid) != 0) {
        rc = dp_err_set(err, DP_EIO, "chown %s: %s", root, strerror(errno));
    }
    if (fd >= 0)
        close(fd);
    return rc;
}
