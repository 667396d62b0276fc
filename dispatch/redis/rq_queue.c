/* Queue and leases: enqueue, lease, complete, and the rebuild helper. */
#include <stdlib.h>
#include <string.h>

#include "dispatch/redis/rq_events.h"
#include "rq_internal.h"

/* The priority's letter in key names: h, n, l. */
static const char *rq_prio_code(uint32_t p)
{
    return p == DP_PRIORITY_HIGH ? "h" : p == DP_PRIORITY_LOW ? "l" : "n";
}

/* The stream entries of one chunk: blobs [from, from + n) of events, or none. */
/* The stream entries a script adds (events: NULL for none). */
static void rq_args_events(rq_args *a, const rq_blobs *events)
{
    rq_args_u64(a, RQ_EVENTS_MAXLEN);
    rq_args_u64(a, events != NULL ? events->n : 0);
    for (size_t i = 0; events != NULL && i < events->n; i++)
        rq_args_add(a, events->v[i], events->len[i]);
}

static int rq_enqueue_chunk(rq_conn *c, const rq_job_in *jobs, size_t n, const rq_blobs *events,
                            size_t *added, dp_err *err)
{
    rq_args a = {0};
    rq_args_u64(&a, n);
    for (size_t i = 0; i < n; i++) {
        uint32_t max = jobs[i].max_attempts ? jobs[i].max_attempts : c->opt.max_attempts;
        char qid[RQ_QID_MAX];
        int rc = rq_queue_id(jobs[i].profile, jobs[i].labels, jobs[i].n_labels, qid, err);
        if (rc != DP_OK) {
            rq_args_free(&a);
            return rc;
        }
        rq_args_str(&a, jobs[i].job_id);
        rq_args_add(&a, jobs[i].spec ? jobs[i].spec : "", jobs[i].spec ? jobs[i].spec_len : 0);
        rq_args_u64(&a, max);
        rq_args_u64(&a, jobs[i].attempts);
        rq_args_dup(&a, qid);
        rq_args_str(&a, rq_prio_code(jobs[i].priority));
    }
    rq_args_events(&a, events);
    redisReply *r = NULL;
    /* Retry-safe: the script skips job ids that already exist. */
    int rc = rq_eval(c, RQ_LUA_ENQUEUE, &a, RQ_RETRY, &r, err);
    rq_args_free(&a);
    if (rc != DP_OK)
        return rc;
    *added += (size_t)rq_reply_int(r);
    freeReplyObject(r);
    return DP_OK;
}

int rq_enqueue(rq_conn *c, const rq_job_in *jobs, size_t n, size_t *added, dp_err *err)
{
    return rq_enqueue_streamed(c, jobs, n, NULL, added, err);
}

int rq_enqueue_streamed(rq_conn *c, const rq_job_in *jobs, size_t n, const rq_blobs *events,
                        size_t *added, dp_err *err)
{
    size_t total = 0;
    if (added)
        *added = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = rq_check_id(jobs[i].job_id, "job id", err);
        if (rc != DP_OK)
            return rc;
        if (jobs[i].max_attempts > DP_MAX_ATTEMPTS_LIMIT)
            return dp_err_set(err, DP_EINVAL, "job %s: max_attempts %u is above %d", jobs[i].job_id,
                              (unsigned)jobs[i].max_attempts, DP_MAX_ATTEMPTS_LIMIT);
        if (jobs[i].priority > DP_PRIORITY_LOW)
            return dp_err_set(err, DP_EINVAL, "job %s: priority %u is unknown", jobs[i].job_id,
                              (unsigned)jobs[i].priority);
    }
    for (size_t i = 0; i < n; i += RQ_BATCH_MAX) {
        size_t m = n - i < RQ_BATCH_MAX ? n - i : RQ_BATCH_MAX;
        /* the events ride with the first chunk: before any of the jobs */
        int rc = rq_enqueue_chunk(c, jobs + i, m, i == 0 ? events : NULL, &total, err);
        if (added)
            *added = total;
        if (rc != DP_OK)
            return rc;
    }
    return DP_OK;
}

int rq_lease_claim(rq_conn *c, const char *runner_id, uint32_t k, const char *request_id,
                   rq_lease *out, size_t *n_out, dp_err *err)
{
    return rq_lease_claim_streamed(c, runner_id, k, request_id, NULL, 0, out, n_out, NULL, err);
}

/* The lease script's ARGV before its claims (rq_lease.lua), then n. */
static void lease_argv(rq_args *a, const char *event_ts, unsigned event_version, size_t n)
{
    rq_args_str(a, event_ts != NULL ? event_ts : "");
    rq_args_u64(a, RQ_EVENTS_MAXLEN);
    rq_args_u64(a, event_version);
    rq_args_u64(a, RQ_EVENTS_PER_ENTRY);
    rq_args_u64(a, RQ_LEASE_REQS_KEPT);
    rq_args_u64(a, n);
}

