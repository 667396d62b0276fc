/* dispatchd's actors as one unit: spawned in dependency order, the gateways'
 * routing built from the actors' own tables (dd_actor_def), and stopped in
 * the one order that loses nothing (gateways refuse new work first but stay
 * up while the others answer through them; then the actors in reverse; then
 * the gateways). cmd/dispatchd.c only reads the configuration and waits for
 * a signal.
 *
 * Ownership: strings in dd_config are borrowed until dd_stack_start returns
 * (every actor copies what it keeps). The stack is the caller's:
 * dd_stack_stop frees it. */
#ifndef DP_DD_STACK_H
#define DP_DD_STACK_H

#include "common/addr_policy.h"
#include "common/err.h"
#include "messages/msg.h"

#include <stdint.h>

/* admin_listen: one URL or two, comma-separated; ipc:// is the local
 * operator's (0600, in a 0700 directory, no key), any other needs API keys.
 * The events socket (dispatchctl watch) is served beside the ipc one only:
 * a push socket asks no credential. */
typedef struct {
    const char *redis_url, *pg_dsn, *runner_listen, *admin_listen, *registration_token;
    const char *log_store, *prefix, *http_listen;
    const char *runner_also_url; /* optional second runner URL (inproc, in-process runners) */
    uint64_t heartbeat_ms, alive_ttl_ms, max_attempts, sweep_ms, lease_wait_max_ms, max_waiting;
    uint64_t http_max_body, http_max_inline, http_idle_ms; /* the HTTP API (dispatch/http_api.h) */
    /* callback_url deliveries (dispatch/callbacker.h): no callbacker without a secret */
    const char *callback_secret;
    dp_addr_allow callback_allow;
    uint64_t callback_max_attempts, callback_backoff_ms, callback_timeout_ms;
    uint64_t log_url_expiry_s; /* GET /api/v1/jobs/{id}/log: presigned URL lifetime (S3) */
} dd_config;

/* Bounds on the sockets, before authentication (docs/security.md). */
#define DD_RUNNER_MAX_MSG (DP_MSG_MAX_LOG + 8u * 1024 * 1024) /* a complete: log + excerpts */
#define DD_ADMIN_MAX_MSG (16u * 1024 * 1024)                  /* a submit batch */
#define DD_RUNNER_MAX_CONNS 4096
#define DD_ADMIN_MAX_CONNS 256
#define DD_MAX_ADMIN_URLS 2

typedef struct dd_stack dd_stack;

dd_stack *dd_stack_start(const dd_config *cfg, dp_err *err);

/* The events URL watchers subscribe to (borrowed from the stack; "" when
 * no admin URL is ipc). */
const char *dd_stack_events_url(const dd_stack *s);

/* Stops everything in order and frees s. NULL is a no-op. */
void dd_stack_stop(dd_stack *s);

#endif
