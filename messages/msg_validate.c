/* Semantic validation: the bounds from the field tables, then what each
 * message requires. Runs before every encode and after every decode. */
#include "messages/msg_schema.h"

#include <ctype.h>
#include <stdio.h>
#include <strings.h>
#include <string.h>

static int required(dp_err *err, const char *s, const char *what, const char *key)
{
    if (s == NULL || s[0] == '\0')
        return dp_err_set(err, DP_EINVAL, "%s.%s: required", what, key);
    return DP_OK;
}

static int creds(dp_err *err, const char *runner_id, const char *token, const char *what)
{
    int rc = required(err, runner_id, what, "rid");
    return rc != DP_OK ? rc : required(err, token, what, "rtok");
}

static int score_ok(dp_err *err, double score, const char *what)
{
    if (!(score >= 0.0 && score <= 100.0))
        return dp_err_set(err, DP_EINVAL, "%s.score: %g outside 0..100", what, score);
    return DP_OK;
}

int dp_msg_validate_spec(const dp_job_spec *spec, dp_err *err)
{
    int rc = dp_schema_check(dp_spec_schema(), spec, "spec", err);
    return rc != DP_OK ? rc : dp_job_spec_check(spec, "spec", err);
}

/* One leased job; what names it in an error ("leased.jobs[3]"; "": no
 * message wanted). */
static int validate_leased_job(const dp_leased_job *j, const char *what, dp_err *err)
{
    int rc = required(err, j->job_id, what, "jid");
    if (rc != DP_OK)
        return rc;
    if (j->attempt < 1)
        return dp_err_set(err, DP_EINVAL, "%s.att: attempts count from 1", what);
    if (j->spec_packed.bytes != NULL) /* checked when it was encoded: dp_leased_job */
        return DP_OK;
    if (j->spec.job_id != NULL && strcmp(j->spec.job_id, j->job_id) != 0)
        return dp_err_set(err, DP_EINVAL, "%s.spec.jid: differs from the job id", what);
    if (what[0] == '\0')
        return dp_job_spec_check(&j->spec, "", err);
    char spec[80];
    snprintf(spec, sizeof spec, "%s.spec", what);
    return dp_job_spec_check(&j->spec, spec, err);
}

/* Items are checked without their path, which is made only for a failing
 * one and its message (checked again): a formatted path per item was
 * measurable, every job's spec being validated after each decode and
 * before each encode (perf of a runner at 2x16: 3.9 % of its samples). */
static int validate_leased(const dp_msg_leased *l, dp_err *err)
{
    for (size_t i = 0; i < l->n_jobs; i++) {
        const dp_leased_job *j = &l->jobs[i];
        if (validate_leased_job(j, "", NULL) != DP_OK) {
            char what[64];
            snprintf(what, sizeof what, "leased.jobs[%zu]", i);
            return validate_leased_job(j, what, err);
        }
    }
    return DP_OK;
}

static int validate_complete(const dp_msg_complete *c, dp_err *err)
{
    const dp_job_result *res = &c->result;
    int rc = creds(err, c->runner_id, c->runner_token, "complete");
    if (rc == DP_OK)
        rc = required(err, res->job_id, "complete.res", "jid");
    if (rc != DP_OK)
        return rc;
    if (res->attempt < 1)
        return dp_err_set(err, DP_EINVAL, "complete.res.att: attempts count from 1");
    if (res->verdict == DP_VERDICT_NONE)
        return dp_err_set(err, DP_EINVAL, "complete.res.vd: a result needs a verdict");
    return score_ok(err, res->score, "complete.res");
}

static int validate_result(const dp_job_result *res, const char *what, dp_err *err)
{
    int rc = required(err, res->job_id, what, "jid");
    if (rc != DP_OK)
        return rc;
    if (res->attempt < 1)
        return dp_err_set(err, DP_EINVAL, "%s.att: attempts count from 1", what);
    if (res->verdict == DP_VERDICT_NONE)
        return dp_err_set(err, DP_EINVAL, "%s.vd: a result needs a verdict", what);
    return score_ok(err, res->score, what);
}

static int validate_complete_lease(const dp_msg_complete_lease *c, dp_err *err)
{
    int rc = creds(err, c->runner_id, c->runner_token, "complete_lease");
    if (rc != DP_OK)
        return rc;
    if (c->max_jobs > DP_MSG_MAX_LEASE)
        return dp_err_set(err, DP_EINVAL, "complete_lease.max: %u jobs, must be 0..%d", c->max_jobs,
                          DP_MSG_MAX_LEASE);
    /* an early runner's outcomes poll (nothing to send, no free slot,
     * results awaiting their outcomes) asks for nothing but waits */
    if (c->max_jobs == 0 && c->n_results == 0 && !(c->early && c->wait_ms > 0))
        return dp_err_set(err, DP_EINVAL,
                          "complete_lease: neither results nor a lease (nor an early wait)");
    for (size_t i = 0; i < c->n_results; i++) {
        if (validate_result(&c->results[i].result, "", NULL) != DP_OK) { /* as validate_leased */
            char what[64];
            snprintf(what, sizeof what, "complete_lease.res[%zu].res", i);
            return validate_result(&c->results[i].result, what, err);
        }
        /* a job's result appears once: two could not both be its answer */
        for (size_t k = 0; k < i; k++)
            if (strcmp(c->results[k].result.job_id, c->results[i].result.job_id) == 0)
                return dp_err_set(err, DP_EINVAL,
                                  "complete_lease.res[%zu].res.jid: job %.80s appears twice", i,
                                  c->results[i].result.job_id);
    }
    return DP_OK;
}

