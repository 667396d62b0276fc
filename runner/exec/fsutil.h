/* Workspace helpers: a fresh private job directory, optionally a tmpfs of
 * its own so that a job cannot fill the host's disk, and its removal. Paths
 * are caller-owned strings. */
#ifndef EXEC_FSUTIL_H
#define EXEC_FSUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Creates a fresh directory "<parent>/job-<slot>-XXXXXX" (mode 0755) and
 * writes its path into out (out_len bytes). cap_bytes > 0: a tmpfs of that
 * size (nosuid, nodev) is mounted on it, so everything the job puts there
 * (archive, unpacked files, what its commands write) shares that cap (needs
 * CAP_SYS_ADMIN). DP_EIO names the errno. Remove with exec_rmjobdir. */
int exec_mkjobdir(const char *parent, int slot, uint64_t cap_bytes, char *out, size_t out_len,
                  dp_err *err);

/* Free space below which a capped workspace counts as full: a write that
 * failed with ENOSPC leaves less than this. */
#define EXEC_WORKSPACE_FULL_SLACK (64u << 10)

/* 1 when the file system holding path has less than
 * EXEC_WORKSPACE_FULL_SLACK bytes free. */
int exec_workspace_full(const char *path);

/* Removes path and everything below it without following symlinks (walks
 * with directory fds: sbx_tree.h), at any depth, making directories
 * writable first when not root (a sandboxed program may have chmod'ed them).
 * A missing path is success. DP_EIO names the first entry that stayed. */
int exec_rmtree(const char *path, dp_err *err);

/* Unmounts the job directory's tmpfs when it has one, then exec_rmtree. */
int exec_rmjobdir(const char *path, dp_err *err);

/* Removes leftover "<parent>/job-<slot>-*" directories and their tmpfs (a
 * runner killed mid-job leaves its workspace behind). Only this slot's: other slots may be
 * busy. Returns the number removed, or a dp_code naming the one that stayed. */
int exec_sweep_stale(const char *parent, int slot, dp_err *err);

/* 1 when path (relative to dir) names a regular file, without following a
 * symlink in its last component. */
int exec_file_exists(const char *dir, const char *rel);

#endif