/* One claim's ARGV, with the n owner checks that ride with it. */
static void claim_argv(rq_args *a, const char *runner_id, uint32_t k, const char *request_id,
                       const rq_owner_item *checks, size_t n)
{
    rq_args_str(a, runner_id);
    rq_args_u64(a, k);
    rq_args_str(a, request_id != NULL ? request_id : "");
    rq_args_u64(a, n);
    rq_owner_argv(a, checks, n);
}

/* Checks a claim's arguments. */
static int lease_check(const char *runner_id, uint32_t k, const char *request_id, dp_err *err)
{
    int rc = rq_check_id(runner_id, "runner id", err);
    if (rc != DP_OK)
        return rc;
    if (request_id != NULL && *request_id != '\0' &&
        (rc = rq_check_id(request_id, "lease request id", err)) != DP_OK)
        return rc;
    if (k == 0 || k > RQ_LEASE_MAX)
        return dp_err_set(err, DP_EINVAL, "lease size %u is outside 1..%u", (unsigned)k,
                          (unsigned)RQ_LEASE_MAX);
    return DP_OK;
}

/* The lease script's reply r (not freed here) into out[k] and *dry
 * (optional). */
static int lease_reply(const redisReply *r, const char *runner_id, uint32_t k, rq_lease *out,
                       size_t *n_out, int *dry, dp_err *err)
{
    if (r->type == REDIS_REPLY_ERROR)
        return dp_err_set(err, DP_EIO, "redis error during lease for %s: %.*s", runner_id,
                          (int)(r->len > 300 ? 300 : r->len), r->str ? r->str : "");
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || (r->elements - 1) % 3 != 0 ||
        (r->elements - 1) / 3 > k)
        return dp_err_set(err, DP_EPROTO, "lease: unexpected reply from the script");
    long long code = rq_reply_int(r->element[0]); /* 0, 6 (dry) or 5 */
    if (code != 0 && code != 6)
        return dp_err_set(err, DP_ENOTFOUND, "runner %s is not registered (or was reaped)",
                          runner_id);
    size_t n = (r->elements - 1) / 3;
    for (size_t i = 0; i < n; i++) {
        redisReply *id = r->element[1 + 3 * i], *att = r->element[2 + 3 * i],
                   *spec = r->element[3 + 3 * i];
        rq_lease *l = &out[i];
        memset(l, 0, sizeof *l);
        snprintf(l->job_id, sizeof l->job_id, "%.*s", (int)id->len, id->str ? id->str : "");
        l->attempt = (uint32_t)rq_reply_int(att);
        size_t len = spec->type == REDIS_REPLY_STRING ? spec->len : 0;
        l->spec = malloc(len + 1);
        if (l->spec == NULL) {
            /* The jobs are leased already; the caller must release them. */
            rq_leases_free(out, i);
            return dp_err_set(err, DP_ENOMEM, "out of memory copying leased specs");
        }
        if (len)
            memcpy(l->spec, spec->str, len);
        ((char *)l->spec)[len] = '\0';
        l->spec_len = len;
    }
    *n_out = n;
    if (dry != NULL)
        *dry = code == 6;
    return DP_OK;
}

/* The lease script's reply r (not freed here) of n claims: array of n,
 * then the array of the owner checks, n_checks of them. */
static int lease_replies(const redisReply *r, size_t n, size_t n_checks, dp_err *err)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n + 1 ||
        r->element[n]->type != REDIS_REPLY_ARRAY || r->element[n]->elements != n_checks)
        return dp_err_set(err, DP_EPROTO, "lease: unexpected reply from the script");
    return DP_OK;
}

int rq_lease_claim_streamed(rq_conn *c, const char *runner_id, uint32_t k, const char *request_id,
                            const char *event_ts, unsigned event_version, rq_lease *out,
                            size_t *n_out, int *dry, dp_err *err)
{
    *n_out = 0;
    if (dry != NULL)
        *dry = 0;
    int rc = lease_check(runner_id, k, request_id, err);
    if (rc != DP_OK)
        return rc;
    int has_req = request_id != NULL && *request_id != '\0';
    rq_args a = {0};
    lease_argv(&a, event_ts, event_version, 1);
    claim_argv(&a, runner_id, k, request_id, NULL, 0);
    redisReply *r = NULL;
    /* Only a lease with a request id may be retried: the retry is answered
     * from what the first try recorded. */
    rc = rq_eval(c, RQ_LUA_LEASE, &a, has_req ? RQ_RETRY : RQ_NO_RETRY, &r, err);
    rq_args_free(&a);
    if (rc != DP_OK)
        return rc;
    rc = lease_replies(r, 1, 0, err);
    if (rc == DP_OK)
        rc = lease_reply(r->element[0], runner_id, k, out, n_out, dry, err);
    freeReplyObject(r);
    return rc;
}