static int validate_outcome(const dp_result_outcome *o, const char *what, dp_err *err)
{
    int rc = required(err, o->job_id, what, "jid");
    if (rc == DP_OK)
        rc = required(err, o->outcome, what, "o");
    if (rc != DP_OK)
        return rc;
    if (strcmp(o->outcome, DP_OUTCOME_ACK) != 0 && strcmp(o->outcome, DP_OUTCOME_CONFLICT) != 0 &&
        strcmp(o->outcome, DP_OUTCOME_NOT_FOUND) != 0 && strcmp(o->outcome, DP_OUTCOME_RETRY) != 0)
        return dp_err_set(err, DP_EINVAL, "%s.o: '%.40s' is not ack, conflict, not_found or retry",
                          what, o->outcome);
    return DP_OK;
}

static int validate_outcomes(const dp_result_outcome *outs, size_t n, const char *name, dp_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (validate_outcome(&outs[i], "", NULL) != DP_OK) { /* as validate_leased */
            char what[64];
            snprintf(what, sizeof what, "%s.outs[%zu]", name, i);
            return validate_outcome(&outs[i], what, err);
        }
    return DP_OK;
}

static int validate_completed_leased(const dp_msg_completed_leased *c, dp_err *err)
{
    int rc = validate_outcomes(c->outcomes, c->n_outcomes, "completed_leased", err);
    if (rc != DP_OK)
        return rc;
    dp_msg_leased l = {c->jobs, c->n_jobs};
    return validate_leased(&l, err);
}

static int validate_submitted(const dp_msg_submitted *s, dp_err *err)
{
    for (size_t i = 0; i < s->n_items; i++) {
        const dp_submit_item *it = &s->items[i];
        if ((it->job_id == NULL) == (it->error == NULL))
            return dp_err_set(err, DP_EINVAL, "submitted.items[%zu]: needs a job id or an error",
                              i);
    }
    return DP_OK;
}

/* The parameters' own names (state, limit): the HTTP API answers 400 with
 * this message as it is. The cursor's shape is the reporter's to judge. */
static int validate_job_list(const dp_msg_job_list *l, dp_err *err)
{
    dp_job_state st;
    if (l->state != NULL && dp_job_state_parse(l->state, &st) != DP_OK)
        return dp_err_set(err, DP_EINVAL,
                          "state: '%.40s' is not queued, leased, completed, failed or cancelled",
                          l->state);
    if (l->limit > DP_JOB_LIST_MAX)
        return dp_err_set(err, DP_EINVAL, "limit: %u outside 1..%d", l->limit, DP_JOB_LIST_MAX);
    return DP_OK;
}

