/* The runner session actor: a runner's identity with the dispatcher.
 * It registers (with DISPATCH_REGISTRATION_TOKEN; retried with backoff while
 * the dispatcher is away), keeps the runner token in memory only, hands the
 * identity to every executor slot (`registered` messages), heartbeats on
 * its tick, and registers again when the dispatcher says the runner is
 * unknown (reaped, or Redis was replaced) or a slot reports it (`wake`).
 * runner_session_stopping sends one heartbeat with draining set (the
 * dispatcher ends the slots' waiting leases); runner_session_deregister
 * releases whatever is still leased and forgets the runner. */
#ifndef DP_RUNNER_SESSION_H
#define DP_RUNNER_SESSION_H

#include "actors/actor.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *dispatch_url;
    const char *registration_token; /* copied; wiped on stop */
    const char *name;
    const char *const *labels;
    size_t n_labels;
    const char *const *profiles;
    size_t n_profiles;
    uint32_t capacity;
    const char *version;
    actor *status; /* the runner status actor (link state), or NULL: borrowed */
} runner_session_config;

actor *runner_session_spawn(const runner_session_config *cfg, dp_err *err);

/* Adds an executor slot that receives the identity (before the first
 * registration completes, or at any time after). Call from main. */
int runner_session_add_slot(actor *session, actor *slot, dp_err *err);

/* SIGTERM, step 1 and last step (see above). Call from main. */
int runner_session_stopping(actor *session, dp_err *err);
int runner_session_deregister(actor *session, dp_err *err);

#endif
