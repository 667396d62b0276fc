/* Group commit of job results: one statement, one transaction, any n.
 * The batch travels as typed arrays (PostgreSQL's text array format), one
 * parameter per column, expanded with unnest server side: measured 1.4-2.6x
 * the rows/s of the jsonb_to_recordset form at batches of 100-1000
 * (bench/bench_results_sql.c, docs/store.md). */
#include "dispatch/store/store_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    A_JOB,
    A_ATTEMPT,
    A_VERDICT,
    A_SCORE,
    A_MESSAGE,
    A_RUNNER,
    A_LOG_URL,
    A_LEASED_US,
    T_ROW,
    T_IDX,
    T_NAME,
    T_VERDICT,
    T_EXIT,
    T_SIGNAL,
    T_TIME,
    T_WALL,
    T_MEM,
    T_STDOUT,
    T_STDERR,
    T_MESSAGE, /* the checker's message for the test */
    N_ARRAYS
};

static int build(const store_result_in *in, size_t n, store_arr a[N_ARRAYS], dp_err *err)
{
    for (size_t i = 0; i < n; i++) {
        const dp_job_result *r = in[i].result;
        if (r == NULL || r->job_id == NULL || r->attempt == 0 || r->verdict == DP_VERDICT_NONE ||
            dp_verdict_name(r->verdict) == NULL || !isfinite(r->score))
            return dp_err_set(err, DP_EINVAL,
                              "record results: [%zu]: job_id, attempt >= 1, a verdict and a "
                              "finite score are required",
                              i);
        char score[40];
        snprintf(score, sizeof score, "%.17g", r->score);
        store_arr_str(&a[A_JOB], r->job_id);
        store_arr_int(&a[A_ATTEMPT], r->attempt);
        store_arr_str(&a[A_VERDICT], dp_verdict_name(r->verdict));
        store_arr_raw(&a[A_SCORE], score);
        store_arr_str(&a[A_MESSAGE], r->message);
        store_arr_str(&a[A_RUNNER], in[i].runner_id);
        store_arr_str(&a[A_LOG_URL], in[i].log_url);
        store_arr_int_or_null(&a[A_LEASED_US], (long long)in[i].leased_us);
        for (size_t k = 0; k < r->n_tests; k++) {
            const dp_test_result *t = &r->tests[k];
            store_arr_int(&a[T_ROW], (long long)i + 1); /* unnest ordinality is 1-based */
            store_arr_int(&a[T_IDX], (long long)k);
            store_arr_str(&a[T_NAME], t->name ? t->name : "");
            store_arr_str(&a[T_VERDICT], dp_verdict_name(t->verdict));
            store_arr_int(&a[T_EXIT], t->exit_code);
            store_arr_int(&a[T_SIGNAL], t->signal);
            store_arr_int(&a[T_TIME], (long long)t->time_ms);
            store_arr_int(&a[T_WALL], (long long)t->wall_ms);
            store_arr_int(&a[T_MEM], (long long)t->memory_kb);
            store_arr_str(&a[T_STDOUT], t->stdout_excerpt);
            store_arr_str(&a[T_STDERR], t->stderr_excerpt);
            store_arr_str(&a[T_MESSAGE], t->message);
        }
    }
    int oom = 0;
    for (int k = 0; k < N_ARRAYS; k++)
        oom |= store_arr_finish(&a[k]) != DP_OK;
    if (oom)
        return dp_err_set(err, DP_ENOMEM, "record results: out of memory building the batch");
    return DP_OK;
}

int store_record_results(store_db *db, const store_result_in *in, size_t n, store_outcome *out,
                         dp_err *err)
{
    return store_record_results_info(db, in, n, out, NULL, err);
}

int store_record_results_info(store_db *db, const store_result_in *in, size_t n, store_outcome *out,
                              store_recorded_info *info, dp_err *err)
{
    return store_record_results_marked(db, NULL, 0, in, n, out, info, err);
}

int store_record_results_marked(store_db *db, const store_lease *leases, size_t n_leases,
                                const store_result_in *in, size_t n, store_outcome *out,
                                store_recorded_info *info, dp_err *err)
{
    if (n == 0)
        return store_mark_leased(db, leases, n_leases, NULL, err);
    store_arr a[N_ARRAYS], m[STORE_LEASE_COLUMNS];
    memset(a, 0, sizeof a);
    memset(m, 0, sizeof m);
    int rc = build(in, n, a, err);
    if (rc == DP_OK && n_leases > 0)
        rc = store_lease_columns(leases, n_leases, m, err);
    PGresult *res = NULL;
    if (rc == DP_OK) {
        const char *params[N_ARRAYS], *marks[STORE_LEASE_COLUMNS];
        for (int k = 0; k < N_ARRAYS; k++)
            params[k] = a[k].s;
        for (int k = 0; k < STORE_LEASE_COLUMNS; k++)
            marks[k] = m[k].s;
        /* the marks first: the attempt fence of the results sees them */
        store_stmt st[2] = {{ST_MARK_LEASED, STORE_LEASE_COLUMNS, marks},
                            {ST_RECORD_RESULTS, N_ARRAYS, params}};
        rc = store_call_pipeline(db, n_leases > 0 ? st : st + 1, n_leases > 0 ? 2 : 1,
                                 "record results", &res, err);
    }
    for (int k = 0; k < N_ARRAYS; k++)
        store_arr_free(&a[k]);
    for (int k = 0; k < STORE_LEASE_COLUMNS; k++)
        store_arr_free(&m[k]);
    if (rc != DP_OK)
        return rc;
    int rows = PQntuples(res);
    if ((size_t)rows != n) {
        PQclear(res);
        return dp_err_set(err, DP_EINTERNAL, "record results: %d outcomes for %zu results", rows,
                          n);
    }
    for (int r = 0; r < PQntuples(res); r++) {
        size_t i = strtoul(PQgetvalue(res, r, 0), NULL, 10);
        if (i < 1 || i > n)
            continue;
        if (out != NULL)
            out[i - 1] = (store_outcome)atoi(PQgetvalue(res, r, 1));
        if (info != NULL) {
            snprintf(info[i - 1].profile, sizeof info[i - 1].profile, "%s", PQgetvalue(res, r, 2));
            info[i - 1].age_s = PQgetisnull(res, r, 3) ? 0 : strtod(PQgetvalue(res, r, 3), NULL);
        }
    }
    PQclear(res);
    return DP_OK;
}
