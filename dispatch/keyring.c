#include "dispatch/keyring.h"

#include "common/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    keyring_principal who;
    char hash[DP_APIKEY_HASH_LEN + 1];
    int64_t until_ms; /* 0: empty slot */
} keyring_entry;

struct keyring {
    keyring_entry *entries;
    size_t capacity;
    uint32_t ttl_ms;
    size_t next; /* round-robin eviction */
};

keyring *keyring_new(size_t capacity, uint32_t ttl_ms)
{
    keyring *k = calloc(1, sizeof *k);
    if (k == NULL || (k->entries = calloc(capacity ? capacity : 1, sizeof *k->entries)) == NULL) {
        free(k);
        return NULL;
    }
    k->capacity = capacity ? capacity : 1;
    k->ttl_ms = ttl_ms;
    return k;
}

void keyring_free(keyring *k)
{
    if (k == NULL)
        return;
    explicit_bzero(k->entries, k->capacity * sizeof *k->entries);
    free(k->entries);
    free(k);
}

static keyring_entry *find(keyring *k, const char *id, int64_t now)
{
    for (size_t i = 0; i < k->capacity; i++)
        if (k->entries[i].until_ms > now && strcmp(k->entries[i].who.id, id) == 0)
            return &k->entries[i];
    return NULL;
}

static int allow(const keyring_entry *e, unsigned need, keyring_principal *who, dp_err *err)
{
    if (need != 0 && !dp_scopes_allow(e->who.scopes, need)) {
        char want[32];
        dp_scopes_format(need, want, sizeof want);
        return dp_err_set(err, DP_EFORBIDDEN, "API key '%s' lacks the %s scope", e->who.name, want);
    }
    if (who != NULL)
        *who = e->who;
    return DP_OK;
}

int keyring_check(keyring *k, store_db *db, const char *key, unsigned need, keyring_principal *who,
                  dp_err *err)
{
    if (key == NULL || key[0] == '\0')
        return dp_err_set(err, DP_EAUTH, "an API key is required (DISPATCH_API_KEY)");
    char id[DP_APIKEY_ID_LEN + 1], hash[DP_APIKEY_HASH_LEN + 1];
    int rc = dp_apikey_split(key, id, hash, err);
    if (rc != DP_OK)
        return rc;
    int64_t now = dp_now_ms();
    keyring_entry *e = find(k, id, now);
    if (e != NULL) {
        if (!dp_apikey_hash_equal(e->hash, hash))
            return dp_err_set(err, DP_EAUTH, "API key %s: wrong secret", id);
        return allow(e, need, who, err);
    }
    store_apikey row;
    rc = store_apikey_get(db, id, &row, err);
    if (rc == DP_ENOTFOUND)
        return dp_err_set(err, DP_EAUTH, "API key %s is unknown", id);
    if (rc != DP_OK) {
        char why[DP_ERR_MSG_MAX];
        snprintf(why, sizeof why, "%s", err != NULL ? err->msg : "");
        return dp_err_set(err, DP_EUNAVAIL, "cannot check the API key: %s", why);
    }
    if (row.revoked)
        return dp_err_set(err, DP_EAUTH, "API key %s ('%s') is revoked", id, row.name);
    if (strlen(row.hash) != DP_APIKEY_HASH_LEN || !dp_apikey_hash_equal(row.hash, hash))
        return dp_err_set(err, DP_EAUTH, "API key %s: wrong secret", id);
    e = &k->entries[k->next];
    k->next = (k->next + 1) % k->capacity;
    memset(e, 0, sizeof *e);
    snprintf(e->who.id, sizeof e->who.id, "%s", id);
    snprintf(e->who.name, sizeof e->who.name, "%s", row.name);
    e->who.scopes = row.scopes;
    e->who.max_queued = row.max_queued;
    e->who.submits_per_minute = row.submits_per_minute;
    memcpy(e->hash, row.hash, DP_APIKEY_HASH_LEN + 1);
    e->until_ms = now + (int64_t)k->ttl_ms;
    return allow(e, need, who, err);
}
