/* The executor actor: one per concurrency slot of a runner. The job feeder
 * hands jobs to the executors' group (`leased` with one job each,
 * actors/actor_group.h): the executor that takes one runs it through the executor
 * pipeline (runner/exec: fetch, extract, sandboxed commands, verdicts) and
 * hands the result back to the job feeder with `slot_free`: the feeder
 * delivers it (batched with the other slots' results, runner/job_feeder.h),
 * so an executor never waits on the dispatcher. `registered` tells it the
 * runner's id (for its logs). Any request is answered once the slot is
 * between jobs, which is how a stopping runner waits for it; `stopping`
 * also takes it out of the group, so no job starts on it after that. */
#ifndef DP_EXECUTOR_H
#define DP_EXECUTOR_H

#include "actors/actor.h"
#include "actors/actor_group.h"
#include "runner/exec/exec.h"

#include <stdatomic.h>
#include <stdint.h>

typedef struct {
    int slot;       /* sandbox slot (uid, cgroup) */
    uint32_t index; /* position among the runner's executors, for slot_free */
    actor *job_feeder;
    actor_group *group; /* the runner's executors, sharing the jobs (borrowed) */
    exec_config exec;   /* strings copied at spawn */
    actor *status;      /* the runner status actor (metrics), or NULL: borrowed */
} executor_config;

actor *executor_spawn(const executor_config *cfg, dp_err *err);

#endif
