#include "actors/reporter_impl.h"

#include "actors/client.h"
#include "common/clock.h"
#include "common/job_json.h"
#include "common/log.h"
#include "dispatch/rq_owner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

/* Queues an event: persisted to job_events and published on the next flush. */
void reporter_add_event(reporter_state *s, const char *job_id, dp_job_state state,
                        dp_verdict verdict, const char *runner_id, uint32_t attempt,
                        const char *message)
{
    if (s->n_events == s->cap_events) {
        size_t cap = s->cap_events ? s->cap_events * 2 : 256;
        pending_event *ne = realloc(s->events, cap * sizeof *ne);
        if (ne == NULL)
            return;
        s->events = ne;
        s->cap_events = cap;
    }
    char ts[40];
    dp_iso_now(ts, sizeof ts);
    dp_msg_event *e = &s->events[s->n_events++].ev;
    memset(e, 0, sizeof *e);
    e->job_id = strdup(job_id);
    e->state = state;
    e->verdict = verdict;
    e->runner_id = dup_or_null(runner_id);
    e->attempt = attempt;
    e->ts = strdup(ts);
    e->message = dup_or_null(message);
    s->events[s->n_events - 1].persisted = false;
}

/* The last queued event's history row was written by the store itself (with
 * the job, or with the result): publish it, do not insert it again. */
static void last_event_persisted(reporter_state *s, size_t before)
{
    if (s->n_events > before)
        s->events[s->n_events - 1].persisted = true;
}

void reporter_reply(fwd_origin o, dp_msg *m)
{
    fwd_reply(o, m);
    dp_msg_free(m);
}

void reporter_reply_err(fwd_origin o, uint64_t id, int rc, const dp_err *err)
{
    dp_msg r = {0};
    if (rc == DP_ENOTFOUND)
        dp_msg_make_not_found(&r, id, "job", err->msg);
    else if (rc == DP_ECONFLICT)
        dp_msg_make_error(&r, id, "conflict", "%s", err->msg);
    else
        dp_msg_make_error_from(&r, id, err);
    reporter_reply(o, &r);
}

/* ---- submit ---- */

static void do_submit(reporter_state *s, fwd_origin o, dp_msg *m)
{
    dp_msg_submit *sub = &m->submit;
    dp_msg r = {.type = DP_MSG_SUBMITTED, .id = m->id};
    r.submitted.items = calloc(sub->n_specs, sizeof *r.submitted.items);
    dp_job_spec *ok = calloc(sub->n_specs, sizeof *ok);
    rq_job_in *in = calloc(sub->n_specs, sizeof *in);
    char **texts = calloc(sub->n_specs, sizeof *texts);
    size_t n_ok = 0;
    dp_err err = {0};
    if (r.submitted.items == NULL || ok == NULL || in == NULL || texts == NULL) {
        dp_err_set(&err, DP_ENOMEM, "out of memory");
        reporter_reply_err(o, m->id, DP_ENOMEM, &err);
        goto out;
    }
    r.submitted.n_items = sub->n_specs;
    for (size_t i = 0; i < sub->n_specs; i++) {
        dp_job_spec *spec = &sub->specs[i];
        dp_submit_item *it = &r.submitted.items[i];
        it->index = (uint32_t)i;
        char id[DP_ID_MAX];
        if (dp_msg_validate_spec(spec, &err) != DP_OK) {
            it->error = strdup(err.msg);
            continue;
        }
        if (dp_new_id("j-", id, sizeof id) != 0) {
            it->error = strdup("cannot generate a job id");
            continue;
        }
        free(spec->job_id);
        spec->job_id = strdup(id);
        if (spec->max_attempts == 0)
            spec->max_attempts = s->cfg.max_attempts;
        json_t *j = dp_job_spec_to_json(spec);
        texts[n_ok] = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (spec->job_id == NULL || texts[n_ok] == NULL) {
            it->error = strdup("out of memory");
            free(texts[n_ok]);
            texts[n_ok] = NULL;
            continue;
        }
        it->job_id = strdup(id);
        ok[n_ok] = *spec; /* borrowed view; m still owns it */
        in[n_ok].job_id = spec->job_id;
        in[n_ok].spec = texts[n_ok];
        in[n_ok].spec_len = strlen(texts[n_ok]);
        in[n_ok].max_attempts = spec->max_attempts;
        n_ok++;
    }
    if (n_ok > 0) {
        /* The record first: a job exists once PostgreSQL has it. */
        int rc = store_insert_jobs(s->db, ok, n_ok, NULL, &err);
        if (rc != DP_OK) {
            dp_log(DP_LOG_ERROR, "submit_not_persisted", "error", err.msg, (char *)NULL);
            for (size_t i = 0; i < r.submitted.n_items; i++) {
                dp_submit_item *it = &r.submitted.items[i];
                if (it->job_id != NULL) {
                    free(it->job_id);
                    it->job_id = NULL;
                    it->error = strdup("PostgreSQL unavailable, job not accepted: retry");
                }
            }
            n_ok = 0;
        } else if (rq_enqueue(s->rq, in, n_ok, NULL, &err) != DP_OK) {
            /* Accepted all the same: the rebuild puts PostgreSQL's queued jobs into Redis. */
            dp_log(DP_LOG_WARN, "enqueue_deferred", "error", err.msg, (char *)NULL);
            s->need_rebuild = 1;
        }
    }
    for (size_t i = 0; i < n_ok; i++) {
        size_t before = s->n_events;
        reporter_add_event(s, in[i].job_id, DP_JOB_QUEUED, DP_VERDICT_NONE, NULL, 0, NULL);
        last_event_persisted(s, before);
    }
    fwd_reply(o, &r);
out:
    for (size_t i = 0; texts != NULL && i < sub->n_specs; i++)
        free(texts[i]);
    free(texts);
    free(in);
    free(ok);
    dp_msg_free(&r);
}

