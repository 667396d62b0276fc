/* Max-queued quotas: count and insert under a per-key lock (store_list.h). */
#include "dispatch/store/store_internal.h"
#include "dispatch/store/store_list.h"

#include <stdio.h>
#include <stdlib.h>

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

int store_insert_jobs_quota(store_db *db, const char *const *texts, size_t n, const char *owner_key,
                            uint32_t max_queued, size_t *n_taken, uint64_t *in_queue, dp_err *err)
{
    *n_taken = 0;
    *in_queue = 0;
    if (owner_key == NULL || owner_key[0] == '\0')
        return dp_err_set(err, DP_EINVAL, "quota insert: no key");
    const char *key[] = {owner_key};
    int rc = step(db, ST_QUOTA_BEGIN, 0, NULL, "quota begin", NULL, err);
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
    if (rc == DP_OK)
        rc = step(db, ST_QUOTA_COMMIT, 0, NULL, "quota commit", NULL, err);
    if (rc != DP_OK) {
        if (PQstatus(db->conn) == CONNECTION_OK)
            PQclear(PQexec(db->conn, "ROLLBACK"));
        return rc;
    }
    *n_taken = room;
    return DP_OK;
}
