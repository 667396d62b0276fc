/* API keys in PostgreSQL (see store.h). */
#include "dispatch/store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void copy_field(const PGresult *res, int row, int col, char *out, size_t len)
{
    snprintf(out, len, "%s", PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col));
}

static uint32_t field_u32(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : (uint32_t)strtoul(PQgetvalue(res, row, col), NULL, 10);
}

static int field_bool(const PGresult *res, int row, int col)
{
    return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

int store_apikey_create(store_db *db, const store_apikey *k, dp_err *err)
{
    char scopes[16], queued[16], rate[16];
    snprintf(scopes, sizeof scopes, "%u", k->scopes);
    snprintf(queued, sizeof queued, "%u", k->max_queued);
    snprintf(rate, sizeof rate, "%u", k->submits_per_minute);
    const char *params[] = {k->id, k->name, k->hash, scopes, queued, rate};
    PGresult *res;
    int rc = store_call(db, ST_KEY_CREATE, 6, params, "create api key", &res, err);
    if (rc != DP_OK)
        return rc;
    size_t rows = store_cmd_rows(res);
    PQclear(res);
    if (rows == 0)
        return dp_err_set(err, DP_ECONFLICT, "an API key named '%s' exists already", k->name);
    return DP_OK;
}

int store_apikey_get(store_db *db, const char *id, store_apikey *out, dp_err *err)
{
    memset(out, 0, sizeof *out);
    const char *params[] = {id};
    PGresult *res;
    int rc = store_call(db, ST_KEY_GET, 1, params, "get api key", &res, err);
    if (rc != DP_OK)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return dp_err_set(err, DP_ENOTFOUND, "no such API key");
    }
    snprintf(out->id, sizeof out->id, "%s", id);
    copy_field(res, 0, 0, out->name, sizeof out->name);
    copy_field(res, 0, 1, out->hash, sizeof out->hash);
    out->scopes = field_u32(res, 0, 2);
    out->max_queued = field_u32(res, 0, 3);
    out->submits_per_minute = field_u32(res, 0, 4);
    out->revoked = field_bool(res, 0, 5);
    copy_field(res, 0, 6, out->created_at, sizeof out->created_at);
    PQclear(res);
    return DP_OK;
}

int store_apikey_list(store_db *db, store_apikey **out, size_t *n, dp_err *err)
{
    *out = NULL;
    *n = 0;
    PGresult *res;
    int rc = store_call(db, ST_KEY_LIST, 0, NULL, "list api keys", &res, err);
    if (rc != DP_OK)
        return rc;
    int rows = PQntuples(res);
    store_apikey *keys = calloc(rows > 0 ? (size_t)rows : 1, sizeof *keys);
    if (keys == NULL) {
        PQclear(res);
        return dp_err_set(err, DP_ENOMEM, "list api keys: out of memory");
    }
    for (int r = 0; r < rows; r++) {
        copy_field(res, r, 0, keys[r].id, sizeof keys[r].id);
        copy_field(res, r, 1, keys[r].name, sizeof keys[r].name);
        keys[r].scopes = field_u32(res, r, 2);
        keys[r].max_queued = field_u32(res, r, 3);
        keys[r].submits_per_minute = field_u32(res, r, 4);
        keys[r].revoked = field_bool(res, r, 5);
        copy_field(res, r, 6, keys[r].created_at, sizeof keys[r].created_at);
    }
    PQclear(res);
    *out = keys;
    *n = (size_t)rows;
    return DP_OK;
}

int store_apikey_revoke(store_db *db, const char *id_or_name, dp_err *err)
{
    const char *params[] = {id_or_name};
    PGresult *res;
    int rc = store_call(db, ST_KEY_REVOKE, 1, params, "revoke api key", &res, err);
    if (rc != DP_OK)
        return rc;
    size_t rows = store_cmd_rows(res);
    PQclear(res);
    if (rows == 0)
        return dp_err_set(err, DP_ENOTFOUND, "no live API key '%s'", id_or_name);
    return DP_OK;
}
