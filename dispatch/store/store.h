/* The PostgreSQL store: the system of record for jobs, per-test results,
 * runners and job state history (see docs/store.md).
 *
 * One store_db is one libpq connection: NOT thread-safe; each actor that
 * writes opens its own. Every call is one statement (its own transaction) or
 * an explicit transaction, so nothing is ever half-written. Batches travel as
 * one JSON parameter expanded server side (jsonb_to_recordset), so a batch of
 * n rows costs one round trip whatever n is.
 *
 * When PostgreSQL is unreachable a call returns DP_EUNAVAIL with a message
 * saying so; the next call reconnects (PQreset, exponential backoff from
 * 100 ms to 5 s; calls inside the backoff window fail fast with DP_EUNAVAIL).
 * A connection found broken at the start of a call is reset and the
 * statement retried once, which is safe because every write is idempotent.
 *
 * Ownership: inputs are borrowed for the duration of the call. Outputs are
 * written into caller-provided structs or arrays; strings in them are heap
 * owned by those structs and released by the matching *_free function. */
#ifndef DP_STORE_H
#define DP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/job.h"

typedef struct store_db store_db;

/* Connects with dsn (a libpq URI or key=value string; connect_timeout 5 s
 * unless the dsn says otherwise) and applies pending schema migrations in one
 * transaction under an advisory lock, so replicas starting together are safe.
 * Returns NULL and fills err (DP_EUNAVAIL when the server is unreachable,
 * DP_EIO when a migration fails, DP_ENOMEM). */
store_db *store_open(const char *dsn, dp_err *err);

/* Closes the connection and frees db (accepts NULL). */
void store_close(store_db *db);

/* Highest schema migration version this build knows (and applies). */
int store_schema_version(void);

/* Records every statement's duration and every failed call into m, the
 * owning actor's registry (borrowed: must outlive db):
 * dispatch_pg_request_duration_seconds, dispatch_pg_errors_total. */
struct dp_metrics;
void store_set_metrics(store_db *db, struct dp_metrics *m);

/* PostgreSQL's statement_timeout for every statement of db (ms; 0: none),
 * set at once when connected and again on every reconnect: the server
 * cancels a statement that runs longer (SQLSTATE 57014, DP_EIO). The
 * reporter bounds its group commit with it (RQ_RESULT_HOLD_MS). */
int store_set_statement_timeout(store_db *db, uint32_t ms, dp_err *err);

/* No statement of db starts after deadline_ms (CLOCK_MONOTONIC ms, as
 * dp_now_ms; 0: no deadline), the reconnect's retry included: a call past
 * it fails with DP_EUNAVAIL "not sent". With store_set_statement_timeout
 * this bounds when a call's outcome is decided by PostgreSQL. */
void store_set_send_deadline(store_db *db, int64_t deadline_ms);

/* Readiness: one round trip that reads the highest applied migration into
 * *applied (reconnecting with backoff when the connection broke).
 * DP_EUNAVAIL when PostgreSQL does not answer. */
int store_schema_applied(store_db *db, int *applied, dp_err *err);

/* Inserts jobs in one statement. Every spec needs job_id and profile. A job
 * id that already exists is left untouched (idempotent resubmit). *n_inserted
 * (optional) gets how many rows were new. max_attempts 0 is stored as NULL
 * (the dispatcher's default). A job's `queued` history row is its own row
 * (the view job_history: nothing else is written). */
int store_insert_jobs(store_db *db, const dp_job_spec *specs, size_t n, size_t *n_inserted,
                      dp_err *err);

/* store_insert_jobs recording which API key submitted them (owner_key: a
 * key id, or NULL/"" for a keyless local operator). */
int store_insert_jobs_owned(store_db *db, const dp_job_spec *specs, size_t n, const char *owner_key,
                            size_t *n_inserted, dp_err *err);

/* store_insert_jobs_owned of specs already rendered as their JSON text
 * (dp_job_spec_json_text; borrowed), validated by the caller: the
 * submit renders each spec once, for Redis and for this. */
