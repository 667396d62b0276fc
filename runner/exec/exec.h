/* The executor pipeline: one job from archive URL to verdict.
 *
 *   fetch (libcurl) -> extract (libzip) into a fresh workspace -> profile
 *   -> required files -> setup commands once -> each I/O test against the
 *   built program, or the profile's test command -> verdicts, score, log
 *   -> workspace removed whatever happened.
 *
 * One exec_ctx per executor slot (it owns the slot's sandbox and profile
 * cache); a ctx is used by one thread at a time, different ctxs may run
 * concurrently. See docs/executor.md. */
#ifndef EXEC_EXEC_H
#define EXEC_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/job.h"

typedef struct {
    const char *profiles_dir; /* RUNNER_PROFILES_DIR; copied */
    const char *workdir;      /* RUNNER_WORKDIR: job directories go here; copied */
    int slot;                 /* 0..999: the sandbox slot (uid, cgroup) */
    int noop;                 /* 1: every job is AC at once, nothing fetched or run */
    int sweep_stale; /* 1: exec_open removes this slot's leftover job directories (only when
                      * no other process uses the same workdir and slot) */
    const char *sandbox_require;       /* DISPATCH_SANDBOX_REQUIRE or NULL; borrowed in exec_open */
    uint64_t max_archive_bytes;        /* 0 = 64 MiB */
    uint64_t max_unpacked_bytes;       /* 0 = 256 MiB */
    uint32_t max_entries;              /* 0 = 10000 */
    uint32_t fetch_connect_timeout_ms; /* 0 = 10 s */
    uint32_t fetch_timeout_ms;         /* 0 = 120 s */
    int fetch_allow_file;              /* 1: file:// archive URLs (RUNNER_FETCH_ALLOW_FILE) */
    const char *fetch_allow_cidrs;     /* RUNNER_FETCH_ALLOW_CIDRS: nets exempt from the
                                        * fetch address check (netaddr.h); NULL = none; parsed */
    uint64_t workspace_bytes;          /* RUNNER_WORKSPACE_BYTES: each job's directory is a
                                        * tmpfs of this size; 0 = a plain directory */
    uint64_t file_size_bytes;          /* RLIMIT_FSIZE for commands; 0 = 64 MiB */
    size_t log_cap;                    /* 0 = 1 MiB */
    size_t excerpt_cap;                /* per stdout/stderr excerpt; 0 = 4 KiB */
} exec_config;

typedef struct exec_ctx exec_ctx;

/* Opens a slot: checks both directories and fetch_allow_cidrs, mounts and
 * removes one workspace when workspace_bytes is set (as root, a failure to
 * mount fails the open; not root, the cap is dropped with a warning), opens
 * the sandbox (fails when sandbox_require names a protection the host lacks). Not called with
 * noop: the sandbox is not opened then. Caller owns the ctx. */
exec_ctx *exec_open(const exec_config *cfg, dp_err *err);

/* NULL is allowed. */
void exec_close(exec_ctx *ctx);

/* Runs one job. Always fills *out (caller-owned struct; its members are
 * owned by it afterwards: dp_job_result_free) and returns 0, unless an
 * argument is NULL (DP_EINVAL). out->verdict is AC..CE for the submission's
 * own outcome, SE when the runner failed it; *retryable is 1 when the
 * failure is ours and transient (fetch timeout, disk full, sandbox failure)
 * so the dispatcher should retry it elsewhere. */
int exec_job(exec_ctx *ctx, const dp_job_spec *spec, uint32_t attempt, dp_job_result *out,
             int *retryable, dp_err *err);

/* Figures of the last exec_job on this ctx, for the runner's metrics. */
typedef struct {
    int fetched;          /* the archive was downloaded */
    uint64_t fetch_bytes; /* its size */
    double fetch_s;       /* download time */
    int sandboxed;        /* the job reached the sandbox (compile or tests ran) */
    double sandbox_s;     /* compile and tests, wall time */
} exec_stats;

void exec_last_stats(const exec_ctx *ctx, exec_stats *out);

#endif
