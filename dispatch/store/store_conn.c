/* Connection life cycle: open, migrations, prepared statements, reconnect
 * with backoff, and the one call helper every query goes through. */
#include "dispatch/store/store_internal.h"
#include "dispatch/store/store_migrations.h"

#include "common/log.h"
#include "common/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* pg_advisory_xact_lock key that serialises migrations ("disp" in ASCII). */
#define STORE_MIGRATION_LOCK 0x64697370
#define STORE_BACKOFF_MIN_MS 100u
#define STORE_BACKOFF_MAX_MS 5000u

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The first line of a libpq message, without the "ERROR:  " noise. */
static void first_line(const char *msg, char *out, size_t out_len)
{
    if (msg == NULL || *msg == 0)
        msg = "unknown error";
    if (strncmp(msg, "ERROR:  ", 8) == 0 || strncmp(msg, "FATAL:  ", 8) == 0)
        msg += 8;
    size_t n = strcspn(msg, "\n");
    if (n >= out_len)
        n = out_len - 1;
    memcpy(out, msg, n);
    out[n] = 0;
}

static void result_message(const PGconn *conn, const PGresult *res, char *out, size_t out_len)
{
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    first_line(primary ? primary : PQerrorMessage(conn), out, out_len);
}

/* Connection-level failures (retry later) as opposed to the server refusing
 * the statement (a bug or bad data: retrying would fail again). */
static int is_unavailable(const PGconn *conn, const PGresult *res)
{
    if (PQstatus(conn) != CONNECTION_OK)
        return 1;
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (st == NULL)
        return 1; /* libpq's own error: lost connection or out of memory */
    return strncmp(st, "08", 2) == 0 || strcmp(st, "57P01") == 0 || strcmp(st, "57P02") == 0 ||
           strcmp(st, "57P03") == 0 || strcmp(st, "53300") == 0;
}

void store_count_error(store_db *db)
{
    if (db->m_errors != NULL)
        *db->m_errors += 1;
}

void store_set_metrics(store_db *db, dp_metrics *m)
{
    db->m_rtt = dp_metrics_hist(m, "dispatch_pg_request_duration_seconds", "");
    db->m_errors = dp_metrics_counter(m, "dispatch_pg_errors_total", "");
}

static int fail_unavailable(store_db *db, const char *what, dp_err *err)
{
    return dp_err_set(err, DP_EUNAVAIL, "%s: PostgreSQL unavailable: %s", what, db->last_error);
}

static int prepare_all(store_db *db, dp_err *err)
{
    /* One generic plan per statement and connection: planning a batch
     * statement afresh cost more than running it (record_results with one
     * row: 0.49 ms planning, 0.26 ms execution; 712 -> 2,209 rows/s at
     * batch 1, no change at batch 1,000; docs/store.md). Every statement
     * here finds its rows by key or by an index, and with seq scans
     * disfavoured the generic plan keeps to the indexes even when it is made
     * while the table is young (an empty table's generic plan is otherwise a
     * seq scan + hash join, kept until autovacuum analyzes). Statements
     * with no index to use still scan. */
    PGresult *set =
        PQexec(db->conn, "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off");
    if (set == NULL || PQresultStatus(set) != PGRES_COMMAND_OK) {
        result_message(db->conn, set, db->last_error, sizeof db->last_error);
        int unavailable = is_unavailable(db->conn, set);
        PQclear(set);
        if (unavailable)
            return fail_unavailable(db, "session setup", err);
        return dp_err_set(err, DP_EIO, "session setup: %s", db->last_error);
    }
    PQclear(set);
    if (db->statement_timeout_ms != 0) {
        int rc = store_apply_statement_timeout(db, err);
        if (rc != DP_OK)
            return rc;
    }
    for (size_t i = 0; i < store_statements_count; i++) {
        const store_statement *st = &store_statements[i];
        PGresult *res = PQprepare(db->conn, st->name, st->sql, st->n_params, NULL);
        if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
            result_message(db->conn, res, db->last_error, sizeof db->last_error);
            int unavailable = is_unavailable(db->conn, res);
            PQclear(res);
            if (unavailable)
                return fail_unavailable(db, "prepare", err);
            return dp_err_set(err, DP_EIO, "prepare %s: %s", st->name, db->last_error);
        }
        PQclear(res);
    }
    db->prepared = 1;
    return DP_OK;
}