int store_insert_job_texts(store_db *db, const char *const *texts, size_t n, const char *owner_key,
                           size_t *n_inserted, dp_err *err);

/* store_insert_job_texts in two halves, so the caller works while
 * PostgreSQL inserts: _send starts it (on error nothing was sent),
 * _wait (the same texts, n and owner_key) finishes it, repeating it once
 * on a connection that broke (idempotent on job id). Nothing else may use
 * db in between. */
int store_insert_job_texts_send(store_db *db, const char *const *texts, size_t n,
                                const char *owner_key, dp_err *err);
int store_insert_job_texts_wait(store_db *db, const char *const *texts, size_t n,
                                const char *owner_key, dp_err *err);

/* The id of the key that submitted job_id into owner ("" when none).
 * DP_ENOTFOUND for an unknown job. */
int store_job_owner(store_db *db, const char *job_id, char *owner, size_t len, dp_err *err);

/* One completed job for store_record_results. */
typedef struct {
    const dp_job_result *result; /* job_id, attempt, verdict, score, message, tests */
    const char *runner_id;       /* may be NULL: keeps the recorded one */
    const char *log_url;         /* may be NULL */
    /* The lease of this attempt folded into the result: when it started
     * (store_lease.at_us), 0 for none. A lease mark told with its own
     * attempt's result sets nothing the result does not overwrite but
     * started_at and its `leased` history row: the result sets started_at
     * from this (unless the job is marked leased for the attempt already),
     * and the view job_history makes the `leased` row from the job row
     * (migration 11), so the mark need not be written (docs/store.md). */
    int64_t leased_us;
} store_result_in;

typedef enum {
    STORE_RECORDED = 0,         /* the result landed; the job is now completed */
    STORE_DUPLICATE = 1,        /* this (job, attempt) was already recorded: nothing changed */
    STORE_ALREADY_TERMINAL = 2, /* the job was already completed/failed/cancelled otherwise */
    STORE_UNKNOWN_JOB = 3,      /* no such job id */
    STORE_STALE_ATTEMPT = 4     /* a newer attempt of the job is leased: refused */
} store_outcome;

const char *store_outcome_name(store_outcome o);

/* Group commit: records n results in ONE transaction. A result lands only if
 * the job is not yet terminal and the result's attempt is not older than the
 * job's current attempt (jobs.attempts, raised by each lease mark) (exactly once, also across
 * replicas: the row lock orders concurrent writers). out[i] (optional, n entries) gets each item's
 * outcome. On error nothing at all was recorded. A recorded result's `completed` history row is
 * the job row it completed (the view job_history), so history holds it exactly once. */
int store_record_results(store_db *db, const store_result_in *in, size_t n, store_outcome *out,
                         dp_err *err);

/* A lease to record: the job is leased to runner_id for this attempt. */
typedef struct {
    const char *job_id;
    uint32_t attempt;
    const char *runner_id;
    /* when the lease started (µs since the epoch; the reporter's arrival
     * stamp, increasing in lease order), or 0 for the statement's now() */
    int64_t at_us;
} store_lease;

/* Marks jobs leased (state, attempts, runner_id, started_at = at_us) and
 * writes each changed job's `leased` history row (ts = started_at), in one
 * statement. Only an attempt newer than the job's lands: terminal jobs, a
 * lease told twice and a mark after its attempt's requeue change nothing
 * (no history row either); of two attempts of one job in a batch, the
 * newest. *n_changed (optional) counts rows changed. */
int store_mark_leased(store_db *db, const store_lease *leases, size_t n, size_t *n_changed,
                      dp_err *err);

/* What store_record_results_info tells of each result that landed
 * (STORE_RECORDED), for the metrics: its profile and how long ago the job
 * was submitted (seconds, by PostgreSQL's clock). */
typedef struct {
    char profile[64];
    double age_s;
} store_recorded_info;

