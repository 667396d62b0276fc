/* The reporter's complete: owner check, log, group commit of the results,
 * then release in Redis. */
#include "dispatch/reporter_impl.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "dispatch/redis/rq_owner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void reporter_do_complete(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    reporter_state *s = state;
    (void)ctx;
    dp_msg_complete *c = &m->complete;
    dp_err err = {0};
    int rc = auth_cache_check(s->auth, s->rq, c->runner_id, c->runner_token, &err);
    if (rc == DP_ENOTFOUND) {
        /* No token stored: the runner was reaped (or deregistered), so this
         * attempt is no longer its, whoever asks: the same conflict as for a
         * runner whose token is still cached here (the owner check). */
        dp_msg r = {0};
        dp_msg_make_conflict(&r, m->id, c->result.job_id,
                             "the runner is no longer registered (reaped?): not its attempt");
        fwd_reply_take(o, &r);
        return;
    }
    if (rc != DP_OK) {
        fwd_reply_error(o, m->id, rc == DP_EAUTH ? DP_MSG_ERR_UNAUTHORIZED : DP_MSG_ERR_UNAVAILABLE,
                        rc == DP_EAUTH ? "runner token rejected" : err.msg);
        return;
    }
    pending_complete *p = &s->batch[s->n_batch++];
    p->origin = o;
    p->id = m->id;
    p->group = NULL;
    p->runner_id = c->runner_id;
    p->result = c->result;
    p->retry = c->retry;
    p->arrived_s = dp_metrics_now();
    p->owner = DP_OWNER_UNCHECKED;
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
        /* PostgreSQL first (state and its `requeued` row in one statement),
         * then Redis: a retried complete repeats only what is missing. */
        size_t changed = 0;
        rc = store_requeue_retry(s->db, r->job_id, r->attempt, p->runner_id, why, &changed, &err);
        if (rc == DP_OK && changed > 0) { /* streamed before another runner can lease it */
            if (event_buffer_add(&s->events, r->job_id, DP_JOB_QUEUED, DP_VERDICT_NONE,
                                 p->runner_id, r->attempt, why) == DP_OK)
                event_buffer_mark_last_persisted(&s->events);
            event_buffer_stream(&s->events, s->rq);
        }
        if (rc == DP_OK)
            rc = rq_requeue(s->rq, r->job_id, &err);
    } else {
        snprintf(why, sizeof why, "%u attempts failed; last: %.500s", r->attempt,
                 r->message != NULL ? r->message : "system error");
        store_failure f = {r->job_id, r->attempt, why};
        size_t changed = 0;
        rc = store_mark_failed(s->db, &f, 1, &changed, &err);
        if (rc == DP_OK) {
            reporter_metrics_failed(s, changed);
            rq_complete_item it = {
                .job_id = r->job_id, .attempt = r->attempt, .runner_id = p->runner_id};
            if (rq_lease_complete(s->rq, p->runner_id, r->job_id, r->attempt, NULL) == DP_EUNAVAIL)
                reporter_release_later(s, &it, 1);
            if (event_buffer_add(&s->events, r->job_id, DP_JOB_FAILED, DP_VERDICT_SE, p->runner_id,
                                 r->attempt, why) == DP_OK)
                event_buffer_mark_last_persisted(&s->events); /* written by mark_failed */
        }
    }
    if (rc != DP_OK) {
        reporter_answer_error(s, p, DP_MSG_ERR_UNAVAILABLE, err.msg);
        return;
    }
    dp_msg ack = {0};
    dp_msg_make_ack(&ack, p->id, 0);
    reporter_answer(s, p, &ack);
}

/* Persisted (or already terminal): now the jobs may leave Redis, in one
 * script call for the whole batch whatever runners it holds, which also
 * puts the `completed` events of the results just recorded (s->events from
 * first_event on) onto the shared stream: no round trip of their own, and
 * watchers hear of them one round trip sooner. Events it could not stream
 * stay in s->events for reporter_flush_events (which also publishes them
 * here when Redis is down). */
static void release_recorded(reporter_state *s, const size_t *idx, const store_outcome *outcome,
                             size_t n, size_t first_event)
{
    rq_complete_item items[REPORTER_BATCH];
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
        if (outcome[k] == STORE_UNKNOWN_JOB || outcome[k] == STORE_STALE_ATTEMPT)
            continue;
        pending_complete *p = &s->batch[idx[k]];
        items[m++] = (rq_complete_item){
            .job_id = p->result.job_id, .attempt = p->result.attempt, .runner_id = p->runner_id};
    }
    if (m == 0)
        return;
    event_blobs blobs;
    rq_blobs stream;
    dp_err err = {0};
    int encoded = event_buffer_blobs(&s->events, first_event, &blobs, &stream, &err) == DP_OK;
    if (rq_lease_complete_streamed(s->rq, items[0].runner_id, items, m, encoded ? &stream : NULL,
                                   &err) != DP_OK) {
        dp_log(DP_LOG_WARN, "complete_redis_failed", "error", err.msg, (char *)NULL);
        reporter_release_later(s, items, m); /* recorded: released once Redis answers */
    } else if (encoded) {
        event_buffer_mark_streamed(&s->events, first_event);
    }
    event_stream_blobs_free(&blobs);
}