static int validate_body(const dp_msg *m, dp_err *err)
{
    switch (m->type) {
    case DP_MSG_REGISTER: {
        int rc = required(err, m->reg.registration_token, "register", "tok");
        if (rc == DP_OK)
            rc = required(err, m->reg.name, "register", "name");
        if (rc == DP_OK && m->reg.capacity < 1)
            rc = dp_err_set(err, DP_EINVAL, "register.cap: at least 1 slot");
        return rc;
    }
    case DP_MSG_REGISTERED: {
        int rc = creds(err, m->registered.runner_id, m->registered.runner_token, "registered");
        if (rc == DP_OK && (m->registered.heartbeat_ms == 0 || m->registered.alive_ttl_ms == 0))
            rc = dp_err_set(err, DP_EINVAL, "registered: hb and ttl must be positive");
        return rc;
    }
    case DP_MSG_HEARTBEAT:
        return creds(err, m->heartbeat.runner_id, m->heartbeat.runner_token, "heartbeat");
    case DP_MSG_ERROR:
        return required(err, m->error.code, "error", "code");
    case DP_MSG_LEASE: {
        int rc = creds(err, m->lease.runner_id, m->lease.runner_token, "lease");
        if (rc == DP_OK && (m->lease.max_jobs < 1 || m->lease.max_jobs > DP_MSG_MAX_LEASE))
            rc = dp_err_set(err, DP_EINVAL, "lease.max: %u jobs, must be 1..%d", m->lease.max_jobs,
                            DP_MSG_MAX_LEASE);
        return rc;
    }
    case DP_MSG_LEASED:
        return validate_leased(&m->leased, err);
    case DP_MSG_COMPLETE:
        return validate_complete(&m->complete, err);
    case DP_MSG_NOT_FOUND:
        return required(err, m->not_found.what, "not_found", "what");
    case DP_MSG_DEREGISTER:
        return creds(err, m->deregister.runner_id, m->deregister.runner_token, "deregister");
    case DP_MSG_SUBMIT:
        /* Each spec is checked by the receiver (dp_msg_validate_spec) so one
         * bad spec fails only its own item of the batch. */
        if (m->submit.n_specs < 1)
            return dp_err_set(err, DP_EINVAL, "submit.specs: at least one spec");
        return DP_OK;
    case DP_MSG_SUBMITTED:
        return validate_submitted(&m->submitted, err);
    case DP_MSG_STATUS:
        return required(err, m->status.job_id, "status", "jid");
    case DP_MSG_CANCEL:
        return required(err, m->cancel.job_id, "cancel", "jid");
    case DP_MSG_JOB: {
        int rc = required(err, m->job.job_id, "job", "jid");
        return rc != DP_OK ? rc : score_ok(err, m->job.score, "job");
    }
    case DP_MSG_RUNNERS:
        for (size_t i = 0; i < m->runners.n_runners; i++)
            if (m->runners.runners[i].runner_id == NULL)
                return dp_err_set(err, DP_EINVAL, "runners.runners[%zu].rid: required", i);
        return DP_OK;
    case DP_MSG_REQUEUE:
        if ((m->requeue.job_id != NULL) == m->requeue.dead)
            return dp_err_set(err, DP_EINVAL, "requeue: give exactly one of a job id and dead");
        return DP_OK;
    case DP_MSG_DRAIN:
        return required(err, m->drain.runner_id, "drain", "rid");
    case DP_MSG_KEY_CREATE:
        if (m->key_create.scopes < 1 || m->key_create.scopes > 7)
            return dp_err_set(err, DP_EINVAL, "key_create.scopes: %u is not submit, read, admin",
                              m->key_create.scopes);
        return required(err, m->key_create.name, "key_create", "name");
    case DP_MSG_KEY:
        return required(err, m->key.key_id, "key", "kid");
    case DP_MSG_KEY_REVOKE:
        return required(err, m->key_revoke.key, "key_revoke", "key");
    case DP_MSG_WAIT:
        return required(err, m->wait.job_id, "wait", "jid");
    case DP_MSG_JOB_LIST:
        return validate_job_list(&m->job_list, err);
    case DP_MSG_JOBS:
        for (size_t i = 0; i < m->jobs.n_jobs; i++)
            if (m->jobs.jobs[i].job_id == NULL)
                return dp_err_set(err, DP_EINVAL, "jobs.jobs[%zu].jid: required", i);
        return DP_OK;
    case DP_MSG_PROFILES:
        for (size_t i = 0; i < m->profiles.n_profiles; i++)
            if (m->profiles.profiles[i].name == NULL)
                return dp_err_set(err, DP_EINVAL, "profiles.profs[%zu].name: required", i);
        return DP_OK;
    case DP_MSG_EVENT:
        return required(err, m->event.job_id, "event", "jid");
    case DP_MSG_COMPLETE_LEASE:
        return validate_complete_lease(&m->complete_lease, err);
    case DP_MSG_COMPLETED_LEASED:
        return validate_completed_leased(&m->completed_leased, err);
    case DP_MSG_OUTCOMES:
        if (m->outcomes.runner_id == NULL || m->outcomes.n_outcomes == 0)
            return dp_err_set(err, DP_EINVAL, "outcomes: a runner id and 1..%d outcomes required",
                              DP_MSG_MAX_RESULTS);
        return validate_outcomes(m->outcomes.outcomes, m->outcomes.n_outcomes, "outcomes", err);
    case DP_MSG_EVENTS:
        for (size_t i = 0; i < m->events.n_events; i++)
            if (m->events.events[i].job_id == NULL)
                return dp_err_set(err, DP_EINVAL, "events: evs[%zu].jid: required", i);
        return DP_OK;
    case DP_MSG_ANSWER:
        if (m->answer.bytes == NULL || m->answer.len == 0)
            return dp_err_set(err, DP_EINVAL, "answer.b: the reply's bytes are required");
        return DP_OK;
    default:
        return DP_OK; /* ack, none, conflict, list_runners, queue, queue_stats */
    }
}

int dp_msg_validate(const dp_msg *m, dp_err *err)
{
    const char *name = dp_msg_type_name(m->type);
    if (name == NULL)
        return dp_err_set(err, DP_EINVAL, "message type %d is not a known type", (int)m->type);
    if (m->auth != NULL && strlen(m->auth) > DP_MSG_MAX_TOKEN)
        return dp_err_set(err, DP_EINVAL, "%s: credential longer than %d bytes", name,
                          DP_MSG_MAX_TOKEN);
    int rc = dp_schema_check(dp_msg_body_schema(m->type), dp_msg_body_const(m), name, err);
    return rc != DP_OK ? rc : validate_body(m, err);
}
