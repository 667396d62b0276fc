/* Who presents a key, and may they do this: API key verification with a
 * small cache, for the one actor that owns it (not thread-safe; each actor
 * that checks keys has its own keyring and its own store connection).
 *
 * A hit costs a hash and a constant-time compare; a miss one PostgreSQL
 * lookup. Cached entries live `ttl_ms`, so a revoked key stops working within
 * that time on every replica. Unknown ids are not cached (a guessed id costs
 * a lookup; the id space is 64 bits). */
#ifndef DP_KEYRING_H
#define DP_KEYRING_H

#include "common/apikey.h"
#include "dispatch/store/store.h"

#include <stdint.h>

typedef struct keyring keyring;

typedef struct {
    char id[DP_APIKEY_ID_LEN + 1]; /* empty: no key (a local ipc operator) */
    char name[72];
    unsigned scopes;
    uint32_t max_queued, submits_per_minute; /* 0: no quota */
} keyring_principal;

/* capacity: entries kept; ttl_ms: how long an entry is trusted. NULL on OOM. */
keyring *keyring_new(size_t capacity, uint32_t ttl_ms);
void keyring_free(keyring *k);

/* Checks `key` (the plaintext presented) against PostgreSQL through db
 * (borrowed) and the cache. DP_OK and *who filled when the key is live and
 * its scopes allow `need` (DP_SCOPE_* bits; 0: any live key);
 * DP_EAUTH when the key is missing, malformed, unknown or revoked (the
 * message never repeats the key); DP_EFORBIDDEN when it lacks the scope;
 * DP_EUNAVAIL when PostgreSQL cannot be asked. */
int keyring_check(keyring *k, store_db *db, const char *key, unsigned need, keyring_principal *who,
                  dp_err *err);

#endif