/* ---- complete (group commit) ---- */

static void do_complete(reporter_state *s, fwd_origin o, dp_msg *m)
{
    dp_msg_complete *c = &m->complete;
    dp_err err = {0};
    int rc = auth_cache_check(s->auth, s->rq, c->runner_id, c->runner_token, &err);
    if (rc != DP_OK) {
        fwd_reply_error(o, m->id, rc == DP_EAUTH ? DP_MSG_ERR_UNAUTHORIZED : DP_MSG_ERR_UNAVAILABLE,
                        rc == DP_EAUTH ? "runner token rejected" : err.msg);
        return;
    }
    pending_complete *p = &s->batch[s->n_batch++];
    p->origin = o;
    p->id = m->id;
    p->runner_id = c->runner_id;
    p->result = c->result;
    p->retry = c->retry;
    c->runner_id = NULL; /* moved into the batch */
    memset(&c->result, 0, sizeof c->result);
}

/* A runner-side failure (fetch timeout, disk full, sandbox fault): back to
 * pending for another runner while attempts remain, else failed with SE. */
static void retry_elsewhere(reporter_state *s, pending_complete *p, uint32_t max_attempts)
{
    dp_job_result *r = &p->result;
    dp_err err = {0};
    char why[600];
    int rc;
    if (max_attempts == 0)
        max_attempts = s->cfg.max_attempts;
    if (r->attempt < max_attempts) {
        snprintf(why, sizeof why, "attempt %u failed on the runner: %.500s; retrying", r->attempt,
                 r->message != NULL ? r->message : "system error");
        rc = rq_requeue(s->rq, r->job_id, &err);
        if (rc == DP_OK)
            reporter_add_event(s, r->job_id, DP_JOB_QUEUED, DP_VERDICT_NONE, p->runner_id,
                               r->attempt, why);
    } else {
        snprintf(why, sizeof why, "%u attempts failed; last: %.500s", r->attempt,
                 r->message != NULL ? r->message : "system error");
        store_failure f = {r->job_id, r->attempt, why};
        rc = store_mark_failed(s->db, &f, 1, NULL, &err);
        if (rc == DP_OK) {
            rq_lease_complete(s->rq, p->runner_id, r->job_id, r->attempt, NULL);
            reporter_add_event(s, r->job_id, DP_JOB_FAILED, DP_VERDICT_SE, p->runner_id, r->attempt,
                               why);
        }
    }
    if (rc != DP_OK) {
        fwd_reply_error(p->origin, p->id, DP_MSG_ERR_UNAVAILABLE, err.msg);
        return;
    }
    dp_msg ack = {0};
    dp_msg_make_ack(&ack, p->id, 0);
    reporter_reply(p->origin, &ack);
}