size_t rq_lease_claim_many(rq_conn *c, rq_claim *claims, size_t n, const char *event_ts,
                           unsigned event_version)
{
    size_t ok = 0, m = 0;
    size_t *which = calloc(n ? n : 1, sizeof *which);
    size_t *n_ck = calloc(n ? n : 1, sizeof *n_ck); /* checks made per claim */
    dp_err err = {0};
    if (which == NULL || n_ck == NULL) {
        free(which);
        free(n_ck);
        for (size_t i = 0; i < n; i++)
            claims[i].rc = dp_err_set(&claims[i].err, DP_ENOMEM, "out of memory");
        return 0;
    }
    rq_args a = {0};
    for (size_t i = 0; i < n; i++) {
        rq_claim *q = &claims[i];
        q->n_out = 0;
        q->dry = 0;
        q->err = (dp_err){0};
        q->checked = 0;
        q->rc = lease_check(q->runner_id, q->k, q->request_id, &q->err);
        /* Checks it cannot make (too many, a malformed id) are left to the
         * caller (checked stays 0); the claim goes on. */
        n_ck[i] = q->n_checks <= RQ_BATCH_MAX ? q->n_checks : 0;
        for (size_t j = 0; j < n_ck[i]; j++) {
            dp_err ignored = {0};
            if (rq_check_id(q->checks[j].job_id, "job id", &ignored) != DP_OK ||
                q->checks[j].runner_id == NULL ||
                rq_check_id(q->checks[j].runner_id, "runner id", &ignored) != DP_OK)
                n_ck[i] = 0;
        }
        if (q->rc == DP_OK && (q->request_id == NULL || *q->request_id == '\0'))
            q->rc = dp_err_set(&q->err, DP_EINVAL, "a batched lease needs a request id");
        /* The script keeps the last RQ_LEASE_REQS_KEPT request ids per
         * runner: more claims of one runner in a call, run again (a resend),
         * would not all find their own and would claim afresh, stranding
         * what they got the first time. */
        size_t same = 0;
        for (size_t j = 0; q->rc == DP_OK && j < m; j++)
            same += strcmp(claims[which[j]].runner_id, q->runner_id) == 0;
        if (q->rc == DP_OK && same >= RQ_LEASE_REQS_KEPT)
            q->rc =
                dp_err_set(&q->err, DP_EINVAL, "runner %s more than %d times in one batched lease",
                           q->runner_id, RQ_LEASE_REQS_KEPT);
        if (q->rc != DP_OK)
            continue;
        which[m++] = i;
    }
    lease_argv(&a, event_ts, event_version, m);
    size_t n_checks = 0;
    for (size_t j = 0; j < m; j++) {
        const rq_claim *q = &claims[which[j]];
        claim_argv(&a, q->runner_id, q->k, q->request_id, q->checks, n_ck[which[j]]);
        n_checks += n_ck[which[j]];
    }
    redisReply *r = NULL;
    /* One script call for them all; resent whole on a lost connection: each
     * claim answers a request id it has seen from what it recorded, and a
     * check made twice answers the same (its mark is made again). */
    int rc = m > 0 ? rq_eval(c, RQ_LUA_LEASE, &a, RQ_RETRY, &r, &err) : DP_OK;
    if (rc == DP_OK && m > 0)
        rc = lease_replies(r, m, n_checks, &err);
    for (size_t j = 0, at = 0; j < m; j++) {
        rq_claim *q = &claims[which[j]];
        if (rc == DP_OK && n_ck[which[j]] > 0) {
            for (size_t k = 0; k < n_ck[which[j]]; k++)
                rq_owner_parse(&q->checks[k], r->element[m]->element[at++]);
            q->checked = 1;
        }
        if (rc == DP_OK)
            q->rc =
                lease_reply(r->element[j], q->runner_id, q->k, q->out, &q->n_out, &q->dry, &q->err);
        else /* one at a time, under the same request ids, unchecked */
            q->rc = rq_lease_claim_streamed(c, q->runner_id, q->k, q->request_id, event_ts,
                                            event_version, q->out, &q->n_out, &q->dry, &q->err);
    }
    if (r != NULL)
        freeReplyObject(r);
    rq_args_free(&a);
    for (size_t i = 0; i < n; i++)
        ok += claims[i].rc == DP_OK;
    free(which);
    free(n_ck);
    return ok;
}

void rq_leases_free(rq_lease *leases, size_t n)
{
    for (size_t i = 0; leases && i < n; i++) {
        free(leases[i].spec);
        leases[i].spec = NULL;
    }
}

