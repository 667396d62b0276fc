/* Internals shared by the reporter's files (reporter.c: complete, events,
 * lifecycle; reporter_admin.c: reads, operator actions, the Redis rebuild)
 * and the submitter's (dispatch/submitter.c: reporter_submit.c,
 * reporter_quota.c, reporter_record.c, reporter_route.c). Two actors, each
 * with a reporter_state of its own (its own connections): nothing here is
 * shared between them, and each state is touched by its actor's thread only. */
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
/* Events PostgreSQL could not take (unreachable) kept for the next flush. */
#define REPORTER_UNWRITTEN_MAX 16384
/* Lease marks waiting for their results (folded into the result's row when
 * it comes first: no mark of its own), written at the latest by the next
 * tick or when this many wait. */
#define REPORTER_DEFERRED_MAX 4096
/* A group commit is decided within RQ_RESULT_HOLD_MS of its owner check,
 * which holds its jobs leased in Redis until then (docs/redis.md, "Results
 * in flight"): its statement is sent at most REPORTER_SEND_LIMIT_MS after
 * the check (a reconnect's retry included; later: `unavailable`, the runner
 * resends) on a connection of its own whose statement_timeout is
 * REPORTER_COMMIT_TIMEOUT_MS (a 256-result commit takes ~25-85 ms; the
 * reporter's other statements, a mass requeue or a count, stay unbounded). */
#define REPORTER_SEND_LIMIT_MS 5000
/* A result the leaser owner-checked in its lease call is checked again here
 * (its mark made anew) once that check is this old when its batch goes
 * out: slow log uploads or a long queue before the batch would otherwise
 * eat its send limit, and the runner's resend would meet the same fate. */
#define REPORTER_CHECK_FRESH_MS 1000
#define REPORTER_COMMIT_TIMEOUT_MS 10000
_Static_assert(REPORTER_SEND_LIMIT_MS + REPORTER_COMMIT_TIMEOUT_MS + 5000 <= RQ_RESULT_HOLD_MS,
               "a group commit must be decided before Redis stops holding its jobs");

/* The results of one complete_lease (reporter_batch.c): answered together,
 * once each has its outcome, with the jobs the leaser claimed. */
typedef struct reporter_group reporter_group;

typedef struct {
    fwd_origin origin;
    uint64_t id;
    reporter_group *group; /* NULL: a lone complete, answered by itself */
    uint32_t slot;         /* with group: this result's index in the request */
    char *runner_id;
    dp_job_result result; /* owned */
    bool retry;           /* the runner failed it (SE): run it again elsewhere */
    double arrived_s;     /* dp_metrics_now() when it reached the reporter */
    uint32_t owner;       /* DP_OWNER_*: checked by the leaser's lease call, else UNCHECKED */
    int64_t checked_ms;   /* with owner checked: the leaser's clock before that call */
} pending_complete;

typedef struct reporter_held_submit reporter_held_submit;

typedef struct {
    reporter_config cfg;
    char redis_url[1024], prefix[RQ_PREFIX_MAX + 1], pg_dsn[2048], log_store[2048];
    store_db *db;
    store_db *commit_db; /* the group commit's own connection (REPORTER_COMMIT_TIMEOUT_MS) */
    store_db *insert_db; /* a large submit's second inserting connection (reporter_record.c) */
    rq_conn *rq;
    auth_cache *auth;
    logstore *logs;
    pending_complete batch[REPORTER_BATCH];
    size_t n_batch;
    event_buffer events;    /* state changes to persist and publish on the next flush */
    event_buffer unwritten; /* published, not yet in PostgreSQL (unreachable): written first */
    event_buffer deferred;  /* lease marks waiting for their results (reporter_complete.c) */
    int64_t next_epoch_check_ms;
    int need_rebuild;
    int rebuild_unasked;         /* (the submitter) a rebuild the reporter was not told of yet */
    int64_t enqueue_retry_at_ms; /* an enqueue failed: the next ones go to the rebuild until then */
    struct dp_metrics *metrics;  /* this actor's own (reporter_metrics.c) */
    size_t profiles_synced;      /* offered profiles last copied to PostgreSQL */
    unsigned profile_checks;     /* every 10th check copies them whatever the count */
    /* Profiles known to be offered, owned (reporter_route.c): the offered set
     * only grows, so a submit whose profiles are all here asks nobody. */
    char **offered;
    size_t n_offered;
    rq_complete_item *unreleased; /* recorded, Redis release failed: retried per tick (owned) */
    size_t n_unreleased, cap_unreleased;
    reporter_held_submit *held; /* submits waiting for the group insert (reporter_submit.c) */
    size_t n_held, cap_held, held_jobs;
} reporter_state;

