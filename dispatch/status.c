#include "dispatch/status.h"

#include "actors/actor.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "dispatch/dd_actor.h"
#include "dispatch/redis/rq.h"
#include "dispatch/status_metrics.h"
#include "dispatch/status_queues.h"
#include "dispatch/store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The counts are read when a probe or a scrape asks, at most once per
 * STATUS_FRESH_MS (a timer read them every second: ~8 Redis commands and a
 * PostgreSQL query per second per replica whether anyone looked or not,
 * a quarter of the idle Redis load of 32 runners). */
#define STATUS_FRESH_MS 1000
#define STATUS_SLOW_EVERY_MS 5000 /* the completed count */
#define STATUS_GATHER_MS 1000     /* per actor, within the HTTP side's 2 s */

typedef struct {
    status_config cfg;
    char redis_url[1024], prefix[128], pg_dsn[2048];
    rq_conn *rq;
    store_db *db;
    dp_metrics *own; /* this actor's: its round trips, the queue depth */
    status_gauges g;
    int64_t stats_at_ms; /* last good refresh of the Redis counts; 0 = never */
    int64_t slow_at_ms;  /* last good refresh of the completed count */
    int schema_applied;  /* highest migration PostgreSQL has; -1 unknown */
    char last_error[DP_ERR_MSG_MAX + 16];
    int64_t started_ms;
    char *queue_metrics; /* heap: status_queue_metrics' last text, appended to /metrics */
} status_state;

static void refresh(status_state *s)
{
    dp_err err = {0};
    dp_queue_stats st = {0};
    int64_t now = dp_now_ms();
    if (rq_stats(s->rq, &st, &err) != DP_OK) {
        snprintf(s->last_error, sizeof s->last_error, "redis: %s", err.msg);
        return;
    }
    int applied = -1;
    if (store_schema_applied(s->db, &applied, &err) != DP_OK) {
        snprintf(s->last_error, sizeof s->last_error, "postgresql: %s", err.msg);
        return;
    }
    s->schema_applied = applied;
    st.completed = s->g.q.completed;
    if (now - s->slow_at_ms >= STATUS_SLOW_EVERY_MS) {
        if (store_count_completed(s->db, &st.completed, &err) != DP_OK) {
            snprintf(s->last_error, sizeof s->last_error, "postgresql: %s", err.msg);
            return;
        }
        s->slow_at_ms = now;
    }
    s->g.q = st;
    s->stats_at_ms = now;
    s->last_error[0] = '\0';
}

/* A refresh unless one ran within STATUS_FRESH_MS. */
static void refresh_if_old(status_state *s)
{
    if (s->stats_at_ms == 0 || dp_now_ms() - s->stats_at_ms >= STATUS_FRESH_MS)
        refresh(s);
}

/* Ready: a refresh succeeded lately and PostgreSQL has every migration this
 * build knows (a newer replica may have applied more). */
static int readiness(const status_state *s, char *why, size_t n)
{
    int64_t now = dp_now_ms();
    if (s->last_error[0] != '\0')
        snprintf(why, n, "not ready: %s\n", s->last_error);
    else if (s->stats_at_ms == 0 || now - s->stats_at_ms >= 3 * STATUS_FRESH_MS)
        snprintf(why, n, "not ready: no refresh of Redis and PostgreSQL for %lld ms\n",
                 (long long)(s->stats_at_ms == 0 ? now - s->started_ms : now - s->stats_at_ms));
    else if (s->schema_applied < store_schema_version())
        snprintf(why, n, "not ready: PostgreSQL has migrations up to %d, this build needs %d\n",
                 s->schema_applied, store_schema_version());
    else {
        snprintf(why, n, "ready\n");
        return 1;
    }
    return 0;
}

