/* The submitter's submit (dispatch/submitter.c runs it): validate each spec and render it as JSON
 * once (reporter_do_submit), then record and enqueue the jobs within the requester's quotas
 * (reporter_flush_submits: reporter_quota.c, reporter_record.c).
 *
 * Submits are batched by load, like results: a submit that finds more
 * messages waiting behind it is held, and every submit held by the time
 * the mailbox runs empty is recorded with one insert and enqueued with
 * one script per requester (docs/architecture.md, the submitter). Many clients
 * sending one job each (the HTTP API's usual shape) then cost a statement
 * and a script per batch instead of per job; a lone submit is recorded at
 * once, and nothing waits for a timer. */
#include "dispatch/reporter_impl.h"

#include "common/log.h"
#include "common/job_json.h"
#include "dispatch/spec_blob.h"

#include <stdlib.h>
#include <string.h>

/* Held jobs that make the submitter record the group without waiting for
 * the mailbox to run empty (one chunk of reporter_record.c). */
#define SUBMIT_GROUP_JOBS 1000

/* A validated submit waiting for the group insert. Owns everything. */
struct reporter_held_submit {
    fwd_origin o;
    dp_msg reply;    /* submitted: every item but the record's outcome */
    dp_msg spec_msg; /* the submit's specs, moved out of the message */
    char **texts;    /* per valid spec: its JSON (PostgreSQL's) */
    void **blobs;    /* per valid spec: its Redis form (spec_blob.h) */
    size_t *blob_len;
    size_t *item_of; /* valid spec k is item item_of[k] */
    size_t n_ok;
    int recorded; /* its group was recorded (reporter_flush_submits) */
};

static void held_free(reporter_held_submit *h)
{
    for (size_t k = 0; h->texts != NULL && k < h->n_ok; k++) {
        free(h->texts[k]);
        free(h->blobs[k]);
    }
    free(h->texts);
    free(h->blobs);
    free(h->blob_len);
    free(h->item_of);
    dp_msg_free(&h->reply);
    dp_msg_free(&h->spec_msg);
}

/* Validates m's specs into h (ids given, JSON rendered); answers m itself
 * and returns non-zero when the whole submit is refused or nothing in it
 * needs recording. */
static int prepare(reporter_state *s, fwd_origin o, dp_msg *m, reporter_held_submit *h)
{
    dp_msg_submit *sub = &m->submit;
    dp_err err = {0};
    memset(h, 0, sizeof *h);
    h->o = o;
    h->reply = (dp_msg){.type = DP_MSG_SUBMITTED, .id = m->id};
    h->reply.submitted.items = calloc(sub->n_specs, sizeof *h->reply.submitted.items);
    h->texts = calloc(sub->n_specs, sizeof *h->texts);
    h->blobs = calloc(sub->n_specs, sizeof *h->blobs);
    h->blob_len = calloc(sub->n_specs, sizeof *h->blob_len);
    h->item_of = calloc(sub->n_specs, sizeof *h->item_of);
    if (h->reply.submitted.items == NULL || h->texts == NULL || h->blobs == NULL ||
        h->blob_len == NULL || h->item_of == NULL) {
        dp_err_set(&err, DP_ENOMEM, "out of memory");
        fwd_reply_code(o, m->id, DP_ENOMEM, "job", &err);
        return -1;
    }
    h->reply.submitted.n_items = sub->n_specs;
    /* Routing: a profile no runner ever offered is refused at once (the
     * whole submit: one error naming it), unless no runner ever offered any. */
    char warning[512];
    int prc = reporter_check_profiles(s, sub->specs, sub->n_specs, warning, sizeof warning, &err);
    if (prc != DP_OK) {
        fwd_reply_code(o, m->id, prc, "job", &err);
        return -1;
    }
    for (size_t i = 0; i < sub->n_specs; i++) {
        dp_job_spec *spec = &sub->specs[i];
        dp_submit_item *it = &h->reply.submitted.items[i];
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
        char *text = NULL;
        void *blob = NULL;
        size_t blob_len = 0;
        dp_err perr = {0};
        if (spec->job_id == NULL || dp_job_spec_json_text(spec, &text, NULL, &perr) != DP_OK ||
            spec_blob_pack(spec, &blob, &blob_len, &perr) != DP_OK ||
            (it->job_id = strdup(id)) == NULL) {
            it->error = strdup(perr.msg[0] != '\0' ? perr.msg : "out of memory");
            free(text);
            free(blob);
            continue;
        }
        if (warning[0] != '\0')
            it->warning = strdup(warning);
        h->texts[h->n_ok] = text;
        h->blobs[h->n_ok] = blob;
        h->blob_len[h->n_ok] = blob_len;
        h->item_of[h->n_ok++] = i;
    }
    h->spec_msg = (dp_msg){.type = DP_MSG_SUBMIT, .submit = *sub};
    memset(sub, 0, sizeof *sub); /* the specs are h's now */
    if (h->n_ok == 0) {
        fwd_reply(o, &h->reply);
        return -1;
    }
    return 0;
}

