#include "dispatch/status.h"

#include "actors/actor.h"
#include "common/clock.h"
#include "common/log.h"
#include "dispatch/redis/rq.h"
#include "dispatch/store/store.h"

#include <nng/supplemental/http/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_TICK_MS 1000
#define STATUS_COMPLETED_EVERY_MS 5000

typedef struct {
    status_config cfg;
    char redis_url[1024], prefix[128], pg_dsn[2048];
    rq_conn *rq;
    store_db *db;
    dp_queue_stats stats;
    int64_t stats_at_ms;     /* last good refresh of the Redis counts; 0 = never */
    int64_t completed_at_ms; /* last good refresh of the completed count */
    char last_error[DP_ERR_MSG_MAX + 16];
    int64_t started_ms;
} status_state;

/* What the HTTP callbacks use: a client to the actor, and the server. One
 * status actor per process. */
typedef struct {
    actor_client *client;
    nng_http_server *server;
} status_http;

static status_http http_link;

/* ---- the actor ---- */

static void refresh(status_state *s)
{
    dp_err err = {0};
    dp_queue_stats st = {0};
    int64_t now = dp_now_ms();
    if (rq_stats(s->rq, &st, &err) != DP_OK) {
        snprintf(s->last_error, sizeof s->last_error, "redis: %s", err.msg);
        return;
    }
    st.completed = s->stats.completed;
    if (now - s->completed_at_ms >= STATUS_COMPLETED_EVERY_MS) {
        if (store_count_completed(s->db, &st.completed, &err) != DP_OK) {
            snprintf(s->last_error, sizeof s->last_error, "postgresql: %s", err.msg);
            return;
        }
        s->completed_at_ms = now;
    }
    s->stats = st;
    s->stats_at_ms = now;
    s->last_error[0] = '\0';
}

static void status_tick(void *state, actor_ctx *ctx)
{
    (void)ctx;
    refresh(state);
}

/* Request: one byte, 'h' (health) or 'm' (metrics). Reply: one byte, 1 when
 * healthy, then the text. */
static int status_handle(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    status_state *s = state;
    (void)ctx;
    char kind = nng_msg_len(msg) > 0 ? *(char *)nng_msg_body(msg) : 'h';
    nng_msg_free(msg);
    if (reply == NULL)
        return 0;
    int64_t now = dp_now_ms();
    uint8_t healthy = s->stats_at_ms != 0 && now - s->stats_at_ms < 3 * STATUS_TICK_MS &&
                      s->last_error[0] == '\0';
    char text[2048];
    if (kind == 'm') {
        const dp_queue_stats *q = &s->stats;
        snprintf(text, sizeof text,
                 "# HELP dispatch_up 1 when the dispatcher reaches Redis and PostgreSQL.\n"
                 "# TYPE dispatch_up gauge\ndispatch_up %u\n"
                 "# HELP dispatch_jobs Jobs by state.\n# TYPE dispatch_jobs gauge\n"
                 "dispatch_jobs{state=\"pending\"} %llu\n"
                 "dispatch_jobs{state=\"leased\"} %llu\n"
                 "dispatch_jobs{state=\"dead\"} %llu\n"
                 "dispatch_jobs{state=\"completed\"} %llu\n"
                 "# HELP dispatch_runners_alive Runners whose heartbeat is current.\n"
                 "# TYPE dispatch_runners_alive gauge\ndispatch_runners_alive %llu\n"
                 "# HELP dispatch_uptime_seconds Seconds since dispatchd started.\n"
                 "# TYPE dispatch_uptime_seconds counter\ndispatch_uptime_seconds %lld\n",
                 healthy, (unsigned long long)q->pending, (unsigned long long)q->leased,
                 (unsigned long long)q->dead, (unsigned long long)q->completed,
                 (unsigned long long)q->runners_alive, (long long)((now - s->started_ms) / 1000));
    } else if (healthy) {
        snprintf(text, sizeof text, "ok\n");
    } else {
        snprintf(text, sizeof text, "unhealthy: %s\n",
                 s->last_error[0] ? s->last_error : "no refresh yet");
    }
    nng_msg *r = NULL;
    if (nng_msg_alloc(&r, 0) != 0 || nng_msg_append(r, &healthy, 1) != 0 ||
        nng_msg_append(r, text, strlen(text)) != 0) {
        if (r != NULL)
            nng_msg_free(r);
        return DP_ENOMEM;
    }
    *reply = r;
    return 0;
}

static int status_start(void *state, actor_ctx *ctx, dp_err *err)
{
    status_state *s = state;
    (void)ctx;
    s->started_ms = dp_now_ms();
    if ((s->rq = rq_connect(s->redis_url, s->prefix, NULL, err)) == NULL)
        return DP_EUNAVAIL;
    if ((s->db = store_open(s->pg_dsn, err)) == NULL)
        return DP_EUNAVAIL;
    refresh(s);
    return DP_OK;
}

