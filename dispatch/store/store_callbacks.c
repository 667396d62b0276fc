/* Callback deliveries: claim, outcome, and the job view's callback fields
 * (store.h; the rows are written by migration 0004's trigger). */
#include "dispatch/store/store.h"
#include "dispatch/store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_callback_view(const char *json_text, dp_job_view *out)
{
    json_t *a = json_loads(json_text, 0, NULL);
    if (!json_is_array(a) || json_array_size(a) != 3 || !json_is_string(json_array_get(a, 0))) {
        json_decref(a);
        return DP_OK;
    }
    const char *err_text = json_string_value(json_array_get(a, 2));
    out->callback_state = strdup(json_string_value(json_array_get(a, 0)));
    out->callback_attempts = (uint32_t)json_integer_value(json_array_get(a, 1));
    out->callback_error = err_text != NULL ? strdup(err_text) : NULL;
    int oom = out->callback_state == NULL || (err_text != NULL && out->callback_error == NULL);
    json_decref(a);
    return oom ? DP_ENOMEM : DP_OK;
}

int store_callbacks_claim(store_db *db, size_t max, uint32_t lease_ms, uint32_t max_attempts,
                          store_callback **out, size_t *n, dp_err *err)
{
    *out = NULL;
    *n = 0;
    char smax[24], slease[24], sattempts[24];
    snprintf(smax, sizeof smax, "%zu", max);
    snprintf(slease, sizeof slease, "%u", lease_ms);
    snprintf(sattempts, sizeof sattempts, "%u", max_attempts);
    const char *params[] = {smax, slease, sattempts};
    PGresult *res;
    int rc = store_call(db, ST_CB_CLAIM, 3, params, "claim callbacks", &res, err);
    if (rc != DP_OK)
        return rc;
    int rows = PQntuples(res);
    store_callback *c = rows > 0 ? calloc((size_t)rows, sizeof *c) : NULL;
    if (rows > 0 && c == NULL) {
        PQclear(res);
        return dp_err_set(err, DP_ENOMEM, "claim callbacks: out of memory");
    }
    int oom = 0;
    for (int i = 0; i < rows; i++) {
        snprintf(c[i].delivery_id, sizeof c[i].delivery_id, "%s", PQgetvalue(res, i, 0));
        snprintf(c[i].job_id, sizeof c[i].job_id, "%s", PQgetvalue(res, i, 1));
        c[i].url = store_field_dup(res, i, 2, &oom);
        c[i].attempt = (uint32_t)strtoul(PQgetvalue(res, i, 3), NULL, 10);
    }
    PQclear(res);
    /* claimed rows come back due after their lease even when this fails */
    if (oom) {
        store_callbacks_free(c, (size_t)rows);
        return dp_err_set(err, DP_ENOMEM, "claim callbacks: out of memory");
    }
    *out = c;
    *n = (size_t)rows;
    return DP_OK;
}

void store_callbacks_free(store_callback *c, size_t n)
{
    for (size_t i = 0; c != NULL && i < n; i++)
        free(c[i].url);
    free(c);
}

static int outcome(store_db *db, const char *stmt, int n_params, const char *const *params,
                   int *changed, dp_err *err)
{
    PGresult *res;
    int rc = store_call(db, stmt, n_params, params, "record a callback delivery", &res, err);
    if (rc != DP_OK)
        return rc;
    if (changed != NULL)
        *changed = store_cmd_rows(res) > 0;
    PQclear(res);
    return DP_OK;
}

int store_callback_delivered(store_db *db, const char *delivery_id, uint32_t attempt, int *changed,
                             dp_err *err)
{
    char sattempt[16];
    snprintf(sattempt, sizeof sattempt, "%u", attempt);
    const char *params[] = {delivery_id, sattempt};
    return outcome(db, ST_CB_DELIVERED, 2, params, changed, err);
}

int store_callback_failed(store_db *db, const char *delivery_id, uint32_t attempt,
                          const char *error, int64_t retry_in_ms, int *changed, dp_err *err)
{
    char sattempt[16], sretry[24];
    snprintf(sattempt, sizeof sattempt, "%u", attempt);
    snprintf(sretry, sizeof sretry, "%lld",
             (long long)(retry_in_ms < 0          ? -1
                         : retry_in_ms > 86400000 ? 86400000
                                                  : retry_in_ms));
    const char *params[] = {delivery_id, sattempt, error, sretry};
    return outcome(db, ST_CB_FAILED, 4, params, changed, err);
}
