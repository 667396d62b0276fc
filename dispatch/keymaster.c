#include "dispatch/keymaster.h"

#include "common/log.h"
#include "dispatch/store/store.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char pg_dsn[2048];
    store_db *db;
} keymaster_state;

static int name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len < 1 || len > 64)
        return 0;
    if (len == DP_APIKEY_ID_LEN && strspn(n, "0123456789abcdef") == len)
        return 0; /* revoke takes an id or a name: a name must never look like an id */
    for (const char *p = n; *p != '\0'; p++)
        if (!isalnum((unsigned char)*p) && strchr("_.-@", *p) == NULL)
            return 0;
    return 1;
}

static void on_create(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    keymaster_state *s = state;
    (void)ctx;
    const dp_msg_key_create *kc = &m->key_create;
    dp_err err = {0};
    if (!name_ok(kc->name)) {
        dp_err_set(&err, DP_EINVAL,
                   "key name: 1..64 of [A-Za-z0-9_.-@], not 16 hex digits (an id's shape)");
        fwd_reply_code(o, m->id, DP_EINVAL, "key", &err);
        return;
    }
    if (kc->max_queued > 1000000 || kc->per_minute > 1000000) {
        dp_err_set(&err, DP_EINVAL, "key quotas: --max-queued and --per-minute are 0..1000000");
        fwd_reply_code(o, m->id, DP_EINVAL, "key", &err);
        return;
    }
    char plain[DP_APIKEY_LEN + 1];
    store_apikey row = {
        .scopes = kc->scopes, .max_queued = kc->max_queued, .submits_per_minute = kc->per_minute};
    snprintf(row.name, sizeof row.name, "%s", kc->name);
    int rc = dp_apikey_new(plain, row.id, row.hash, &err);
    if (rc == DP_OK)
        rc = store_apikey_create(s->db, &row, &err);
    if (rc != DP_OK) {
        fwd_reply_code(o, m->id, rc, "key", &err);
        return;
    }
    char scopes[32];
    dp_scopes_format(row.scopes, scopes, sizeof scopes);
    dp_log(DP_LOG_INFO, "api_key_created", "key_id", row.id, "name", row.name, "scopes", scopes,
           (char *)NULL);
    dp_msg r = {.type = DP_MSG_KEY, .id = m->id};
    r.key.key_id = row.id;
    r.key.name = row.name;
    r.key.scopes = row.scopes;
    r.key.max_queued = row.max_queued;
    r.key.per_minute = row.submits_per_minute;
    r.key.key = plain;
    fwd_reply(o, &r); /* borrowed strings: nothing to free */
    explicit_bzero(plain, sizeof plain);
}

static void on_list(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    keymaster_state *s = state;
    (void)ctx;
    dp_err err = {0};
    store_apikey *rows = NULL;
    size_t n = 0;
    int rc = store_apikey_list(s->db, &rows, &n, &err);
    if (rc != DP_OK) {
        fwd_reply_code(o, m->id, rc, "key", &err);
        return;
    }
    dp_msg r = {.type = DP_MSG_KEYS, .id = m->id};
    r.keys.keys = calloc(n ? n : 1, sizeof *r.keys.keys);
    if (r.keys.keys == NULL) {
        free(rows);
        dp_err_set(&err, DP_ENOMEM, "out of memory");
        fwd_reply_code(o, m->id, DP_ENOMEM, "key", &err);
        return;
    }
    r.keys.n_keys = n;
    for (size_t i = 0; i < n; i++) { /* borrowed from rows */
        dp_key_info *k = &r.keys.keys[i];
        k->key_id = rows[i].id;
        k->name = rows[i].name;
        k->scopes = rows[i].scopes;
        k->max_queued = rows[i].max_queued;
        k->per_minute = rows[i].submits_per_minute;
        k->created_at = rows[i].created_at;
        k->revoked = rows[i].revoked != 0;
    }
    fwd_reply(o, &r);
    free(r.keys.keys);
    free(rows);
}

static void on_revoke(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    keymaster_state *s = state;
    (void)ctx;
    dp_err err = {0};
    int rc = store_apikey_revoke(s->db, m->key_revoke.key, &err);
    if (rc != DP_OK) {
        fwd_reply_code(o, m->id, rc, "key", &err);
        return;
    }
    dp_log(DP_LOG_INFO, "api_key_revoked", "key", m->key_revoke.key, (char *)NULL);
    dp_msg r = {0};
    if (dp_msg_make_ack(&r, m->id, 1) == DP_OK)
        fwd_reply_take(o, &r);
}

static int keymaster_start(void *state, actor_ctx *ctx, dp_err *err)
{
    keymaster_state *s = state;
    (void)ctx;
    s->db = store_open(s->pg_dsn, err);
    return s->db != NULL ? DP_OK : DP_EUNAVAIL;
}

static void keymaster_stop(void *state, actor_ctx *ctx)
{
    keymaster_state *s = state;
    (void)ctx;
    store_close(s->db);
    free(s);
}

static const dd_route keymaster_routes[] = {
    {DP_MSG_KEY_CREATE, DD_FROM_ADMIN, DP_SCOPE_ADMIN, on_create},
    {DP_MSG_KEY_LIST, DD_FROM_ADMIN, DP_SCOPE_ADMIN, on_list},
    {DP_MSG_KEY_REVOKE, DD_FROM_ADMIN, DP_SCOPE_ADMIN, on_revoke},
};

const dd_actor_def keymaster_actor = {
    .name = "keymaster",
    .routes = keymaster_routes,
    .n_routes = sizeof keymaster_routes / sizeof keymaster_routes[0],
    .on_start = keymaster_start,
    .on_stop = keymaster_stop,
    .mailbox = 64,
};

actor *keymaster_spawn(const char *pg_dsn, dp_err *err)
{
    keymaster_state *s = calloc(1, sizeof *s);
    if (s == NULL) {
        dp_err_set(err, DP_ENOMEM, "keymaster: out of memory");
        return NULL;
    }
    snprintf(s->pg_dsn, sizeof s->pg_dsn, "%s", pg_dsn);
    return dd_actor_spawn(&keymaster_actor, s, err);
}