/* A submit: validated and held for the group insert (reporter_submit.c);
 * reporter_flush_submits records every held submit (one batch per
 * requester) and answers them. The submitter flushes when its mailbox runs
 * empty and when reporter_submits_full (submitter.c). */
void reporter_do_submit(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m);
bool reporter_submits_full(const reporter_state *s);
void reporter_flush_submits(reporter_state *s);
/* Frees held submits unanswered (at stop, after a last flush). */
void reporter_submits_free(reporter_state *s);
/* Queues a result for the group commit (m's result is taken). */
void reporter_do_complete(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m);
/* Records the queued results in one transaction, then releases them in Redis. */
void reporter_flush_completes(reporter_state *s);
/* Persists the queued events (history, dead jobs, reclaims) after the
 * unwritten ones of earlier flushes, then publishes the new ones; keeps
 * what PostgreSQL could not take because it was unreachable. Lease marks
 * are not written here: they wait in s->deferred for their results
 * (written first when there is a reclaim or a dead job to write). */
void reporter_flush_events(reporter_state *s);
/* reporter_flush_events, except that the lease marks are moved to *marks
 * (the caller's) instead of s->deferred: the result batch folds or writes
 * them in its own transaction (reporter_write_marks after it). */
void reporter_flush_events_hold(reporter_state *s, event_buffer *marks);
/* Writes lease marks alone (those a result batch could not take with it);
 * they join s->unwritten, behind what it holds, while it holds anything or
 * when PostgreSQL is unreachable. Frees *marks. */
void reporter_write_marks(reporter_state *s, event_buffer *marks);
/* What becomes of a lease mark beside a result batch (reporter_fold.c). */
enum {
    REPORTER_MARK_FOLD,  /* its attempt's result is in the batch: set with it, not written */
    REPORTER_MARK_WRITE, /* a result of another attempt of its job is: written first (fence) */
    REPORTER_MARK_DEFER, /* no result of its job is: waits in s->deferred */
};
/* Decides act[i] for each of marks' entries against the n results of in[]
 * (n <= REPORTER_BATCH) and sets in[k].leased_us of the results that fold
 * a mark. */
void reporter_fold_marks(const event_buffer *marks, store_result_in *in, size_t n,
                         unsigned char *act);
/* Writes the deferred lease marks (s->deferred): at every tick, before
 * reads and operator actions, a reclaim's requeue or a dead job, a rebuild
 * and the stop, and when REPORTER_DEFERRED_MAX wait. */
void reporter_write_deferred(reporter_state *s);
/* The store_lease view of marks (borrowing its strings; caller frees the array). */
store_lease *reporter_marks_view(const event_buffer *marks);
/* A lease_for (a complete_lease passed on by the leaser with its jobs): a
 * group answered when the last of its results has its outcome (NULL: it was
 * answered already). reporter_group_queue moves results from index `from`
 * into the batch while it has room; returns the index it stopped at. */
reporter_group *reporter_group_open(reporter_state *s, dp_msg *m);
size_t reporter_group_queue(reporter_state *s, reporter_group *g, dp_msg *m, size_t from);
/* Answers one queued result: alone with r, in a group as its outcome
 * (ack, conflict, not_found; an error means retry). Takes r. */
void reporter_answer(reporter_state *s, pending_complete *p, dp_msg *r);
void reporter_answer_error(reporter_state *s, pending_complete *p, const char *code,
                           const char *message);
