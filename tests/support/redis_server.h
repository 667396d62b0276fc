/* Test helper: a private redis-server on a free loopback port, for tests
 * that restart, flush or inspect a whole server. The child dies with the
 * test process (PR_SET_PDEATHSIG), and rs_stop kills it by pid. */
#ifndef DP_TEST_REDIS_SERVER_H
#define DP_TEST_REDIS_SERVER_H

#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

typedef struct {
    pid_t pid; /* 0 when stopped */
    int port;
    char dir[64];   /* temporary data directory (owned; removed by rs_stop) */
    char url[64];   /* redis://127.0.0.1:port */
    int appendonly; /* 1: data survives rs_restart */
} rs_server;

/* Starts redis-server (AOF with appendfsync always when appendonly) and
 * waits until it answers PING. */
int rs_start(rs_server *s, int appendonly, dp_err *err);

/* Stops the server by pid (SIGTERM, then SIGKILL after 5 s) and starts it
 * again on the same port and directory. */
int rs_restart(rs_server *s, dp_err *err);

/* Stops the server by pid as rs_restart does and keeps its port and
 * directory: rs_up starts it again (a Redis that is away for a while). */
void rs_down(rs_server *s);
int rs_up(rs_server *s, dp_err *err);

/* Stops it and removes its directory. Safe to call twice. */
void rs_stop(rs_server *s);

/* Redis Cluster hash slot of a key (CRC16/XMODEM of the hash tag, mod 16384). */
unsigned rs_key_slot(const char *key, size_t len);

/* Reads an environment variable a test needs; NULL when unset or empty. */
const char *rs_env(const char *name);

#endif
