/* The submit's record-then-enqueue, shared by the plain and the quota
 * path (reporter_submit.c, reporter_quota.c): record the jobs in
 * PostgreSQL and enqueue those recorded in Redis, a chunk of SUBMIT_CHUNK
 * at a time, the enqueue of one chunk overlapping the insert of the next. */
#include "dispatch/reporter_impl.h"

#include "common/log.h"

/* Enqueues the recorded jobs in Redis with their `queued` events (their
 * history rows are the job rows just written): the enqueue script puts them
 * onto the shared stream before the jobs, so no replica can stream a job's
 * `leased` before its `queued` (event_stream.h), and no round trip of their
 * own. Events it could not encode go the usual way (before the enqueue). */
static int enqueue_queued(reporter_state *s, const rq_job_in *in, size_t n, dp_err *err)
{
    size_t first = s->events.n;
    for (size_t i = 0; i < n; i++)
        if (event_buffer_add(&s->events, in[i].job_id, DP_JOB_QUEUED, DP_VERDICT_NONE, NULL, 0,
                             NULL) == DP_OK)
            event_buffer_mark_last_persisted(&s->events);
    event_blobs blobs;
    rq_blobs stream;
    dp_err eerr = {0};
    int encoded = event_buffer_blobs(&s->events, first, &blobs, &stream, &eerr) == DP_OK;
    if (encoded) /* best effort: never twice, streamed or not */
        event_buffer_mark_streamed(&s->events, first);
    else
        event_buffer_stream(&s->events, s->rq);
    int rc = rq_enqueue_streamed(s->rq, in, n, encoded ? &stream : NULL, NULL, err);
    event_stream_blobs_free(&blobs);
    return rc;
}

/* Jobs per statement of a large submit: PostgreSQL inserts one chunk while
 * Redis enqueues the one before, instead of the two waiting in turn. */
#define SUBMIT_CHUNK 1000

/* Enqueues in[from, to) (recorded): a failure leaves them to the rebuild. */
static void enqueue_range(reporter_state *s, const rq_job_in *in, size_t from, size_t to)
{
    dp_err err = {0};
    if (to > from && enqueue_queued(s, in + from, to - from, &err) != DP_OK) {
        /* Accepted all the same: the rebuild puts PostgreSQL's queued jobs into Redis. */
        dp_log(DP_LOG_WARN, "enqueue_deferred", "error", err.msg, (char *)NULL);
        s->need_rebuild = 1;
    }
}

void reporter_enqueue_recorded(reporter_state *s, const rq_job_in *in, size_t n)
{
    enqueue_range(s, in, 0, n);
}

size_t reporter_record_enqueue(reporter_state *s, const char *owner, const char *const *texts,
                               const rq_job_in *in, size_t n, dp_err *err)
{
    size_t recorded = 0, enqueued = 0;
    while (recorded < n) {
        size_t len = n - recorded < SUBMIT_CHUNK ? n - recorded : SUBMIT_CHUNK;
        const char *const *t = texts + recorded;
        int rc = store_insert_job_texts_send(s->db, t, len, owner, err);
        if (rc == DP_OK) {
            enqueue_range(s, in, enqueued, recorded); /* while PostgreSQL inserts */
            enqueued = recorded;
            rc = store_insert_job_texts_wait(s->db, t, len, owner, err);
        } else if (rc == DP_EUNAVAIL) {
            rc = store_insert_job_texts(s->db, t, len, owner, NULL, err);
        }
        if (rc != DP_OK)
            break;
        recorded += len;
    }
    enqueue_range(s, in, enqueued, recorded);
    return recorded;
}
