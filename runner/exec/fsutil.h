/* Workspace helpers: a fresh private job directory and its removal. Paths
 * are caller-owned strings. */
#ifndef EXEC_FSUTIL_H
#define EXEC_FSUTIL_H

#include <stddef.h>

#include "common/err.h"

/* Creates a fresh directory "<parent>/job-<slot>-XXXXXX" (mode 0755) and
 * writes its path into out (out_len bytes). DP_EIO names the errno. */
int exec_mkjobdir(const char *parent, int slot, char *out, size_t out_len, dp_err *err);

/* Removes path and everything below it without following symlinks, making
 * directories writable first (a sandboxed program may have chmod'ed them).
 * A missing path is success. DP_EIO names the first entry that stayed. */
int exec_rmtree(const char *path, dp_err *err);

/* Removes leftover "<parent>/job-<slot>-*" directories (a runner killed
 * mid-job leaves its workspace behind). Only this slot's: other slots may be
 * busy. Returns the number removed, or a dp_code naming the one that stayed. */
int exec_sweep_stale(const char *parent, int slot, dp_err *err);

/* 1 when path (relative to dir) names a regular file, without following a
 * symlink in its last component. */
int exec_file_exists(const char *dir, const char *rel);

#endif
