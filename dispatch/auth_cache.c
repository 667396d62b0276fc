#include "dispatch/auth_cache.h"

#include "common/job.h"
#include "common/sha256.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char runner_id[DP_ID_MAX]; /* "" = free slot */
    uint8_t digest[DP_SHA256_LEN];
} auth_entry;

struct auth_cache {
    auth_entry *slots;
    size_t cap; /* power of two */
    size_t used;
};

static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s != '\0'; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

auth_cache *auth_cache_new(size_t capacity)
{
    auth_cache *c = calloc(1, sizeof *c);
    size_t cap = 64;
    while (cap < capacity * 2)
        cap *= 2;
    if (c == NULL || (c->slots = calloc(cap, sizeof *c->slots)) == NULL) {
        free(c);
        return NULL;
    }
    c->cap = cap;
    return c;
}

void auth_cache_free(auth_cache *c)
{
    if (c == NULL)
        return;
    free(c->slots);
    free(c);
}

static auth_entry *find(auth_cache *c, const char *id, int for_insert)
{
    size_t mask = c->cap - 1;
    for (size_t i = hash_id(id) & mask, n = 0; n < c->cap; i = (i + 1) & mask, n++) {
        auth_entry *e = &c->slots[i];
        if (e->runner_id[0] == '\0')
            return for_insert ? e : NULL;
        if (strcmp(e->runner_id, id) == 0)
            return e;
    }
    return NULL;
}

static void digest_of(const char *token, uint8_t out[DP_SHA256_LEN])
{
    dp_sha256_ctx ctx;
    dp_sha256_init(&ctx);
    dp_sha256_update(&ctx, token, strlen(token));
    dp_sha256_final(&ctx, out);
}

int auth_cache_check(auth_cache *c, rq_conn *rq, const char *runner_id, const char *token,
                     dp_err *err)
{
    if (runner_id == NULL || token == NULL || strlen(runner_id) >= DP_ID_MAX)
        return dp_err_set(err, DP_EAUTH, "runner id or token missing");
    uint8_t d[DP_SHA256_LEN];
    digest_of(token, d);
    auth_entry *e = find(c, runner_id, 0);
    if (e != NULL) {
        if (dp_ct_equal(e->digest, d, sizeof d))
            return DP_OK;
        return dp_err_set(err, DP_EAUTH, "runner token rejected for %s", runner_id);
    }
    int rc = rq_registry_verify_token(rq, runner_id, token, err);
    if (rc != DP_OK)
        return rc;
    if (c->used * 2 >= c->cap) { /* keep probes short: start over */
        memset(c->slots, 0, c->cap * sizeof *c->slots);
        c->used = 0;
    }
    e = find(c, runner_id, 1);
    if (e != NULL) {
        snprintf(e->runner_id, sizeof e->runner_id, "%s", runner_id);
        memcpy(e->digest, d, sizeof d);
        c->used++;
    }
    return DP_OK;
}

void auth_cache_forget(auth_cache *c, const char *runner_id)
{
    /* Open addressing without tombstones: rebuild the cluster after the hole. */
    auth_entry *e = find(c, runner_id, 0);
    if (e == NULL)
        return;
    memset(e, 0, sizeof *e);
    c->used--;
    size_t mask = c->cap - 1;
    for (size_t i = ((size_t)(e - c->slots) + 1) & mask; c->slots[i].runner_id[0] != '\0';
         i = (i + 1) & mask) {
        auth_entry moved = c->slots[i];
        memset(&c->slots[i], 0, sizeof moved);
        auth_entry *dst = find(c, moved.runner_id, 1);
        *dst = moved;
    }
}
