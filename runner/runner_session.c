#include "runner/runner_session.h"

#include "actors/actor.h"
#include "runner/runner_link.h"
#include "runner/runner_status.h"
#include "common/clock.h"
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SESSION_MAX_SLOTS 256
#define SESSION_MAX_LIST 64

typedef struct {
    char url[1024], name[256], version[64];
    char *reg_token;
    char *labels[SESSION_MAX_LIST], *profiles[SESSION_MAX_LIST];
    size_t n_labels, n_profiles;
    uint32_t capacity;
    actor_client *link;
    actor_client *slots[SESSION_MAX_SLOTS]; /* told `registered`: the feeder and the executors */
    size_t n_slots;
    char runner_id[DP_ID_MAX];
    char *token;
    uint32_t heartbeat_ms, alive_ttl_ms;
    int64_t next_heartbeat_ms, next_register_ms;
    uint32_t failures;
    int draining;
    actor *status; /* the runner status actor, or NULL (runner_status.h) */
} session_state;

static void wipe_token(session_state *s)
{
    if (s->token != NULL) {
        memset(s->token, 0, strlen(s->token));
        free(s->token);
        s->token = NULL;
    }
}

static void tell_slot(session_state *s, actor_client *slot)
{
    dp_msg m = {.type = DP_MSG_REGISTERED};
    m.registered.runner_id = s->runner_id;
    m.registered.runner_token = s->token;
    m.registered.heartbeat_ms = s->heartbeat_ms;
    m.registered.alive_ttl_ms = s->alive_ttl_ms;
    dp_err err = {0};
    if (runner_link_tell_client(slot, &m, &err) != DP_OK)
        dp_log(DP_LOG_WARN, "slot_not_told", "error", err.msg, (char *)NULL);
}

static void do_register(session_state *s)
{
    dp_msg req = {.type = DP_MSG_REGISTER}, rep;
    req.reg.registration_token = s->reg_token;
    req.reg.name = s->name;
    req.reg.labels = s->labels;
    req.reg.n_labels = s->n_labels;
    req.reg.profiles = s->profiles;
    req.reg.n_profiles = s->n_profiles;
    req.reg.capacity = s->capacity;
    req.reg.version = s->version;
    dp_err err = {0};
    int rc = runner_link_call(&s->link, s->url, &req, &rep, 10000, &err);
    if (rc == DP_OK && rep.type == DP_MSG_REGISTERED) {
        wipe_token(s);
        snprintf(s->runner_id, sizeof s->runner_id, "%s", rep.registered.runner_id);
        s->token = strdup(rep.registered.runner_token);
        s->heartbeat_ms = rep.registered.heartbeat_ms ? rep.registered.heartbeat_ms : 5000;
        s->alive_ttl_ms = rep.registered.alive_ttl_ms ? rep.registered.alive_ttl_ms : 15000;
        s->next_heartbeat_ms = dp_now_ms() + s->heartbeat_ms;
        s->failures = 0;
        dp_log(DP_LOG_INFO, "registered", "runner_id", s->runner_id, "name", s->name, (char *)NULL);
        runner_status_link(s->status, 1);
        for (size_t i = 0; i < s->n_slots; i++)
            tell_slot(s, s->slots[i]);
        dp_msg_free(&rep);
        return;
    }
    if (rc == DP_OK && rep.type == DP_MSG_ERROR)
        snprintf(err.msg, sizeof err.msg, "%s: %s", rep.error.code,
                 rep.error.message ? rep.error.message : "");
    dp_msg_free(&rep);
    if (s->failures++ % 10 == 0)
        dp_log(DP_LOG_WARN, "register_failed", "url", s->url, "error", err.msg, (char *)NULL);
    s->next_register_ms = dp_now_ms() + runner_link_backoff(s->failures, 200, 10000);
}

static void do_heartbeat(session_state *s)
{
    dp_msg req = {.type = DP_MSG_HEARTBEAT}, rep;
    req.heartbeat.runner_id = s->runner_id;
    req.heartbeat.runner_token = s->token;
    req.heartbeat.draining = s->draining != 0;
    dp_err err = {0};
    s->next_heartbeat_ms = dp_now_ms() + s->heartbeat_ms;
    int rc = runner_link_call(&s->link, s->url, &req, &rep, 5000, &err);
    if (rc != DP_OK) {
        dp_log(DP_LOG_WARN, "heartbeat_failed", "error", err.msg, (char *)NULL);
        runner_status_link(s->status, 0);
        return;
    }
    if (rep.type == DP_MSG_ERROR && (strcmp(rep.error.code, DP_MSG_ERR_UNKNOWN_RUNNER) == 0 ||
                                     strcmp(rep.error.code, DP_MSG_ERR_UNAUTHORIZED) == 0)) {
        dp_log(DP_LOG_WARN, "runner_unknown", "runner_id", s->runner_id, (char *)NULL);
        wipe_token(s); /* register again on this tick */
        s->next_register_ms = 0;
        runner_status_link(s->status, 0);
    } else if (rep.type == DP_MSG_ACK) {
        runner_status_link(s->status, 1);
    }
    dp_msg_free(&rep);
}