/* PQreset, at most once per backoff window. */
static int reconnect(store_db *db, const char *what, dp_err *err)
{
    int64_t now = now_ms();
    if (now < db->retry_at_ms)
        return dp_err_set(err, DP_EUNAVAIL,
                          "%s: PostgreSQL unavailable (next reconnect in %lld ms): %s", what,
                          (long long)(db->retry_at_ms - now), db->last_error);
    db->prepared = 0;
    PQreset(db->conn);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        first_line(PQerrorMessage(db->conn), db->last_error, sizeof db->last_error);
        db->backoff_ms = db->backoff_ms == 0 ? STORE_BACKOFF_MIN_MS : db->backoff_ms * 2;
        if (db->backoff_ms > STORE_BACKOFF_MAX_MS)
            db->backoff_ms = STORE_BACKOFF_MAX_MS;
        db->retry_at_ms = now_ms() + db->backoff_ms;
        return fail_unavailable(db, what, err);
    }
    db->backoff_ms = 0;
    db->retry_at_ms = 0;
    dp_log(DP_LOG_INFO, "store_reconnected", (char *)NULL);
    return prepare_all(db, err);
}

int store_ensure_ready(store_db *db, const char *what, dp_err *err)
{
    if (PQstatus(db->conn) != CONNECTION_OK && db->in_transaction)
        return dp_err_set(err, DP_EUNAVAIL, "%s: PostgreSQL connection lost inside a transaction",
                          what);
    if (PQstatus(db->conn) != CONNECTION_OK)
        return reconnect(db, what, err);
    if (!db->prepared)
        return prepare_all(db, err);
    return DP_OK;
}

static int result_ok(const PGresult *res)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
}

/* A statement's failure (failed: its result, or NULL when libpq has only a
 * connection message; cleared here) as DP_EUNAVAIL (the server is
 * unreachable: try later) or DP_EIO (it refused: the message says why). */
static int failure(store_db *db, PGresult *failed, const char *what, dp_err *err)
{
    store_count_error(db);
    result_message(db->conn, failed, db->last_error, sizeof db->last_error);
    int unavailable = is_unavailable(db->conn, failed);
    PQclear(failed);
    if (unavailable)
        return fail_unavailable(db, what, err);
    return dp_err_set(err, DP_EIO, "%s: %s", what, db->last_error);
}

/* One round trip in pipeline mode: every statement, then one Sync, so
 * they run in one implicit transaction (all or nothing) with one commit.
 * Blocking sends are safe here: the results of all but the last statement
 * are command tags, small enough never to fill the server's buffer. */
static int pipeline_once(store_db *db, const store_stmt *stmts, size_t n, PGresult **last,
                         PGresult **failed)
{
    *last = *failed = NULL;
    if (PQenterPipelineMode(db->conn) != 1)
        return -1;
    int ok = 1;
    for (size_t i = 0; ok && i < n; i++)
        ok = PQsendQueryPrepared(db->conn, stmts[i].name, stmts[i].n_params, stmts[i].params, NULL,
                                 NULL, 0) == 1;
    ok = ok && PQpipelineSync(db->conn) == 1;
    for (size_t i = 0; ok && i < n; i++) {
        PGresult *res = PQgetResult(db->conn);
        ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (result_ok(res)) {
            if (i + 1 == n)
                *last = res;
            else
                PQclear(res);
        } else if (*failed == NULL && st != PGRES_PIPELINE_ABORTED) {
            *failed = res; /* the first error: the rest were skipped */
        } else {
            PQclear(res);
        }
        if (res == NULL)
            ok = 0; /* the connection broke */
        else
            PQclear(PQgetResult(db->conn)); /* the NULL that ends each statement */
    }
    /* up to the Sync: what is left is that one result */
    for (size_t k = 0; ok && k <= 2 * n; k++) {
        PGresult *res = PQgetResult(db->conn);
        ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        PQclear(res);
        if (res == NULL || st == PGRES_PIPELINE_SYNC)
            break;
    }
    if (PQexitPipelineMode(db->conn) != 1) {
        /* a pipeline left half read (a send failed on a live connection)
         * would refuse every later statement: start the session afresh */
        ok = 0;
        PQreset(db->conn);
        db->prepared = 0;
    }
    if (ok && *failed == NULL && *last != NULL)
        return 0;
    if (*failed == NULL && *last != NULL) {
        PQclear(*last);
        *last = NULL;
    }
    return -1;
}

