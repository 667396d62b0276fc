/* The executor actor: one per concurrency slot of a runner. The job feeder
 * hands it a job (`leased` with one job); it runs it through the executor
 * pipeline (runner/exec: fetch, extract, sandboxed commands, verdicts),
 * delivers the result until the dispatcher acknowledges it (retry with
 * backoff and jitter; a conflict means the job was reclaimed: logged and
 * dropped), then tells the job feeder `slot_free`. `registered` hands it the
 * runner's identity (after every registration). Any request is answered once
 * the slot is between jobs, which is how a stopping runner waits for it. */
#ifndef DP_EXECUTOR_H
#define DP_EXECUTOR_H

#include "actors/actor.h"
#include "runner/exec/exec.h"

#include <stdatomic.h>
#include <stdint.h>

typedef struct {
    int slot;       /* sandbox slot (uid, cgroup) */
    uint32_t index; /* position among the runner's executors, for slot_free */
    actor *job_feeder;
    const char *dispatch_url;
    exec_config exec;           /* strings copied at spawn */
    const atomic_int *stopping; /* set once on SIGTERM: give up undeliverable results sooner */
    actor *status;              /* the runner status actor (metrics), or NULL: borrowed */
} executor_config;

actor *executor_spawn(const executor_config *cfg, dp_err *err);

#endif
