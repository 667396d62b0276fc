/* The reporter's submit: validate each spec, record the jobs in PostgreSQL
 * and enqueue them in Redis, a chunk of SUBMIT_CHUNK at a time (one
 * statement and one script each), the enqueue of one chunk overlapping the
 * insert of the next. */
#include "dispatch/reporter_impl.h"

#include "common/log.h"
#include "common/job_json.h"

#include <stdlib.h>
#include <string.h>

/* Enqueues the recorded jobs in Redis with their `queued` events (their
 * history rows were written with the jobs): the enqueue script puts them
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

void reporter_do_submit(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    reporter_state *s = state;
    (void)ctx;
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
        fwd_reply_code(o, m->id, DP_ENOMEM, "job", &err);
        goto out;
    }
    r.submitted.n_items = sub->n_specs;
    /* Routing: a profile no runner ever offered is refused at once (the
     * whole submit: one error naming it), unless no runner ever offered any. */
    char warning[512];
    int prc = reporter_check_profiles(s, sub->specs, sub->n_specs, warning, sizeof warning, &err);
    if (prc != DP_OK) {
        fwd_reply_code(o, m->id, prc, "job", &err);
        goto out;
    }
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
        if (warning[0] != '\0')
            it->warning = strdup(warning);
        ok[n_ok] = *spec; /* borrowed view; m still owns it */
        in[n_ok].job_id = spec->job_id;
        in[n_ok].spec = texts[n_ok];
        in[n_ok].spec_len = strlen(texts[n_ok]);
        in[n_ok].max_attempts = spec->max_attempts;
        in[n_ok].profile = spec->profile;
        in[n_ok].labels = (const char *const *)spec->labels;
        in[n_ok].n_labels = spec->n_labels;
        in[n_ok].priority = spec->priority;
        n_ok++;
    }
    if (n_ok > 0) {
        /* The record first: a job exists once PostgreSQL has it. */
        size_t asked = n_ok;
        int rc =
            reporter_quota_submit(s, o, (const char *const *)texts, in, &n_ok, &r.submitted, &err);
        if (rc != DP_OK) {
            dp_log(DP_LOG_ERROR, "submit_not_persisted", "error", err.msg, (char *)NULL);
            /* the accepted items past the n_ok recorded ones */
            size_t k = 0;
            for (size_t i = 0; i < r.submitted.n_items && asked > n_ok; i++) {
                dp_submit_item *it = &r.submitted.items[i];
                if (it->job_id == NULL || it->code != NULL || k++ < n_ok)
                    continue;
                free(it->job_id);
                it->job_id = NULL;
                it->error = strdup("PostgreSQL unavailable, job not accepted: retry");
            }
        }
    }
    for (size_t i = 0; i < n_ok; i++)
        reporter_metrics_submitted(s, ok[i].profile);
    fwd_reply(o, &r);
out:
    for (size_t i = 0; texts != NULL && i < sub->n_specs; i++)
        free(texts[i]);
    free(texts);
    free(in);
    free(ok);
    dp_msg_free(&r);
}
