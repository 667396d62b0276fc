/* The executor actor: one per concurrency slot of a runner. Its tick is the
 * slot's whole life: lease one job (long-poll), run it through the executor
 * pipeline (runner/exec: fetch, extract, sandboxed commands, verdicts),
 * and deliver the result until the dispatcher acknowledges it (retry with
 * backoff and jitter; a conflict means the job was reclaimed: logged and
 * dropped). Messages between ticks: `registered` hands it the runner's
 * identity (after every registration); any request is answered once the
 * slot is between jobs, which is how dispatch-runner waits for a slot to go
 * idle on SIGTERM. */
#ifndef DP_EXECUTOR_H
#define DP_EXECUTOR_H

#include "actors/actor.h"
#include "runner/exec/exec.h"

#include <stdatomic.h>
#include <stdint.h>

typedef struct {
    int slot;
    const char *dispatch_url;
    exec_config exec; /* strings copied at spawn */
    uint32_t lease_wait_ms;
    const atomic_int *stopping; /* set once on SIGTERM: lease nothing more */
    actor *session;             /* runner_client: told when the dispatcher forgot us */
} executor_config;

actor *executor_spawn(const executor_config *cfg, dp_err *err);

#endif
