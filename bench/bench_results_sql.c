/* bench_results_sql: the result-recording statement three ways, same
 * semantics (attempt-fenced UPDATE of jobs, test_results and the
 * `completed` history row, per-input outcome), rows/s per batch size:
 *   jsonb  - store_record_results as shipped (one jsonb parameter,
 *            jsonb_to_recordset server side)
 *   unnest - one statement, every column a typed array parameter
 *            (text format), unnest(...) WITH ORDINALITY server side
 *   copy   - BEGIN; COPY into two ON COMMIT DELETE ROWS temp tables; the
 *            same statement reading them; COMMIT
 * Each variant records its own fresh leased jobs (2 tests each, like
 * bench_store); the three run interleaved, ROUNDS times, medians printed.
 *
 * usage: bench_results_sql [DSN] [ROWS] [ROUNDS]. One JSON object per
 * (variant, batch) on stdout. Built, never run as a test. */
#include "dispatch/store/store.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_sqlbuf.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "bench_results_sql: %.60s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

/* The body shared by unnest and copy: inp(i, job_id, attempt, verdict,
 * score, message, runner_id, log_url) and tin(r, idx, ...) are defined by
 * the caller's WITH prefix. */
#define RESULT_BODY                                                                                \
    "firsts AS (SELECT DISTINCT ON (job_id) * FROM inp ORDER BY job_id, attempt DESC, i),"         \
    " upd AS (UPDATE jobs j SET state = 'completed', verdict = f.verdict, score = f.score,"        \
    "   message = f.message, runner_id = coalesce(f.runner_id, j.runner_id), log_url = f.log_url," \
    "   result_attempt = f.attempt, attempts = greatest(j.attempts, f.attempt),"                   \
    "   finished_at = now()"                                                                       \
    "  FROM firsts f WHERE j.id = f.job_id"                                                        \
    "   AND j.state NOT IN ('completed', 'failed', 'cancelled') AND j.attempts <= f.attempt"       \
    "  RETURNING j.id, f.i, f.attempt),"                                                           \
    " tr AS (INSERT INTO test_results (job_id, attempt, idx, name, verdict, exit_code, signal,"    \
    "   time_ms, wall_ms, memory_kb, stdout, stderr)"                                              \
    "  SELECT f.job_id, f.attempt, t.idx, t.name, t.verdict, t.exit_code, t.signal, t.time_ms,"    \
    "   t.wall_ms, t.memory_kb, t.stdout, t.stderr"                                                \
    "  FROM upd u JOIN firsts f ON f.i = u.i JOIN tin t ON t.r = u.i ON CONFLICT DO NOTHING),"     \
    " ev AS (INSERT INTO job_events (job_id, state, attempt, runner_id, message)"                  \
    "  SELECT f.job_id, 'completed', f.attempt, f.runner_id, f.message"                            \
    "  FROM upd u JOIN firsts f ON f.i = u.i)"                                                     \
    " SELECT n.i, CASE WHEN u.i IS NOT NULL THEN 0"                                                \
    "  WHEN u2.id IS NOT NULL THEN CASE WHEN u2.attempt = n.attempt THEN 1"                        \
    "   WHEN u2.attempt > n.attempt THEN 4 ELSE 2 END"                                             \
    "  WHEN j.id IS NULL THEN 3"                                                                   \
    "  WHEN j.state = 'completed' AND j.result_attempt = n.attempt THEN 1"                         \
    "  WHEN j.state NOT IN ('completed', 'failed', 'cancelled') THEN 4 ELSE 2 END"                 \
    " FROM inp n LEFT JOIN upd u ON u.i = n.i LEFT JOIN upd u2 ON u2.id = n.job_id"                \
    " LEFT JOIN jobs j ON j.id = n.job_id ORDER BY n.i"

static const char sql_unnest[] =
    "WITH inp AS (SELECT x.i::integer AS i, x.job_id, x.attempt, x.verdict, x.score, x.message,"
    "  x.runner_id, x.log_url FROM unnest($1::text[], $2::integer[], $3::text[],"
    "  $4::float8[], $5::text[], $6::text[], $7::text[]) WITH ORDINALITY"
    "  AS x(job_id, attempt, verdict, score, message, runner_id, log_url, i)),"
    " tin AS (SELECT * FROM unnest($8::integer[], $9::integer[], $10::text[], $11::text[],"
    "  $12::integer[], $13::integer[], $14::bigint[], $15::bigint[], $16::bigint[],"
    "  $17::text[], $18::text[]) AS t(r, idx, name, verdict, exit_code, signal, time_ms,"
    "  wall_ms, memory_kb, stdout, stderr)), " RESULT_BODY;