void reporter_do_submit(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m)
{
    reporter_state *s = state;
    (void)ctx;
    if (s->n_held == s->cap_held) {
        size_t cap = s->cap_held ? 2 * s->cap_held : 16;
        reporter_held_submit *h = realloc(s->held, cap * sizeof *h);
        if (h == NULL) {
            dp_err err = {0};
            dp_err_set(&err, DP_ENOMEM, "out of memory");
            fwd_reply_code(o, m->id, DP_ENOMEM, "job", &err);
            return;
        }
        s->held = h;
        s->cap_held = cap;
    }
    reporter_held_submit *h = &s->held[s->n_held];
    if (prepare(s, o, m, h) != 0) {
        held_free(h);
        return;
    }
    s->n_held++;
    s->held_jobs += h->n_ok;
}

bool reporter_submits_full(const reporter_state *s)
{
    return s->held_jobs >= SUBMIT_GROUP_JOBS;
}

/* Room for one batch: at most every held job. */
typedef struct {
    const char **texts;
    rq_job_in *in;
    dp_submit_item **items;
    unsigned char *recorded;
} submit_batch;

/* Records the valid specs of the held submits from `first` on that share
 * held[first]'s requester as one batch, in arrival order (an earlier batch
 * would have taken them all, so every such submit is in this one). */
static void record_batch(reporter_state *s, size_t first, submit_batch *b)
{
    const char *key = s->held[first].o.key_id;
    size_t n = 0;
    for (size_t i = first; i < s->n_held; i++) {
        reporter_held_submit *h = &s->held[i];
        if (strcmp(h->o.key_id, key) != 0)
            continue;
        h->recorded = 1;
        for (size_t j = 0; j < h->n_ok; j++, n++) {
            const dp_job_spec *spec = &h->spec_msg.submit.specs[h->item_of[j]];
            b->texts[n] = h->texts[j];
            b->items[n] = &h->reply.submitted.items[h->item_of[j]];
            b->in[n] = (rq_job_in){.job_id = spec->job_id,
                                   .spec = h->blobs[j],
                                   .spec_len = h->blob_len[j],
                                   .max_attempts = spec->max_attempts,
                                   .profile = spec->profile,
                                   .labels = (const char *const *)spec->labels,
                                   .n_labels = spec->n_labels,
                                   .priority = spec->priority};
        }
    }
    /* The record first: a job exists once PostgreSQL has it. */
    dp_err err = {0};
    if (reporter_quota_submit(s, s->held[first].o, b->texts, b->in, n, b->recorded, b->items,
                              &err) != DP_OK)
        dp_log(DP_LOG_ERROR, "submit_not_persisted", "error", err.msg, (char *)NULL);
    /* Items the quota path refused itself are answered already; the rest
     * that PostgreSQL did not take get its reason (made once, if needed). */
    char why[sizeof err.msg + 64] = "";
    for (size_t k = 0; k < n; k++) {
        dp_submit_item *it = b->items[k];
        if (b->recorded[k])
            reporter_metrics_submitted(s, b->in[k].profile);
        else if (it->job_id != NULL && it->code == NULL) { /* not refused by a quota: not stored */
            free(it->job_id);
            it->job_id = NULL;
            if (why[0] == '\0')
                snprintf(why, sizeof why,
                         "job not accepted, PostgreSQL did not record it (%s): retry",
                         err.msg[0] != '\0' ? err.msg : "unavailable");
            it->error = strdup(why);
        }
    }
}

void reporter_flush_submits(reporter_state *s)
{
    if (s->n_held == 0)
        return;
    submit_batch b = {calloc(s->held_jobs, sizeof *b.texts), calloc(s->held_jobs, sizeof *b.in),
                      calloc(s->held_jobs, sizeof *b.items), calloc(s->held_jobs, 1)};
    bool room = b.texts != NULL && b.in != NULL && b.items != NULL && b.recorded != NULL;
    for (size_t i = 0; room && i < s->n_held; i++)
        if (!s->held[i].recorded)
            record_batch(s, i, &b);
    dp_err oom = {0};
    dp_err_set(&oom, DP_ENOMEM, "out of memory, no job accepted: retry");
    for (size_t i = 0; i < s->n_held; i++) {
        reporter_held_submit *h = &s->held[i];
        if (room)
            fwd_reply(h->o, &h->reply);
        else /* nothing was recorded */
            fwd_reply_code(h->o, h->reply.id, DP_ENOMEM, "job", &oom);
        held_free(h);
    }
    free(b.texts);
    free(b.in);
    free(b.items);
    free(b.recorded);
    s->n_held = 0;
    s->held_jobs = 0;
}

void reporter_submits_free(reporter_state *s)
{
    for (size_t i = 0; i < s->n_held; i++)
        held_free(&s->held[i]);
    free(s->held);
    s->held = NULL;
    s->n_held = s->cap_held = s->held_jobs = 0;
}