/* Every actor's registry merged with this one's, then the gauges. */
static int render_metrics(status_state *s, int ready, char **text, size_t *len)
{
    dp_metrics *all = dp_metrics_new();
    if (all == NULL)
        return DP_ENOMEM;
    size_t own_len = 0;
    const void *own = dp_metrics_snapshot(s->own, &own_len);
    dp_err err = {0};
    dp_metrics_merge(all, own, own_len, &err);
    s->g.missed = 0;
    dd_metrics_gather(s->cfg.sources, s->cfg.n_sources, all, STATUS_GATHER_MS, &s->g.missed);
    s->g.up = ready;
    s->g.uptime_s = (double)(dp_now_ms() - s->started_ms) / 1000.0;
    status_metrics_gauges(all, &s->g);
    int rc = dp_metrics_render(all, status_metric_descs, status_n_metric_descs, text, len);
    const char *stray = dp_metrics_undescribed(all, status_metric_descs, status_n_metric_descs);
    if (stray != NULL) /* a series nobody described is a bug: say so, once per scrape */
        dp_log(DP_LOG_WARN, "metric_undescribed", "name", stray, (char *)NULL);
    dp_metrics_free(all);
    return rc;
}

static int status_handle(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    status_state *s = state;
    (void)ctx;
    char kind = nng_msg_len(msg) > 0 ? *(char *)nng_msg_body(msg) : 'h';
    nng_msg_free(msg);
    if (reply == NULL)
        return 0;
    if (kind == 'm' || kind == 'r')
        refresh_if_old(s);
    char why[DP_ERR_MSG_MAX + 128];
    int ready = readiness(s, why, sizeof why);
    char *text = NULL;
    size_t len = 0;
    uint8_t ok = 1;
    int rc = DP_OK;
    if (kind == 'm') {
        /* The per-queue series and the draining count walk every live
         * runner (two Redis commands each): read when scraped, not per
         * tick, so idle runners cost Redis nothing for them (issue 10's
         * idle bound); a failed read serves the last one. */
        dp_err qerr = {0};
        char *qm = status_queue_metrics(s->rq, &s->g.runners_draining, &qerr);
        if (qm != NULL) {
            free(s->queue_metrics);
            s->queue_metrics = qm;
        }
        rc = render_metrics(s, ready, &text, &len);
        /* the per-queue series (dispatch/status_queues.h), as last read */
        if (rc == DP_OK && s->queue_metrics != NULL)
            rc = dp_metrics_appendf(&text, &len, "%s", s->queue_metrics);
    } else if (kind == 'r') {
        ok = (uint8_t)ready;
        rc = dp_metrics_appendf(&text, &len, "%s", why);
    } else /* liveness: this actor answered */
        rc = dp_metrics_appendf(&text, &len, "ok\n");
    nng_msg *r = NULL;
    if (rc != DP_OK || nng_msg_alloc(&r, 0) != 0 || nng_msg_append(r, &ok, 1) != 0 ||
        nng_msg_append(r, text, len) != 0) {
        if (r != NULL)
            nng_msg_free(r);
        free(text);
        return DP_ENOMEM;
    }
    free(text);
    *reply = r;
    return 0;
}

static int status_start(void *state, actor_ctx *ctx, dp_err *err)
{
    status_state *s = state;
    (void)ctx;
    s->started_ms = dp_now_ms();
    s->schema_applied = -1;
    if ((s->own = dp_metrics_new()) == NULL)
        return dp_err_set(err, DP_ENOMEM, "status: out of memory");
    if ((s->rq = rq_connect(s->redis_url, s->prefix, NULL, err)) == NULL)
        return DP_EUNAVAIL;
    if ((s->db = store_open(s->pg_dsn, err)) == NULL)
        return DP_EUNAVAIL;
    rq_set_metrics(s->rq, s->own);
    store_set_metrics(s->db, s->own);
    refresh(s);
    return DP_OK;
}

static void status_stop(void *state, actor_ctx *ctx)
{
    status_state *s = state;
    (void)ctx;
    rq_close(s->rq);
    store_close(s->db);
    dp_metrics_free(s->own);
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
        .mailbox = 64,
    };
    return actor_spawn_owned(&o, err);
}
