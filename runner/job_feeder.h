/* The job feeder actor: one per runner, its only hot-path link to the
 * dispatcher. Executors hand it their result with `slot_free` when they
 * finish a job; whenever its mailbox runs empty it sends one
 * `complete_lease` carrying every result not yet sent and a lease for the
 * free slots nobody asked for yet, without waiting for the answer (up to
 * FEEDER_MAX_CALLS in flight, so new work never waits for the previous
 * results' commit; with k in flight the next waits for k/FEEDER_MAX_CALLS
 * of the slots to carry, or for an answer). Under load a message carries whatever finished while
 * the last one travelled: the batch is sized by load, never by a timer.
 * Answers come back into its mailbox (runner_link_call_async): each
 * outcome forgets its result (ack, conflict, not_found) or sends it again
 * (retry); new jobs go to the executors' group (`leased` with one job each,
 * taken by whichever executor is between jobs, actors/actor_group.h). Calls are
 * early (msg.h) unless the runner is stopping: answered before the
 * results' commit, their outcomes come in later answers. Results
 * are kept until an outcome forgets them (runner/job_feeder_held.h) and
 * resent after a failed call or a failover. With no result to send and
 * idle slots it keeps one long-poll lease waiting. Its tick (100 ms) only
 * retries after a backoff, probes a replica that went quiet, gives up on
 * calls whose answer was lost, and logs results held without an outcome
 * for FEEDER_SLOW_RESULT_MS (results_unacknowledged). `registered` (from
 * the runner session) gives it the runner's identity; `stopping` (a call)
 * is answered once every held result has its outcome, or after
 * FEEDER_FLUSH_MS. */
#ifndef DP_JOB_FEEDER_H
#define DP_JOB_FEEDER_H

#include "actors/actor.h"
#include "actors/actor_group.h"

#include <stdatomic.h>
#include <stdint.h>

#define FEEDER_MAX_CALLS 4    /* complete_lease calls in flight at once */
#define FEEDER_FLUSH_MS 10000 /* a stopping runner's wait for its results' outcomes */
/* A result without an outcome this long is logged (results_unacknowledged),
 * at most once per FEEDER_SLOW_WARN_EVERY_MS. */
#define FEEDER_SLOW_RESULT_MS 5000
#define FEEDER_SLOW_WARN_EVERY_MS 30000
/* A result sent early whose outcome no answer brought this long is sent
 * again (its outcome was lost with a replica, or went to another one):
 * well above a group commit under load, so a slow commit is not recorded
 * twice over. */
#define FEEDER_AWAIT_MS 10000
/* Results awaiting outcomes beyond this many times the held cap (4 x
 * slots + 64) stop new leases too. */
#define FEEDER_AWAIT_CAP_FACTOR 8
/* With results awaiting outcomes this long and no call in flight, a
 * long-poll asking for no job fetches them (job_feeder.c, feeder_pump). */
#define FEEDER_POLL_AFTER_MS 200

typedef struct {
    const char *dispatch_url;
    uint32_t slots;         /* executors that will report in with slot_free */
    actor_group *executors; /* their group: a job goes to whichever is idle (borrowed) */
    uint32_t lease_wait_ms;
    const atomic_int *stopping; /* set once on SIGTERM: lease nothing more */
    actor *session;             /* runner session: told when the dispatcher forgot us */
} job_feeder_config;

actor *job_feeder_spawn(const job_feeder_config *cfg, dp_err *err);

/* Tells the feeder its n executors are in place (their group is in the
 * config; index i = slot_free.slot): it starts handing out jobs. Call
 * before any executor can report free. */
int job_feeder_set_executors(actor *feeder, actor *const *executors, uint32_t n, dp_err *err);

/* Waits (up to FEEDER_FLUSH_MS plus slack) until every result the
 * executors handed in has its outcome; 0, or DP_ETIMEOUT when some could
 * not be delivered (their jobs are reclaimed and run again elsewhere). */
int job_feeder_flush(actor *feeder, dp_err *err);

#endif