static const char sql_copy[] =
    "WITH inp AS (SELECT * FROM r_in), tin AS (SELECT * FROM t_in), " RESULT_BODY;

typedef struct {
    char (*ids)[80];
    size_t n;
} job_set;

/* The batch as the three encodings need it. */
static void fill_arrays(sqlbuf a[18], const job_set *js, size_t off, size_t n)
{
    for (int k = 0; k < 18; k++)
        sqlbuf_array_begin(&a[k]);
    for (size_t i = 0; i < n; i++) {
        sqlbuf_array_str(&a[0], js->ids[off + i]);
        sqlbuf_array_raw(&a[1], "1");
        sqlbuf_array_str(&a[2], "AC");
        sqlbuf_array_raw(&a[3], "100");
        sqlbuf_array_null(&a[4]);
        sqlbuf_array_str(&a[5], "runner-1");
        sqlbuf_array_null(&a[6]);
        for (int t = 0; t < 2; t++) {
            char num[32];
            snprintf(num, sizeof num, "%zu", i + 1);
            sqlbuf_array_raw(&a[7], num);
            sqlbuf_array_raw(&a[8], t == 0 ? "0" : "1");
            sqlbuf_array_str(&a[9], t == 0 ? "t1" : "t2");
            sqlbuf_array_str(&a[10], "AC");
            sqlbuf_array_raw(&a[11], "0");
            sqlbuf_array_raw(&a[12], "0");
            sqlbuf_array_raw(&a[13], "3");
            sqlbuf_array_raw(&a[14], "4");
            sqlbuf_array_raw(&a[15], "1200");
            sqlbuf_array_str(&a[16], t == 0 ? "3\n" : "10\n");
            sqlbuf_array_str(&a[17], "");
        }
    }
    for (int k = 0; k < 18; k++)
        sqlbuf_array_end(&a[k]);
}

static int run_unnest(PGconn *c, const job_set *js, size_t batch)
{
    sqlbuf a[18] = {0};
    int rc = 0;
    for (size_t off = 0; off < js->n && rc == 0; off += batch) {
        size_t n = js->n - off < batch ? js->n - off : batch;
        fill_arrays(a, js, off, n);
        const char *p[18];
        for (int k = 0; k < 18; k++)
            p[k] = a[k].s;
        PGresult *r = PQexecPrepared(c, "unnest", 18, p, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || (size_t)PQntuples(r) != n ||
            strcmp(PQgetvalue(r, 0, 1), "0") != 0) {
            fprintf(stderr, "bench_results_sql: unnest: %s", PQresultErrorMessage(r));
            rc = -1;
        }
        PQclear(r);
    }
    for (int k = 0; k < 18; k++)
        sqlbuf_free(&a[k]);
    return rc;
}

static int copy_rows(PGconn *c, const char *cmd, const sqlbuf *rows)
{
    PGresult *r = PQexec(c, cmd);
    int ok = PQresultStatus(r) == PGRES_COPY_IN;
    PQclear(r);
    if (!ok || PQputCopyData(c, rows->s, (int)rows->len) != 1 || PQputCopyEnd(c, NULL) != 1)
        return -1;
    r = PQgetResult(c);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "bench_results_sql: copy: %s", PQresultErrorMessage(r));
    PQclear(r);
    while ((r = PQgetResult(c)) != NULL)
        PQclear(r);
    return ok ? 0 : -1;
}

