/* Bounds on when a statement's outcome is decided: the session's
 * statement_timeout and a deadline after which no statement is sent
 * (docs/store.md, "Exactly once": the reporter's group commit must be
 * decided while its job is still held for it in Redis). */
#include "dispatch/store/store_internal.h"

#include <stdio.h>

int store_apply_statement_timeout(store_db *db, dp_err *err)
{
    char sql[64];
    snprintf(sql, sizeof sql, "SET statement_timeout = %u", db->statement_timeout_ms);
    PGresult *res = PQexec(db->conn, sql);
    ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    int ok = st == PGRES_COMMAND_OK;
    int connected = PQstatus(db->conn) == CONNECTION_OK;
    char msg[256];
    snprintf(msg, sizeof msg, "%s",
             res != NULL && PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res)
                                                         : PQerrorMessage(db->conn));
    PQclear(res);
    if (ok)
        return DP_OK;
    return dp_err_set(err, connected ? DP_EIO : DP_EUNAVAIL,
                      "session setup: statement_timeout: PostgreSQL %s: %s",
                      connected ? "refused it" : "unavailable", msg);
}

int store_set_statement_timeout(store_db *db, uint32_t ms, dp_err *err)
{
    db->statement_timeout_ms = ms;
    if (PQstatus(db->conn) != CONNECTION_OK || !db->prepared)
        return DP_OK; /* applied when the connection is set up again */
    return store_apply_statement_timeout(db, err);
}

void store_set_send_deadline(store_db *db, int64_t deadline_ms)
{
    db->send_by_ms = deadline_ms;
}
