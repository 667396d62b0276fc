/* The leaser actor: hands jobs to runners and takes them back.
 *
 * lease: authenticates the runner, claims up to max_jobs in one Redis script
 * and answers `leased`; when nothing is pending and the runner is willing to
 * wait, the request is parked (no Redis traffic) and answered the moment a
 * wake-up (a `wake` message from the waker, i.e. a Redis PUBLISH by any
 * replica's enqueue) brings work, or `none` at its deadline.
 * The reaper runs on the leaser's tick: one sweep every sweep_ms finds
 * runners past their alive deadline and reclaims their jobs atomically; dead
 * jobs (attempts exhausted) are handed to the reporter as `event` messages
 * (state failed, verdict SE, the reason) to be recorded in PostgreSQL.
 * Every lease is reported to the reporter as an `event` (state leased). */
#ifndef DP_LEASER_H
#define DP_LEASER_H

#include "dispatch/dd_actor.h"

#include <stdint.h>

typedef struct {
    const char *redis_url;
    const char *prefix;
    uint32_t alive_ttl_ms;
    uint32_t max_attempts;
    uint32_t sweep_ms;
    uint32_t max_wait_ms; /* cap on a lease's long-poll */
    actor *reporter;      /* receives lease and dead-job events */
} leaser_config;

/* Its messages and where they may come from. */
extern const dd_actor_def leaser_actor;

actor *leaser_spawn(const leaser_config *cfg, dp_err *err);

#endif