static int run_copy(PGconn *c, const job_set *js, size_t batch)
{
    sqlbuf rin = {0}, tin = {0};
    int rc = 0;
    for (size_t off = 0; off < js->n && rc == 0; off += batch) {
        size_t n = js->n - off < batch ? js->n - off : batch;
        rin.len = tin.len = 0;
        for (size_t i = 0; i < n; i++) {
            char line[160];
            snprintf(line, sizeof line, "%zu\t", i + 1);
            sqlbuf_add(&rin, line);
            sqlbuf_copy_field(&rin, js->ids[off + i]);
            sqlbuf_add(&rin, "\t1\tAC\t100\t\\N\trunner-1\t\\N\n");
            snprintf(line, sizeof line, "%zu\t0\tt1\tAC\t0\t0\t3\t4\t1200\t3\\n\t\n", i + 1);
            sqlbuf_add(&tin, line);
            snprintf(line, sizeof line, "%zu\t1\tt2\tAC\t0\t0\t3\t4\t1200\t10\\n\t\n", i + 1);
            sqlbuf_add(&tin, line);
        }
        if (exec_ok(c, "BEGIN") != 0 || copy_rows(c, "COPY r_in FROM STDIN", &rin) != 0 ||
            copy_rows(c, "COPY t_in FROM STDIN", &tin) != 0) {
            rc = -1;
            break;
        }
        PGresult *r = PQexecPrepared(c, "copy", 0, NULL, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || (size_t)PQntuples(r) != n ||
            strcmp(PQgetvalue(r, 0, 1), "0") != 0) {
            fprintf(stderr, "bench_results_sql: copy stmt: %s", PQresultErrorMessage(r));
            rc = -1;
        }
        PQclear(r);
        if (exec_ok(c, "COMMIT") != 0)
            rc = -1;
    }
    sqlbuf_free(&rin);
    sqlbuf_free(&tin);
    return rc;
}

static int run_jsonb(store_db *db, const job_set *js, size_t batch)
{
    dp_test_result tests[2] = {{.name = "t1",
                                .verdict = DP_VERDICT_AC,
                                .time_ms = 3,
                                .wall_ms = 4,
                                .memory_kb = 1200,
                                .stdout_excerpt = "3\n",
                                .stderr_excerpt = ""},
                               {.name = "t2",
                                .verdict = DP_VERDICT_AC,
                                .time_ms = 3,
                                .wall_ms = 4,
                                .memory_kb = 1200,
                                .stdout_excerpt = "10\n",
                                .stderr_excerpt = ""}};
    dp_job_result *res = calloc(batch, sizeof *res);
    store_result_in *in = calloc(batch, sizeof *in);
    store_outcome *out = calloc(batch, sizeof *out);
    int rc = res && in && out ? 0 : -1;
    dp_err err;
    for (size_t off = 0; off < js->n && rc == 0; off += batch) {
        size_t n = js->n - off < batch ? js->n - off : batch;
        for (size_t i = 0; i < n; i++) {
            res[i] = (dp_job_result){.job_id = js->ids[off + i],
                                     .attempt = 1,
                                     .verdict = DP_VERDICT_AC,
                                     .score = 100,
                                     .tests = tests,
                                     .n_tests = 2};
            in[i] = (store_result_in){&res[i], "runner-1", NULL, 0};
        }
        if (store_record_results(db, in, n, out, &err) != DP_OK || out[0] != STORE_RECORDED) {
            fprintf(stderr, "bench_results_sql: jsonb: %s\n", err.msg);
            rc = -1;
        }
    }
    free(res);
    free(in);
    free(out);
    return rc;
}

