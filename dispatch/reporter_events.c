/* The reporter's events: lease marks, dead jobs, history rows, then one
 * batch to the publisher. What PostgreSQL could not take because it was
 * unreachable (lease marks, dead jobs, reclaims, history rows) is kept in
 * s->unwritten and written again by the next flush (at the latest the next
 * tick), oldest first: a lease told while PostgreSQL was down still gets its
 * mark and its `leased` row, and the attempt fence learns of it. Events are
 * published once, when they arrive. */
#include "dispatch/reporter_impl.h"

#include "common/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What an event asks of PostgreSQL. */
enum { W_NONE, W_LEASE, W_FAIL, W_REQUEUED, W_HIST };

static int what_to_write(const event_entry *x)
{
    const dp_msg_event *e = &x->ev;
    int dead = e->state == DP_JOB_FAILED && e->verdict == DP_VERDICT_SE && e->runner_id == NULL;
    if (e->state == DP_JOB_LEASED)
        return W_LEASE;
    if (dead)
        return W_FAIL;
    if (x->persisted)
        return W_NONE;
    /* the leaser's `queued`: jobs a reclaim requeued (the reporter's own
     * are persisted already) */
    if (e->state == DP_JOB_QUEUED)
        return W_REQUEUED;
    return W_HIST;
}

/* Appends a copy of e to `to`, marked streamed (it was published when it
 * arrived), unless `to` holds max already: 1 when copied, 0 when lost. */
static int copy_streamed(event_buffer *to, const event_entry *e, size_t max)
{
    if (to->n >= max || event_buffer_copy(to, e) != DP_OK)
        return 0;
    to->items[to->n - 1].streamed = true;
    return 1;
}

static void log_lost(size_t lost)
{
    if (lost == 0)
        return;
    char count[24];
    snprintf(count, sizeof count, "%zu", lost);
    dp_log(DP_LOG_ERROR, "events_not_recorded", "count", count, (char *)NULL);
}

/* Copies the events whose write failed because PostgreSQL was unreachable
 * into a new unwritten buffer, after `first` (lease marks written before
 * them; NULL: none failed), at most REPORTER_UNWRITTEN_MAX; the rest are
 * logged as lost, as every event was before. */
static void keep_unwritten(reporter_state *s, const event_buffer *first, const event_entry **all,
                           const int *what, size_t n, const int rc[W_HIST + 1])
{
    event_buffer keep = {0};
    size_t lost = 0;
    for (size_t i = 0; first != NULL && i < first->n; i++)
        lost += !copy_streamed(&keep, &first->items[i], REPORTER_UNWRITTEN_MAX);
    for (size_t i = 0; i < n; i++)
        if (what[i] != W_NONE && rc[what[i]] == DP_EUNAVAIL)
            lost += !copy_streamed(&keep, all[i], REPORTER_UNWRITTEN_MAX);
    log_lost(lost);
    event_buffer_free(&s->unwritten);
    s->unwritten = keep;
}

/* Appends the lease marks of all[] (what[i] == W_LEASE) to *to as
 * already-streamed events; a copy that fails to be made is counted lost. */
static size_t move_marks(event_buffer *to, const event_entry **all, const int *what, size_t n)
{
    size_t lost = 0;
    for (size_t i = 0; i < n; i++)
        if (what[i] == W_LEASE)
            lost += !copy_streamed(to, all[i], SIZE_MAX);
    return lost;
}

store_lease *reporter_marks_view(const event_buffer *marks)
{
    store_lease *v = calloc(marks->n ? marks->n : 1, sizeof *v);
    for (size_t i = 0; v != NULL && i < marks->n; i++)
        v[i] = (store_lease){marks->items[i].ev.job_id, marks->items[i].ev.attempt,
                             marks->items[i].ev.runner_id, marks->items[i].at_us};
    return v;
}

/* Writes the marks in b (kept); logs a failure, and counts the marks lost
 * unless PostgreSQL was only unreachable (the caller keeps them then). */
