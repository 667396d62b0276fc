/* Archive download with libcurl: http:// and https://, file:// only when
 * limits->allow_file; at most EXEC_FETCH_MAX_REDIRECTS redirects, to http(s)
 * only; every connection (after DNS, after each redirect) goes only to an
 * address exec_addr_check accepts (see netaddr.h), and proxies from the
 * environment are ignored so that the checked address is the one dialled.
 * Strings are caller-owned.
 *
 * Failure codes tell the executor whose fault it is:
 *   DP_EINVAL   the job's input: bad URL or scheme (file:// when disabled),
 *               an address the policy refuses, not found (HTTP 4xx, missing
 *               file), larger than the cap, SHA-256 mismatch;
 *   DP_ETIMEOUT connect or total timeout;
 *   DP_EUNAVAIL host unreachable, DNS failure, HTTP 5xx/408/429;
 *   DP_EIO      local trouble writing the file.
 * Every message names the URL and the reason. */
#ifndef EXEC_FETCH_H
#define EXEC_FETCH_H

#include <stdint.h>

#include "common/err.h"
#include "runner/exec/netaddr.h"

#define EXEC_FETCH_MAX_REDIRECTS 5

typedef struct {
    uint64_t max_bytes;
    uint32_t connect_timeout_ms;
    uint32_t timeout_ms;          /* whole transfer */
    int allow_file;               /* 1: file:// URLs too (RUNNER_FETCH_ALLOW_FILE) */
    const exec_addr_allow *allow; /* nets exempt from the address check; NULL = none */
} exec_fetch_limits;

/* Process-wide libcurl set-up, reference counted; call once per user
 * (exec_open does) and pair with exec_fetch_global_release. */
int exec_fetch_global_acquire(dp_err *err);
void exec_fetch_global_release(void);

/* Downloads url into dest_path (created, must not exist). When sha256_hex is
 * non-NULL the content must hash to it (64 hex chars, either case).
 * *size_out (may be NULL) receives the byte count. On failure the caller
 * removes dest_path. */
int exec_fetch(const char *url, const char *sha256_hex, const char *dest_path,
               const exec_fetch_limits *limits, uint64_t *size_out, dp_err *err);

#endif
