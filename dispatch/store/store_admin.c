/* Operator actions on many jobs at once (`requeue --dead`). */
#include "dispatch/store/store.h"
#include "dispatch/store/store_internal.h"

#include <stdlib.h>

int store_requeue_failed(store_db *db, uint64_t *moved, dp_err *err)
{
    static const char sql[] =
        "UPDATE jobs SET state = 'queued', attempts = 0, verdict = NULL, score = NULL, "
        "message = NULL, runner_id = NULL, finished_at = NULL, result_attempt = NULL "
        "WHERE state = 'failed'";
    *moved = 0;
    if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK) {
        /* let the ordinary path reconnect: a cheap call first */
        uint64_t dummy;
        int rc = store_count_completed(db, &dummy, err);
        if (rc != DP_OK)
            return rc;
    }
    PGresult *res = PQexec(db->conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        int rc = PQstatus(db->conn) == CONNECTION_OK ? DP_EIO : DP_EUNAVAIL;
        dp_err_set(err, rc, "requeue failed jobs: %s", PQresultErrorMessage(res));
        PQclear(res);
        return rc;
    }
    *moved = store_cmd_rows(res);
    PQclear(res);
    return DP_OK;
}
