#include "dispatch/registrar.h"

#include "dispatch/auth_cache.h"
#include "actors/actor.h"
#include "common/metrics.h"
#include "common/apikey.h"
#include "dispatch/dd_actor.h"
#include "common/log.h"
#include "dispatch/redis/rq.h"
#include "dispatch/redis/rq_quota.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    registrar_config cfg;
    char redis_url[1024];
    char prefix[RQ_PREFIX_MAX + 1];
    char *registration_token;
    rq_conn *rq;
    auth_cache *auth;
    dp_metrics *metrics; /* this actor's own: its Redis round trips */
} registrar_state;

static void reply_code(fwd_origin o, uint64_t id, int rc, const dp_err *err)
{
    const char *code = rc == DP_EAUTH       ? DP_MSG_ERR_UNAUTHORIZED
                       : rc == DP_ENOTFOUND ? DP_MSG_ERR_UNKNOWN_RUNNER
                       : rc == DP_EINVAL    ? DP_MSG_ERR_INVALID
                                            : DP_MSG_ERR_UNAVAILABLE;
    fwd_reply_error(o, id, code, err->msg[0] != '\0' ? err->msg : dp_code_name(rc));
}

static void do_register(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    registrar_state *s = state;
    (void)ctx;
    const dp_msg_register *r = &m->reg;
    rq_runner_reg reg = {
        .name = r->name,
        .labels = (const char *const *)r->labels,
        .n_labels = r->n_labels,
        .capacity = r->capacity,
        .version = r->version != NULL ? r->version : "unknown", /* optional on the wire */
        /* No list sent (protocol clients, benches): every profile. */
        .profiles = r->n_profiles > 0 ? (const char *const *)r->profiles : NULL,
        .n_profiles = r->n_profiles,
    };
    char id[DP_ID_MAX], token[RQ_TOKEN_HEX_LEN + 1];
    dp_err err = {0};
    int rc = rq_registry_register(s->rq, s->registration_token, r->registration_token, &reg, id,
                                  token, &err);
    if (rc != DP_OK) {
        dp_log(DP_LOG_WARN, "register_refused", "name", r->name, "error", err.msg, (char *)NULL);
        reply_code(o, m->id, rc, &err);
        return;
    }
    dp_msg out = {.type = DP_MSG_REGISTERED, .id = m->id};
    out.registered.runner_id = id;
    out.registered.runner_token = token;
    out.registered.heartbeat_ms = s->cfg.heartbeat_ms;
    out.registered.alive_ttl_ms = s->cfg.alive_ttl_ms;
    fwd_reply(o, &out);
    dp_log(DP_LOG_INFO, "runner_registered", "runner_id", id, "name", r->name, (char *)NULL);
    memset(token, 0, sizeof token);
}

static int authenticate(registrar_state *s, fwd_origin o, uint64_t id, const char *runner_id,
                        const char *token)
{
    dp_err err = {0};
    int rc = auth_cache_check(s->auth, s->rq, runner_id, token, &err);
    if (rc != DP_OK) /* wrong token: unauthorized; unknown or reaped: unknown_runner (both
                        make an nng runner register again; HTTP answers 401 / 410) */
        reply_code(o, id, rc, &err);
    return rc;
}

static void do_heartbeat(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    registrar_state *s = state;
    (void)ctx;
    const dp_msg_heartbeat *h = &m->heartbeat;
    if (authenticate(s, o, m->id, h->runner_id, h->runner_token) != DP_OK)
        return;
    dp_err err = {0};
    if (h->draining) {
        /* The runner is stopping: no new leases, and its waiting ones end now. */
        rq_drain(s->rq, h->runner_id, 1, &err);
        dp_msg d = {.type = DP_MSG_DRAIN};
        d.drain.runner_id = h->runner_id;
        nng_msg *msg = fwd_internal(&d, NULL);
        if (msg != NULL)
            actor_send(s->cfg.leaser, msg, 1000, NULL);
    }
    int rc = rq_heartbeat(s->rq, h->runner_id, &err);
    if (rc != DP_OK) {
        if (rc == DP_ENOTFOUND)
            auth_cache_forget(s->auth, h->runner_id);
        reply_code(o, m->id, rc, &err);
        return;
    }
    dp_msg out = {0};
    if (dp_msg_make_ack(&out, m->id, 0) == DP_OK) {
        fwd_reply(o, &out);
        dp_msg_free(&out);
    }
}

static void wake_leaser(registrar_state *s)
{
    dp_msg m = {.type = DP_MSG_WAKE};
    nng_msg *msg = fwd_internal(&m, NULL);
    if (msg != NULL)
        actor_send(s->cfg.leaser, msg, 1000, NULL);
}

static void do_deregister(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    registrar_state *s = state;
    (void)ctx;
    const dp_msg_deregister *d = &m->deregister;
    if (authenticate(s, o, m->id, d->runner_id, d->runner_token) != DP_OK)
        return;
    uint32_t released = 0;
    dp_err err = {0};
    int rc = rq_deregister(s->rq, d->runner_id, &released, &err);
    auth_cache_forget(s->auth, d->runner_id);
    if (rc != DP_OK) {
        reply_code(o, m->id, rc, &err);
        return;
    }
    char n[16];
    snprintf(n, sizeof n, "%u", released);
    dp_log(DP_LOG_INFO, "runner_deregistered", "runner_id", d->runner_id, "released", n,
           (char *)NULL);
    if (released > 0)
        wake_leaser(s);
    dp_msg out = {0};
    if (dp_msg_make_ack(&out, m->id, released) == DP_OK) {
        fwd_reply(o, &out);
        dp_msg_free(&out);
    }
}