/* store_record_results, also filling info[i] (n entries) of recorded items. */
int store_record_results_info(store_db *db, const store_result_in *in, size_t n, store_outcome *out,
                              store_recorded_info *info, dp_err *err);

/* store_record_results_info after store_mark_leased of leases, in one round
 * trip and one transaction (libpq pipeline mode): one commit instead of
 * two. On error neither landed. n == 0: the marks alone. */
int store_record_results_marked(store_db *db, const store_lease *leases, size_t n_leases,
                                const store_result_in *in, size_t n, store_outcome *out,
                                store_recorded_info *info, dp_err *err);

/* A dead job: attempts exhausted or otherwise unrunnable. */
typedef struct {
    const char *job_id;
    uint32_t attempts;   /* attempts used; 0 keeps the recorded count */
    const char *message; /* why (e.g. "runner r1 lost; 3 attempts used") */
} store_failure;

/* Marks non-terminal jobs failed with verdict SE, score 0 and the message, in
 * one statement. *n_changed (optional) counts rows changed. */
int store_mark_failed(store_db *db, const store_failure *items, size_t n, size_t *n_changed,
                      dp_err *err);

/* A runner-side failure with attempts left: the leased job goes back to
 * queued (attempts = attempt) with its `requeued` history row (runner_id,
 * message: borrowed, may be NULL) in one statement. Repeated, it changes
 * nothing (*n_changed 0). */
int store_requeue_retry(store_db *db, const char *job_id, uint32_t attempt, const char *runner_id,
                        const char *message, size_t *n_changed, dp_err *err);

/* Cancels a queued or leased job. DP_ENOTFOUND for an unknown id,
 * DP_ECONFLICT when it is already terminal (the message names its state). */
int store_mark_cancelled(store_db *db, const char *job_id, const char *message, dp_err *err);

/* Puts a leased, failed or cancelled job back to queued, clearing verdict,
 * score, message, runner and finished_at (results of earlier attempts stay,
 * keyed by attempt). reset_attempts sets attempts to 0 (for `requeue
 * --dead`). Queued jobs are left as they are (DP_OK). DP_ENOTFOUND for an
 * unknown id, DP_ECONFLICT for a completed job. */
int store_requeue(store_db *db, const char *job_id, int reset_attempts, dp_err *err);

/* The job as recorded, with the tests of its recorded attempt. Fills *out
 * (release with dp_job_view_free). DP_ENOTFOUND for an unknown id. */
int store_get_job(store_db *db, const char *job_id, dp_job_view *out, dp_err *err);

/* One unfinished (queued or leased) job, for rebuilding Redis. */
typedef struct {
    dp_job_spec spec; /* spec.job_id is set */
    dp_job_state state;
    uint32_t attempts;
    char *runner_id;  /* NULL when queued */
    char *created_at; /* RFC 3339 UTC */
} store_unfinished_job;

/* Keyset cursor for store_list_unfinished; zero it before the first page. */
typedef struct {
    char created_at[64]; /* "" before the first page */
    char job_id[DP_ID_MAX];
} store_cursor;

/* Up to limit (1..10000) unfinished jobs after *cursor, oldest first
 * (created_at, then id). *out is a heap array of *n jobs (release with
 * store_unfinished_free); *n < limit means this was the last page. The
 * cursor advances past the returned jobs. */
int store_list_unfinished(store_db *db, store_cursor *cursor, size_t limit,
                          store_unfinished_job **out, size_t *n, dp_err *err);

void store_unfinished_free(store_unfinished_job *jobs, size_t n);

/* Number of jobs in state completed. */
int store_count_completed(store_db *db, uint64_t *out, dp_err *err);

/* Inserts or updates a runner row; last_seen becomes now(). The state column
 * is "gone" when !alive, else "draining" or "active". */
int store_upsert_runner(store_db *db, const dp_runner_info *info, dp_err *err);

