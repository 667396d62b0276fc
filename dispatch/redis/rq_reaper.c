/* The reaper: finds runners past their alive deadline and reclaims their
 * jobs, in script calls of at most reclaim_chunk jobs each (so Redis is
 * never blocked for long by a runner lost with many leases); the first call
 * takes the runner out of the living atomically. An idle sweep is one
 * command. */
#include <stdio.h>
#include <string.h>

#include "rq_internal.h"

/* SET NX PX guard; the holder itself may continue (GET == owner). */
static int rq_reap_lock(rq_conn *c, const char *owner_id, uint32_t lock_ms, int *held, dp_err *err)
{
    char key[RQ_PREFIX_MAX + 16];
    snprintf(key, sizeof key, "%sreaper:lock", c->prefix);
    rq_args a = {0};
    rq_args_str(&a, "SET");
    rq_args_str(&a, key);
    rq_args_str(&a, owner_id);
    rq_args_str(&a, "NX");
    rq_args_str(&a, "PX");
    rq_args_u64(&a, lock_ms);
    redisReply *r = NULL;
    int rc = rq_call(c, "reaper lock", &a, RQ_RETRY, &r, err);
    rq_args_free(&a);
    if (rc != DP_OK)
        return rc;
    *held = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (*held)
        return DP_OK;
    rq_args b = {0};
    rq_args_str(&b, "GET");
    rq_args_str(&b, key);
    rc = rq_call(c, "reaper lock", &b, RQ_RETRY, &r, err);
    rq_args_free(&b);
    if (rc != DP_OK)
        return rc;
    *held = r->type == REDIS_REPLY_STRING && strcmp(r->str, owner_id) == 0;
    freeReplyObject(r);
    return DP_OK;
}

/* One reclaim call; *code as the script returns it (1 done, 2 more left, 3
 * only jobs with a result in flight left: the marker stays, a later sweep
 * calls again, so the loop below never spins on them). */
static int reap_call(rq_conn *c, const char *runner_id, uint32_t chunk, long long *code,
                     rq_reap_report *rep, dp_err *err)
{
    rq_args a = {0};
    rq_args_str(&a, runner_id);
    rq_args_u64(&a, c->opt.alive_ttl_ms);
    rq_args_u64(&a, c->opt.lost_keep_ms);
    rq_args_u64(&a, chunk);
    rq_args_u64(&a, rq_result_hold_ms(c));
    redisReply *r = NULL;
    int rc = rq_eval(c, RQ_LUA_RECLAIM, &a, RQ_RETRY, &r, err);
    rq_args_free(&a);
    if (rc != DP_OK)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 4 || r->elements % 2 != 0) {
        freeReplyObject(r);
        return dp_err_set(err, DP_EPROTO, "reclaim: unexpected reply");
    }
    *code = rq_reply_int(r->element[0]);
    if (*code >= 1 && *code <= 3) {
        rep->jobs_requeued += (uint32_t)rq_reply_int(r->element[1]);
        rep->jobs_dead += (uint32_t)rq_reply_int(r->element[2]);
        if (*code == 3)
            rep->jobs_held += (uint32_t)rq_reply_int(r->element[3]);
        for (size_t i = 4; rep->on_requeued != NULL && i + 1 < r->elements; i += 2)
            if (r->element[i]->type == REDIS_REPLY_STRING)
                rep->on_requeued(rep->arg, runner_id, r->element[i]->str,
                                 (uint32_t)rq_reply_int(r->element[i + 1]));
    }
    freeReplyObject(r);
    return DP_OK;
}

int rq_reap_runner(rq_conn *c, const char *runner_id, rq_reap_report *rep, dp_err *err)
{
    /* '~<id>' is the marker of a reclaim left unfinished (its reaper died) */
    if (runner_id[0] == '~')
        runner_id++;
    int rc = rq_check_id(runner_id, "runner id", err);
    if (rc != DP_OK)
        return rc;
    uint32_t chunk = c->opt.reclaim_chunk != 0 ? c->opt.reclaim_chunk : RQ_RECLAIM_CHUNK;
    long long code = 2;
    while (rc == DP_OK && code == 2)
        rc = reap_call(c, runner_id, chunk, &code, rep, err);
    if (rc == DP_OK && code == 1)
        rep->runners_reaped++;
    return rc;
}

int rq_reap_sweep(rq_conn *c, const char *owner_id, uint32_t lock_ms, uint32_t max_runners,
                  rq_reap_report *rep, dp_err *err)
{
    return rq_reap_sweep_notify(c, owner_id, lock_ms, max_runners, rep, NULL, NULL, err);
}

int rq_reap_sweep_notify(rq_conn *c, const char *owner_id, uint32_t lock_ms, uint32_t max_runners,
                         rq_reap_report *rep, rq_requeued_fn on_requeued, void *arg, dp_err *err)
{
    memset(rep, 0, sizeof *rep);
    rep->on_requeued = on_requeued;
    rep->arg = arg;
    int rc = rq_check_id(owner_id, "reaper owner id", err);
    if (rc != DP_OK)
        return rc;
    if (max_runners == 0 || lock_ms == 0)
        return dp_err_set(err, DP_EINVAL, "reaper: max_runners and lock_ms must be > 0");
    rq_args a = {0};
    rq_args_str(&a, "ZRANGEBYSCORE");
    rq_args_str(&a, c->keys[4]);
    rq_args_str(&a, "-inf");
    rq_args_u64(&a, (uint64_t)rq_now_ms());
    rq_args_str(&a, "LIMIT");
    rq_args_str(&a, "0");
    rq_args_u64(&a, max_runners);
    redisReply *ids = NULL;
    rc = rq_call(c, "reaper sweep", &a, RQ_RETRY, &ids, err);
    rq_args_free(&a);
    if (rc != DP_OK)
        return rc;
    rep->runners_expired = (uint32_t)ids->elements;
    if (ids->elements > 0) {
        int held = 0;
        rc = rq_reap_lock(c, owner_id, lock_ms, &held, err);
        rep->locked_out = rc == DP_OK && !held;
        for (size_t i = 0; rc == DP_OK && held && i < ids->elements; i++)
            rc = rq_reap_runner(c, ids->element[i]->str, rep, err);
    }
    freeReplyObject(ids);
    return rc;
}
