/* API-key quotas and the fleet's profiles in the Redis core.
 *
 * rq_quota_take: the submits-per-minute counter of one key: one Redis key
 * per key id and minute window ("{p}:quota:<key id>:<window>", the core's
 * hash tag, named in the script's KEYS), taken and given back atomically by
 * rq_quota.lua. Windows are fixed minutes of the wall clock.
 *
 * rq_fleet_profiles: a runner's profiles are written into its runner hash
 * by the register script (rq_register.lua); the list aggregates the live
 * runners' (rq_profiles.lua).
 *
 * Ownership: inputs borrowed; *out of rq_fleet_profiles is heap
 * (rq_fleet_profiles_free). */
#ifndef DP_RQ_QUOTA_H
#define DP_RQ_QUOTA_H

#include "common/err.h"
#include "dispatch/redis/rq.h"

#include <stddef.h>
#include <stdint.h>

#define RQ_QUOTA_WINDOW_MS 60000

/* Takes up to n submits of key_id's per-minute allowance (limit per
 * window). *granted: how many (0..n); *retry_ms: until the window ends. */
int rq_quota_take(rq_conn *c, const char *key_id, uint32_t limit, uint32_t n, uint32_t *granted,
                  uint32_t *retry_ms, dp_err *err);

/* Gives back n submits taken in the current window but not used (the
 * max-queued quota refused them). Best effort. */
int rq_quota_give_back(rq_conn *c, const char *key_id, uint32_t n, dp_err *err);

typedef struct {
    char *name;
    uint32_t runners, capacity;
    char last_seen[32]; /* RFC 3339 UTC: the newest heartbeat among them */
} rq_profile_row;

int rq_fleet_profiles(rq_conn *c, rq_profile_row **out, size_t *n, dp_err *err);
void rq_fleet_profiles_free(rq_profile_row *rows, size_t n);

#endif