static int write_leases(reporter_state *s, const event_buffer *b)
{
    if (b->n == 0)
        return DP_OK;
    dp_err err = {0};
    store_lease *v = reporter_marks_view(b);
    int rc = v == NULL ? dp_err_set(&err, DP_ENOMEM, "lease marks: out of memory")
                       : store_mark_leased(s->db, v, b->n, NULL, &err);
    free(v);
    if (rc != DP_OK)
        dp_log(DP_LOG_WARN, "lease_marks_failed", "error", err.msg, (char *)NULL);
    if (rc != DP_OK && rc != DP_EUNAVAIL)
        log_lost(b->n);
    return rc;
}

/* Marks wait behind the events PostgreSQL could not take yet (a reclaim's
 * requeue, an older attempt's mark): the next flush writes them in order.
 * Written at once on a connection just back, a newer attempt's mark landed
 * ahead of an unwritten older one, whose `leased` row the attempt fence
 * then dropped (dispatchd_pg_fault, 2 of 10 runs beside two busy loops). */
void reporter_write_marks(reporter_state *s, event_buffer *marks)
{
    if (marks->n > 0 && (s->unwritten.n > 0 || write_leases(s, marks) == DP_EUNAVAIL)) {
        size_t lost = 0;
        for (size_t i = 0; i < marks->n; i++)
            lost += !copy_streamed(&s->unwritten, &marks->items[i], REPORTER_UNWRITTEN_MAX);
        log_lost(lost);
    }
    event_buffer_free(marks);
}

/* Moves the entries of from that arrived before before_us (at_us) to the
 * end of to, keeping the others in from in their order; one that cannot be
 * moved is counted lost. */
static size_t move_older(event_buffer *to, event_buffer *from, int64_t before_us)
{
    size_t lost = 0, kept = 0;
    for (size_t i = 0; i < from->n; i++) {
        event_entry *e = &from->items[i];
        if (e->at_us >= before_us) {
            from->items[kept++] = *e; /* kept < i + 1: a slot already emptied, or itself */
        } else if (event_buffer_move(to, e) != DP_OK) {
            event_buffer_clear_entry(e);
            lost++;
        }
    }
    /* the slots past kept hold moved, freed or forward-copied entries */
    if (from->n > kept)
        memset(from->items + kept, 0, (from->n - kept) * sizeof *from->items);
    from->n = kept;
    return lost;
}

static int by_arrival(const void *a, const void *b)
{
    int64_t x = ((const event_entry *)a)->at_us, y = ((const event_entry *)b)->at_us;
    return (x > y) - (x < y);
}

void reporter_write_deferred(reporter_state *s)
{
    reporter_write_marks(s, &s->deferred);
}

void reporter_flush_events(reporter_state *s)
{
    reporter_flush_events_hold(s, NULL);
}

