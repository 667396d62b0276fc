/* The registrar actor: runner registration, heartbeats, deregistration,
 * draining and the runner list. Registration compares the registration
 * token in constant time; a runner's token is verified once per dispatchd
 * (auth_cache) so a heartbeat costs exactly one Redis command. A heartbeat
 * for a reaped or unknown runner is answered `unknown_runner`: the runner
 * registers again. */
#ifndef DP_REGISTRAR_H
#define DP_REGISTRAR_H

#include "dispatch/dd_actor.h"

#include <stdint.h>

typedef struct {
    const char *redis_url;
    const char *prefix;
    const char *registration_token;
    uint32_t heartbeat_ms;
    uint32_t alive_ttl_ms;
    actor *leaser; /* woken when a deregistration releases jobs */
} registrar_config;

/* Its messages and where they may come from. */
extern const dd_actor_def registrar_actor;

actor *registrar_spawn(const registrar_config *cfg, dp_err *err);

#endif