static void status_stop(void *state, actor_ctx *ctx)
{
    status_state *s = state;
    (void)ctx;
    rq_close(s->rq);
    store_close(s->db);
    free(s);
}

/* ---- HTTP, on nng's threads ---- */

static void http_answer(nng_aio *aio, uint16_t code, const char *type, const void *body, size_t len)
{
    nng_http_res *res = NULL;
    if (nng_http_res_alloc(&res) != 0) {
        nng_aio_finish(aio, NNG_ENOMEM);
        return;
    }
    nng_http_res_set_status(res, code);
    nng_http_res_set_header(res, "Content-Type", type);
    nng_http_res_copy_data(res, body, len);
    nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, 0);
}

static void http_reply(void *arg, int code, nng_msg *reply, const char *errmsg)
{
    nng_aio *aio = arg;
    if (code != 0 || reply == NULL || nng_msg_len(reply) < 1) {
        char text[300];
        snprintf(text, sizeof text, "unavailable: %s\n", errmsg != NULL ? errmsg : "no answer");
        http_answer(aio, 503, "text/plain", text, strlen(text));
    } else {
        const uint8_t *b = nng_msg_body(reply);
        int metrics = nng_msg_len(reply) > 1 && b[1] == '#';
        http_answer(aio, b[0] || metrics ? 200 : 503,
                    metrics ? "text/plain; version=0.0.4" : "text/plain", b + 1,
                    nng_msg_len(reply) - 1);
    }
    if (reply != NULL)
        nng_msg_free(reply);
}

static void http_ask(nng_aio *aio, char kind)
{
    nng_msg *req = NULL;
    if (nng_msg_alloc(&req, 0) != 0 || nng_msg_append(req, &kind, 1) != 0) {
        if (req != NULL)
            nng_msg_free(req);
        nng_aio_finish(aio, NNG_ENOMEM);
        return;
    }
    dp_err err = {0};
    if (actor_client_call_async(http_link.client, req, 2000, http_reply, aio, &err) != 0)
        http_answer(aio, 503, "text/plain", err.msg, strlen(err.msg));
}

static void http_healthz(nng_aio *aio)
{
    http_ask(aio, 'h');
}

static void http_metrics(nng_aio *aio)
{
    http_ask(aio, 'm');
}

static int http_start(const char *url, dp_err *err)
{
    nng_url *u = NULL;
    nng_http_handler *h = NULL, *m = NULL;
    int rv = nng_url_parse(&u, url);
    if (rv == 0)
        rv = nng_http_server_hold(&http_link.server, u);
    if (rv == 0 && (rv = nng_http_handler_alloc(&h, "/healthz", http_healthz)) == 0 &&
        (rv = nng_http_server_add_handler(http_link.server, h)) != 0)
        nng_http_handler_free(h);
    if (rv == 0 && (rv = nng_http_handler_alloc(&m, "/metrics", http_metrics)) == 0 &&
        (rv = nng_http_server_add_handler(http_link.server, m)) != 0)
        nng_http_handler_free(m);
    if (rv == 0)
        rv = nng_http_server_start(http_link.server);
    if (u != NULL)
        nng_url_free(u);
    if (rv != 0)
        return dp_err_set(err, DP_EINVAL, "DISPATCH_HTTP_LISTEN: cannot serve HTTP on %s: %s", url,
                          nng_strerror(rv));
    return DP_OK;
}

void status_http_stop(actor *a)
{
    (void)a;
    if (http_link.server != NULL) {
        nng_http_server_stop(http_link.server);
        nng_http_server_release(http_link.server);
        http_link.server = NULL;
    }
    actor_client_close(http_link.client);
    http_link.client = NULL;
}

actor *status_spawn(const status_config *cfg, dp_err *err)
{
    status_state *s = calloc(1, sizeof *s);
    if (s == NULL) {
        dp_err_set(err, DP_ENOMEM, "status: out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    snprintf(s->redis_url, sizeof s->redis_url, "%s", cfg->redis_url);
    snprintf(s->prefix, sizeof s->prefix, "%s", cfg->prefix);
    snprintf(s->pg_dsn, sizeof s->pg_dsn, "%s", cfg->pg_dsn);
    actor_opts o = {
        .name = "status",
        .state = s,
        .handler = status_handle,
        .on_start = status_start,
        .on_stop = status_stop,
        .on_tick = status_tick,
        .tick_ms = STATUS_TICK_MS,
        .mailbox = 64,
    };
    actor *a = actor_spawn(&o, err);
    if (a == NULL) {
        status_stop(s, NULL);
        return NULL;
    }
    if ((http_link.client = actor_client_open(actor_url(a, 0), err)) == NULL ||
        http_start(cfg->http_url, err) != DP_OK) {
        status_http_stop(a);
        actor_destroy(a);
        return NULL;
    }
    return a;
}