/* n fresh jobs, leased at attempt 1. */
static int make_jobs(store_db *db, job_set *js, size_t n, const char *tag)
{
    static dp_test_case tc[2] = {
        {.name = "t1", .stdin_data = "1 2\n", .expected_stdout = "3\n", .timeout_ms = 1000},
        {.name = "t2", .stdin_data = "5 5\n", .expected_stdout = "10\n", .timeout_ms = 1000}};
    js->ids = calloc(n, sizeof *js->ids);
    js->n = n;
    dp_job_spec *specs = calloc(n, sizeof *specs);
    store_lease *leases = calloc(n, sizeof *leases);
    dp_err err;
    int rc = js->ids && specs && leases ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        snprintf(js->ids[i], sizeof js->ids[i], "%s-%zu", tag, i);
        specs[i] = (dp_job_spec){.job_id = js->ids[i],
                                 .profile = "c",
                                 .archive = "file:///srv/sub.zip",
                                 .tests = tc,
                                 .n_tests = 2,
                                 .max_attempts = 3};
        leases[i] = (store_lease){js->ids[i], 1, "runner-1", 0};
    }
    for (size_t off = 0; rc == 0 && off < n; off += 1000) {
        size_t m = n - off < 1000 ? n - off : 1000;
        if (store_insert_jobs(db, specs + off, m, NULL, &err) != DP_OK ||
            store_mark_leased(db, leases + off, m, NULL, &err) != DP_OK)
            rc = -1;
    }
    free(specs);
    free(leases);
    return rc;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *dsn = argc > 1 ? argv[1] : getenv("DISPATCH_PG_DSN");
    size_t rows = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000;
    int rounds = argc > 3 ? atoi(argv[3]) : 3;
    if (dsn == NULL || rows == 0 || rounds < 1 || rounds > 15) {
        fprintf(stderr, "usage: bench_results_sql [DSN] [ROWS] [ROUNDS 1..15]\n");
        return 64;
    }
    dp_err err;
    char name[64];
    PGconn *admin = PQconnectdb(dsn);
    if (PQstatus(admin) != CONNECTION_OK || dp_new_id("bench_", name, sizeof name) != 0) {
        fprintf(stderr, "bench_results_sql: %s", PQerrorMessage(admin));
        return 69;
    }
    name[22] = 0;
    char sql[160];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    if (exec_ok(admin, sql) != 0)
        return 69;
    char *bdsn = bench_dsn_for(dsn, name);
    store_db *db = bdsn ? store_open(bdsn, &err) : NULL;
    PGconn *c = bdsn ? PQconnectdb(bdsn) : NULL;
    int rc = db && c && PQstatus(c) == CONNECTION_OK ? 0 : 69;
    if (rc == 0 && (exec_ok(c, "SET plan_cache_mode = force_custom_plan") != 0 ||
                    exec_ok(c, "CREATE TEMP TABLE r_in (i integer, job_id text, attempt integer,"
                               " verdict text, score float8, message text, runner_id text,"
                               " log_url text) ON COMMIT DELETE ROWS") != 0 ||
                    exec_ok(c, "CREATE TEMP TABLE t_in (r integer, idx integer, name text,"
                               " verdict text, exit_code integer, signal integer, time_ms bigint,"
                               " wall_ms bigint, memory_kb bigint, stdout text, stderr text)"
                               " ON COMMIT DELETE ROWS") != 0))
        rc = 70;
    if (rc == 0) {
        PGresult *p1 = PQprepare(c, "unnest", sql_unnest, 18, NULL);
        PGresult *p2 = PQprepare(c, "copy", sql_copy, 0, NULL);
        if (PQresultStatus(p1) != PGRES_COMMAND_OK || PQresultStatus(p2) != PGRES_COMMAND_OK) {
            fprintf(stderr, "bench_results_sql: prepare: %s%s", PQresultErrorMessage(p1),
                    PQresultErrorMessage(p2));
            rc = 70;
        }
        PQclear(p1);
        PQclear(p2);
    }
    static const char *variants[] = {"jsonb", "unnest", "copy"};
    static const size_t batches[] = {1, 100, 1000};
    for (int b = 0; rc == 0 && b < 3; b++) {
        size_t n = batches[b] == 1 ? rows / 10 : rows;
        double secs[3][15];
        for (int r = 0; rc == 0 && r < rounds; r++) {
            for (int v = 0; rc == 0 && v < 3; v++) {
                char tag[40];
                job_set js = {0};
                snprintf(tag, sizeof tag, "%s-%zu-%d", variants[v], batches[b], r);
                if (make_jobs(db, &js, n, tag) != 0) {
                    rc = 70;
                    free(js.ids);
                    break;
                }
                double t0 = now_s();
                int vr = v == 0   ? run_jsonb(db, &js, batches[b])
                         : v == 1 ? run_unnest(c, &js, batches[b])
                                  : run_copy(c, &js, batches[b]);
                secs[v][r] = now_s() - t0;
                free(js.ids);
                if (vr != 0)
                    rc = 70;
            }
        }
        for (int v = 0; rc == 0 && v < 3; v++) {
            qsort(secs[v], (size_t)rounds, sizeof secs[v][0], cmp_d);
            double med = secs[v][rounds / 2];
            printf("{\"op\": \"record_results_%s\", \"batch\": %zu, \"rows\": %zu, \"rounds\": %d,"
                   " \"median_seconds\": %.4f, \"rows_per_s\": %.0f}\n",
                   variants[v], batches[b], n, rounds, med, (double)n / med);
            fflush(stdout);
        }
    }
    PQfinish(c);
    store_close(db);
    free(bdsn);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    exec_ok(admin, sql);
    PQfinish(admin);
    return rc;
}
