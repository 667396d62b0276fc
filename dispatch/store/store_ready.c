/* Readiness: is PostgreSQL answering, and which migrations has it applied
 * (the status actor's /readyz). */
#include "dispatch/store/store_internal.h"

#include "common/metrics.h"

#include <stdlib.h>

int store_schema_applied(store_db *db, int *applied, dp_err *err)
{
    *applied = 0;
    int rc = store_ensure_ready(db, "readiness check", err);
    if (rc != DP_OK) {
        store_count_error(db);
        return rc;
    }
    double t0 = db->m_rtt != NULL ? dp_metrics_now() : 0;
    PGresult *res = PQexec(db->conn, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (db->m_rtt != NULL)
        dp_hist_observe(db->m_rtt, dp_metrics_now() - t0);
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        store_count_error(db);
        rc = dp_err_set(err, PQstatus(db->conn) == CONNECTION_OK ? DP_EIO : DP_EUNAVAIL,
                        "readiness check: %s",
                        res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(db->conn));
        PQclear(res);
        return rc;
    }
    *applied = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return DP_OK;
}
