#include "dispatch/gateway.h"

#include "actors/actor.h"
#include "dispatch/fwd.h"
#include "dispatch/keyring.h"
#include "common/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    gateway_config cfg;
    char pg_dsn[2048]; /* cfg.pg_dsn's copy */
    store_db *db;      /* for API keys, when required */
    keyring *keys;
    uint32_t number; /* in the fwd directory: how domain actors answer through us */
    /* Shutting down: answer at once, forward nothing. Set on the actor
     * thread, read by handlers running on nng's threads (calls_on_receipt). */
    atomic_int closing;
} gateway_state;

static int reply_error(nng_msg **reply, uint64_t id, const char *code, const char *text)
{
    dp_msg r = {0};
    if (dp_msg_make_error(&r, id, code, "%s", text) == DP_OK) {
        dp_msg_encode(&r, reply, NULL);
        dp_msg_free(&r);
    }
    return 0;
}

static int gateway_handle(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    gateway_state *g = state;
    dp_msg m;
    dp_err err = {0};
    if (reply == NULL) { /* one-way: only from this process (calls_only), gateway_close */
        atomic_store(&g->closing, 1);
        nng_msg_free(msg);
        return 0;
    }
    /* The envelope only: the actor it goes to decodes and validates the
     * body (once: decoding it here too cost a second pass over every
     * submit's specs and every runner's results). */
    int rc = dp_msg_decode_envelope_nng(msg, &m, &err);
    if (rc != DP_OK) {
        nng_msg_free(msg);
        return reply_error(reply, m.id, rc == DP_EINVAL ? DP_MSG_ERR_INVALID : DP_MSG_ERR_PROTOCOL,
                           err.msg);
    }
    dp_msg_type type = m.type;
    uint64_t id = m.id;
    keyring_principal who = {0};
    int auth_rc = DP_OK;
    int closing = atomic_load(&g->closing);
    if (g->cfg.require_key && g->cfg.routes.to[type] != NULL && !closing)
        auth_rc = keyring_check(g->keys, g->db, m.auth, g->cfg.routes.scope[type], &who, &err);
    dp_msg_free(&m);
    if (closing) {
        nng_msg_free(msg);
        return reply_error(reply, id, DP_MSG_ERR_UNAVAILABLE, DP_MSG_SHUTTING_DOWN);
    }
    actor *target = g->cfg.routes.to[type];
    if (target == NULL) {
        nng_msg_free(msg);
        char text[160];
        snprintf(text, sizeof text, "'%s' is not accepted on %s", dp_msg_type_name(type),
                 g->cfg.listen_url != NULL ? g->cfg.listen_url : g->cfg.name);
        return reply_error(reply, id, DP_MSG_ERR_UNSUPPORTED, text);
    }
    if (auth_rc != DP_OK) {
        nng_msg_free(msg);
        dp_log(DP_LOG_WARN, "admin_refused", "type", dp_msg_type_name(type), "why", err.msg,
               (char *)NULL);
        /* The detail (which key, why, the database's words) is for the log;
         * an unauthenticated client learns only the kind of refusal. */
        const char *said = auth_rc == DP_EAUTH        ? "API key missing, unknown, wrong or revoked"
                           : auth_rc == DP_EFORBIDDEN ? err.msg
                                                      : "cannot check the API key now: retry";
        return reply_error(reply, id, dp_code_name(auth_rc), said);
    }
    fwd_origin origin = {.gateway = g->number, .req = actor_ctx_request(ctx)};
    if (g->cfg.require_key) {
        snprintf(origin.key_id, sizeof origin.key_id, "%s", who.id);
        origin.scopes = who.scopes;
    }
    if (fwd_wrap(msg, origin, &err) != DP_OK) {
        nng_msg_free(msg);
        return reply_error(reply, id, DP_MSG_ERR_INTERNAL, err.msg);
    }
    rc = actor_send(target, msg, 2000, &err);
    if (rc != DP_OK)
        return reply_error(reply, id, DP_MSG_ERR_UNAVAILABLE, "dispatcher busy: retry later");
    return ACTOR_DEFER;
}

static int gateway_start(void *state, actor_ctx *ctx, dp_err *err)
{
    gateway_state *g = state;
    if (g->cfg.require_key) {
        if ((g->keys = keyring_new(1024, 5000)) == NULL)
            return dp_err_set(err, DP_ENOMEM, "%s: out of memory", g->cfg.name);
        if ((g->db = store_open(g->pg_dsn, err)) == NULL)
            return err->code != 0 ? err->code : DP_EUNAVAIL;
    }
    if ((g->number = fwd_gateway_enter(actor_ctx_actor(ctx))) == 0)
        return dp_err_set(err, DP_EINVAL, "%s: more than %d gateways", g->cfg.name,
                          FWD_MAX_GATEWAYS);
    return DP_OK;
}

/* The last callback on the actor's thread: the state goes with it. */
static void gateway_stop(void *state, actor_ctx *ctx)
{
    gateway_state *g = state;
    (void)ctx;
    fwd_gateway_leave(g->number);
    store_close(g->db);
    keyring_free(g->keys);
    free(g);
}

void gateway_close(actor *gw)
{
    nng_msg *m = NULL;
    if (gw != NULL && nng_msg_alloc(&m, 0) == 0)
        actor_send(gw, m, 2000, NULL);
    /* Calls routed on receipt could still forward to the domain actors the
     * caller stops next: from here on calls queue behind the close message
     * (answered "shutting down"), and those routing now have finished. */
    actor_receipt_stop(gw);
}

actor *gateway_spawn(const gateway_config *cfg, dp_err *err)
{
    gateway_state *g = calloc(1, sizeof *g);
    if (g == NULL) {
        dp_err_set(err, DP_ENOMEM, "gateway: out of memory");
        return NULL;
    }
    g->cfg = *cfg;
    if (cfg->require_key) {
        if (cfg->pg_dsn == NULL || strlen(cfg->pg_dsn) >= sizeof g->pg_dsn) {
            free(g);
            dp_err_set(err, DP_EINVAL, "%s: API keys need a PostgreSQL DSN", cfg->name);
            return NULL;
        }
        snprintf(g->pg_dsn, sizeof g->pg_dsn, "%s", cfg->pg_dsn);
    }
    g->cfg.pg_dsn = g->pg_dsn;
    const char *urls[2] = {cfg->listen_url, cfg->also_url};
    actor_opts o = {
        .name = cfg->name,
        .state = g,
        .handler = gateway_handle,
        .on_start = gateway_start,
        .on_stop = gateway_stop,
        .mailbox = cfg->max_held != 0 ? cfg->max_held : 4096,
        .max_msg_bytes = cfg->max_msg_bytes != 0 ? cfg->max_msg_bytes : DP_MSG_MAX_SIZE,
        .max_conns = cfg->max_conns,
        .calls_only = 1, /* only dispatchd itself may tell a gateway to close */
        /* Decoding and routing keep no state: done on nng's receiving thread,
         * one thread hand-off less per request (docs/actors.md). The key
         * check talks to PostgreSQL through one connection: not there. */
        .calls_on_receipt = !cfg->require_key,
        .listen_urls = cfg->listen_url != NULL ? urls : NULL,
        .n_listen_urls = cfg->listen_url == NULL ? 0
                         : cfg->also_url != NULL ? 2
                                                 : 1,
    };
    actor *a = actor_spawn_owned(&o, err);
    if (a == NULL)
        return NULL;
    dp_log(DP_LOG_INFO, "listening", "actor", cfg->name, "url",
           actor_url(a, cfg->listen_url != NULL ? 1 : 0), (char *)NULL);
    return a;
}
