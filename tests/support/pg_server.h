/* A private PostgreSQL server for fault tests that must stop, crash and
 * restart it: initdb into a temp dir (as the postgres user when root), a
 * free loopback port, pg_ctl start/stop, and teardown by pid. The struct is
 * caller-owned; pg_server_teardown removes the directory. */
#ifndef DP_TEST_PG_SERVER_H
#define DP_TEST_PG_SERVER_H

#include <stddef.h>
#include <sys/types.h>

typedef struct {
    char bin[256]; /* PostgreSQL's bin directory */
    char dir[64];  /* temp dir, removed in teardown */
    char data[96]; /* data directory */
    int port;
    pid_t postmaster; /* 0 when not running */
    char dsn[128];
} pg_server;

/* initdb + start; 0, or -1 with why filled. name prefixes the temp dir. */
int pg_server_setup(pg_server *pg, const char *name, char *why, size_t why_len);
int pg_server_start(pg_server *pg);
/* mode: "fast", "immediate" (a crash as far as clients can tell). */
int pg_server_stop(pg_server *pg, const char *mode);
/* pg_ctl restart in one step (the server is back when it returns). */
int pg_server_restart(pg_server *pg, const char *mode);
pid_t pg_server_pid(const pg_server *pg);
/* Stops whatever still runs (by pid) and removes the directory. */
void pg_server_teardown(pg_server *pg);

/* A test program's own server as cmocka group setup/teardown: pg_private
 * (its directory named after the program) is started before the group and
 * torn down after it; a setup that fails prints why and fails the group. */
extern pg_server pg_private;
int pg_private_setup(void **state);
int pg_private_teardown(void **state);

#endif
