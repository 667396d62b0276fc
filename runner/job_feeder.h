/* The job feeder actor: one per runner. It leases for all free executor
 * slots at once (one long-poll request for k = free slots, so a busy runner
 * takes its jobs in batches) and hands each job to an idle executor.
 * Executors report back with `slot_free` when they are ready for the next
 * job; `registered` (from the runner session) gives it the runner's identity.
 * Its tick is the loop: with free slots and an identity, one lease call
 * (blocking up to the long-poll); messages that arrived meanwhile are
 * handled before the next call, so k grows with what finished. */
#ifndef DP_JOB_FEEDER_H
#define DP_JOB_FEEDER_H

#include "actors/actor.h"

#include <stdatomic.h>
#include <stdint.h>

typedef struct {
    const char *dispatch_url;
    uint32_t slots; /* executors that will report in with slot_free */
    uint32_t lease_wait_ms;
    const atomic_int *stopping; /* set once on SIGTERM: lease nothing more */
    actor *session;             /* runner session: told when the dispatcher forgot us */
} job_feeder_config;

actor *job_feeder_spawn(const job_feeder_config *cfg, dp_err *err);

/* Hands the loop its executors (index i = slot_free.slot). Call from main
 * before any executor can report free. */
int job_feeder_set_executors(actor *loop, actor *const *executors, uint32_t n, dp_err *err);

#endif