/* After a result batch landed: the marks it neither folded nor wrote wait
 * in s->deferred; the rest of *marks is freed. */
static void defer_marks(reporter_state *s, event_buffer *marks, const unsigned char *act)
{
    size_t lost = 0;
    for (size_t i = 0; i < marks->n; i++)
        if (act[i] == REPORTER_MARK_DEFER)
            lost += event_buffer_move(&s->deferred, &marks->items[i]) != DP_OK;
    if (lost > 0)
        dp_log(DP_LOG_ERROR, "events_not_recorded", "what", "lease marks (out of memory)",
               (char *)NULL);
    event_buffer_free(marks);
    if (s->deferred.n >= REPORTER_DEFERRED_MAX)
        reporter_write_deferred(s);
}

void reporter_flush_completes(reporter_state *s)
{
    size_t n = s->n_batch;
    if (n == 0)
        return;
    /* Lease marks that reached us before these results (deferred ones
     * first, in arrival order) go with them: a mark of a result's own
     * attempt folds into it (reporter_fold.c); one of another attempt of a
     * job here goes to PostgreSQL in the results' transaction, before
     * them, so the attempt fence in store_record_results knows every newer
     * attempt the leaser has told us of; the rest wait for their results
     * in s->deferred. */
    event_buffer marks = s->deferred;
    memset(&s->deferred, 0, sizeof s->deferred);
    if (s->events.n > 0 || s->unwritten.n > 0)
        reporter_flush_events_hold(s, &marks);
    rq_owner_item own[REPORTER_BATCH];
    store_result_in in[REPORTER_BATCH];
    store_outcome outcome[REPORTER_BATCH];
    store_recorded_info info[REPORTER_BATCH];
    size_t idx[REPORTER_BATCH], n_in = 0;
    char urls[REPORTER_BATCH][512];
    dp_err err = {0};
    /* Logs first: the owner check marks the jobs of the results it passes
     * as in flight, and from then on the group commit must be decided
     * within RQ_RESULT_HOLD_MS (reporter_impl.h), so nothing slow (a log
     * store's upload) goes between the two. (Results the leaser checked are
     * marked already: one whose check is stale once the uploads are done is
     * checked again below, REPORTER_CHECK_FRESH_MS.) A refused result's log
     * is stored under its own (job, attempt) for nothing: rare. */
    for (size_t i = 0; i < n; i++) {
        pending_complete *p = &s->batch[i];
        urls[i][0] = '\0';
        if (p->retry || s->logs == NULL || p->result.log == NULL || p->result.log_len == 0)
            continue;
        if (logstore_put(s->logs, p->result.job_id, p->result.attempt, p->result.log,
                         p->result.log_len, urls[i], sizeof urls[i], &err) != DP_OK) {
            dp_log(DP_LOG_WARN, "log_not_stored", "job_id", p->result.job_id, "error", err.msg,
                   (char *)NULL);
            urls[i][0] = '\0';
        }
    }
    /* Results the leaser checked in its lease call have their outcome; the
     * others, and those whose check is older than REPORTER_CHECK_FRESH_MS
     * (after the log uploads above), are checked here, in one call. The
     * hold of every mark counts from the oldest check that made one. */
    rq_owner_item ask[REPORTER_BATCH];
    size_t ask_of[REPORTER_BATCH], n_ask = 0;
    int64_t checked_ms = dp_now_ms(); /* before the marks: the hold starts later */
    for (size_t i = 0; i < n; i++) {
        pending_complete *p = &s->batch[i];
        if (p->owner != DP_OWNER_UNCHECKED && checked_ms - p->checked_ms > REPORTER_CHECK_FRESH_MS)
            p->owner = DP_OWNER_UNCHECKED;
        own[i] = (rq_owner_item){.job_id = p->result.job_id,
                                 .runner_id = p->runner_id,
                                 .attempt = p->result.attempt,
                                 .mark = !p->retry,
                                 .result = p->owner == DP_OWNER_PASSED     ? DP_OK
                                           : p->owner == DP_OWNER_CONFLICT ? DP_ECONFLICT
                                                                           : DP_ENOTFOUND};
        if (p->owner == DP_OWNER_UNCHECKED) {
            ask_of[n_ask] = i;
            ask[n_ask++] = own[i];
        } else if (p->owner == DP_OWNER_PASSED && p->checked_ms < checked_ms) {
            checked_ms = p->checked_ms; /* a refused check made no mark */
        }
    }
    /* Events PostgreSQL could not take yet (a reclaim's requeue, a lease
     * mark) came before these results and may be about their jobs: the
     * results wait for them (answered unavailable: the runner sends them
     * again), or a result could land first and the requeue or the mark of
     * an earlier attempt find the job finished (its history then lacks
     * them). The group commit has a connection of its own, which can be
     * back before the reporter's. */
    int rc = s->unwritten.n > 0 ? dp_err_set(&err, DP_EUNAVAIL,
                                             "record results: %zu earlier events are not yet "
                                             "in PostgreSQL (unreachable); send again",
                                             s->unwritten.n)
             : n_ask > 0        ? rq_owner_check(s->rq, ask, n_ask, &err)
                                : DP_OK;
    for (size_t k = 0; rc == DP_OK && k < n_ask; k++)
        own[ask_of[k]] = ask[k];
    /* A runner-side failure requeues (or fails) its job now, and that
     * applies to the leased job: its mark, held above, goes first (the
     * held ones all, in arrival order; retries are rare). */
    for (size_t i = 0; rc == DP_OK && marks.n > 0 && i < n; i++)
        if (s->batch[i].retry && own[i].result == DP_OK)
            reporter_write_marks(s, &marks);
    for (size_t i = 0; i < n; i++) {
        pending_complete *p = &s->batch[i];
        if (rc != DP_OK) {
            reporter_answer_error(s, p, DP_MSG_ERR_UNAVAILABLE, err.msg);
            continue;
        }
        if (own[i].result == DP_ECONFLICT) {
            dp_msg r = {0};
            dp_msg_make_conflict(&r, p->id, p->result.job_id,
                                 "not the current owner of this attempt (reclaimed?)");
            reporter_answer(s, p, &r);
            continue;
        }
        if (own[i].result == DP_ENOTFOUND) {
            dp_msg r = {0};
            dp_msg_make_not_found(&r, p->id, "job", "no such job is leased");
            reporter_answer(s, p, &r);
            continue;
        }
        if (p->retry) {
            retry_elsewhere(s, p, own[i].max_attempts);
            continue;
        }
        in[n_in] = (store_result_in){&p->result, p->runner_id, urls[i][0] ? urls[i] : NULL, 0};
        idx[n_in++] = i;
    }
    if (rc == DP_OK && n_in > 0) {
        /* decided within the hold: sent by this deadline, cancelled by
         * PostgreSQL after REPORTER_COMMIT_TIMEOUT_MS */
        store_set_send_deadline(s->commit_db, checked_ms + REPORTER_SEND_LIMIT_MS);
        unsigned char *act = marks.n > 0 ? malloc(marks.n) : NULL;
        store_lease *view = marks.n > 0 ? reporter_marks_view(&marks) : NULL;
        size_t n_view = 0;
        if (marks.n > 0 && (view == NULL || act == NULL)) {
            rc = dp_err_set(&err, DP_ENOMEM, "record results: out of memory");
        } else {
            reporter_fold_marks(&marks, in, n_in, act);
            for (size_t i = 0; i < marks.n; i++) /* the view keeps the marks to write */
                if (act[i] == REPORTER_MARK_WRITE)
                    view[n_view++] = view[i];
            rc = store_record_results_marked(s->commit_db, view, n_view, in, n_in, outcome, info,
                                             &err);
        }
        free(view);
        store_set_send_deadline(s->commit_db, 0);
        if (rc == DP_OK)
            defer_marks(s, &marks, act); /* the others were written or folded */
        free(act);
        size_t first_event = s->events.n;
        for (size_t k = 0; rc == DP_OK && k < n_in; k++) {
            pending_complete *p = &s->batch[idx[k]];
            if (outcome[k] == STORE_RECORDED &&
                event_buffer_add(&s->events, p->result.job_id, DP_JOB_COMPLETED, p->result.verdict,
                                 p->runner_id, p->result.attempt, p->result.message) == DP_OK)
                event_buffer_mark_last_persisted(&s->events);
        }
        if (rc == DP_OK)
            release_recorded(s, idx, outcome, n_in, first_event);
        for (size_t k = 0; k < n_in; k++) {
            pending_complete *p = &s->batch[idx[k]];
            if (rc != DP_OK) {
                reporter_answer_error(s, p, DP_MSG_ERR_UNAVAILABLE, err.msg);
                continue;
            }
            if (outcome[k] == STORE_UNKNOWN_JOB) {
                dp_msg r = {0};
                dp_msg_make_not_found(&r, p->id, "job", "unknown job");
                reporter_answer(s, p, &r);
                continue;
            }
            if (outcome[k] == STORE_STALE_ATTEMPT) { /* reclaimed after the owner check */
                dp_msg r = {0};
                dp_msg_make_conflict(&r, p->id, p->result.job_id,
                                     "a newer attempt of this job is leased (reclaimed)");
                reporter_answer(s, p, &r);
                continue;
            }
            if (outcome[k] == STORE_RECORDED)
                reporter_metrics_completed(s, info[k].profile, p->result.verdict, info[k].age_s,
                                           dp_metrics_now() - p->arrived_s);
            dp_msg r = {0};
            dp_msg_make_ack(&r, p->id, 0);
            reporter_answer(s, p, &r);
        }
    }
    /* marks no result statement took (none to record, or it failed): alone */
    reporter_write_marks(s, &marks);
    for (size_t i = 0; i < n; i++) {
        free(s->batch[i].runner_id);
        dp_job_result_free(&s->batch[i].result);
    }
    s->n_batch = 0;
}
