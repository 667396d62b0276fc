/* Group commit of job results: one statement, one transaction, any n. */
#include "dispatch/store/store_internal.h"

#include "common/job_json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static json_t *opt_str(const char *s)
{
    return s == NULL ? json_null() : dp_json_string_lossy(s, strlen(s));
}

static json_t *tests_json(const dp_job_result *r)
{
    json_t *arr = json_array();
    for (size_t k = 0; arr != NULL && k < r->n_tests; k++) {
        const dp_test_result *t = &r->tests[k];
        json_t *o = json_pack(
            "{s:I, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o}", "idx", (json_int_t)k, "name",
            opt_str(t->name ? t->name : ""), "verdict", opt_str(dp_verdict_name(t->verdict)),
            "exit_code", (json_int_t)t->exit_code, "signal", (json_int_t)t->signal, "time_ms",
            (json_int_t)t->time_ms, "wall_ms", (json_int_t)t->wall_ms, "memory_kb",
            (json_int_t)t->memory_kb, "stdout", opt_str(t->stdout_excerpt), "stderr",
            opt_str(t->stderr_excerpt), "message", opt_str(t->message));
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* err must be non-NULL and clear: it tells EINVAL from ENOMEM. */
static json_t *batch_json(const store_result_in *in, size_t n, dp_err *err)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n && arr != NULL; i++) {
        const dp_job_result *r = in[i].result;
        if (r == NULL || r->job_id == NULL || r->attempt == 0 || r->verdict == DP_VERDICT_NONE ||
            !isfinite(r->score)) {
            json_decref(arr);
            dp_err_set(err, DP_EINVAL,
                       "record results: [%zu]: job_id, attempt >= 1, a verdict and a finite "
                       "score are required",
                       i);
            return NULL;
        }
        json_t *o = json_pack("{s:I, s:o, s:I, s:s, s:f, s:o, s:o, s:o, s:o}", "i", (json_int_t)i,
                              "job_id", opt_str(r->job_id), "attempt", (json_int_t)r->attempt,
                              "verdict", dp_verdict_name(r->verdict), "score", r->score, "message",
                              opt_str(r->message), "runner_id", opt_str(in[i].runner_id), "log_url",
                              opt_str(in[i].log_url), "tests", tests_json(r));
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (arr == NULL && err->code == DP_OK)
        dp_err_set(err, DP_ENOMEM, "record results: out of memory building the batch");
    return arr;
}

int store_record_results(store_db *db, const store_result_in *in, size_t n, store_outcome *out,
                         dp_err *err)
{
    if (n == 0)
        return DP_OK;
    dp_err build_err;
    dp_err_clear(&build_err);
    json_t *arr = batch_json(in, n, &build_err);
    if (arr == NULL)
        return dp_err_set(err, build_err.code, "%s", build_err.msg);
    PGresult *res;
    int rc = store_call_json_n(db, ST_RECORD_RESULTS, arr, n, "record results", &res, err);
    json_decref(arr);
    if (rc != DP_OK)
        return rc;
    int rows = PQntuples(res);
    if ((size_t)rows != n) {
        PQclear(res);
        return dp_err_set(err, DP_EINTERNAL, "record results: %d outcomes for %zu results", rows,
                          n);
    }
    for (int r = 0; out != NULL && r < PQntuples(res); r++) {
        size_t i = strtoul(PQgetvalue(res, r, 0), NULL, 10);
        if (i < n)
            out[i] = (store_outcome)atoi(PQgetvalue(res, r, 1));
    }
    PQclear(res);
    return DP_OK;
}
