/* The waker actor: holds a Redis subscription to <prefix>wake (published by
 * every enqueue and reclaim that makes pending non-empty, on any replica)
 * and turns each notification into a `wake` message for the leaser, so
 * parked long-poll leases are answered at once without polling Redis. */
#ifndef DP_WAKER_H
#define DP_WAKER_H

#include "actors/actor.h"

typedef struct {
    const char *redis_url;
    const char *prefix;
    actor *leaser;
} waker_config;

actor *waker_spawn(const waker_config *cfg, dp_err *err);

#endif