/* One try of the statements: PQexecPrepared for one, a pipeline for more.
 * 0 with *out (the last one's result), else -1 with *failed (the first
 * error's result, or NULL when libpq has only a connection message). */
static int exec_once(store_db *db, const store_stmt *stmts, size_t n, PGresult **out,
                     PGresult **failed)
{
    if (n > 1)
        return pipeline_once(db, stmts, n, out, failed);
    *out = *failed = NULL;
    PGresult *res =
        PQexecPrepared(db->conn, stmts[0].name, stmts[0].n_params, stmts[0].params, NULL, NULL, 0);
    if (result_ok(res)) {
        *out = res;
        return 0;
    }
    *failed = res;
    return -1;
}

int store_call_pipeline(store_db *db, const store_stmt *stmts, size_t n, const char *what,
                        PGresult **out, dp_err *err)
{
    *out = NULL;
    int rc = store_ensure_ready(db, what, err);
    if (rc != DP_OK) {
        store_count_error(db);
        return rc;
    }
    for (int attempt = 0;; attempt++) {
        if (db->send_by_ms != 0 && now_ms() > db->send_by_ms) {
            /* the caller promised a decision by then (store_set_send_deadline) */
            store_count_error(db);
            return dp_err_set(err, DP_EUNAVAIL, "%s: not sent: its deadline passed %lld ms ago",
                              what, (long long)(now_ms() - db->send_by_ms));
        }
        double t0 = db->m_rtt != NULL ? dp_metrics_now() : 0;
        PGresult *failed = NULL;
        int bad = exec_once(db, stmts, n, out, &failed);
        if (db->m_rtt != NULL)
            dp_hist_observe(db->m_rtt, dp_metrics_now() - t0);
        if (!bad)
            return DP_OK;
        rc = failure(db, failed, what, err);
        /* A connection that broke since the last call (server restarted):
         * reconnect at once and run the statements again, which is safe
         * because every statement is idempotent. */
        if (rc != DP_EUNAVAIL || attempt > 0 || PQstatus(db->conn) == CONNECTION_OK ||
            db->in_transaction)
            return rc;
        rc = reconnect(db, what, err);
        if (rc != DP_OK)
            return rc;
    }
}

int store_call(store_db *db, const char *name, int n_params, const char *const *params,
               const char *what, PGresult **out, dp_err *err)
{
    store_stmt one = {name, n_params, params};
    return store_call_pipeline(db, &one, 1, what, out, err);
}

int store_send(store_db *db, const char *name, int n_params, const char *const *params,
               const char *what, dp_err *err)
{
    int rc = store_ensure_ready(db, what, err);
    if (rc == DP_OK && PQsendQueryPrepared(db->conn, name, n_params, params, NULL, NULL, 0) != 1) {
        first_line(PQerrorMessage(db->conn), db->last_error, sizeof db->last_error);
        rc = fail_unavailable(db, what, err);
    }
    if (rc != DP_OK)
        store_count_error(db);
    db->sent_at = db->m_rtt != NULL ? dp_metrics_now() : 0;
    return rc;
}