void reporter_do_status(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m);
void reporter_do_queue(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m);
void reporter_do_cancel(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m);
void reporter_do_requeue(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m);
/* The reporter's metrics (reporter_metrics.c): series made at start, counted
 * on the job's path without allocation. */
int reporter_metrics_start(reporter_state *s, dp_err *err);
void reporter_metrics_submitted(reporter_state *s, const char *profile);
void reporter_metrics_completed(reporter_state *s, const char *profile, dp_verdict v, double age_s,
                                double complete_s);
void reporter_metrics_failed(reporter_state *s, size_t n);
/* job_list: one page of jobs (reporter_list.c). */
void reporter_do_list(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m);
/* Records the n valid specs (ok: their JSON texts, in arrival order; in:
 * the same jobs for Redis; items: their answers, borrowed) of one
 * requester within its quotas (reporter_quota.c) and enqueues those
 * recorded: recorded[i] (n entries, the caller's) says whether PostgreSQL
 * holds spec i; the items refused by a quota are turned into "quota"
 * refusals. Not DP_OK: some were not recorded, err says why. */
int reporter_quota_submit(reporter_state *s, fwd_origin o, const char *const *ok,
                          const rq_job_in *in, size_t n, unsigned char *recorded,
                          dp_submit_item *const *items, dp_err *err);
/* Records texts in PostgreSQL and enqueues in in Redis, chunk by chunk on
 * two connections (reporter_record.c): recorded[i] (n entries, the
 * caller's) says whether PostgreSQL holds job i; returns how many it holds;
 * fewer than n: err says why. */
size_t reporter_record_enqueue(reporter_state *s, const char *owner, const char *const *texts,
                               const rq_job_in *in, size_t n, unsigned char *recorded, dp_err *err);
/* Enqueues n recorded jobs (a failure leaves them to the rebuild). */
void reporter_enqueue_recorded(reporter_state *s, const rq_job_in *in, size_t n);
/* Jobs PostgreSQL holds may be missing from Redis: the reporter's next
 * epoch check rebuilds it. The submitter notes it, and its tick tells the
 * reporter (cfg.rebuilder: one `rebuild` per tick at most, sent again
 * when the reporter's mailbox was full), which alone rebuilds (it writes
 * its lease marks first). */
void reporter_ask_rebuild(reporter_state *s);
void reporter_send_rebuild_ask(reporter_state *s);
/* A state with cfg's settings copied and nothing open (the actor's start
 * opens what it uses); NULL with err set. reporter_state_free frees s and
 * everything it owns (connections, buffers, held work). */
reporter_state *reporter_state_new(const reporter_config *cfg, dp_err *err);
/* The actor's start: opens db, Redis and the metrics, and the second
 * PostgreSQL connection its work needs: the group commit's (results) or a
 * large submit's second inserting one (the submitter). */
int reporter_state_open(reporter_state *s, bool results, dp_err *err);
void reporter_state_free(reporter_state *s);
/* Keeps copies of items whose Redis release failed after their results were
 * recorded; reporter_retry_releases (each tick) completes them again until
 * Redis answers (reporter_release.c). */
void reporter_release_later(reporter_state *s, const rq_complete_item *items, size_t n);
void reporter_retry_releases(reporter_state *s);
void reporter_release_free(reporter_state *s);
/* Rebuilds Redis from PostgreSQL when its epoch marker is gone (or asked). */
void reporter_check_epoch(reporter_state *s);

/* Routing (reporter_route.c). DP_EINVAL naming the first spec's profile no
 * runner ever offered; DP_OK with *warning set (log too) when no runner ever
 * offered any profile (a fleet scaled to zero). */
int reporter_check_profiles(reporter_state *s, const dp_job_spec *specs, size_t n, char *warning,
                            size_t warning_len, dp_err *err);
/* Copies Redis's offered profiles to PostgreSQL when the set grew (tick). */
void reporter_profiles_sync(reporter_state *s);
/* Puts PostgreSQL's offered profiles back into Redis (the rebuild). */
int reporter_profiles_restore(reporter_state *s, dp_err *err);
/* Frees the known offered profiles (the actor's stop). */
void reporter_profiles_free(reporter_state *s);

#endif
