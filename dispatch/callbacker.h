/* The callbacker: delivers callback_url POSTs (docs/api.md, "Callbacks").
 *
 * A job with a callback_url that becomes terminal gets a row in `callbacks`
 * (migration 0004: a trigger, in the statement that records the state). On
 * its tick this actor claims due rows (FOR UPDATE SKIP LOCKED, each leased
 * for the attempt's timeout plus slack, so replicas never deliver one at
 * once), POSTs the job JSON (exactly GET /api/v1/jobs/{id}) with
 *   X-Dispatch-Signature: sha256=<hex HMAC-SHA256 of the body, secret>
 *   X-Dispatch-Job: <job id>, X-Dispatch-Delivery: <delivery id>
 * through one libcurl multi handle (many deliveries in flight, never on the
 * HTTP thread or the reporter's), and records each outcome fenced on the
 * attempt: a 2xx marks the row delivered (at most once), anything else
 * schedules the next attempt after backoff_ms * 2^(attempt-1) (at most 1 h)
 * or, after max_attempts, marks it failed with the last error. Every
 * address dialled passes the shared address policy (common/addr_policy.h)
 * with allow as its exemptions; redirects are not followed.
 *
 * Ownership: the config's strings and allow list are copied. */
#ifndef DP_CALLBACKER_H
#define DP_CALLBACKER_H

#include "actors/actor.h"
#include "common/addr_policy.h"
#include "common/err.h"

#include <stdint.h>

typedef struct {
    const char *pg_dsn;
    const char *secret; /* DISPATCH_CALLBACK_SECRET */
    const dp_addr_allow *allow;
    uint32_t max_attempts; /* DISPATCH_CALLBACK_MAX_ATTEMPTS */
    uint32_t backoff_ms;   /* DISPATCH_CALLBACK_BACKOFF_MS: the first retry's delay */
    uint32_t timeout_ms;   /* DISPATCH_CALLBACK_TIMEOUT_MS: one attempt, connect to answer */
} callbacker_config;

actor *callbacker_spawn(const callbacker_config *cfg, dp_err *err);

/* The signature header's value for body: "sha256=" and 64 hex chars (out
 * holds 72 bytes). */
void callbacker_sign(const char *secret, const void *body, size_t len, char out[72]);

#endif
