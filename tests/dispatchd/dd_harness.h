/* Test harness for dispatchd: starts the built binary ($DISPATCHD) as a child
 * process on a free TCP port (runner socket) and a temporary ipc path (admin
 * socket), with its own Redis key prefix on $DISPATCH_REDIS_URL (or a given
 * server) and its own database (CREATE DATABASE) on $DISPATCH_PG_DSN (or a
 * given server). The child dies with the test (PR_SET_PDEATHSIG) and
 * dd_stop kills it by pid. Everything in dd_daemon is owned by it.
 *
 * Wire helpers speak the real protocol through actors/client.h + messages/.
 * Failures inside helpers fail the running cmocka test (fail_msg). */
#ifndef DP_TESTS_DD_HARNESS_H
#define DP_TESTS_DD_HARNESS_H

#include "actors/actor.h"
#include "messages/msg.h"
#include "tests/store/pg_fixture.h"

#include <stdint.h>
#include <sys/types.h>

#define DD_REG_TOKEN "reg-token-0123456789abcdef"

typedef struct {
    pid_t pid; /* 0 when not running */
    char dir[64];
    char runner_url[96];
    char admin_url[160];
    char prefix[48];
    char redis_url[160];
    char pg_url[256];    /* postgresql:// URL of the test's database */
    pgfix_db db;         /* db.dsn: conninfo for queries */
    const char *env[24]; /* extra "K=V" (or "K" to unset) for the child; borrowed */
    int n_env;
    int last_status; /* wait status of the last stopped child */
} dd_daemon;

/* Prepares names, database and directory; redis_url/pg_base NULL -> env
 * (a missing variable fails the test naming it). Does not start it. */
void dd_init(dd_daemon *d, const char *redis_url, const char *pg_base);

/* Adds an environment entry for the child ("K=V" sets, "K" unsets). */
void dd_env(dd_daemon *d, const char *kv);

/* Starts dispatchd and waits (<= 15 s) until its admin socket answers. */
void dd_start(dd_daemon *d);

/* SIGTERM (SIGKILL after 10 s); returns the exit code (128+sig if killed). */
int dd_stop(dd_daemon *d);

/* SIGKILL at once (a crash). */
void dd_kill(dd_daemon *d);

/* Stops the daemon if running, drops the database, removes the directory. */
void dd_fini(dd_daemon *d);

/* Runs DISPATCHD with d's environment and returns its exit code once it
 * exits on its own (<= 10 s); its stderr is copied into errbuf. */
int dd_run_expect_exit(dd_daemon *d, char *errbuf, size_t errlen);

/* One request/reply over c: encodes req (not consumed), decodes the reply
 * into *reply (caller dp_msg_free's it). Returns the transport code. */
int dd_rpc(actor_client *c, const dp_msg *req, dp_msg *reply, int timeout_ms);

/* Opens a client to url, failing the test if it cannot. */
actor_client *dd_client(const char *url);

/* One heartbeat (0 free slots); fails the test unless it is acked. */
void dd_heartbeat(actor_client *c, const char *id, const char *token);

/* Heartbeats the live runner (id, token) every 150 ms until the queue
 * holds `pending` jobs (another runner's were reclaimed); fails the test
 * after timeout_ms. */
void dd_wait_pending(actor_client *rc, actor_client *admin, const char *id, const char *token,
                     int pending, int timeout_ms);

/* Registers a runner (capacity 4). id/token buffers: DP_ID_MAX / 65 bytes. */
void dd_register(actor_client *c, const char *name, char *id, char *token);

/* dd_register of a runner that offers one profile by name (NULL: none
 * named, it takes every profile, as dd_register). */
void dd_register_offering(actor_client *c, const char *name, const char *profile, char *id,
                          char *token);

/* Submits n minimal specs (profile "c", one test) in one round trip and
 * copies the job ids into ids[i] (DP_ID_MAX each). */
void dd_submit(actor_client *admin, size_t n, char (*ids)[DP_ID_MAX]);

/* Submits one spec naming profile (no tests); code (the caller's, len
 * bytes) gets "" when the job was accepted, else the error's code (the
 * message's, or the item's, or "refused" for an item without one). */
void dd_submit_profile(actor_client *admin, const char *profile, char *code, size_t len);

/* Leases up to max jobs; returns the leased reply type and fills the jobs
 * (ids, attempts) up to max. */
dp_msg_type dd_lease(actor_client *c, const char *id, const char *token, uint32_t max,
                     uint32_t wait_ms, char (*ids)[DP_ID_MAX], uint32_t *attempts, size_t *n);

/* dd_lease under a request id (NULL: none): a resend with the same id gets
 * what the first try got (docs/api.md). */
dp_msg_type dd_lease_req(actor_client *c, const char *id, const char *token, uint32_t max,
                         uint32_t wait_ms, const char *request_id, char (*ids)[DP_ID_MAX],
                         uint32_t *attempts, size_t *n);

/* Completes job_id/attempt with verdict AC (2 tests); returns the reply type. */
dp_msg_type dd_complete(actor_client *c, const char *id, const char *token, const char *job_id,
                        uint32_t attempt, int retry);

/* Status of a job over the admin socket (caller dp_job_view_free's it). */
dp_msg_type dd_status(actor_client *admin, const char *job_id, dp_job_view *out);

/* First column of the first row of sql on the daemon's database, as a number. */
long dd_sql_long(dd_daemon *d, const char *sql);
/* Polls sql (every 20 ms) until its value is at least want; fails the test
 * with what after timeout_ms (the caller's slack for a loaded machine). */
void dd_wait_sql(dd_daemon *d, const char *sql, long want, int timeout_ms, const char *what);

int64_t dd_now_us(void);

/* A loopback TCP port that was free a moment ago. */
int dd_free_port(void);
void dd_sleep_ms(long ms);

#endif
