/* The reporter's submit: validate each spec, record the jobs in PostgreSQL
 * (one statement), then enqueue them in Redis (one script). */
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
        int rc = reporter_quota_insert(s, o, ok, &n_ok, &r.submitted, &err);
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
        } else if (n_ok > 0) {
            if (enqueue_queued(s, in, n_ok, &err) != DP_OK) {
                /* Accepted all the same: the rebuild puts PostgreSQL's queued jobs into Redis. */
                dp_log(DP_LOG_WARN, "enqueue_deferred", "error", err.msg, (char *)NULL);
                s->need_rebuild = 1;
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