/* One job state history entry. */
typedef struct {
    const char *job_id;
    dp_job_state state;
    uint32_t attempt;
    const char *runner_id; /* may be NULL */
    const char *message;   /* may be NULL */
    int64_t ts_ms;         /* Unix ms; 0 means now() */
} store_event;

/* Appends n events in one statement. */
int store_add_events(store_db *db, const store_event *events, size_t n, dp_err *err);

/* Jobs a reclaim requeued (events[i]: job_id, attempt = the attempt lost,
 * runner_id = the lost runner, message; state and ts ignored): leased with
 * that attempt -> queued, and one `requeued` history row per (job, attempt)
 * in the same statement (none for an unknown job; repeated: none).
 * *n_changed (optional) counts the rows written. */
int store_mark_requeued(store_db *db, const store_event *events, size_t n, size_t *n_changed,
                        dp_err *err);

/* `requeue --dead`: every failed job back to queued with attempts reset, in
 * one statement; *moved gets the count. Redis gets them from the rebuild. */
int store_requeue_failed(store_db *db, uint64_t *moved, dp_err *err);

/* API keys (common/apikey.h): only the hash of a key's secret is stored. */
typedef struct {
    char id[24];                             /* DP_APIKEY_ID_LEN hex */
    char name[72];                           /* unique, 1..64 printable characters */
    char hash[72];                           /* hex SHA-256 of the secret */
    unsigned scopes;                         /* DP_SCOPE_* bits */
    uint32_t max_queued, submits_per_minute; /* 0: no quota */
    int revoked;
    char created_at[40];
} store_apikey;

/* Adds a key. DP_ECONFLICT when its name or id exists already. */
int store_apikey_create(store_db *db, const store_apikey *key, dp_err *err);

/* The key with that id (revoked ones too: the caller decides). DP_ENOTFOUND. */
int store_apikey_get(store_db *db, const char *id, store_apikey *out, dp_err *err);

/* Every key, oldest first; *out is malloc'd (free it), hashes left empty. */
int store_apikey_list(store_db *db, store_apikey **out, size_t *n, dp_err *err);

/* Revokes the key with that id or name. DP_ENOTFOUND when there is no
 * such live key. */
int store_apikey_revoke(store_db *db, const char *id_or_name, dp_err *err);

/* Callback deliveries (migration 0004, dispatch/callbacker.c): a row is
 * written by a trigger when a job with a callback_url becomes terminal. */
typedef struct {
    char delivery_id[64];
    char job_id[DP_ID_MAX];
    char *url;        /* heap, freed by store_callbacks_free */
    uint32_t attempt; /* this attempt's number (1 = first) */
} store_callback;

/* Claims up to max due deliveries (FOR UPDATE SKIP LOCKED: replicas never
 * claim the same row), counting the attempt and leasing each for lease_ms;
 * due rows that used max_attempts already fail. *out is a heap array of *n
 * (store_callbacks_free). */
int store_callbacks_claim(store_db *db, size_t max, uint32_t lease_ms, uint32_t max_attempts,
                          store_callback **out, size_t *n, dp_err *err);
void store_callbacks_free(store_callback *c, size_t n);

/* The outcome of attempt `attempt` of a delivery. Only the holder of that
 * attempt changes the row, and only while it is pending: delivered at most
 * once. retry_in_ms < 0: no more attempts (failed with error). *changed
 * (optional) gets 1 when the row was updated. */
int store_callback_delivered(store_db *db, const char *delivery_id, uint32_t attempt, int *changed,
                             dp_err *err);
int store_callback_failed(store_db *db, const char *delivery_id, uint32_t attempt,
                          const char *error, int64_t retry_in_ms, int *changed, dp_err *err);
/* Profiles runners have offered (store_profiles.c): add (idempotent) and
 * list all (heap array of heap strings: store_profiles_free). */
int store_profiles_add(store_db *db, const char *const *profiles, size_t n, dp_err *err);
int store_profiles_list(store_db *db, char ***out, size_t *n, dp_err *err);
void store_profiles_free(char **list, size_t n);

#endif