/* Persisted (or already terminal): now the jobs may leave Redis, one
 * script call per runner in the batch. */
static void release_recorded(reporter_state *s, const size_t *idx, const store_outcome *outcome,
                             size_t n)
{
    rq_complete_item items[REPORTER_BATCH];
    bool done[REPORTER_BATCH] = {false};
    for (size_t k = 0; k < n; k++) {
        if (done[k] || outcome[k] == STORE_UNKNOWN_JOB)
            continue;
        const char *runner = s->batch[idx[k]].runner_id;
        size_t m = 0;
        for (size_t j = k; j < n; j++) {
            pending_complete *p = &s->batch[idx[j]];
            if (done[j] || outcome[j] == STORE_UNKNOWN_JOB || strcmp(p->runner_id, runner) != 0)
                continue;
            done[j] = true;
            items[m++] =
                (rq_complete_item){.job_id = p->result.job_id, .attempt = p->result.attempt};
        }
        dp_err err = {0};
        if (rq_lease_complete_batch(s->rq, runner, items, m, &err) != DP_OK)
            dp_log(DP_LOG_WARN, "complete_redis_failed", "runner_id", runner, "error", err.msg,
                   (char *)NULL);
    }
}

static void flush_completes(reporter_state *s)
{
    size_t n = s->n_batch;
    if (n == 0)
        return;
    rq_owner_item own[REPORTER_BATCH];
    store_result_in in[REPORTER_BATCH];
    store_outcome outcome[REPORTER_BATCH];
    size_t idx[REPORTER_BATCH], n_in = 0;
    char urls[REPORTER_BATCH][512];
    dp_err err = {0};
    for (size_t i = 0; i < n; i++)
        own[i] = (rq_owner_item){.job_id = s->batch[i].result.job_id,
                                 .runner_id = s->batch[i].runner_id,
                                 .attempt = s->batch[i].result.attempt,
                                 .result = DP_ENOTFOUND};
    int rc = rq_owner_check(s->rq, own, n, &err);
    for (size_t i = 0; i < n; i++) {
        pending_complete *p = &s->batch[i];
        if (rc != DP_OK) {
            fwd_reply_error(p->origin, p->id, DP_MSG_ERR_UNAVAILABLE, err.msg);
            continue;
        }
        if (own[i].result == DP_ECONFLICT) {
            dp_msg r = {0};
            dp_msg_make_conflict(&r, p->id, p->result.job_id,
                                 "not the current owner of this attempt (reclaimed?)");
            reporter_reply(p->origin, &r);
            continue;
        }
        if (own[i].result == DP_ENOTFOUND) {
            dp_msg r = {0};
            dp_msg_make_not_found(&r, p->id, "job", "no such job is leased");
            reporter_reply(p->origin, &r);
            continue;
        }
        if (p->retry) {
            retry_elsewhere(s, p, own[i].max_attempts);
            continue;
        }
        urls[n_in][0] = '\0';
        if (s->logs != NULL && p->result.log != NULL && p->result.log_len > 0 &&
            logstore_put(s->logs, p->result.job_id, p->result.attempt, p->result.log,
                         p->result.log_len, urls[n_in], sizeof urls[n_in], &err) != DP_OK) {
            dp_log(DP_LOG_WARN, "log_not_stored", "job_id", p->result.job_id, "error", err.msg,
                   (char *)NULL);
            urls[n_in][0] = '\0';
        }
        in[n_in] = (store_result_in){&p->result, p->runner_id, urls[n_in][0] ? urls[n_in] : NULL};
        idx[n_in++] = i;
    }
    if (rc == DP_OK && n_in > 0) {
        rc = store_record_results(s->db, in, n_in, outcome, &err);
        if (rc == DP_OK)
            release_recorded(s, idx, outcome, n_in);
        for (size_t k = 0; k < n_in; k++) {
            pending_complete *p = &s->batch[idx[k]];
            if (rc != DP_OK) {
                fwd_reply_error(p->origin, p->id, DP_MSG_ERR_UNAVAILABLE, err.msg);
                continue;
            }
            if (outcome[k] == STORE_UNKNOWN_JOB) {
                dp_msg r = {0};
                dp_msg_make_not_found(&r, p->id, "job", "unknown job");
                reporter_reply(p->origin, &r);
                continue;
            }
            if (outcome[k] == STORE_RECORDED) {
                size_t before = s->n_events;
                reporter_add_event(s, p->result.job_id, DP_JOB_COMPLETED, p->result.verdict,
                                   p->runner_id, p->result.attempt, p->result.message);
                last_event_persisted(s, before);
            }
            dp_msg r = {0};
            dp_msg_make_ack(&r, p->id, 0);
            reporter_reply(p->origin, &r);
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(s->batch[i].runner_id);
        dp_job_result_free(&s->batch[i].result);
    }
    s->n_batch = 0;
}

/* ---- events: lease marks, dead jobs, history, watchers ---- */

void reporter_flush_events(reporter_state *s)
{
    size_t n = s->n_events;
    if (n == 0)
        return;
    store_lease *leases = calloc(n, sizeof *leases);
    store_failure *fails = calloc(n, sizeof *fails);
    store_event *hist = calloc(n, sizeof *hist);
    const char **dead_ids = calloc(n, sizeof *dead_ids);
    size_t n_leases = 0, n_fails = 0, n_hist = 0;
    dp_err err = {0};
    if (leases == NULL || fails == NULL || hist == NULL || dead_ids == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        dp_msg_event *e = &s->events[i].ev;
        if (!s->events[i].persisted)
            hist[n_hist++] = (store_event){.job_id = e->job_id,
                                           .state = e->state,
                                           .attempt = e->attempt,
                                           .runner_id = e->runner_id,
                                           .message = e->message};
        if (e->state == DP_JOB_LEASED)
            leases[n_leases++] = (store_lease){e->job_id, e->attempt, e->runner_id};
        else if (e->state == DP_JOB_FAILED && e->verdict == DP_VERDICT_SE && e->runner_id == NULL) {
            dead_ids[n_fails] = e->job_id;
            fails[n_fails++] = (store_failure){e->job_id, e->attempt, e->message};
        }
    }
    if (n_leases > 0 && store_mark_leased(s->db, leases, n_leases, NULL, &err) != DP_OK)
        dp_log(DP_LOG_WARN, "lease_marks_failed", "error", err.msg, (char *)NULL);
    if (n_fails > 0) {
        /* Recorded first, then forgotten by Redis: a crash in between repeats it. */
        if (store_mark_failed(s->db, fails, n_fails, NULL, &err) == DP_OK)
            rq_dead_ack(s->rq, dead_ids, n_fails, &err);
        else
            dp_log(DP_LOG_WARN, "dead_not_recorded", "error", err.msg, (char *)NULL);
    }
    if (n_hist > 0 && store_add_events(s->db, hist, n_hist, &err) != DP_OK)
        dp_log(DP_LOG_WARN, "history_failed", "error", err.msg, (char *)NULL);
    if (s->cfg.publisher != NULL) { /* one message for the whole batch */
        dp_msg_event *evs = calloc(n, sizeof *evs);
        for (size_t i = 0; evs != NULL && i < n; i++)
            evs[i] = s->events[i].ev;
        dp_msg m = {.type = DP_MSG_EVENTS};
        m.events.events = evs;
        m.events.n_events = n;
        nng_msg *msg = evs != NULL ? fwd_internal(&m, NULL) : NULL;
        if (msg != NULL)
            actor_send(s->cfg.publisher, msg, 100, NULL);
        free(evs); /* the strings stay with s->events */
    }
out:
    for (size_t i = 0; i < n; i++) {
        dp_msg m = {.type = DP_MSG_EVENT, .event = s->events[i].ev};
        dp_msg_free(&m);
    }
    s->n_events = 0;
    free(leases);
    free(fails);
    free(hist);
    free(dead_ids);
}

/* ---- admin ---- */

static void do_event(reporter_state *s, dp_msg *m)
{
    dp_msg_event *e = &m->event;
    reporter_add_event(s, e->job_id, e->state, e->verdict, e->runner_id, e->attempt, e->message);
}

/* ---- rebuild ---- */

static int reporter_handle(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    reporter_state *s = state;
    (void)reply;
    fwd_origin o;
    dp_msg m;
    if (fwd_receive(msg, &o, &m) != DP_OK)
        return 0;
    switch (m.type) {
    case DP_MSG_SUBMIT:
        do_submit(s, o, &m);
        break;
    case DP_MSG_COMPLETE: {
        do_complete(s, o, &m);
        /* Group commit while results keep coming; when nothing else waits in
         * the mailbox, commit now rather than at the next tick. */
        actor_stats st;
        actor_get_stats(actor_ctx_actor(ctx), &st);
        if (s->n_batch == REPORTER_BATCH || st.held <= 1)
            flush_completes(s);
        break;
    }
    case DP_MSG_STATUS:
    case DP_MSG_WAIT:
        reporter_do_status(s, o, &m);
        break;
    case DP_MSG_QUEUE:
        reporter_do_queue(s, o, &m);
        break;
    case DP_MSG_CANCEL:
        reporter_do_cancel(s, o, &m);
        break;
    case DP_MSG_REQUEUE:
        reporter_do_requeue(s, o, &m);
        break;
    case DP_MSG_EVENT:
        do_event(s, &m);
        break;
    case DP_MSG_EVENTS:
        for (size_t i = 0; i < m.events.n_events; i++) {
            dp_msg_event *e = &m.events.events[i];
            reporter_add_event(s, e->job_id, e->state, e->verdict, e->runner_id, e->attempt,
                               e->message);
        }
        break;
    default:
        fwd_reply_error(o, m.id, "unsupported", "the reporter does not handle this message");
        break;
    }
    dp_msg_free(&m);
    return 0;
}

static void reporter_tick(void *state, actor_ctx *ctx)
{
    reporter_state *s = state;
    (void)ctx;
    flush_completes(s);
    reporter_flush_events(s);
    int64_t now = dp_now_ms();
    if (now >= s->next_epoch_check_ms) {
        s->next_epoch_check_ms = now + 1000;
        reporter_check_epoch(s);
    }
}

static int reporter_start(void *state, actor_ctx *ctx, dp_err *err)
{
    reporter_state *s = state;
    (void)ctx;
    rq_options opt;
    rq_options_default(&opt);
    opt.alive_ttl_ms = s->cfg.alive_ttl_ms;
    opt.max_attempts = s->cfg.max_attempts;
    if ((s->db = store_open(s->pg_dsn, err)) == NULL)
        return err->code != 0 ? err->code : DP_EUNAVAIL;
    if ((s->rq = rq_connect(s->redis_url, s->prefix, &opt, err)) == NULL)
        return DP_EUNAVAIL;
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
    if (s->db != NULL && s->rq != NULL) {
        flush_completes(s); /* finish in-flight writes */
        reporter_flush_events(s);
    }
    for (size_t i = 0; i < s->n_batch; i++) {
        free(s->batch[i].runner_id);
        dp_job_result_free(&s->batch[i].result);
    }
    free(s->events);
    store_close(s->db);
    rq_close(s->rq);
    logstore_close(s->logs);
    auth_cache_free(s->auth);
    free(s);
}

actor *reporter_spawn(const reporter_config *cfg, dp_err *err)
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
    actor_opts o = {
        .name = "reporter",
        .state = s,
        .handler = reporter_handle,
        .on_start = reporter_start,
        .on_stop = reporter_stop,
        .on_tick = reporter_tick,
        .tick_ms = 2,
        .mailbox = 2048,
        .max_msg_bytes = DP_MSG_MAX_SIZE,
    };
    actor *a = actor_spawn(&o, err);
    if (a == NULL)
        reporter_stop(s, NULL); /* on_stop never ran: release what on_start took */
    return a;
}
