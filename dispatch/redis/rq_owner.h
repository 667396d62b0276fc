/* What the reporter asks of Redis around results and the rebuild: the owner
 * check before a result is persisted (it marks results in flight), clearing tombstones of
 * requeued jobs, and the epoch marker that tells dispatchd its Redis lost
 * its data (these two write). Kept apart from rq.h, which is the runners'
 * and the operators' operations. */
#ifndef DP_RQ_OWNER_H
#define DP_RQ_OWNER_H

#include "dispatch/redis/rq.h"

typedef struct rq_owner_item {
    const char *job_id;
    const char *runner_id;
    uint32_t attempt;
    int mark;              /* in: 1 = the result goes to PostgreSQL if the check passes: mark the
                              job (a result in flight, RQ_RESULT_HOLD_MS) in the same call */
    uint32_t max_attempts; /* out: the job's own limit, when it is leased */
    int result;            /* out: DP_OK (current owner and attempt, or an identical repeat of an
                              accepted complete), DP_ECONFLICT, DP_ENOTFOUND */
} rq_owner_item;

/* Checks n items in one round trip per RQ_BATCH_MAX (one script,
 * dispatch/redis/rq_owner_check.lua). An item with mark set whose check
 * passes on a leased job (not a repeat of an accepted complete) marks the
 * job `completing`: from then on, for RQ_RESULT_HOLD_MS or until its
 * complete, no reclaim, deregister or requeue takes the lease from its
 * runner, so no newer attempt exists while the result is being recorded.
 * The caller must have its group commit decided within that bound. A
 * lease call makes the same check for the results its runner sent with the
 * request (rq_claim.checks, rq_lease_claim_many). */
int rq_owner_check(rq_conn *c, rq_owner_item *items, size_t n, dp_err *err);

/* Deletes the tombstones (string keys left by a complete or cancel) of n
 * jobs PostgreSQL holds as unfinished again (an operator requeued them), so
 * that rq_enqueue adds them instead of skipping an existing key. Live job
 * hashes are left alone. One script call (rq_clear_tombstones.lua) per
 * RQ_BATCH_MAX; ids are borrowed. */
int rq_owner_clear_tombstones(rq_conn *c, const char *const *job_ids, size_t n, dp_err *err);

/* Sets *present to 1 when this Redis holds our epoch marker, 0 when it does
 * not (a new or flushed Redis: rebuild from PostgreSQL, then rq_epoch_mark). */
int rq_epoch_present(rq_conn *c, int *present, dp_err *err);
int rq_epoch_mark(rq_conn *c, dp_err *err);

#endif
