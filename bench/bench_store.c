/* bench_store: rows/s of store_insert_jobs, store_mark_leased and
 * store_record_results in batches of 1, 100 and 1000, against a fresh
 * database `bench_<hex>` created on the server of the DSN (dropped after).
 *
 * usage: bench_store [DSN] [ROWS]   (DSN defaults to $DISPATCH_PG_DSN,
 * ROWS per batch size to 20000; batch size 1 runs ROWS/10). Prints one JSON
 * object per measurement on stdout. Built, never run as a test. */
#include "dispatch/store/store.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int admin_exec(const char *dsn, const char *sql)
{
    PGconn *c = PQconnectdb(dsn);
    int ok = 0;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf(stderr, "bench_store: %s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    } else {
        fprintf(stderr, "bench_store: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return ok ? 0 : -1;
}

/* dsn with dbname replaced, as key='value' pairs (heap). */
static char *dsn_for(const char *dsn, const char *dbname)
{
    PQconninfoOption *opts = PQconninfoParse(dsn, NULL);
    if (opts == NULL)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = calloc(1, cap);
    for (PQconninfoOption *o = opts; buf != NULL && o->keyword != NULL; o++) {
        const char *v = strcmp(o->keyword, "dbname") == 0 ? dbname : o->val;
        if (v != NULL && *v != 0 && strchr(v, '\'') == NULL && strchr(v, '\\') == NULL)
            len += (size_t)snprintf(buf + len, cap - len, "%s='%s' ", o->keyword, v);
    }
    if (strstr(buf, "dbname=") == NULL)
        snprintf(buf + len, cap - len, "dbname='%s'", dbname);
    PQconninfoFree(opts);
    return buf;
}

static void make_spec(dp_job_spec *s, const char *id)
{
    static dp_test_case tests[2] = {{"t1", "1 2\n", "3\n", 1000, DP_COMPARE_DEFAULT, 0, 0, 1},
                                    {"t2", "5 5\n", "10\n", 1000, DP_COMPARE_DEFAULT, 0, 0, 1}};
    memset(s, 0, sizeof *s);
    s->job_id = (char *)id;
    s->profile = "c";
    s->archive = "file:///srv/subs/sub.zip";
    s->tests = tests;
    s->n_tests = 2;
    s->max_attempts = 3;
}

static void report(const char *op, size_t batch, size_t rows, double secs)
{
    printf("{\"op\": \"%s\", \"batch\": %zu, \"rows\": %zu, \"seconds\": %.3f, "
           "\"rows_per_s\": %.0f}\n",
           op, batch, rows, secs, (double)rows / secs);
    fflush(stdout);
}

static int run_batch_size(store_db *db, size_t batch, size_t rows, int round)
{
    char(*ids)[48] = calloc(rows, sizeof *ids);
    dp_job_spec *specs = calloc(batch, sizeof *specs);
    store_lease *leases = calloc(batch, sizeof *leases);
    dp_job_result *res = calloc(batch, sizeof *res);
    store_result_in *in = calloc(batch, sizeof *in);
    store_outcome *out = calloc(batch, sizeof *out);
    dp_test_result tests[2] = {{"t1", DP_VERDICT_AC, 0, 0, 3, 4, 1200, "3\n", "", NULL},
                               {"t2", DP_VERDICT_AC, 0, 0, 3, 4, 1200, "10\n", "", NULL}};
    if (!ids || !specs || !leases || !res || !in || !out)
        return -1;
    for (size_t i = 0; i < rows; i++)
        snprintf(ids[i], sizeof ids[i], "job-%d-%zu-%zu", round, batch, i);
    dp_err err;
    int rc = 0;
    double t0 = now_s();
    for (size_t off = 0; off < rows && rc == 0; off += batch) {
        size_t n = rows - off < batch ? rows - off : batch;
        for (size_t i = 0; i < n; i++)
            make_spec(&specs[i], ids[off + i]);
        rc = store_insert_jobs(db, specs, n, NULL, &err);
    }
    if (rc == 0)
        report("insert_jobs", batch, rows, now_s() - t0);
    t0 = now_s();
    for (size_t off = 0; off < rows && rc == 0; off += batch) {
        size_t n = rows - off < batch ? rows - off : batch;
        for (size_t i = 0; i < n; i++)
            leases[i] = (store_lease){ids[off + i], 1, "runner-1", 0};
        rc = store_mark_leased(db, leases, n, NULL, &err);
    }
    if (rc == 0)
        report("mark_leased", batch, rows, now_s() - t0);
    t0 = now_s();
    for (size_t off = 0; off < rows && rc == 0; off += batch) {
        size_t n = rows - off < batch ? rows - off : batch;
        for (size_t i = 0; i < n; i++) {
            res[i] = (dp_job_result){.job_id = ids[off + i],
                                     .attempt = 1,
                                     .verdict = DP_VERDICT_AC,
                                     .score = 100,
                                     .tests = tests,
                                     .n_tests = 2};
            in[i] = (store_result_in){&res[i], "runner-1", NULL, 0};
        }
        rc = store_record_results(db, in, n, out, &err);
    }
    if (rc == 0)
        report("record_results", batch, rows, now_s() - t0);
    else
        fprintf(stderr, "bench_store: %s\n", err.msg);
    free(ids);
    free(specs);
    free(leases);
    free(res);
    free(in);
    free(out);
    return rc;
}

int main(int argc, char **argv)
{
    const char *dsn = argc > 1 ? argv[1] : getenv("DISPATCH_PG_DSN");
    size_t rows = argc > 2 ? strtoul(argv[2], NULL, 10) : 20000;
    if (dsn == NULL || rows == 0) {
        fprintf(stderr, "usage: bench_store [DSN] [ROWS] (or set DISPATCH_PG_DSN)\n");
        return 64;
    }
    char name[64], sql[128];
    if (dp_new_id("bench_", name, sizeof name) != 0)
        return 70;
    name[22] = 0;
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    if (admin_exec(dsn, sql) != 0)
        return 69;
    char *bench_dsn = dsn_for(dsn, name);
    dp_err err;
    store_db *db = bench_dsn ? store_open(bench_dsn, &err) : NULL;
    int rc = db == NULL ? 69 : 0;
    if (db == NULL)
        fprintf(stderr, "bench_store: %s\n", bench_dsn ? err.msg : "bad DSN");
    static const size_t batches[] = {1, 100, 1000};
    for (int b = 0; rc == 0 && b < 3; b++) {
        size_t n = batches[b] == 1 ? rows / 10 : rows;
        if (run_batch_size(db, batches[b], n > 0 ? n : 1, b) != 0)
            rc = 70;
    }
    store_close(db);
    free(bench_dsn);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    admin_exec(dsn, sql);
    return rc;
}
