/* The reporter's half of complete_lease: the results of one runner message
 * go into the same group commit as lone completes (reporter_complete.c);
 * the message is answered once every result has its outcome, with the jobs
 * the leaser claimed for it (leaser.c, on_complete_lease). The leaser
 * checked the runner's token before passing the message on (an in-process
 * message: nobody else can send it); the Redis owner check and the
 * PostgreSQL attempt fence decide each result as they do for a lone one,
 * and a resent result that was recorded already is acked without being
 * recorded again, as a repeated complete is (rq_owner_check passes an
 * identical repeat of an accepted complete; the store says duplicate). */
#include "dispatch/reporter_impl.h"

#include "common/log.h"
#include "common/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reporter_group {
    fwd_origin origin;
    size_t pending;     /* results without an outcome yet */
    dp_msg reply;       /* completed_leased: one outcome per result, then the jobs (owned) */
    char *early_runner; /* an early message (answered by the leaser): its runner */
    char *back;         /* ...and the leaser's inproc URL, where its outcomes go */
};

/* Every outcome of an early message goes to the leaser, which hands them
 * to the runner in its next answer (leaser.c, on_outcomes). A send that
 * fails (the leaser stopped) loses nothing: the runner sends those results
 * again. */
static void outcomes_to_leaser(reporter_group *g)
{
    dp_msg m = {.type = DP_MSG_OUTCOMES};
    m.outcomes.runner_id = g->early_runner;
    m.outcomes.outcomes = g->reply.completed_leased.outcomes;
    m.outcomes.n_outcomes = g->reply.completed_leased.n_outcomes;
    dp_err err = {0};
    nng_msg *msg = fwd_internal(&m, &err);
    if (msg == NULL || actor_send_local(g->back, msg, &err) != DP_OK)
        dp_log(DP_LOG_WARN, "outcomes_not_passed", "runner_id", g->early_runner, "error", err.msg,
               (char *)NULL);
    dp_msg_free(&g->reply);
    free(g->early_runner);
    free(g->back);
    free(g);
}

static void group_outcome(reporter_group *g, uint32_t slot, const char *outcome,
                          const char *message)
{
    dp_result_outcome *o = &g->reply.completed_leased.outcomes[slot];
    o->outcome = strdup(outcome);
    if (message != NULL)
        o->message = strdup(message);
    if (--g->pending > 0)
        return;
    if (g->early_runner != NULL) {
        outcomes_to_leaser(g);
        return;
    }
    fwd_reply_take(g->origin, &g->reply); /* an outcome lost to ENOMEM: the runner resends */
    free(g);
}

void reporter_answer(reporter_state *s, pending_complete *p, dp_msg *r)
{
    (void)s;
    if (p->group == NULL) {
        fwd_reply_take(p->origin, r);
        return;
    }
    switch (r->type) {
    case DP_MSG_ACK:
        group_outcome(p->group, p->slot, DP_OUTCOME_ACK, NULL);
        break;
    case DP_MSG_CONFLICT:
        group_outcome(p->group, p->slot, DP_OUTCOME_CONFLICT, r->conflict.message);
        break;
    case DP_MSG_NOT_FOUND:
        group_outcome(p->group, p->slot, DP_OUTCOME_NOT_FOUND, r->not_found.message);
        break;
    default:
        group_outcome(p->group, p->slot, DP_OUTCOME_RETRY,
                      r->type == DP_MSG_ERROR ? r->error.message : "not recorded");
        break;
    }
    dp_msg_free(r);
}

void reporter_answer_error(reporter_state *s, pending_complete *p, const char *code,
                           const char *message)
{
    (void)s;
    if (p->group == NULL) {
        fwd_reply_error(p->origin, p->id, code, message);
        return;
    }
    group_outcome(p->group, p->slot, DP_OUTCOME_RETRY, message);
}

reporter_group *reporter_group_open(reporter_state *s, dp_msg *m)
{
    (void)s;
    dp_msg_lease_for *lf = &m->lease_for;
    fwd_origin runner = {.gateway = lf->gateway, .req = lf->req};
    size_t n = lf->lease.n_results;
    reporter_group *g = calloc(1, sizeof *g);
    dp_result_outcome *outs = calloc(n ? n : 1, sizeof *outs);
    if (g == NULL || outs == NULL) {
        free(g);
        free(outs);
        fwd_reply_error(runner, lf->reply_id, DP_MSG_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    g->origin = runner;
    g->pending = n;
    if (lf->lease.early && lf->back != NULL && n > 0) {
        g->early_runner = strdup(lf->lease.runner_id);
        g->back = strdup(lf->back);
        if (g->early_runner == NULL || g->back == NULL) {
            free(g->early_runner);
            free(g->back);
            free(g);
            free(outs);
            return NULL; /* out of memory: the runner sends these results again */
        }
    }
    g->reply.type = DP_MSG_COMPLETED_LEASED;
    g->reply.id = lf->reply_id;
    g->reply.completed_leased.outcomes = outs;
    g->reply.completed_leased.n_outcomes = n;
    g->reply.completed_leased.jobs = lf->answer.jobs; /* moved */
    g->reply.completed_leased.n_jobs = lf->answer.n_jobs;
    lf->answer.jobs = NULL;
    lf->answer.n_jobs = 0;
    for (size_t i = 0; i < n; i++) {
        outs[i].job_id = strdup(lf->lease.results[i].result.job_id);
        outs[i].attempt = lf->lease.results[i].result.attempt;
    }
    if (n == 0) { /* the leaser sends only messages with results; answer anyway */
        fwd_reply_take(g->origin, &g->reply);
        free(g);
        return NULL;
    }
    return g;
}

size_t reporter_group_queue(reporter_state *s, reporter_group *g, dp_msg *m, size_t from)
{
    dp_msg_lease_for *lf = &m->lease_for;
    size_t i = from;
    for (; i < lf->lease.n_results && s->n_batch < REPORTER_BATCH; i++) {
        dp_result_item *it = &lf->lease.results[i];
        pending_complete *p = &s->batch[s->n_batch++];
        p->origin = g->origin;
        p->id = lf->reply_id;
        p->group = g;
        p->slot = (uint32_t)i;
        p->runner_id = strdup(lf->lease.runner_id);
        p->result = it->result; /* moved into the batch */
        memset(&it->result, 0, sizeof it->result);
        p->retry = it->retry;
        p->arrived_s = dp_metrics_now();
        /* the leaser's owner check, when its lease call made one */
        p->owner = lf->n_checks == lf->lease.n_results && !it->retry ? lf->checks[i].code
                                                                     : DP_OWNER_UNCHECKED;
        if (p->owner > DP_OWNER_NOT_FOUND)
            p->owner = DP_OWNER_UNCHECKED;
        p->checked_ms = (int64_t)lf->checked_ms;
    }
    return i;
}
