/* A runner's actors as one unit: the runner session, the job feeder and the executor slots,
 * started together and stopped gracefully (stop leasing, end waiting leases,
 * let running jobs finish within a grace, deregister releasing the rest).
 * Used by dispatch-runner and by `dispatchd --with-runners N` (inproc). */
#ifndef DP_RUNNER_POOL_H
#define DP_RUNNER_POOL_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *dispatch_url;
    const char *registration_token;
    const char *name;
    const char *const *labels;
    size_t n_labels;
    const char *profiles_dir;
    const char *workdir;
    const char *sandbox_require; /* DISPATCH_SANDBOX_REQUIRE; NULL = the default isolation */
    uint32_t concurrency;
    uint32_t slot_base;
    uint32_t lease_wait_ms;
    int noop;
    int fetch_allow_file;          /* RUNNER_FETCH_ALLOW_FILE */
    const char *fetch_allow_cidrs; /* RUNNER_FETCH_ALLOW_CIDRS or NULL */
    uint64_t workspace_bytes;      /* RUNNER_WORKSPACE_BYTES; 0 = no cap */
    const char *http_listen; /* RUNNER_HTTP_LISTEN: /metrics, /healthz, /readyz; NULL/"" none */
} runner_pool_config;

typedef struct runner_pool runner_pool;

/* Spawns everything; NULL + err when a slot cannot start (e.g. a required
 * sandbox protection is missing). */
runner_pool *runner_pool_start(const runner_pool_config *cfg, dp_err *err);

/* Graceful stop within grace_ms, then frees the pool. Returns 1 when every
 * slot went idle in time, 0 when a job outlived the grace (it was released;
 * its slot thread may still be running: the caller should exit). */
int runner_pool_stop(runner_pool *p, uint32_t grace_ms);

#endif