void reporter_flush_events_hold(reporter_state *s, event_buffer *marks)
{
    size_t n_old = s->unwritten.n, n = n_old + s->events.n;
    if (n == 0)
        return;
    const event_entry **all = calloc(n, sizeof *all);
    int *what = calloc(n, sizeof *what);
    store_failure *fails = calloc(n, sizeof *fails);
    store_event *hist = calloc(n, sizeof *hist);
    const char **dead_ids = calloc(n, sizeof *dead_ids);
    store_event *requeued = calloc(n, sizeof *requeued);
    size_t n_leases = 0, n_fails = 0, n_hist = 0, n_requeued = 0;
    int64_t change_us = 0; /* just after the newest requeue or failure here */
    event_buffer early = {0};
    int rc_early = DP_OK;
    int rc[W_HIST + 1] = {DP_OK, DP_OK, DP_OK, DP_OK, DP_OK};
    dp_err err = {0};
    if (all == NULL || what == NULL || fails == NULL || hist == NULL || dead_ids == NULL ||
        requeued == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        all[i] = i < n_old ? &s->unwritten.items[i] : &s->events.items[i - n_old];
        const dp_msg_event *e = &all[i]->ev;
        what[i] = what_to_write(all[i]);
        /* lease marks, dead-job failures and reclaims write their own
         * history rows (store_mark_leased, _failed, _requeued) */
        if (what[i] == W_REQUEUED)
            requeued[n_requeued++] = (store_event){.job_id = e->job_id,
                                                   .attempt = e->attempt,
                                                   .runner_id = e->runner_id,
                                                   .message = e->message};
        else if (what[i] == W_HIST)
            hist[n_hist++] = (store_event){.job_id = e->job_id,
                                           .state = e->state,
                                           .attempt = e->attempt,
                                           .runner_id = e->runner_id,
                                           .message = e->message};
        else if (what[i] == W_LEASE)
            n_leases++;
        else if (what[i] == W_FAIL) {
            dead_ids[n_fails] = e->job_id;
            fails[n_fails++] = (store_failure){e->job_id, e->attempt, e->message};
        }
        if ((what[i] == W_FAIL || what[i] == W_REQUEUED) && all[i]->at_us >= change_us)
            change_us = all[i]->at_us + 1;
    }
    /* Lease marks wait for their results (reporter_complete.c), in the
     * caller's marks or else with the deferred ones. A reclaim's requeue
     * and a dead job's failure apply to the leased job, so every mark that
     * arrived before the newest of them (held, unwritten or new: by at_us,
     * the reporter's arrival stamp, since an unwritten mark may be older
     * than a held one) is written first, oldest first; newer ones stay
     * held (one statement takes one mark per job). Should PostgreSQL be
     * unreachable, they are kept ahead of the requeues (keep_unwritten). */
    event_buffer *hold = marks != NULL ? marks : &s->deferred;
    if (change_us > 0) {
        size_t lost = move_older(&early, &s->deferred, change_us);
        if (marks != NULL)
            lost += move_older(&early, marks, change_us);
        for (size_t i = 0; i < n; i++)
            if (what[i] == W_LEASE && all[i]->at_us < change_us) {
                lost += !copy_streamed(&early, all[i], SIZE_MAX);
                what[i] = W_NONE;
            }
        log_lost(lost);
        if (early.n > 1)
            qsort(early.items, early.n, sizeof *early.items, by_arrival);
        rc_early = write_leases(s, &early);
    }
    if (n_leases > 0)
        log_lost(move_marks(hold, all, what, n));
    /* Marks PostgreSQL could not take hold back what follows them: a
     * connection back between two statements landed a requeue ahead of
     * the earlier attempt's mark, whose `leased` row was then lost
     * (dispatchd_pg_fault, 3 of 22 runs under load). Kept unwritten, in
     * order, for the next flush. */
    if (rc_early == DP_EUNAVAIL) {
        rc[W_FAIL] = rc[W_REQUEUED] = rc[W_HIST] = DP_EUNAVAIL;
        n_fails = n_requeued = n_hist = 0;
    }
    if (n_fails > 0) {
        /* Recorded first, then forgotten by Redis: a crash in between repeats it. */
        size_t changed = 0;
        if ((rc[W_FAIL] = store_mark_failed(s->db, fails, n_fails, &changed, &err)) == DP_OK) {
            reporter_metrics_failed(s, changed);
            rq_dead_ack(s->rq, dead_ids, n_fails, &err);
        } else
            dp_log(DP_LOG_WARN, "dead_not_recorded", "error", err.msg, (char *)NULL);
    }
    if (n_requeued > 0 &&
        (rc[W_REQUEUED] = store_mark_requeued(s->db, requeued, n_requeued, NULL, &err)) != DP_OK)
        dp_log(DP_LOG_WARN, "requeued_not_recorded", "error", err.msg, (char *)NULL);
    if (n_hist > 0 && (rc[W_HIST] = store_add_events(s->db, hist, n_hist, &err)) != DP_OK)
        dp_log(DP_LOG_WARN, "history_failed", "error", err.msg, (char *)NULL);
    keep_unwritten(s, rc_early == DP_EUNAVAIL ? &early : NULL, all, what, n,
                   rc); /* frees the old unwritten ones */
    /* Onto the shared stream, where every replica's publisher reads them;
     * if Redis cannot take them, at least this replica's watchers hear. */
    if (event_buffer_stream(&s->events, s->rq) != DP_OK && s->cfg.publisher != NULL)
        event_buffer_send(&s->events, s->cfg.publisher, 100, NULL);
out:
    event_buffer_clear(&s->events);
    event_buffer_free(&early);
    if (s->deferred.n >= REPORTER_DEFERRED_MAX)
        reporter_write_deferred(s);
    free(all);
    free(what);
    free(fails);
    free(hist);
    free(dead_ids);
    free(requeued);
}
