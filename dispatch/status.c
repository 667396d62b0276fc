#include "dispatch/status.h"

#include "actors/actor.h"
#include "common/clock.h"
#include "common/log.h"
#include "dispatch/redis/rq.h"
#include "dispatch/status_queues.h"
#include "dispatch/store/store.h"

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
    char *queue_metrics; /* heap: status_queue_metrics' text, appended to /metrics */
} status_state;

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
    char *qm = status_queue_metrics(s->rq, &err);
    if (qm != NULL) {
        free(s->queue_metrics);
        s->queue_metrics = qm;
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
    const char *more = kind == 'm' && s->queue_metrics != NULL ? s->queue_metrics : "";
    if (nng_msg_alloc(&r, 0) != 0 || nng_msg_append(r, &healthy, 1) != 0 ||
        nng_msg_append(r, text, strlen(text)) != 0 || nng_msg_append(r, more, strlen(more)) != 0) {
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
    free(s->queue_metrics);
    free(s);
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
    return actor_spawn_owned(&o, err);
}
