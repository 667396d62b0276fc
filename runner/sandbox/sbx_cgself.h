/* The one reader of /proc/self/cgroup, shared by the sandbox library, its
 * tests and the hostile test program (which runs inside the sandbox and is
 * built without the library: sbx_cgself.c uses libc only). */
#ifndef DP_SBX_CGSELF_H
#define DP_SBX_CGSELF_H

#include <stddef.h>
#include <sys/types.h>

/* Reads the whole of /proc/self/cgroup into buf (caller-owned, len bytes),
 * NUL-terminated. Returns its length, or -errno (-ENOSPC when it does not
 * fit: a truncated list would place slots in the wrong cgroup); buf then
 * holds "". */
ssize_t sbx_cg_read_self(char *buf, size_t len);

#endif
