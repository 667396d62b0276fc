/* Walking a workspace tree as root without following symlinks and without
 * trusting paths: every step is openat/fstatat on a directory fd with
 * O_NOFOLLOW / AT_SYMLINK_NOFOLLOW, so a directory swapped for a symlink
 * between two steps is never followed out of the tree. The walk holds two
 * fds whatever the depth (it climbs back with openat(fd, "..") and checks
 * that it arrived where it came from), never crosses into another mount,
 * and has no depth limit. Used by the sandbox (handing the workspace to the
 * slot user) and by the executor (removing it). */
#ifndef SBX_TREE_H
#define SBX_TREE_H

#include <sys/stat.h>
#include <sys/types.h>

#include "common/err.h"

typedef enum {
    SBX_TREE_NEXT,    /* handled (or skipped): go on with the next entry */
    SBX_TREE_DESCEND, /* a directory: walk into it, then call leave */
    SBX_TREE_FAIL     /* stop; the callback set err */
} sbx_tree_step;

typedef struct {
    /* Each entry of a directory (open as dfd), with its lstat. */
    sbx_tree_step (*entry)(int dfd, const char *name, const struct stat *st, void *arg,
                           dp_err *err);
    /* After a directory the walk descended into: dfd is its parent. After
     * leave, the parent is read again from its start, so entry must not
     * ask to descend into the same directory twice (remove it or mark it). */
    int (*leave)(int dfd, const char *name, void *arg, dp_err *err);
} sbx_tree_ops;

/* Walks everything below the directory root (itself not reported; a symlink
 * or non-directory root is DP_EINVAL). Returns 0, the callback's code, or
 * DP_EIO naming the entry that could not be walked. */
int sbx_tree_walk(const char *root, const sbx_tree_ops *ops, void *arg, dp_err *err);

/* Gives every entry below root (and root) to uid:gid, with fchownat on
 * directory fds; directories already owned by uid:gid are not entered
 * (only the runner, as root, creates files that need it: extraction). */
int sbx_tree_chown(const char *root, uid_t uid, gid_t gid, dp_err *err);

#endif
