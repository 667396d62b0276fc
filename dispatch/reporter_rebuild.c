/* The reporter's Redis rebuild from PostgreSQL (at start, and whenever the
 * epoch marker is gone: Redis flushed or replaced). */
#include "dispatch/reporter_impl.h"

#include "common/log.h"
#include "dispatch/redis/rq_owner.h"
#include "dispatch/spec_blob.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Puts every unfinished job PostgreSQL knows back into Redis; jobs Redis
 * already has are skipped by the enqueue script, so this is safe to repeat. */
static int rebuild_redis(reporter_state *s, dp_err *err)
{
    store_cursor cur;
    memset(&cur, 0, sizeof cur);
    size_t total = 0;
    /* An older dispatchd's single pending list: into the jobs' own queues. */
    int mrc = rq_migrate_pending(s->rq, NULL, err);
    if (mrc != DP_OK)
        return mrc;
    for (;;) {
        store_unfinished_job *jobs = NULL;
        size_t n = 0;
        int rc = store_list_unfinished(s->db, &cur, 1000, &jobs, &n, err);
        if (rc != DP_OK)
            return rc;
        rq_job_in *in = calloc(n ? n : 1, sizeof *in);
        void **blobs = calloc(n ? n : 1, sizeof *blobs);
        size_t k = 0;
        for (size_t i = 0; in != NULL && blobs != NULL && i < n; i++) {
            size_t blob_len = 0;
            dp_err perr = {0};
            if (spec_blob_pack(&jobs[i].spec, &blobs[k], &blob_len, &perr) != DP_OK) {
                /* Cannot happen for a spec accepted at submit: said, skipped. */
                dp_log(DP_LOG_ERROR, "rebuild_bad_spec", "job_id", jobs[i].spec.job_id, "error",
                       perr.msg, (char *)NULL);
                continue;
            }
            const dp_job_spec *sp = &jobs[i].spec;
            /* Its own queue and priority: both are in the stored spec. */
            in[k] = (rq_job_in){.job_id = sp->job_id,
                                .spec = blobs[k],
                                .spec_len = blob_len,
                                .max_attempts = sp->max_attempts,
                                .attempts = jobs[i].attempts,
                                .profile = sp->profile,
                                .labels = (const char *const *)sp->labels,
                                .n_labels = sp->n_labels,
                                .priority = sp->priority};
            if (jobs[i].state == DP_JOB_LEASED && jobs[i].runner_id != NULL &&
                rq_rebuild_leased(s->rq, jobs[i].runner_id, &in[k], NULL) == DP_OK) {
                free(blobs[k]);
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
            free(blobs[i]);
        free(blobs);
        free(in);
        store_unfinished_free(jobs, n);
        if (rc != DP_OK)
            return rc;
        if (n < 1000)
            break;
    }
    /* Every profile ever offered, so submits are judged as before the flush. */
    int prc = reporter_profiles_restore(s, err);
    if (prc != DP_OK)
        return prc;
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
    reporter_write_deferred(s); /* a job leased here is rebuilt as leased */
    if (rebuild_redis(s, &err) == DP_OK)
        s->need_rebuild = 0;
    else
        dp_log(DP_LOG_WARN, "rebuild_failed", "error", err.msg, (char *)NULL);
}
