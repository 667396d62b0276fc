/* Test fixture: a fresh database `t_<random>` on the server named by
 * DISPATCH_PG_DSN, dropped again at the end (WITH (FORCE), so connections a
 * failed test left open do not keep it alive). All strings are owned by the
 * pgfix_db struct. */
#ifndef DP_TESTS_PG_FIXTURE_H
#define DP_TESTS_PG_FIXTURE_H

#include <stddef.h>

typedef struct {
    char *admin_dsn; /* DISPATCH_PG_DSN (or the given base) */
    char name[40];   /* t_<hex> */
    char *dsn;       /* key='value' conninfo for the new database */
} pgfix_db;

/* Creates the database on the server of base_dsn (NULL: $DISPATCH_PG_DSN).
 * Returns 0, or -1 with a one-line reason in msg. */
int pgfix_create(pgfix_db *db, const char *base_dsn, char *msg, size_t msg_len);

/* Drops the database and frees the strings (safe on a zeroed struct). */
void pgfix_drop(pgfix_db *db);

/* A heap conninfo string: base_dsn's settings with dbname replaced. */
char *pgfix_dsn_for(const char *base_dsn, const char *dbname);

/* Runs one SQL statement on dsn and returns the first column of the first
 * row as a heap string ("" when no rows), or NULL on error. */
char *pgfix_query1(const char *dsn, const char *sql);

#endif
