/* Lease and failure marks: batches of job transitions, each with its
 * history row, in one statement. The batch travels as one typed array per
 * column expanded with unnest, like the result batch (store_results.c):
 * cheaper server side than one jsonb parameter (docs/store.md). */
#include "dispatch/store/store_internal.h"

#include <string.h>

/* Finishes the n columns in a; out of memory frees them. */
static int finish_columns(store_arr *a, int n, const char *what, dp_err *err)
{
    int oom = 0;
    for (int k = 0; k < n; k++)
        oom |= store_arr_finish(&a[k]) != DP_OK;
    if (!oom)
        return DP_OK;
    for (int k = 0; k < n; k++)
        store_arr_free(&a[k]);
    return dp_err_set(err, DP_ENOMEM, "%s: out of memory building the batch", what);
}

/* Runs a batch statement whose n parameters are the finished columns in a
 * (freed here) and counts the rows it changed into *n_changed (optional).
 * The tail of mark_leased and mark_failed. */
static int call_columns(store_db *db, const char *stmt, store_arr *a, int n, const char *what,
                        size_t *n_changed, dp_err *err)
{
    PGresult *res = NULL;
    const char *params[STORE_LEASE_COLUMNS]; /* the widest batch (mark_failed's is 3) */
    for (int k = 0; k < n && k < STORE_LEASE_COLUMNS; k++)
        params[k] = a[k].s;
    int rc = store_call(db, stmt, n, params, what, &res, err);
    for (int k = 0; k < n; k++)
        store_arr_free(&a[k]);
    if (rc == DP_OK && n_changed != NULL)
        *n_changed = store_cmd_rows(res);
    PQclear(res);
    return rc;
}

int store_lease_columns(const store_lease *leases, size_t n, store_arr a[STORE_LEASE_COLUMNS],
                        dp_err *err)
{
    memset(a, 0, STORE_LEASE_COLUMNS * sizeof *a);
    for (size_t i = 0; i < n; i++) {
        if (leases[i].job_id == NULL || leases[i].runner_id == NULL) {
            for (int k = 0; k < STORE_LEASE_COLUMNS; k++)
                store_arr_free(&a[k]);
            return dp_err_set(err, DP_EINVAL,
                              "store_mark_leased: leases[%zu]: job_id and runner_id required", i);
        }
        store_arr_str(&a[0], leases[i].job_id);
        store_arr_int(&a[1], (long long)leases[i].attempt);
        store_arr_str(&a[2], leases[i].runner_id);
        store_arr_int_or_null(&a[3], (long long)leases[i].at_us);
    }
    return finish_columns(a, STORE_LEASE_COLUMNS, "mark leased", err);
}

int store_mark_leased(store_db *db, const store_lease *leases, size_t n, size_t *n_changed,
                      dp_err *err)
{
    if (n_changed != NULL)
        *n_changed = 0;
    if (n == 0)
        return DP_OK;
    store_arr a[STORE_LEASE_COLUMNS];
    int rc = store_lease_columns(leases, n, a, err);
    if (rc != DP_OK)
        return rc;
    return call_columns(db, ST_MARK_LEASED, a, STORE_LEASE_COLUMNS, "mark leased", n_changed, err);
}

int store_mark_failed(store_db *db, const store_failure *items, size_t n, size_t *n_changed,
                      dp_err *err)
{
    if (n_changed != NULL)
        *n_changed = 0;
    if (n == 0)
        return DP_OK;
    store_arr a[3];
    memset(a, 0, sizeof a);
    for (size_t i = 0; i < n; i++) {
        if (items[i].job_id == NULL) {
            for (int k = 0; k < 3; k++)
                store_arr_free(&a[k]);
            return dp_err_set(err, DP_EINVAL, "store_mark_failed: items[%zu]: job_id required", i);
        }
        store_arr_str(&a[0], items[i].job_id);
        store_arr_int(&a[1], (long long)items[i].attempts);
        store_arr_str(&a[2], items[i].message);
    }
    if (finish_columns(a, 3, "mark failed", err) != DP_OK)
        return DP_ENOMEM;
    return call_columns(db, ST_MARK_FAILED, a, 3, "mark failed", n_changed, err);
}
