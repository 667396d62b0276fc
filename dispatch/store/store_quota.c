/* Max-queued quotas: count and insert under a per-key lock (store_list.h). */
#include "dispatch/store/store_internal.h"
#include "dispatch/store/store_list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int step(store_db *db, const char *stmt, int np, const char *const *params, const char *what,
                uint64_t *count, dp_err *err)
{
    PGresult *res;
    int rc = store_call(db, stmt, np, params, what, &res, err);
    if (rc != DP_OK)
        return rc;
    if (count != NULL)
        *count = PQntuples(res) > 0 ? strtoull(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return DP_OK;
}

/* Whether the job of texts[0] is in jobs, owned by owner_key: how a COMMIT
 * whose answer was lost with the connection is settled (on a new session:
 * the transaction is over either way). */
static int first_landed(store_db *db, const char *text, const char *owner_key, int *landed,
                        dp_err *err)
{
    *landed = 0;
    json_t *spec = json_loads(text, 0, NULL);
    const char *id = json_string_value(json_object_get(spec, "job_id"));
    int rc = id != NULL ? DP_OK : dp_err_set(err, DP_EINVAL, "quota insert: a text without job_id");
    PGresult *res = NULL;
    const char *params[] = {id};
    if (rc == DP_OK)
        rc = store_call(db, ST_JOB_OWNER, 1, params, "quota commit check", &res, err);
    if (rc == DP_OK)
        *landed = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) &&
                  strcmp(PQgetvalue(res, 0, 0), owner_key) == 0;
    PQclear(res);
    json_decref(spec);
    return rc;
}

int store_insert_jobs_quota(store_db *db, const char *const *texts, size_t n, const char *owner_key,
                            uint32_t max_queued, size_t *n_taken, uint64_t *in_queue, dp_err *err)
{
    *n_taken = 0;
    *in_queue = 0;
    if (owner_key == NULL || owner_key[0] == '\0')
        return dp_err_set(err, DP_EINVAL, "quota insert: no key");
    const char *key[] = {owner_key};
    int rc = step(db, ST_QUOTA_BEGIN, 0, NULL, "quota begin", NULL, err);
    db->in_transaction = rc == DP_OK; /* no statement below runs again on a new session */
    if (rc == DP_OK)
        rc = step(db, ST_QUOTA_LOCK, 1, key, "quota lock", NULL, err);
    char max[16];
    snprintf(max, sizeof max, "%u", max_queued);
    const char *count_params[] = {owner_key, max};
    if (rc == DP_OK)
        rc = step(db, ST_QUOTA_COUNT, 2, count_params, "quota count", in_queue, err);
    size_t room = 0;
    if (rc == DP_OK) {
        room = *in_queue >= max_queued ? 0 : (size_t)(max_queued - *in_queue);
        if (room > n)
            room = n;
        if (room > 0)
            rc = store_insert_job_texts(db, texts, room, owner_key, NULL, err);
    }
    int committing = rc == DP_OK;
    if (committing)
        rc = step(db, ST_QUOTA_COMMIT, 0, NULL, "quota commit", NULL, err);
    db->in_transaction = 0;
    int landed = 0;
    dp_err check = {0};
    if (rc == DP_EUNAVAIL && committing && room > 0 &&
        first_landed(db, texts[0], owner_key, &landed, &check) == DP_OK && landed)
        rc = DP_OK; /* the COMMIT landed; only its answer was lost */
    if (rc != DP_OK) {
        if (PQstatus(db->conn) == CONNECTION_OK)
            PQclear(PQexec(db->conn, "ROLLBACK"));
        return rc;
    }
    *n_taken = room;
    return DP_OK;
}