int store_wait(store_db *db, const char *what, PGresult **out, dp_err *err)
{
    *out = NULL;
    PGresult *first = NULL, *res;
    while ((res = PQgetResult(db->conn)) != NULL) {
        if (first == NULL)
            first = res;
        else
            PQclear(res);
    }
    if (db->m_rtt != NULL)
        dp_hist_observe(db->m_rtt, dp_metrics_now() - db->sent_at);
    if (!result_ok(first))
        return failure(db, first, what, err);
    *out = first;
    return DP_OK;
}

int store_call_custom(store_db *db, const char *name, int n_params, const char *const *params,
                      const char *what, PGresult **out, dp_err *err)
{
    *out = NULL;
    int rc = store_ensure_ready(db, what, err);
    if (rc != DP_OK) {
        store_count_error(db);
        return rc;
    }
    /* A failed SET leaves the session generic (a reconnect prepares it so
     * too): the call still answers, planned less well. */
    PQclear(PQexec(db->conn, "SET plan_cache_mode = force_custom_plan"));
    rc = store_call(db, name, n_params, params, what, out, err);
    if (PQstatus(db->conn) == CONNECTION_OK)
        PQclear(PQexec(db->conn, "SET plan_cache_mode = force_generic_plan"));
    return rc;
}

int store_call_json(store_db *db, const char *name, const json_t *batch, const char *what,
                    PGresult **out, dp_err *err)
{
    *out = NULL;
    char *text = batch ? json_dumps(batch, JSON_COMPACT) : NULL;
    if (text == NULL)
        return dp_err_set(err, DP_ENOMEM, "%s: out of memory building the batch", what);
    const char *params[] = {text};
    int rc = store_call(db, name, 1, params, what, out, err);
    free(text);
    return rc;
}

int store_call_json_n(store_db *db, const char *name, const json_t *batch, size_t n,
                      const char *what, PGresult **out, dp_err *err)
{
    *out = NULL;
    char *text = batch ? json_dumps(batch, JSON_COMPACT) : NULL;
    if (text == NULL)
        return dp_err_set(err, DP_ENOMEM, "%s: out of memory building the batch", what);
    char count[24];
    snprintf(count, sizeof count, "%zu", n);
    const char *params[] = {text, count};
    int rc = store_call(db, name, 2, params, what, out, err);
    free(text);
    return rc;
}

size_t store_cmd_rows(const PGresult *res)
{
    return (size_t)strtoull(PQcmdTuples((PGresult *)res), NULL, 10);
}

char *store_field_dup(const PGresult *res, int row, int col, int *oom)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    char *s = strdup(PQgetvalue(res, row, col));
    if (s == NULL)
        *oom = 1;
    return s;
}

/* Runs one simple-protocol command inside the migration transaction. */
static int exec_simple(store_db *db, const char *sql, const char *what, dp_err *err)
{
    PGresult *res = PQexec(db->conn, sql);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        PQclear(res);
        return DP_OK;
    }
    result_message(db->conn, res, db->last_error, sizeof db->last_error);
    int code = is_unavailable(db->conn, res) ? DP_EUNAVAIL : DP_EIO;
    PQclear(res);
    return dp_err_set(err, code, "migrations: %s: %s", what, db->last_error);
}