static void do_list(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    registrar_state *s = state;
    (void)ctx;
    dp_err err = {0};
    dp_msg out = {.type = DP_MSG_RUNNERS, .id = m->id};
    int rc = rq_runner_list(s->rq, &out.runners.runners, &out.runners.n_runners, &err);
    if (rc != DP_OK) {
        reply_code(o, m->id, rc, &err);
        return;
    }
    fwd_reply(o, &out);
    rq_runner_list_free(out.runners.runners, out.runners.n_runners);
}

/* list_profiles: the profiles the live runners offer (rq_profiles.lua). */
static void do_profiles(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    registrar_state *s = state;
    (void)ctx;
    dp_err err = {0};
    rq_profile_row *rows = NULL;
    size_t n = 0;
    int rc = rq_fleet_profiles(s->rq, &rows, &n, &err);
    if (rc != DP_OK) {
        reply_code(o, m->id, rc, &err);
        return;
    }
    dp_msg out = {.type = DP_MSG_PROFILES, .id = m->id};
    out.profiles.profiles = calloc(n > 0 ? n : 1, sizeof *out.profiles.profiles);
    for (size_t i = 0; out.profiles.profiles != NULL && i < n; i++) {
        dp_profile_info *p = &out.profiles.profiles[i];
        p->name = rows[i].name;
        rows[i].name = NULL;
        p->runners = rows[i].runners;
        p->capacity = rows[i].capacity;
        p->last_seen = strdup(rows[i].last_seen);
        out.profiles.n_profiles = i + 1;
    }
    rq_fleet_profiles_free(rows, n);
    if (out.profiles.profiles == NULL) {
        dp_err_set(&err, DP_ENOMEM, "profiles: out of memory");
        reply_code(o, m->id, DP_ENOMEM, &err);
        return;
    }
    fwd_reply_take(o, &out);
}

static void do_drain(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    registrar_state *s = state;
    (void)ctx;
    dp_err err = {0};
    int rc = rq_drain(s->rq, m->drain.runner_id, 1, &err);
    if (rc == DP_OK) { /* its waiting lease requests end with none */
        dp_msg d = {.type = DP_MSG_DRAIN};
        d.drain.runner_id = m->drain.runner_id;
        nng_msg *msg = fwd_internal(&d, NULL);
        if (msg != NULL)
            actor_send(s->cfg.leaser, msg, 1000, NULL);
    }
    if (rc != DP_OK) {
        fwd_reply_code(o, m->id, rc, "runner", &err);
        return;
    }
    dp_msg out = {0};
    if (dp_msg_make_ack(&out, m->id, 0) == DP_OK)
        fwd_reply_take(o, &out);
}

static int registrar_start(void *state, actor_ctx *ctx, dp_err *err)
{
    registrar_state *s = state;
    (void)ctx;
    rq_options opt;
    rq_options_default(&opt);
    opt.alive_ttl_ms = s->cfg.alive_ttl_ms;
    s->rq = rq_connect(s->redis_url, s->prefix, &opt, err);
    s->auth = auth_cache_new(4096);
    if (s->rq == NULL || s->auth == NULL)
        return DP_EUNAVAIL;
    if ((s->metrics = dp_metrics_new()) == NULL)
        return dp_err_set(err, DP_ENOMEM, "registrar: out of memory");
    rq_set_metrics(s->rq, s->metrics);
    return DP_OK;
}

static void registrar_stop(void *state, actor_ctx *ctx)
{
    registrar_state *s = state;
    (void)ctx;
    rq_close(s->rq);
    auth_cache_free(s->auth);
    free(s->registration_token);
    dp_metrics_free(s->metrics);
    free(s);
}

static dp_metrics *registrar_metrics(void *state)
{
    return ((registrar_state *)state)->metrics;
}

static const dd_route registrar_routes[] = {
    {DP_MSG_REGISTER, DD_FROM_RUNNER, 0, do_register},
    {DP_MSG_HEARTBEAT, DD_FROM_RUNNER, 0, do_heartbeat},
    {DP_MSG_DEREGISTER, DD_FROM_RUNNER, 0, do_deregister},
    {DP_MSG_LIST_RUNNERS, DD_FROM_ADMIN, DP_SCOPE_READ, do_list},
    {DP_MSG_DRAIN, DD_FROM_ADMIN, DP_SCOPE_ADMIN, do_drain},
    {DP_MSG_PROFILE_LIST, DD_FROM_ADMIN, DP_SCOPE_SUBMIT | DP_SCOPE_READ, do_profiles},
};

const dd_actor_def registrar_actor = {
    .name = "registrar",
    .routes = registrar_routes,
    .n_routes = sizeof registrar_routes / sizeof registrar_routes[0],
    .on_start = registrar_start,
    .on_stop = registrar_stop,
    .mailbox = 1024,
    .metrics = registrar_metrics,
};

actor *registrar_spawn(const registrar_config *cfg, dp_err *err)
{
    registrar_state *s = calloc(1, sizeof *s);
    if (s == NULL || (s->registration_token = strdup(cfg->registration_token)) == NULL) {
        free(s);
        dp_err_set(err, DP_ENOMEM, "registrar: out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    snprintf(s->redis_url, sizeof s->redis_url, "%s", cfg->redis_url);
    snprintf(s->prefix, sizeof s->prefix, "%s", cfg->prefix);
    return dd_actor_spawn(&registrar_actor, s, err);
}
