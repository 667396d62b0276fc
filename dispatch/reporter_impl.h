/* Internals shared by the reporter's files (reporter.c: submit, complete,
 * events, lifecycle; reporter_admin.c: reads, operator actions, the Redis
 * rebuild). One actor: all of this runs on the reporter's thread. */
#ifndef DP_REPORTER_IMPL_H
#define DP_REPORTER_IMPL_H

#include "dispatch/auth_cache.h"
#include "dispatch/event_buffer.h"
#include "dispatch/fwd.h"
#include "dispatch/reporter.h"
#include "dispatch/logstore/logstore.h"
#include "dispatch/redis/rq.h"
#include "dispatch/store/store.h"

#include <stdbool.h>

#define REPORTER_BATCH 256

typedef struct {
    fwd_origin origin;
    uint64_t id;
    char *runner_id;
    dp_job_result result; /* owned */
    bool retry;           /* the runner failed it (SE): run it again elsewhere */
} pending_complete;

typedef struct {
    reporter_config cfg;
    char redis_url[1024], prefix[RQ_PREFIX_MAX + 1], pg_dsn[2048], log_store[2048];
    store_db *db;
    rq_conn *rq;
    auth_cache *auth;
    logstore *logs;
    pending_complete batch[REPORTER_BATCH];
    size_t n_batch;
    event_buffer events; /* state changes to persist and publish on the next flush */
    int64_t next_epoch_check_ms;
    int need_rebuild;
    rq_complete_item *unreleased; /* recorded, Redis release failed: retried per tick (owned) */
    size_t n_unreleased, cap_unreleased;
} reporter_state;

void reporter_do_submit(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m);
/* Queues a result for the group commit (m's result is taken). */
void reporter_do_complete(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m);
/* Records the queued results in one transaction, then releases them in Redis. */
void reporter_flush_completes(reporter_state *s);
/* Persists the queued events (history, lease marks, dead jobs), then publishes them. */
void reporter_flush_events(reporter_state *s);
void reporter_do_status(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m);
void reporter_do_queue(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m);
void reporter_do_cancel(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m);
void reporter_do_requeue(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m);
/* Keeps copies of items whose Redis release failed after their results were
 * recorded; reporter_retry_releases (each tick) completes them again until
 * Redis answers (reporter_release.c). */
void reporter_release_later(reporter_state *s, const rq_complete_item *items, size_t n);
void reporter_retry_releases(reporter_state *s);
void reporter_release_free(reporter_state *s);
/* Rebuilds Redis from PostgreSQL when its epoch marker is gone (or asked). */
void reporter_check_epoch(reporter_state *s);

#endif
