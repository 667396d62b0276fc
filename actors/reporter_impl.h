/* Internals shared by the reporter's files (reporter.c: submit, complete,
 * events, lifecycle; reporter_admin.c: reads, operator actions, the Redis
 * rebuild). One actor: all of this runs on the reporter's thread. */
#ifndef DP_REPORTER_IMPL_H
#define DP_REPORTER_IMPL_H

#include "actors/auth_cache.h"
#include "actors/fwd.h"
#include "actors/reporter.h"
#include "dispatch/logstore.h"
#include "dispatch/rq.h"
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
    dp_msg_event ev; /* owned strings */
    bool persisted;  /* its history row was written with the job or the result */
} pending_event;

typedef struct {
    reporter_config cfg;
    char redis_url[1024], prefix[RQ_PREFIX_MAX + 1], pg_dsn[2048], log_store[2048];
    store_db *db;
    rq_conn *rq;
    auth_cache *auth;
    logstore *logs;
    pending_complete batch[REPORTER_BATCH];
    size_t n_batch;
    pending_event *events;
    size_t n_events, cap_events;
    int64_t next_epoch_check_ms;
    int need_rebuild;
} reporter_state;

/* Queues an event: persisted to job_events and published on the next flush. */
void reporter_add_event(reporter_state *s, const char *job_id, dp_job_state state,
                        dp_verdict verdict, const char *runner_id, uint32_t attempt,
                        const char *message);
/* Answers the request and frees m. */
void reporter_reply(fwd_origin o, dp_msg *m);
/* not_found / conflict / error reply for a dp_code. */
void reporter_reply_err(fwd_origin o, uint64_t id, int rc, const dp_err *err);
/* Persists and publishes the queued events. */
void reporter_flush_events(reporter_state *s);

void reporter_do_status(reporter_state *s, fwd_origin o, const dp_msg *m);
void reporter_do_queue(reporter_state *s, fwd_origin o, const dp_msg *m);
void reporter_do_cancel(reporter_state *s, fwd_origin o, const dp_msg *m);
void reporter_do_requeue(reporter_state *s, fwd_origin o, const dp_msg *m);
/* Rebuilds Redis from PostgreSQL when its epoch marker is gone (or asked). */
void reporter_check_epoch(reporter_state *s);

#endif