static void session_tick(void *state, actor_ctx *ctx)
{
    session_state *s = state;
    (void)ctx;
    int64_t now = dp_now_ms();
    if (s->token == NULL) {
        if (!s->draining && now >= s->next_register_ms)
            do_register(s);
    } else if (now >= s->next_heartbeat_ms) {
        do_heartbeat(s);
    }
}

static void do_deregister(session_state *s)
{
    if (s->token == NULL)
        return;
    dp_msg req = {.type = DP_MSG_DEREGISTER}, rep;
    req.deregister.runner_id = s->runner_id;
    req.deregister.runner_token = s->token;
    req.deregister.release = true;
    dp_err err = {0};
    int rc = runner_link_call(&s->link, s->url, &req, &rep, 5000, &err);
    if (rc == DP_OK && rep.type == DP_MSG_ACK) {
        char n[16];
        snprintf(n, sizeof n, "%u", rep.ack.count);
        dp_log(DP_LOG_INFO, "deregistered", "runner_id", s->runner_id, "released", n, (char *)NULL);
        runner_status_link(s->status, 0);
    } else {
        dp_log(DP_LOG_WARN, "deregister_failed", "error",
               rc != DP_OK                ? err.msg
               : rep.type == DP_MSG_ERROR ? rep.error.message
                                          : dp_msg_type_name(rep.type),
               (char *)NULL);
    }
    dp_msg_free(&rep);
    wipe_token(s);
}

static int session_handle(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    session_state *s = state;
    (void)ctx;
    (void)reply;
    dp_msg m;
    if (dp_msg_decode_internal(msg, &m, NULL) != DP_OK) {
        nng_msg_free(msg);
        return 0;
    }
    if (m.type == DP_MSG_PEERS) {
        size_t before = s->n_slots;
        dp_err err = {0};
        if (runner_link_open_peers(&m.peers, s->slots, SESSION_MAX_SLOTS, &s->n_slots, &err) !=
            DP_OK)
            dp_log(DP_LOG_ERROR, "slot_unreachable", "error", err.msg, (char *)NULL);
        for (size_t i = before; s->token != NULL && i < s->n_slots; i++)
            tell_slot(s, s->slots[i]);
    } else if (m.type == DP_MSG_STOPPING) {
        s->draining = 1;
        if (s->token != NULL)
            do_heartbeat(s);
    } else if (m.type == DP_MSG_LEAVE) {
        do_deregister(s);
    } else if (m.type == DP_MSG_WAKE && s->token != NULL && !s->draining) {
        /* `wake` from a slot: the dispatcher does not know us; the next
         * heartbeat finds out and registers again. */
        s->next_heartbeat_ms = 0;
    }
    dp_msg_free(&m);
    nng_msg_free(msg);
    return 0;
}

static void session_stop(void *state, actor_ctx *ctx)
{
    session_state *s = state;
    (void)ctx;
    wipe_token(s);
    if (s->reg_token != NULL) {
        memset(s->reg_token, 0, strlen(s->reg_token));
        free(s->reg_token);
    }
    for (size_t i = 0; i < s->n_labels; i++)
        free(s->labels[i]);
    for (size_t i = 0; i < s->n_profiles; i++)
        free(s->profiles[i]);
    actor_client_close(s->link);
    runner_link_close_peers(s->slots, s->n_slots);
    free(s);
}

actor *runner_session_spawn(const runner_session_config *cfg, dp_err *err)
{
    session_state *s = calloc(1, sizeof *s);
    if (s == NULL || (s->reg_token = strdup(cfg->registration_token)) == NULL) {
        free(s);
        dp_err_set(err, DP_ENOMEM, "runner session: out of memory");
        return NULL;
    }
    snprintf(s->url, sizeof s->url, "%s", cfg->dispatch_url);
    snprintf(s->name, sizeof s->name, "%s", cfg->name);
    snprintf(s->version, sizeof s->version, "%s", cfg->version ? cfg->version : "");
    s->status = cfg->status;
    for (size_t i = 0; i < cfg->n_labels && i < SESSION_MAX_LIST; i++)
        s->labels[s->n_labels++] = strdup(cfg->labels[i]);
    for (size_t i = 0; i < cfg->n_profiles && i < SESSION_MAX_LIST; i++)
        s->profiles[s->n_profiles++] = strdup(cfg->profiles[i]);
    s->capacity = cfg->capacity;
    s->heartbeat_ms = 5000;
    actor_opts o = {
        .name = "runner-session",
        .state = s,
        .handler = session_handle,
        .on_stop = session_stop,
        .on_tick = session_tick,
        .tick_ms = 20,
        .mailbox = SESSION_MAX_SLOTS + 16,
    };
    return actor_spawn_owned(&o, err);
}

int runner_session_add_slot(actor *session, actor *slot, dp_err *err)
{
    return runner_link_send_peers(session, &slot, 1, err);
}

int runner_session_stopping(actor *session, dp_err *err)
{
    dp_msg m = {.type = DP_MSG_STOPPING};
    return runner_link_command(session, &m, 20000, err);
}

int runner_session_deregister(actor *session, dp_err *err)
{
    dp_msg m = {.type = DP_MSG_LEAVE};
    return runner_link_command(session, &m, 20000, err);
}
