/* Admin operations: cancel, requeue (one job or every dead job), and the dead
 * list the reporter drains. */
#include <stdio.h>
#include <string.h>

#include "rq_internal.h"

/* Runs a one-job script and returns its integer code in *code. */
static int rq_job_script(rq_conn *c, rq_lua_id script, const char *job_id, int has_arg,
                         uint64_t arg, long long *code, dp_err *err)
{
    int rc = rq_check_id(job_id, "job id", err);
    if (rc != DP_OK)
        return rc;
    rq_args a = {0};
    rq_args_str(&a, job_id);
    if (has_arg)
        rq_args_u64(&a, arg);
    redisReply *r = NULL;
    rc = rq_eval(c, script, &a, RQ_RETRY, &r, err);
    rq_args_free(&a);
    if (rc != DP_OK)
        return rc;
    *code = rq_reply_int(r);
    freeReplyObject(r);
    return DP_OK;
}

int rq_cancel(rq_conn *c, const char *job_id, dp_err *err)
{
    long long code = 0;
    int rc = rq_job_script(c, RQ_LUA_CANCEL, job_id, 1, c->opt.tombstone_ms, &code, err);
    if (rc != DP_OK)
        return rc;
    if (code == 5)
        return dp_err_set(err, DP_ENOTFOUND, "job %s is unknown", job_id);
    if (code == 4)
        return dp_err_set(err, DP_ECONFLICT, "job %s is already completed", job_id);
    return DP_OK;
}

int rq_requeue(rq_conn *c, const char *job_id, dp_err *err)
{
    long long code = 0;
    int rc = rq_job_script(c, RQ_LUA_REQUEUE, job_id, 1, rq_result_hold_ms(c), &code, err);
    if (rc != DP_OK)
        return rc;
    if (code == 6)
        return dp_err_set(err, DP_EUNAVAIL,
                          "a result of job %s is being recorded: try again once it is decided",
                          job_id);
    if (code == 5)
        return dp_err_set(err, DP_ENOTFOUND, "job %s is unknown", job_id);
    if (code == 4)
        return dp_err_set(err, DP_ECONFLICT, "job %s is completed or cancelled", job_id);
    return DP_OK;
}

int rq_requeue_dead(rq_conn *c, uint64_t *moved, dp_err *err)
{
    uint64_t total = 0;
    if (moved)
        *moved = 0;
    for (;;) {
        rq_args a = {0};
        rq_args_u64(&a, RQ_BATCH_MAX);
        redisReply *r = NULL;
        int rc = rq_eval(c, RQ_LUA_REQUEUE_DEAD, &a, RQ_RETRY, &r, err);
        rq_args_free(&a);
        if (rc != DP_OK)
            return rc;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            return dp_err_set(err, DP_EPROTO, "requeue dead: unexpected reply");
        }
        total += (uint64_t)rq_reply_int(r->element[0]);
        long long left = rq_reply_int(r->element[1]);
        freeReplyObject(r);
        if (moved)
            *moved = total;
        if (left == 0)
            return DP_OK;
    }
}

int rq_dead_peek(rq_conn *c, rq_dead_job *out, size_t max, size_t *n_out, dp_err *err)
{
    *n_out = 0;
    if (max == 0)
        return DP_OK;
    if (max > RQ_BATCH_MAX)
        max = RQ_BATCH_MAX;
    rq_args a = {0};
    rq_args_u64(&a, max);
    redisReply *r = NULL;
    int rc = rq_eval(c, RQ_LUA_DEAD_PEEK, &a, RQ_RETRY, &r, err);
    rq_args_free(&a);
    if (rc != DP_OK)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 3 != 0 || r->elements / 3 > max) {
        freeReplyObject(r);
        return dp_err_set(err, DP_EPROTO, "dead peek: unexpected reply");
    }
    size_t n = r->elements / 3;
    for (size_t i = 0; i < n; i++) {
        redisReply *id = r->element[3 * i], *reason = r->element[3 * i + 2];
        snprintf(out[i].job_id, sizeof out[i].job_id, "%.*s", (int)id->len, id->str);
        out[i].attempts = (uint32_t)rq_reply_int(r->element[3 * i + 1]);
        snprintf(out[i].reason, sizeof out[i].reason, "%.*s",
                 reason->type == REDIS_REPLY_STRING ? (int)reason->len : 0,
                 reason->type == REDIS_REPLY_STRING ? reason->str : "");
    }
    *n_out = n;
    freeReplyObject(r);
    return DP_OK;
}

int rq_dead_ack(rq_conn *c, const char *const *job_ids, size_t n, dp_err *err)
{
    for (size_t i = 0; i < n; i++) {
        int rc = rq_check_id(job_ids[i], "job id", err);
        if (rc != DP_OK)
            return rc;
    }
    return rq_eval_ids(c, RQ_LUA_DEAD_ACK, job_ids, n, err);
}
