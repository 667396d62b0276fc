/* The reporter's reads, operator actions and the Redis rebuild. */
#include "actors/reporter_impl.h"

#include "common/job_json.h"
#include "common/log.h"
#include "dispatch/rq_owner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void reporter_do_status(reporter_state *s, fwd_origin o, const dp_msg *m)
{
    dp_msg r = {.type = DP_MSG_JOB, .id = m->id};
    dp_err err = {0};
    const char *job_id = m->type == DP_MSG_WAIT ? m->wait.job_id : m->status.job_id;
    reporter_flush_events(
        s); /* what we already know (a lease) is in PostgreSQL before we read it */
    int rc = store_get_job(s->db, job_id, &r.job, &err);
    if (rc != DP_OK) {
        reporter_reply_err(o, m->id, rc, &err);
        return;
    }
    reporter_reply(o, &r);
}

void reporter_do_queue(reporter_state *s, fwd_origin o, const dp_msg *m)
{
    dp_msg r = {.type = DP_MSG_QUEUE_STATS, .id = m->id};
    dp_err err = {0};
    int rc = rq_stats(s->rq, &r.queue_stats, &err);
    if (rc == DP_OK)
        rc = store_count_completed(s->db, &r.queue_stats.completed, &err);
    if (rc != DP_OK) {
        reporter_reply_err(o, m->id, rc, &err);
        return;
    }
    reporter_reply(o, &r);
}

void reporter_do_cancel(reporter_state *s, fwd_origin o, const dp_msg *m)
{
    dp_err err = {0};
    const char *id = m->cancel.job_id;
    int rc = store_mark_cancelled(s->db, id, "cancelled by an operator", &err);
    if (rc == DP_OK) {
        int rrc = rq_cancel(s->rq, id, &err);
        if (rrc != DP_OK && rrc != DP_ENOTFOUND && rrc != DP_ECONFLICT)
            dp_log(DP_LOG_WARN, "cancel_redis_failed", "job_id", id, "error", err.msg,
                   (char *)NULL);
        reporter_add_event(s, id, DP_JOB_CANCELLED, DP_VERDICT_NONE, NULL, 0,
                           "cancelled by an operator");
    }
    if (rc != DP_OK) {
        reporter_reply_err(o, m->id, rc, &err);
        return;
    }
    dp_msg r = {0};
    dp_msg_make_ack(&r, m->id, 1);
    reporter_reply(o, &r);
}

void reporter_do_requeue(reporter_state *s, fwd_origin o, const dp_msg *m)
{
    dp_err err = {0};
    dp_msg r = {0};
    if (m->requeue.dead) {
        uint64_t moved = 0, in_redis = 0;
        /* Dead jobs not recorded yet, then every failed job PostgreSQL has. */
        int rc = rq_requeue_dead(s->rq, &in_redis, &err);
        if (rc == DP_OK)
            rc = store_requeue_failed(s->db, &moved, &err);
        if (rc != DP_OK) {
            reporter_reply_err(o, m->id, rc, &err);
            return;
        }
        s->need_rebuild = 1; /* the rebuild enqueues what Redis no longer has */
        dp_msg_make_ack(&r, m->id, (uint32_t)(moved + in_redis));
        reporter_reply(o, &r);
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
        reporter_reply_err(o, m->id, rc, &err);
        return;
    }
    reporter_add_event(s, id, DP_JOB_QUEUED, DP_VERDICT_NONE, NULL, 0, "requeued by an operator");
    dp_msg_make_ack(&r, m->id, 1);
    reporter_reply(o, &r);
}

/* Puts every unfinished job PostgreSQL knows back into Redis; jobs Redis
 * already has are skipped by the enqueue script, so this is safe to repeat. */
static int rebuild_redis(reporter_state *s, dp_err *err)
{
    store_cursor cur;
    memset(&cur, 0, sizeof cur);
    size_t total = 0;
    for (;;) {
        store_unfinished_job *jobs = NULL;
        size_t n = 0;
        int rc = store_list_unfinished(s->db, &cur, 1000, &jobs, &n, err);
        if (rc != DP_OK)
            return rc;
        rq_job_in *in = calloc(n ? n : 1, sizeof *in);
        char **texts = calloc(n ? n : 1, sizeof *texts);
        size_t k = 0;
        for (size_t i = 0; in != NULL && texts != NULL && i < n; i++) {
            json_t *j = dp_job_spec_to_json(&jobs[i].spec);
            texts[k] = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
            json_decref(j);
            if (texts[k] == NULL)
                continue;
            in[k] = (rq_job_in){jobs[i].spec.job_id, texts[k], strlen(texts[k]),
                                jobs[i].spec.max_attempts, jobs[i].attempts};
            if (jobs[i].state == DP_JOB_LEASED && jobs[i].runner_id != NULL &&
                rq_rebuild_leased(s->rq, jobs[i].runner_id, &in[k], NULL) == DP_OK) {
                free(texts[k]);
                continue;
            }
            k++;
        }
        size_t added = 0;
        /* Requeued by an operator after finishing: drop the tombstones first. */
        const char **ids = calloc(k ? k : 1, sizeof *ids);
        for (size_t i = 0; ids != NULL && i < k; i++)
            ids[i] = in[i].job_id;
        rc = ids == NULL ? dp_err_set(err, DP_ENOMEM, "rebuild: out of memory")
                         : rq_owner_clear_tombstones(s->rq, ids, k, err);
        free(ids);
        if (rc == DP_OK && k > 0)
            rc = rq_enqueue(s->rq, in, k, &added, err);
        total += added;
        for (size_t i = 0; i < k; i++)
            free(texts[i]);
        free(texts);
        free(in);
        store_unfinished_free(jobs, n);
        if (rc != DP_OK)
            return rc;
        if (n < 1000)
            break;
    }
    if (total > 0) {
        char buf[24];
        snprintf(buf, sizeof buf, "%zu", total);
        dp_log(DP_LOG_WARN, "redis_rebuilt", "jobs_enqueued", buf, (char *)NULL);
    }
    return rq_epoch_mark(s->rq, err);
}

void reporter_check_epoch(reporter_state *s)
{
    int present = 1;
    dp_err err = {0};
    if (!s->need_rebuild && rq_epoch_present(s->rq, &present, &err) != DP_OK)
        return;
    if (present && !s->need_rebuild)
        return;
    if (rebuild_redis(s, &err) == DP_OK)
        s->need_rebuild = 0;
    else
        dp_log(DP_LOG_WARN, "rebuild_failed", "error", err.msg, (char *)NULL);
}
