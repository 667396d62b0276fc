#include "tests/store/pg_fixture.h"

#include "common/job.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void append(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = realloc(*buf, *cap);
        if (*buf == NULL)
            abort();
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
}

/* key='value' with ' and \ escaped, as libpq's conninfo grammar wants. */
static void append_kv(char **buf, size_t *len, size_t *cap, const char *k, const char *v)
{
    append(buf, len, cap, k);
    append(buf, len, cap, "='");
    for (const char *p = v; *p != 0; p++) {
        char c[3] = {0};
        if (*p == '\'' || *p == '\\')
            c[0] = '\\', c[1] = *p;
        else
            c[0] = *p;
        append(buf, len, cap, c);
    }
    append(buf, len, cap, "' ");
}

char *pgfix_dsn_for(const char *base_dsn, const char *dbname)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(base_dsn, &errmsg);
    if (opts == NULL) {
        PQfreemem(errmsg);
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    append(&buf, &len, &cap, "");
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val != NULL && o->val[0] != 0 && strcmp(o->keyword, "dbname") != 0)
            append_kv(&buf, &len, &cap, o->keyword, o->val);
    }
    append_kv(&buf, &len, &cap, "dbname", dbname);
    PQconninfoFree(opts);
    return buf;
}

char *pgfix_query1(const char *dsn, const char *sql)
{
    PGconn *c = PQconnectdb(dsn);
    char *out = NULL;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, sql);
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_TUPLES_OK)
            out = strdup(PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
        else if (st == PGRES_COMMAND_OK)
            out = strdup(PQcmdTuples(r));
        else
            fprintf(stderr, "pgfix_query1: %s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    } else {
        fprintf(stderr, "pgfix_query1: connect: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return out;
}

int pgfix_create(pgfix_db *db, const char *base_dsn, char *msg, size_t msg_len)
{
    memset(db, 0, sizeof *db);
    if (base_dsn == NULL)
        base_dsn = getenv("DISPATCH_PG_DSN");
    if (base_dsn == NULL || *base_dsn == 0) {
        snprintf(msg, msg_len,
                 "DISPATCH_PG_DSN is not set: run the store tests through ./dev test or "
                 "scripts/with-services.sh");
        return -1;
    }
    char id[40];
    if (dp_new_id("t_", id, sizeof id) != 0) {
        snprintf(msg, msg_len, "getrandom failed");
        return -1;
    }
    snprintf(db->name, sizeof db->name, "%.18s", id); /* t_ + 16 hex is plenty */
    db->admin_dsn = strdup(base_dsn);
    char sql[96];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db->name);
    char *r = pgfix_query1(base_dsn, sql);
    if (r == NULL) {
        snprintf(msg, msg_len, "CREATE DATABASE %s on DISPATCH_PG_DSN failed (see stderr)",
                 db->name);
        free(db->admin_dsn);
        db->admin_dsn = NULL;
        return -1;
    }
    free(r);
    db->dsn = pgfix_dsn_for(base_dsn, db->name);
    return db->dsn != NULL ? 0 : (snprintf(msg, msg_len, "bad DSN"), -1);
}

void pgfix_drop(pgfix_db *db)
{
    if (db->admin_dsn != NULL && db->name[0] != 0) {
        char sql[96];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db->name);
        free(pgfix_query1(db->admin_dsn, sql));
    }
    free(db->admin_dsn);
    free(db->dsn);
    memset(db, 0, sizeof *db);
}
