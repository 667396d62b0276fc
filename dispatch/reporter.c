/* The reporter actor: its messages, tick and lifecycle; the work is in
 * reporter_complete.c, reporter_events.c, reporter_admin.c and
 * reporter_rebuild.c. Submits are the submitter's (dispatch/submitter.c),
 * which runs reporter_submit.c on a reporter_state of its own. */
#include "dispatch/reporter_impl.h"

#include "common/metrics.h"

#include "common/log.h"
#include "actors/actor.h"
#include "common/clock.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The mailbox ran empty: what was held for a batch goes out, results
 * first (they are on a job's path), then events. */
static void flush_idle(reporter_state *s)
{
    reporter_flush_completes(s);
    reporter_flush_events(s);
}

static void on_complete(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    reporter_state *s = state;
    reporter_do_complete(s, ctx, o, m);
    if (dd_mailbox_empty(ctx))
        flush_idle(s);
    else if (s->n_batch == REPORTER_BATCH)
        reporter_flush_completes(s);
}

/* A complete_lease's results, passed on by the leaser with its jobs: into
 * the same group commit as lone completes. */
static void on_lease_for(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    reporter_state *s = state;
    (void)o; /* from the leaser; the runner's origin travels in the body */
    reporter_group *g = reporter_group_open(s, m);
    size_t n = m->lease_for.lease.n_results;
    for (size_t i = 0; g != NULL && i < n;) {
        i = reporter_group_queue(s, g, m, i);
        if (i < n)
            reporter_flush_completes(s); /* full: the rest go in the next batch */
    }
    if (dd_mailbox_empty(ctx))
        flush_idle(s);
    else if (s->n_batch == REPORTER_BATCH)
        reporter_flush_completes(s);
}

/* Lease and dead-job events from the leaser: written when the mailbox runs
 * empty (at low load while the runner runs the job, off its path; under
 * load they batch up behind other messages), before every result batch
 * (lease marks first, so the attempt fence sees them), before a status
 * read, and at 1024. Results held for the batch go first, with the marks
 * in their transaction: when the last message in the mailbox is events
 * (the leaser's tick sends some), holding the results any longer would
 * keep them, and the jobs that travel in their answers, until the next
 * result or the 100 ms tick. */
static void after_events(reporter_state *s, actor_ctx *ctx)
{
    if (dd_mailbox_empty(ctx)) {
        flush_idle(s);
    } else if (s->events.n >= 1024) {
        reporter_flush_completes(s);
        reporter_flush_events(s);
    }
}

static void on_event(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    reporter_state *s = state;
    (void)o;
    event_buffer_add(&s->events, m->event.job_id, m->event.state, m->event.verdict,
                     m->event.runner_id, m->event.attempt, m->event.message);
    after_events(s, ctx);
}

static void on_events(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    reporter_state *s = state;
    (void)o;
    event_buffer_add_all(&s->events, &m->events);
    after_events(s, ctx);
}

/* Every lease told so far into PostgreSQL: the events' marks join the
 * deferred ones, which are written (for reads, lists and operator actions). */
static void write_leases_told(reporter_state *s)
{
    reporter_flush_events(s); /* nothing to do when nothing waits */
    reporter_write_deferred(s);
}

/* A result batch grows only across results and events queued back to
 * back: the admin handlers below first write the results they find
 * waiting. They were held because the mailbox was not empty, but a read or
 * a list does its own round trips; holding results behind a steady stream
 * of them would keep the results (and the jobs leased with them, which
 * travel in the same answer) until the stream paused or the 100 ms tick.
 * A status or queue read sees every lease the reporter has been told of
 * (the deferred marks are written first; a wait looks for the end of a
 * job, which a lease is not). */
static void on_admin_read(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    reporter_state *s = state;
    reporter_flush_completes(s);
    if (m->type != DP_MSG_WAIT)
        write_leases_told(s);
    else if (s->events.n > 0 || s->unwritten.n > 0)
        reporter_flush_events(s);
    if (m->type == DP_MSG_QUEUE)
        reporter_do_queue(s, ctx, o, m);
    else
        reporter_do_status(s, ctx, o, m);
    if (dd_mailbox_empty(ctx))
        flush_idle(s);
}

/* Cancel and requeue write the deferred lease marks first (a requeue
 * applies to the leased job). Both buffer events: published once the
 * mailbox runs empty. (Submits are the submitter's, dispatch/submitter.c.) */
static void on_admin_write(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    reporter_state *s = state;
    reporter_flush_completes(s);
    write_leases_told(s);
    if (m->type == DP_MSG_CANCEL)
        reporter_do_cancel(s, ctx, o, m);
    else
        reporter_do_requeue(s, ctx, o, m);
    if (dd_mailbox_empty(ctx))
        flush_idle(s);
}

static void on_list(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    reporter_flush_completes(state);
    write_leases_told(state);
    reporter_do_list(state, ctx, o, m);
    if (dd_mailbox_empty(ctx))
        flush_idle(state);
}

/* The submitter could not enqueue jobs PostgreSQL recorded: the next epoch
 * check (within a second) rebuilds Redis, after writing the lease marks. */
static void on_rebuild(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    reporter_state *s = state;
    (void)o;
    (void)m;
    s->need_rebuild = 1;
    if (dd_mailbox_empty(ctx))
        flush_idle(s);
}

/* Off the job's path: the epoch check, the leaser's events when no result
 * batch carried them, the lease marks no result folded since the last tick,
 * and a safety net for a batch a handler left behind. */
static void reporter_tick(void *state, actor_ctx *ctx)
{
    reporter_state *s = state;
    (void)ctx;
    flush_idle(s);
    reporter_write_deferred(s);
    reporter_retry_releases(s);
    int64_t now = dp_now_ms();
    if (now >= s->next_epoch_check_ms) {
        s->next_epoch_check_ms = now + 1000;
        reporter_check_epoch(s);
    }
}

int reporter_state_open(reporter_state *s, bool results, dp_err *err)
{
    rq_options opt;
    rq_options_default(&opt);
    opt.alive_ttl_ms = s->cfg.alive_ttl_ms;
    opt.max_attempts = s->cfg.max_attempts;
    store_db **second = results ? &s->commit_db : &s->insert_db;
    if ((s->db = store_open(s->pg_dsn, err)) == NULL ||
        (*second = store_open(s->pg_dsn, err)) == NULL)
        return err->code != 0 ? err->code : DP_EUNAVAIL;
    if (results &&
        store_set_statement_timeout(s->commit_db, REPORTER_COMMIT_TIMEOUT_MS, err) != DP_OK)
        return err->code;
    if ((s->rq = rq_connect(s->redis_url, s->prefix, &opt, err)) == NULL)
        return DP_EUNAVAIL;
    return reporter_metrics_start(s, err);
}

static int reporter_start(void *state, actor_ctx *ctx, dp_err *err)
{
    reporter_state *s = state;
    (void)ctx;
    int rc = reporter_state_open(s, true, err);
    if (rc != DP_OK)
        return rc;
    if ((s->logs = logstore_open(s->log_store, err)) == NULL)
        return DP_EINVAL;
    if ((s->auth = auth_cache_new(4096)) == NULL)
        return dp_err_set(err, DP_ENOMEM, "reporter: out of memory");
    s->need_rebuild = 1; /* reconcile once at start: a crash may have left work behind */
    return DP_OK;
}

static void reporter_stop(void *state, actor_ctx *ctx)
{
    reporter_state *s = state;
    (void)ctx;
    if (s->db != NULL && s->commit_db != NULL && s->rq != NULL) {
        flush_idle(s); /* finish in-flight writes */
        reporter_write_deferred(s);
        reporter_retry_releases(s); /* one last try */
    }
    if (s->unwritten.n > 0) { /* PostgreSQL still unreachable: say what is lost */
        char count[24];
        snprintf(count, sizeof count, "%zu", s->unwritten.n);
        dp_log(DP_LOG_ERROR, "events_not_recorded", "count", count, (char *)NULL);
    }
    reporter_state_free(s);
}

void reporter_state_free(reporter_state *s)
{
    reporter_release_free(s);
    reporter_submits_free(s);
    reporter_profiles_free(s);
    for (size_t i = 0; i < s->n_batch; i++) {
        free(s->batch[i].runner_id);
        dp_job_result_free(&s->batch[i].result);
    }
    event_buffer_free(&s->events);
    event_buffer_free(&s->unwritten);
    event_buffer_free(&s->deferred);
    store_close(s->db);
    store_close(s->commit_db);
    store_close(s->insert_db);
    rq_close(s->rq);
    logstore_close(s->logs);
    auth_cache_free(s->auth);
    dp_metrics_free(s->metrics);
    free(s);
}

static struct dp_metrics *reporter_metrics(void *state)
{
    return ((reporter_state *)state)->metrics;
}

static const dd_route reporter_routes[] = {
    {DP_MSG_COMPLETE, DD_FROM_RUNNER, 0, on_complete},
    {DP_MSG_STATUS, DD_FROM_ADMIN, DP_SCOPE_SUBMIT | DP_SCOPE_READ, on_admin_read},
    {DP_MSG_WAIT, DD_FROM_ADMIN, DP_SCOPE_SUBMIT | DP_SCOPE_READ, on_admin_read},
    {DP_MSG_QUEUE, DD_FROM_ADMIN, DP_SCOPE_READ, on_admin_read},
    {DP_MSG_CANCEL, DD_FROM_ADMIN, DP_SCOPE_SUBMIT | DP_SCOPE_ADMIN, on_admin_write},
    {DP_MSG_REQUEUE, DD_FROM_ADMIN, DP_SCOPE_ADMIN, on_admin_write},
    {DP_MSG_EVENT, DD_INTERNAL, 0, on_event},
    {DP_MSG_EVENTS, DD_INTERNAL, 0, on_events},
    {DP_MSG_JOB_LIST, DD_FROM_ADMIN, DP_SCOPE_SUBMIT | DP_SCOPE_READ, on_list},
    {DP_MSG_LEASE_FOR, DD_INTERNAL, 0, on_lease_for},
    {DP_MSG_REBUILD, DD_INTERNAL, 0, on_rebuild},
};

const dd_actor_def reporter_actor = {
    .name = "reporter",
    .routes = reporter_routes,
    .n_routes = sizeof reporter_routes / sizeof reporter_routes[0],
    .on_start = reporter_start,
    .on_stop = reporter_stop,
    .on_tick = reporter_tick,
    .tick_ms = 100,
    .mailbox = 2048,
    .metrics = reporter_metrics,
};

reporter_state *reporter_state_new(const reporter_config *cfg, dp_err *err)
{
    reporter_state *s = calloc(1, sizeof *s);
    if (s == NULL) {
        dp_err_set(err, DP_ENOMEM, "reporter: out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    snprintf(s->redis_url, sizeof s->redis_url, "%s", cfg->redis_url);
    snprintf(s->prefix, sizeof s->prefix, "%s", cfg->prefix);
    snprintf(s->pg_dsn, sizeof s->pg_dsn, "%s", cfg->pg_dsn);
    snprintf(s->log_store, sizeof s->log_store, "%s", cfg->log_store);
    return s;
}

actor *reporter_spawn(const reporter_config *cfg, dp_err *err)
{
    reporter_state *s = reporter_state_new(cfg, err);
    return s != NULL ? dd_actor_spawn(&reporter_actor, s, err) : NULL;
}
