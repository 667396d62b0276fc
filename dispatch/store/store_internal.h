/* Internals shared by the store_*.c files: the connection struct, the
 * prepared statement table and the call helper that maps failures to
 * DP_EUNAVAIL / DP_EIO. Not for use outside dispatch/store/. */
#ifndef DP_STORE_INTERNAL_H
#define DP_STORE_INTERNAL_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>

#include "dispatch/store/store.h"

struct store_db {
    PGconn *conn;        /* owned */
    int prepared;        /* statements prepared on this connection */
    unsigned backoff_ms; /* current reconnect backoff; 0 when healthy */
    int64_t retry_at_ms; /* no reconnect attempt before this (monotonic ms) */
    char last_error[256];
    struct dp_hist *m_rtt; /* the owner's metrics (store_set_metrics), or NULL */
    double *m_errors;
    uint32_t statement_timeout_ms; /* session statement_timeout, set on each connection; 0 none */
    int64_t send_by_ms;            /* no statement starts after this (monotonic ms); 0 none */
    double sent_at;                /* store_send's time, for the round-trip metric */
    /* Inside an explicit transaction (BEGIN sent): a broken connection is
     * neither reconnected nor the statement run again, since the
     * transaction went with it and a statement repeated on a new session
     * would run outside it. */
    int in_transaction;
};

/* SET statement_timeout on the current connection (store_limits.c). */
int store_apply_statement_timeout(store_db *db, dp_err *err);

/* Connected and prepared, reconnecting (with backoff) when needed. */
int store_ensure_ready(store_db *db, const char *what, dp_err *err);
/* Counts one failed call in the owner's metrics. */
void store_count_error(store_db *db);

/* Prepared statements: every name below is prepared on each (re)connection
 * from the table in store_sql.c. */
typedef struct {
    const char *name;
    const char *sql;
    int n_params;
} store_statement;

extern const store_statement store_statements[];
extern const size_t store_statements_count;

#define ST_INSERT_JOBS "dp_insert_jobs"
#define ST_RECORD_RESULTS "dp_record_results"
#define ST_MARK_LEASED "dp_mark_leased"
#define ST_REQUEUE_RETRY "dp_requeue_retry"
#define ST_MARK_REQUEUED "dp_mark_requeued"
#define ST_MARK_FAILED "dp_mark_failed"
#define ST_MARK_CANCELLED "dp_mark_cancelled"
#define ST_REQUEUE "dp_requeue"
#define ST_GET_JOB "dp_get_job"
#define ST_GET_TESTS "dp_get_tests"
#define ST_LIST_UNFINISHED "dp_list_unfinished"
#define ST_COUNT_COMPLETED "dp_count_completed"
#define ST_UPSERT_RUNNER "dp_upsert_runner"
#define ST_ADD_EVENTS "dp_add_events"
#define ST_JOB_OWNER "dp_job_owner"
#define ST_KEY_CREATE "dp_key_create"
#define ST_KEY_GET "dp_key_get"
#define ST_KEY_LIST "dp_key_list"
#define ST_KEY_REVOKE "dp_key_revoke"
#define ST_LIST_JOBS "dp_list_jobs"
#define ST_QUOTA_BEGIN "dp_quota_begin"
#define ST_QUOTA_LOCK "dp_quota_lock"
#define ST_QUOTA_COUNT "dp_quota_count"
#define ST_QUOTA_COMMIT "dp_quota_commit"
#define ST_CB_CLAIM "dp_cb_claim"
#define ST_CB_DELIVERED "dp_cb_delivered"
#define ST_CB_FAILED "dp_cb_failed"
#define ST_PROFILES_ADD "dp_profiles_add"
#define ST_PROFILES_LIST "dp_profiles_list"

/* One prepared statement of a pipeline (params borrowed). */
typedef struct {
    const char *name;
    int n_params;
    const char *const *params;
} store_stmt;

/* store_call for several statements in one round trip and one transaction:
 * all land or none (the first error is returned); *out is the last one's
 * result (PQclear it). */
int store_call_pipeline(store_db *db, const store_stmt *stmts, size_t n, const char *what,
                        PGresult **out, dp_err *err);

/* Runs prepared statement name with text params (NULL entries are SQL NULL).
 * On success *out holds a PGRES_TUPLES_OK or PGRES_COMMAND_OK result the
 * caller PQclears. On failure returns DP_EUNAVAIL (server unreachable) or
 * DP_EIO (the server refused: message names what and why); *out is NULL. */
int store_call(store_db *db, const char *name, int n_params, const char *const *params,
               const char *what, PGresult **out, dp_err *err);

/* store_call in two halves, so the caller works while the statement runs:
 * store_send starts it (params are copied), store_wait collects its
 * result. Unlike store_call neither reconnects nor runs it again: on
 * DP_EUNAVAIL the caller repeats it with store_call. Nothing else may use
 * db in between. */
int store_send(store_db *db, const char *name, int n_params, const char *const *params,
               const char *what, dp_err *err);
int store_wait(store_db *db, const char *what, PGresult **out, dp_err *err);

/* store_call planned with this call's parameter values (a custom plan),
 * for statements whose optional filters only fold away that way (the job
 * list); the session's other statements keep their one generic plan. Two
 * more round trips: not for the hot path. */
int store_call_custom(store_db *db, const char *name, int n_params, const char *const *params,
                      const char *what, PGresult **out, dp_err *err);

/* store_call with one parameter: batch (borrowed) serialised as compact
 * JSON. DP_ENOMEM when it cannot be serialised. */
int store_call_json(store_db *db, const char *name, const json_t *batch, const char *what,
                    PGresult **out, dp_err *err);

/* store_call with two parameters: batch (borrowed) serialised as compact
 * JSON, then n (its number of rows, for the planner). */
int store_call_json_n(store_db *db, const char *name, const json_t *batch, size_t n,
                      const char *what, PGresult **out, dp_err *err);

/* One array parameter being built (store_arr.c): a PostgreSQL array literal
 * in text format, expanded server side with unnest. s is heap-owned
 * (store_arr_free); zero-initialise before the first element. */
typedef struct {
    char *s;
    size_t len, cap;
    int n; /* elements so far */
    int oom;
} store_arr;

void store_arr_raw(store_arr *b, const char *v); /* v verbatim: a number, or NULL */
void store_arr_int(store_arr *b, long long v);
void store_arr_int_or_null(store_arr *b, long long v); /* v <= 0: NULL (a time not given) */
void store_arr_str(store_arr *b, const char *v);       /* quoted; NULL is SQL NULL */
/* Closes the literal; DP_ENOMEM when any append failed. */
int store_arr_finish(store_arr *b);
void store_arr_free(store_arr *b);

/* The finished columns (job, attempt, runner, start µs) of a lease batch
 * for ST_MARK_LEASED; the caller frees them (store_arr_free) on DP_OK. */
#define STORE_LEASE_COLUMNS 4
int store_lease_columns(const store_lease *leases, size_t n, store_arr a[STORE_LEASE_COLUMNS],
                        dp_err *err);

/* The affected-row count of an INSERT/UPDATE result. */
size_t store_cmd_rows(const PGresult *res);

/* A heap copy of the field, or NULL when it is SQL NULL; *oom set on
 * allocation failure. */
char *store_field_dup(const PGresult *res, int row, int col, int *oom);

/* The job view's callback fields from [state, attempts, last_error] (JSON
 * text of ST_GET_JOB's last column). DP_ENOMEM, or DP_OK (a malformed text
 * leaves them unset). */
int store_callback_view(const char *json_text, dp_job_view *out);

#endif
