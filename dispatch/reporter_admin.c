/* The reporter's reads and operator actions. */
#include "dispatch/reporter_impl.h"

#include "common/job_json.h"
#include "common/log.h"
#include "dispatch/redis/rq_owner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A key sees (reads) every job with read or admin scope, else its own; it
 * changes (cancels) only its own unless admin. Any other job is answered
 * not_found, exactly as an unknown one (no oracle). Answers and returns 0
 * when the requester may not access the job. */
static int may_access(reporter_state *s, fwd_origin o, uint64_t id, const char *job_id,
                      bool (*allowed)(fwd_origin, const char *))
{
    if (allowed(o, NULL))
        return 1; /* the local operator, or a key whose scope covers every job */
    char owner[32];
    dp_err err = {0};
    int rc = store_job_owner(s->db, job_id, owner, sizeof owner, &err);
    if (rc == DP_OK && allowed(o, owner))
        return 1;
    if (rc == DP_OK || rc == DP_ENOTFOUND)
        dp_err_set(&err, DP_ENOTFOUND, "job %s is unknown", job_id);
    fwd_reply_code(o, id, rc == DP_OK ? DP_ENOTFOUND : rc, "job", &err);
    return 0;
}

void reporter_do_status(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    reporter_state *s = state;
    (void)ctx;
    dp_msg r = {.type = DP_MSG_JOB, .id = m->id};
    dp_err err = {0};
    const char *job_id = m->type == DP_MSG_WAIT ? m->wait.job_id : m->status.job_id;
    if (!may_access(s, o, m->id, job_id, fwd_may_see))
        return;
    reporter_flush_events(
        s); /* what we already know (a lease) is in PostgreSQL before we read it */
    int rc = store_get_job(s->db, job_id, &r.job, &err);
    if (rc != DP_OK) {
        fwd_reply_code(o, m->id, rc, "job", &err);
        return;
    }
    fwd_reply_take(o, &r);
}

void reporter_do_queue(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    reporter_state *s = state;
    (void)ctx;
    dp_msg r = {.type = DP_MSG_QUEUE_STATS, .id = m->id};
    dp_err err = {0};
    int rc = rq_stats(s->rq, &r.queue_stats, &err);
    if (rc == DP_OK)
        rc = store_count_completed(s->db, &r.queue_stats.completed, &err);
    /* Depth per queue (profile x labels x priority) and who can take it. */
    uint64_t pending = r.queue_stats.pending;
    if (rc == DP_OK)
        rc = rq_queue_depths(s->rq, DP_QUEUES_MAX, 0, &r.queue_stats, &err);
    r.queue_stats.pending = pending;
    if (rc != DP_OK) {
        dp_queue_stats_free(&r.queue_stats);
        fwd_reply_code(o, m->id, rc, "job", &err);
        return;
    }
    fwd_reply_take(o, &r);
}

void reporter_do_cancel(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    reporter_state *s = state;
    (void)ctx;
    dp_err err = {0};
    const char *id = m->cancel.job_id;
    if (!may_access(s, o, m->id, id, fwd_may_touch))
        return;
    int rc = store_mark_cancelled(s->db, id, "cancelled by an operator", &err);
    if (rc == DP_OK) {
        int rrc = rq_cancel(s->rq, id, &err);
        if (rrc != DP_OK && rrc != DP_ENOTFOUND && rrc != DP_ECONFLICT)
            dp_log(DP_LOG_WARN, "cancel_redis_failed", "job_id", id, "error", err.msg,
                   (char *)NULL);
        if (event_buffer_add(&s->events, id, DP_JOB_CANCELLED, DP_VERDICT_NONE, NULL, 0,
                             "cancelled by an operator") == DP_OK)
            event_buffer_mark_last_persisted(&s->events); /* written with the state */
    }
    if (rc != DP_OK) {
        fwd_reply_code(o, m->id, rc, "job", &err);
        return;
    }
    dp_msg r = {0};
    dp_msg_make_ack(&r, m->id, 1);
    fwd_reply_take(o, &r);
}

void reporter_do_requeue(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    reporter_state *s = state;
    (void)ctx;
    dp_err err = {0};
    dp_msg r = {0};
    if (m->requeue.dead) {
        uint64_t moved = 0, in_redis = 0;
        /* Dead jobs not recorded yet, then every failed job PostgreSQL has. */
        int rc = rq_requeue_dead(s->rq, &in_redis, &err);
        if (rc == DP_OK)
            rc = store_requeue_failed(s->db, &moved, &err);
        if (rc != DP_OK) {
            fwd_reply_code(o, m->id, rc, "job", &err);
            return;
        }
        s->need_rebuild = 1; /* the rebuild enqueues what Redis no longer has */
        dp_msg_make_ack(&r, m->id, (uint32_t)(moved + in_redis));
        fwd_reply_take(o, &r);
        return;
    }
    const char *id = m->requeue.job_id;
    dp_job_view v = {0};
    int rc = store_get_job(s->db, id, &v, &err);
    if (rc == DP_OK && v.state == DP_JOB_CANCELLED)
        rc = dp_err_set(&err, DP_ECONFLICT, "job %s was cancelled: submit it again", id);
    dp_job_view_free(&v);
    if (rc == DP_OK)
        rc = store_requeue(s->db, id, 0, &err);
    if (rc == DP_OK) { /* streamed before a runner can lease it again (event_stream.h) */
        if (event_buffer_add(&s->events, id, DP_JOB_QUEUED, DP_VERDICT_NONE, NULL, 0,
                             "requeued by an operator") == DP_OK)
            event_buffer_mark_last_persisted(&s->events); /* written with the state */
        event_buffer_stream(&s->events, s->rq);
    }
    if (rc == DP_OK) {
        /* A finished job left a tombstone that would make Redis refuse it. */
        rq_owner_clear_tombstones(s->rq, &id, 1, NULL);
        int rrc = rq_requeue(s->rq, id, &err);
        if (rrc == DP_ENOTFOUND)
            s->need_rebuild = 1; /* gone from Redis (dead and recorded): rebuild enqueues it */
        else if (rrc != DP_OK)
            rc = rrc;
    }
    if (rc != DP_OK) {
        fwd_reply_code(o, m->id, rc, "job", &err);
        return;
    }
    dp_msg_make_ack(&r, m->id, 1);
    fwd_reply_take(o, &r);
}
