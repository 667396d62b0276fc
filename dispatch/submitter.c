/* The submitter actor: dispatchd's submits, off the reporter's thread.
 *
 * A submit costs the thread that records it two round trips (the insert's
 * commit, the enqueue script) and a result batch three (owner check,
 * commit, release). On one thread each waited behind the other: at 1,000
 * jobs/s the reporter was busy ~90 % of the time and jobs queued behind it
 * (docs/bench.md, "seventeenth session"). The submitter runs the same
 * submit code (reporter_submit.c, reporter_quota.c, reporter_record.c,
 * reporter_route.c) on a reporter_state of its own, with its own
 * PostgreSQL and Redis connections, so the two flows overlap.
 *
 * It never rebuilds Redis itself: a rebuild must first write the lease
 * marks the reporter holds (reporter_check_epoch), or a job leased here
 * would be rebuilt as queued with its attempt uncounted. A failed enqueue
 * sends the reporter `rebuild` instead (reporter_ask_rebuild). */
#include "dispatch/reporter_impl.h"

#include "common/clock.h"

/* Submits are held while more messages wait and recorded together when
 * the mailbox runs empty (reporter_submit.c): batched by load, no timer. */
static void on_submit(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    reporter_state *s = state;
    reporter_do_submit(s, ctx, o, m);
    if (reporter_submits_full(s) || dd_mailbox_empty(ctx)) {
        reporter_flush_submits(s);
        reporter_flush_events(s); /* `queued` events the enqueue could not carry */
    }
}

/* Off the job's path: the `rebuild` for the reporter, once per tick however
 * many enqueues failed, and once a second the offered profiles copied to
 * PostgreSQL (and remembered: reporter_route.c). */
static void submitter_tick(void *state, actor_ctx *ctx)
{
    reporter_state *s = state;
    (void)ctx;
    reporter_flush_submits(s); /* a safety net: a handler always flushes */
    reporter_flush_events(s);
    reporter_send_rebuild_ask(s);
    int64_t now = dp_now_ms();
    if (now >= s->next_epoch_check_ms) {
        s->next_epoch_check_ms = now + 1000;
        reporter_profiles_sync(s);
    }
}

static int submitter_start(void *state, actor_ctx *ctx, dp_err *err)
{
    (void)ctx;
    return reporter_state_open(state, false, err);
}

static void submitter_stop(void *state, actor_ctx *ctx)
{
    reporter_state *s = state;
    (void)ctx;
    if (s->db != NULL && s->rq != NULL) {
        reporter_flush_submits(s); /* answer what is held */
        reporter_flush_events(s);
        /* the reporter stops after us, without a last epoch check: the next
         * start rebuilds anyway (its reconcile at start) */
        reporter_send_rebuild_ask(s);
    }
    reporter_state_free(s);
}

static struct dp_metrics *submitter_metrics(void *state)
{
    return ((reporter_state *)state)->metrics;
}

static const dd_route submitter_routes[] = {
    {DP_MSG_SUBMIT, DD_FROM_ADMIN, DP_SCOPE_SUBMIT, on_submit},
};

const dd_actor_def submitter_actor = {
    .name = "submitter",
    .routes = submitter_routes,
    .n_routes = sizeof submitter_routes / sizeof submitter_routes[0],
    .on_start = submitter_start,
    .on_stop = submitter_stop,
    .on_tick = submitter_tick,
    .tick_ms = 100,
    .mailbox = 2048,
    .metrics = submitter_metrics,
};

actor *submitter_spawn(const reporter_config *cfg, dp_err *err)
{
    reporter_state *s = reporter_state_new(cfg, err);
    return s != NULL ? dd_actor_spawn(&submitter_actor, s, err) : NULL;
}
