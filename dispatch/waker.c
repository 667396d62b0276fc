#include "dispatch/waker.h"

#include "actors/actor.h"
#include "dispatch/fwd.h"
#include "common/log.h"
#include "dispatch/redis/rq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char redis_url[1024];
    char prefix[RQ_PREFIX_MAX + 1];
    actor *leaser;
    rq_wake *sub;
    int backoff_ticks; /* ticks to wait before resubscribing */
    int failures;
} waker_state;

/* Tells the leaser which queues became non-empty (none: look at everything),
 * so it wakes only runners that can take the work. */
static void wake_leaser(waker_state *s)
{
    dp_msg m = {.type = DP_MSG_WAKE};
    const char *ids[RQ_WAKE_QIDS_MAX];
    int all = 1;
    size_t n = s->sub != NULL ? rq_wake_queues(s->sub, ids, RQ_WAKE_QIDS_MAX, &all) : 0;
    for (size_t i = 0; i < n; i++)
        if (strlen(ids[i]) >= DP_MSG_MAX_NAME)
            all = 1; /* too long for the message: everyone looks */
    if (!all) {
        m.wake.queues = (char **)ids;
        m.wake.n_queues = n;
    }
    dp_err err = {0};
    nng_msg *msg = fwd_internal(&m, &err);
    if (msg != NULL)
        actor_send(s->leaser, msg, 1000, &err);
}

/* Each tick blocks up to 100 ms on the subscription: a wake-up reaches the
 * leaser within microseconds, and stopping the actor takes at most 100 ms. */
static void waker_tick(void *state, actor_ctx *ctx)
{
    waker_state *s = state;
    (void)ctx;
    dp_err err = {0};
    if (s->sub == NULL) {
        if (s->backoff_ticks-- > 0)
            return;
        s->sub = rq_wake_subscribe(s->redis_url, s->prefix, &err);
        if (s->sub == NULL) {
            s->failures++;
            s->backoff_ticks = s->failures < 50 ? s->failures * 2 : 100;
            if (s->failures == 1)
                dp_log(DP_LOG_WARN, "wake_subscribe_failed", "error", err.msg, (char *)NULL);
            return;
        }
        if (s->failures > 0)
            dp_log(DP_LOG_INFO, "wake_subscribed", (char *)NULL);
        s->failures = 0;
        wake_leaser(s); /* something may have arrived while we were away */
    }
    int n = rq_wake_read(s->sub, 100, &err);
    if (n < 0) {
        dp_log(DP_LOG_WARN, "wake_connection_lost", "error", err.msg, (char *)NULL);
        rq_wake_close(s->sub);
        s->sub = NULL;
        return;
    }
    if (n > 0)
        wake_leaser(s);
}

static int waker_handle(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    (void)state;
    (void)ctx;
    (void)reply;
    nng_msg_free(msg);
    return 0;
}

static void waker_stop(void *state, actor_ctx *ctx)
{
    waker_state *s = state;
    (void)ctx;
    rq_wake_close(s->sub);
    free(s);
}

actor *waker_spawn(const waker_config *cfg, dp_err *err)
{
    waker_state *s = calloc(1, sizeof *s);
    if (s == NULL) {
        dp_err_set(err, DP_ENOMEM, "waker: out of memory");
        return NULL;
    }
    snprintf(s->redis_url, sizeof s->redis_url, "%s", cfg->redis_url);
    snprintf(s->prefix, sizeof s->prefix, "%s", cfg->prefix);
    s->leaser = cfg->leaser;
    actor_opts o = {
        .name = "waker",
        .state = s,
        .handler = waker_handle,
        .on_stop = waker_stop,
        .on_tick = waker_tick,
        .tick_ms = 1,
    };
    return actor_spawn_owned(&o, err);
}
