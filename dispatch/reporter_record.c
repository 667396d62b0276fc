/* The submit's record-then-enqueue, shared by the plain and the quota
 * path (reporter_submit.c, reporter_quota.c): record the jobs in
 * PostgreSQL and enqueue those recorded in Redis, a chunk of SUBMIT_CHUNK
 * at a time, two chunks inserting (on two connections) while the chunk
 * recorded before is enqueued. */
#include "dispatch/reporter_impl.h"

#include "common/clock.h"
#include "common/log.h"

#include <string.h>

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

/* Jobs per statement of a large submit. */
#define SUBMIT_CHUNK 1000

/* After an enqueue failed, the next ones wait this long: while Redis is
 * unreachable every try costs its reconnect wait (2 s), so a large submit
 * would hold the submitter for that per chunk of 1,000 jobs. */
#define ENQUEUE_RETRY_AFTER_MS 1000

/* Enqueues in[from, to) (recorded): a failure, or a failure less than
 * ENQUEUE_RETRY_AFTER_MS ago, leaves them to the rebuild (flagged after
 * PostgreSQL has them, so the rebuild, which reads it, finds them). */
static void enqueue_range(reporter_state *s, const rq_job_in *in, size_t from, size_t to)
{
    if (to == from)
        return;
    dp_err err = {0};
    if (dp_now_ms() < s->enqueue_retry_at_ms) {
        reporter_ask_rebuild(s);
        return;
    }
    if (enqueue_queued(s, in + from, to - from, &err) != DP_OK) {
        /* Accepted all the same: the rebuild puts PostgreSQL's queued jobs into Redis. */
        dp_log(DP_LOG_WARN, "enqueue_deferred", "error", err.msg, (char *)NULL);
        reporter_ask_rebuild(s);
        s->enqueue_retry_at_ms = dp_now_ms() + ENQUEUE_RETRY_AFTER_MS;
    }
}

void reporter_ask_rebuild(reporter_state *s)
{
    if (s->cfg.rebuilder == NULL) {
        s->need_rebuild = 1;
        return;
    }
    s->rebuild_unasked = 1; /* sent by the tick: one message, however many chunks failed */
}

void reporter_send_rebuild_ask(reporter_state *s)
{
    if (!s->rebuild_unasked)
        return;
    dp_msg m = {.type = DP_MSG_REBUILD};
    dp_err err = {0};
    nng_msg *msg = fwd_internal(&m, &err);
    /* Not waiting: the reporter may be busy for a while; the next tick tries again. */
    if (msg != NULL && actor_send(s->cfg.rebuilder, msg, 0, &err) == DP_OK) {
        s->rebuild_unasked = 0;
        return;
    }
    dp_log(DP_LOG_WARN, "rebuild_not_asked", "error", err.msg, (char *)NULL);
}

void reporter_enqueue_recorded(reporter_state *s, const rq_job_in *in, size_t n)
{
    enqueue_range(s, in, 0, n);
}

/* Jobs in chunk k of an n-job submit. */
static size_t chunk_len(size_t n, size_t k)
{
    size_t from = k * SUBMIT_CHUNK;
    return n - from < SUBMIT_CHUNK ? n - from : SUBMIT_CHUNK;
}

/* A chunk's insert on one connection: sent (async: its outcome comes from
 * store_insert_job_texts_wait) or, when the send found the connection
 * broken, already run again synchronously (rc is its outcome). */
typedef struct {
    store_db *db;
    int async;
    int rc;
    dp_err err;
} chunk_insert;

static void chunk_start(chunk_insert *c, const char *owner, const char *const *texts, size_t len)
{
    c->err = (dp_err){0};
    c->rc = store_insert_job_texts_send(c->db, texts, len, owner, &c->err);
    c->async = c->rc == DP_OK;
    if (c->rc == DP_EUNAVAIL)
        c->rc = store_insert_job_texts(c->db, texts, len, owner, NULL, &c->err);
}

/* Chunks go out on two connections at once (s->db and s->insert_db), so
 * PostgreSQL inserts two on two cores while the reporter enqueues in Redis
 * each chunk it has recorded, in order. Chunks commit independently: when
 * one fails no further chunk is sent, the one in flight still lands or
 * fails, and recorded[] says which jobs PostgreSQL holds. One connection
 * inserting chunk after chunk kept PostgreSQL the bound of a large submit
 * (docs/bench.md, "Issue 10, seventh session"). */
size_t reporter_record_enqueue(reporter_state *s, const char *owner, const char *const *texts,
                               const rq_job_in *in, size_t n, unsigned char *recorded, dp_err *err)
{
    memset(recorded, 0, n);
    size_t n_chunks = (n + SUBMIT_CHUNK - 1) / SUBMIT_CHUNK;
    chunk_insert conn[2] = {{.db = s->db}, {.db = s->insert_db}};
    size_t n_conn = s->insert_db != NULL && n_chunks > 1 ? 2 : 1;
    size_t sent = 0, done = 0;
    int stopped = 0;
    for (; sent < n_conn && sent < n_chunks; sent++)
        chunk_start(&conn[sent], owner, texts + sent * SUBMIT_CHUNK, chunk_len(n, sent));
    for (size_t k = 0; k < sent; k++) {
        chunk_insert *c = &conn[k % n_conn];
        size_t from = k * SUBMIT_CHUNK, len = chunk_len(n, k);
        if (c->async)
            c->rc = store_insert_job_texts_wait(c->db, texts + from, len, owner, &c->err);
        int rc = c->rc;
        if (rc != DP_OK && !stopped) {
            stopped = 1;
            *err = c->err;
        }
        if (!stopped && sent < n_chunks) { /* the next chunk on this connection, before Redis */
            chunk_start(c, owner, texts + sent * SUBMIT_CHUNK, chunk_len(n, sent));
            sent++;
        }
        if (rc != DP_OK)
            continue;
        memset(recorded + from, 1, len);
        done += len;
        enqueue_range(s, in, from, from + len);
    }
    return done;
}
