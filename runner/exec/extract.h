/* Safe extraction of a zip archive into a fresh directory with libzip.
 *
 * Refused (DP_EINVAL, message names the entry and why): absolute paths,
 * ".." components, backslashes and drive letters, empty components, names
 * over 1024 bytes, symlinks and device files (unix mode in the external
 * attributes), encrypted entries, duplicates, more entries than the cap, and
 * more uncompressed bytes than the cap, counted while writing (the header's
 * sizes are not trusted). Local failures (disk full, permissions) are
 * DP_EIO. Strings are caller-owned. */
#ifndef EXEC_EXTRACT_H
#define EXEC_EXTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct {
    uint32_t max_entries;
    uint64_t max_bytes; /* total uncompressed bytes written */
} exec_extract_limits;

typedef struct {
    uint32_t entries; /* files and directories created */
    uint64_t bytes;   /* uncompressed bytes written */
} exec_extract_stats;

/* 0 when name is a safe relative path inside the workspace, else DP_EINVAL
 * with the reason ("absolute path", "'..' component", ...). */
int exec_zip_name_check(const char *name, dp_err *err);

/* 0 when the zip entry's external attributes (from
 * zip_file_get_external_attributes) describe a regular file or directory,
 * else DP_EINVAL ("symlink", "device file", ...). */
int exec_zip_mode_check(uint8_t opsys, uint32_t attributes, dp_err *err);

/* Extracts zip_path into dest_dir (which must exist and be empty). stats
 * may be NULL. On failure dest_dir may hold a partial tree: the caller
 * removes it. */
int exec_extract(const char *zip_path, const char *dest_dir, const exec_extract_limits *limits,
                 exec_extract_stats *stats, dp_err *err);

#endif