static int run_migrations(store_db *db, dp_err *err)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%d)", STORE_MIGRATION_LOCK);
    int rc = exec_simple(db, "BEGIN", "begin", err);
    if (rc == DP_OK)
        rc = exec_simple(db, sql, "advisory lock", err);
    if (rc == DP_OK)
        rc = exec_simple(db,
                         "CREATE TABLE IF NOT EXISTS schema_migrations ("
                         " version integer PRIMARY KEY, name text NOT NULL,"
                         " applied_at timestamptz NOT NULL DEFAULT now())",
                         "schema_migrations", err);
    /* Every migration not recorded yet runs, in version order: numbers are
     * handed out per branch, so one may land after a higher one did. */
    PGresult *have = NULL;
    if (rc == DP_OK) {
        have = PQexec(db->conn, "SELECT version FROM schema_migrations");
        if (have == NULL || PQresultStatus(have) != PGRES_TUPLES_OK) {
            PQclear(have);
            have = NULL;
            rc = exec_simple(db, "SELECT version FROM schema_migrations", "read version", err);
        }
    }
    for (size_t i = 0; rc == DP_OK && i < store_migrations_count; i++) {
        const store_migration *m = &store_migrations[i];
        int applied = 0;
        for (int r = 0; have != NULL && r < PQntuples(have) && !applied; r++)
            applied = atoi(PQgetvalue(have, r, 0)) == m->version;
        if (applied)
            continue;
        rc = exec_simple(db, m->sql, m->name, err);
        if (rc != DP_OK)
            break;
        char version[16];
        snprintf(version, sizeof version, "%d", m->version);
        const char *params[] = {version, m->name};
        PGresult *res =
            PQexecParams(db->conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                         2, NULL, params, NULL, NULL, 0);
        if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
            result_message(db->conn, res, db->last_error, sizeof db->last_error);
            rc = dp_err_set(err, is_unavailable(db->conn, res) ? DP_EUNAVAIL : DP_EIO,
                            "migrations: record %s: %s", m->name, db->last_error);
        }
        PQclear(res);
        if (rc == DP_OK)
            dp_log(DP_LOG_INFO, "store_migrated", "migration", m->name, (char *)NULL);
    }
    PQclear(have);
    if (rc == DP_OK)
        rc = exec_simple(db, "COMMIT", "commit", err);
    if (rc != DP_OK && PQstatus(db->conn) == CONNECTION_OK)
        PQclear(PQexec(db->conn, "ROLLBACK"));
    return rc;
}

int store_schema_version(void)
{
    return store_migrations_count == 0 ? 0 : store_migrations[store_migrations_count - 1].version;
}

/* Server NOTICEs ("relation already exists, skipping") are not errors and
 * would only clutter stderr; a WARNING (a migration that could not do all
 * it wanted: 0012_lz4.sql) goes to the log. */
static void log_warning(void *arg, const PGresult *res)
{
    (void)arg;
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (severity != NULL && strcmp(severity, "WARNING") == 0)
        dp_log(DP_LOG_WARN, "postgres_warning", "message", message != NULL ? message : "?",
               (char *)NULL);
}

store_db *store_open(const char *dsn, dp_err *err)
{
    if (dsn == NULL || *dsn == 0) {
        dp_err_set(err, DP_EINVAL, "store: empty PostgreSQL DSN");
        return NULL;
    }
    store_db *db = calloc(1, sizeof *db);
    if (db == NULL) {
        dp_err_set(err, DP_ENOMEM, "store: out of memory");
        return NULL;
    }
    /* Defaults first: with expand_dbname the DSN's own settings win. */
    static const char *const keys[] = {"connect_timeout",
                                       "keepalives_idle",
                                       "keepalives_interval",
                                       "keepalives_count",
                                       "application_name",
                                       "dbname",
                                       NULL};
    const char *const values[] = {"5", "30", "10", "3", "dispatchd", dsn, NULL};
    db->conn = PQconnectdbParams(keys, values, 1);
    if (db->conn == NULL) {
        free(db);
        dp_err_set(err, DP_ENOMEM, "store: out of memory");
        return NULL;
    }
    PQsetNoticeReceiver(db->conn, log_warning, NULL);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        first_line(PQerrorMessage(db->conn), db->last_error, sizeof db->last_error);
        fail_unavailable(db, "store_open", err);
        store_close(db);
        return NULL;
    }
    if (run_migrations(db, err) != DP_OK || prepare_all(db, err) != DP_OK) {
        store_close(db);
        return NULL;
    }
    return db;
}

void store_close(store_db *db)
{
    if (db == NULL)
        return;
    PQfinish(db->conn);
    free(db);
}

const char *store_outcome_name(store_outcome o)
{
    switch (o) {
    case STORE_RECORDED:
        return "recorded";
    case STORE_DUPLICATE:
        return "duplicate";
    case STORE_ALREADY_TERMINAL:
        return "already_terminal";
    case STORE_UNKNOWN_JOB:
        return "unknown_job";
    case STORE_STALE_ATTEMPT:
        return "stale_attempt";
    }
    return "unknown";
}