static int rq_complete_chunk(rq_conn *c, const char *runner_id, rq_complete_item *items, size_t n,
                             const rq_blobs *events, dp_err *err)
{
    rq_args a = {0};
    rq_args_str(&a, runner_id);
    rq_args_u64(&a, c->opt.tombstone_ms);
    rq_args_u64(&a, n);
    for (size_t i = 0; i < n; i++) {
        rq_args_str(&a, items[i].job_id);
        rq_args_u64(&a, items[i].attempt);
        rq_args_str(&a, items[i].runner_id != NULL ? items[i].runner_id : "");
    }
    rq_args_events(&a, events);
    redisReply *r = NULL;
    /* Retry-safe: a repeat of an accepted complete is recognised. */
    int rc = rq_eval(c, RQ_LUA_COMPLETE, &a, RQ_RETRY, &r, err);
    rq_args_free(&a);
    if (rc != DP_OK)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
        freeReplyObject(r);
        return dp_err_set(err, DP_EPROTO, "complete: unexpected reply from the script");
    }
    for (size_t i = 0; i < n; i++) {
        long long code = rq_reply_int(r->element[i]);
        items[i].repeated = code == 1;
        items[i].result = code <= 1 ? DP_OK : code == 5 ? DP_ENOTFOUND : DP_ECONFLICT;
    }
    freeReplyObject(r);
    return DP_OK;
}

int rq_lease_complete_batch(rq_conn *c, const char *runner_id, rq_complete_item *items, size_t n,
                            dp_err *err)
{
    return rq_lease_complete_streamed(c, runner_id, items, n, NULL, err);
}

int rq_lease_complete_streamed(rq_conn *c, const char *runner_id, rq_complete_item *items, size_t n,
                               const rq_blobs *events, dp_err *err)
{
    int rc = rq_check_id(runner_id, "runner id", err);
    if (rc != DP_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        if ((rc = rq_check_id(items[i].job_id, "job id", err)) != DP_OK ||
            (items[i].runner_id != NULL &&
             (rc = rq_check_id(items[i].runner_id, "runner id", err)) != DP_OK))
            return rc;
    /* the events ride with the first chunk */
    for (size_t i = 0; i < n; i += RQ_BATCH_MAX) {
        size_t m = n - i < RQ_BATCH_MAX ? n - i : RQ_BATCH_MAX;
        if ((rc = rq_complete_chunk(c, runner_id, items + i, m, i == 0 ? events : NULL, err)) !=
            DP_OK)
            return rc;
    }
    return DP_OK;
}

int rq_lease_complete(rq_conn *c, const char *runner_id, const char *job_id, uint32_t attempt,
                      dp_err *err)
{
    rq_complete_item it = {.job_id = job_id, .attempt = attempt};
    int rc = rq_lease_complete_batch(c, runner_id, &it, 1, err);
    if (rc != DP_OK)
        return rc;
    if (it.result == DP_ENOTFOUND)
        return dp_err_set(err, DP_ENOTFOUND, "job %s is unknown", job_id);
    if (it.result == DP_ECONFLICT)
        return dp_err_set(err, DP_ECONFLICT,
                          "job %s attempt %u is not leased by runner %s (reclaimed, "
                          "cancelled or finished elsewhere)",
                          job_id, (unsigned)attempt, runner_id);
    return DP_OK;
}

int rq_rebuild_leased(rq_conn *c, const char *runner_id, const rq_job_in *job, dp_err *err)
{
    int rc;
    if ((rc = rq_check_id(runner_id, "runner id", err)) != DP_OK ||
        (rc = rq_check_id(job->job_id, "job id", err)) != DP_OK)
        return rc;
    if (job->attempts == 0)
        return dp_err_set(err, DP_EINVAL, "job %s: a leased job needs an attempt >= 1",
                          job->job_id);
    char qid[RQ_QID_MAX];
    if ((rc = rq_queue_id(job->profile, job->labels, job->n_labels, qid, err)) != DP_OK)
        return rc;
    rq_args a = {0};
    rq_args_str(&a, runner_id);
    rq_args_str(&a, job->job_id);
    rq_args_add(&a, job->spec ? job->spec : "", job->spec ? job->spec_len : 0);
    rq_args_u64(&a, job->max_attempts ? job->max_attempts : c->opt.max_attempts);
    rq_args_u64(&a, job->attempts);
    rq_args_str(&a, qid);
    rq_args_str(&a, rq_prio_code(job->priority));
    redisReply *r = NULL;
    rc = rq_eval(c, RQ_LUA_REBUILD_LEASED, &a, RQ_RETRY, &r, err);
    rq_args_free(&a);
    if (rc != DP_OK)
        return rc;
    long long code = rq_reply_int(r);
    freeReplyObject(r);
    if (code == 5)
        return dp_err_set(err, DP_ENOTFOUND, "runner %s is not alive: enqueue job %s instead",
                          runner_id, job->job_id);
    return DP_OK;
}
