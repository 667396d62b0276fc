/* A per-actor cache of verified runner tokens, so a heartbeat, lease or
 * complete costs no Redis command for authentication after the first one.
 * Stores only SHA-256 digests of tokens, never the plaintext. Not shared:
 * each actor owns its own cache (no locking). Bounded: when full it is
 * cleared and refills from Redis. */
#ifndef DP_AUTH_CACHE_H
#define DP_AUTH_CACHE_H

#include "common/err.h"
#include "dispatch/redis/rq.h"

#include <stddef.h>

typedef struct auth_cache auth_cache;

auth_cache *auth_cache_new(size_t capacity);
void auth_cache_free(auth_cache *c);

/* DP_OK when token belongs to runner_id (from the cache, else one Redis GET
 * through rq); DP_EAUTH when it does not; DP_ENOTFOUND when runner_id has no
 * token (unknown, reaped, deregistered; only seen when not cached); another
 * code when Redis failed. */
int auth_cache_check(auth_cache *c, rq_conn *rq, const char *runner_id, const char *token,
                     dp_err *err);

/* Drops runner_id (deregistered or re-registered). */
void auth_cache_forget(auth_cache *c, const char *runner_id);

#endif
