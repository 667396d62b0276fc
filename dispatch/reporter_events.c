/* The reporter's events: lease marks, dead jobs, history rows, then one
 * batch to the publisher. */
#include "dispatch/reporter_impl.h"

#include "common/log.h"

#include <stdlib.h>

void reporter_flush_events(reporter_state *s)
{
    size_t n = s->events.n;
    if (n == 0)
        return;
    store_lease *leases = calloc(n, sizeof *leases);
    store_failure *fails = calloc(n, sizeof *fails);
    store_event *hist = calloc(n, sizeof *hist);
    const char **dead_ids = calloc(n, sizeof *dead_ids);
    store_event *requeued = calloc(n, sizeof *requeued);
    size_t n_leases = 0, n_fails = 0, n_hist = 0, n_requeued = 0;
    dp_err err = {0};
    if (leases == NULL || fails == NULL || hist == NULL || dead_ids == NULL || requeued == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        dp_msg_event *e = &s->events.items[i].ev;
        int dead = e->state == DP_JOB_FAILED && e->verdict == DP_VERDICT_SE && e->runner_id == NULL;
        /* the leaser's `queued`: jobs a reclaim requeued (the reporter's own
         * are persisted already) */
        int reclaimed = e->state == DP_JOB_QUEUED && !s->events.items[i].persisted;
        if (reclaimed)
            requeued[n_requeued++] = (store_event){.job_id = e->job_id,
                                                   .attempt = e->attempt,
                                                   .runner_id = e->runner_id,
                                                   .message = e->message};
        /* lease marks, dead-job failures and reclaims write their own
         * history rows (store_mark_leased, _failed, _requeued) */
        if (!s->events.items[i].persisted && e->state != DP_JOB_LEASED && !dead && !reclaimed)
            hist[n_hist++] = (store_event){.job_id = e->job_id,
                                           .state = e->state,
                                           .attempt = e->attempt,
                                           .runner_id = e->runner_id,
                                           .message = e->message};
        if (e->state == DP_JOB_LEASED)
            leases[n_leases++] = (store_lease){e->job_id, e->attempt, e->runner_id};
        else if (dead) {
            dead_ids[n_fails] = e->job_id;
            fails[n_fails++] = (store_failure){e->job_id, e->attempt, e->message};
        }
    }
    if (n_leases > 0 && store_mark_leased(s->db, leases, n_leases, NULL, &err) != DP_OK)
        dp_log(DP_LOG_WARN, "lease_marks_failed", "error", err.msg, (char *)NULL);
    if (n_fails > 0) {
        /* Recorded first, then forgotten by Redis: a crash in between repeats it. */
        size_t changed = 0;
        if (store_mark_failed(s->db, fails, n_fails, &changed, &err) == DP_OK) {
            reporter_metrics_failed(s, changed);
            rq_dead_ack(s->rq, dead_ids, n_fails, &err);
        } else
            dp_log(DP_LOG_WARN, "dead_not_recorded", "error", err.msg, (char *)NULL);
    }
    if (n_requeued > 0 && store_mark_requeued(s->db, requeued, n_requeued, NULL, &err) != DP_OK)
        dp_log(DP_LOG_WARN, "requeued_not_recorded", "error", err.msg, (char *)NULL);
    if (n_hist > 0 && store_add_events(s->db, hist, n_hist, &err) != DP_OK)
        dp_log(DP_LOG_WARN, "history_failed", "error", err.msg, (char *)NULL);
    /* Onto the shared stream, where every replica's publisher reads them;
     * if Redis cannot take them, at least this replica's watchers hear. */
    if (event_buffer_stream(&s->events, s->rq, false) != DP_OK && s->cfg.publisher != NULL)
        event_buffer_send(&s->events, s->cfg.publisher, 100, NULL);
out:
    event_buffer_clear(&s->events);
    free(leases);
    free(fails);
    free(hist);
    free(dead_ids);
    free(requeued);
}
