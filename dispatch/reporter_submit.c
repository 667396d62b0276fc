/* The reporter's submit: validate each spec and render it as JSON once,
 * then record and enqueue the jobs within the requester's quotas
 * (reporter_quota.c, reporter_record.c). */
#include "dispatch/reporter_impl.h"

#include "common/log.h"
#include "common/job_json.h"

#include <stdlib.h>
#include <string.h>

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
    size_t *item_of = calloc(sub->n_specs, sizeof *item_of); /* valid spec k is item item_of[k] */
    unsigned char *recorded = calloc(sub->n_specs ? sub->n_specs : 1, 1);
    size_t n_ok = 0;
    dp_err err = {0};
    if (r.submitted.items == NULL || ok == NULL || in == NULL || texts == NULL || item_of == NULL ||
        recorded == NULL) {
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
        item_of[n_ok] = i;
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
        int rc = reporter_quota_submit(s, o, (const char *const *)texts, in, n_ok, recorded,
                                       &r.submitted, &err);
        if (rc != DP_OK)
            dp_log(DP_LOG_ERROR, "submit_not_persisted", "error", err.msg, (char *)NULL);
    }
    for (size_t k = 0; k < n_ok; k++) {
        dp_submit_item *it = &r.submitted.items[item_of[k]];
        if (recorded[k])
            reporter_metrics_submitted(s, ok[k].profile);
        else if (it->job_id != NULL && it->code == NULL) { /* not refused by a quota: not stored */
            free(it->job_id);
            it->job_id = NULL;
            it->error = strdup("PostgreSQL unavailable, job not accepted: retry");
        }
    }
    fwd_reply(o, &r);
out:
    for (size_t i = 0; texts != NULL && i < sub->n_specs; i++)
        free(texts[i]);
    free(texts);
    free(item_of);
    free(recorded);
    free(in);
    free(ok);
    dp_msg_free(&r);
}
