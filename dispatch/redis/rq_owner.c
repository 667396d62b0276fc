#include "dispatch/redis/rq_owner.h"

#include "dispatch/redis/rq_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rq_owner_argv(rq_args *a, const rq_owner_item *items, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        rq_args_str(a, items[j].job_id);
        rq_args_str(a, items[j].runner_id != NULL ? items[j].runner_id : "");
        rq_args_u64(a, items[j].attempt);
        rq_args_str(a, items[j].mark ? "1" : "0");
    }
}

void rq_owner_parse(rq_owner_item *it, const redisReply *e)
{
    it->result = DP_ENOTFOUND;
    it->max_attempts = 0;
    /* The script decided (owner_check_item, rq_prelude.lua): max_attempts *
     * 4 + code. Anything else (an error in its place) reads as not found. */
    if (e != NULL && e->type == REDIS_REPLY_INTEGER && e->integer >= 0) {
        long long code = e->integer & 3;
        it->result = code == 0 ? DP_OK : code == 1 ? DP_ECONFLICT : DP_ENOTFOUND;
        it->max_attempts = (uint32_t)(e->integer >> 2);
    }
}

int rq_owner_check(rq_conn *c, rq_owner_item *items, size_t n, dp_err *err)
{
    for (size_t i = 0; i < n; i += RQ_BATCH_MAX) {
        size_t m = n - i < RQ_BATCH_MAX ? n - i : RQ_BATCH_MAX;
        rq_args a = {0};
        rq_owner_argv(&a, items + i, m);
        redisReply *r = NULL;
        int rc = rq_eval(c, RQ_LUA_OWNER_CHECK, &a, RQ_RETRY, &r, err);
        rq_args_free(&a);
        if (rc != DP_OK)
            return rc;
        for (size_t j = 0; j < m; j++)
            rq_owner_parse(&items[i + j],
                           r->type == REDIS_REPLY_ARRAY && j < r->elements ? r->element[j] : NULL);
        freeReplyObject(r);
    }
    return DP_OK;
}

int rq_owner_clear_tombstones(rq_conn *c, const char *const *job_ids, size_t n, dp_err *err)
{
    return rq_eval_ids(c, RQ_LUA_CLEAR_TOMBSTONES, job_ids, n, err);
}

/* One command on the epoch key: EXISTS or SET ... 1. */
static int epoch_command(rq_conn *c, const char *cmd, const char *what, redisReply **r, dp_err *err)
{
    char key[RQ_PREFIX_MAX + 8];
    snprintf(key, sizeof key, "%sepoch", c->prefix);
    rq_args a = {0};
    rq_args_str(&a, cmd);
    rq_args_str(&a, key);
    if (strcmp(cmd, "SET") == 0)
        rq_args_str(&a, "1");
    int rc = rq_call(c, what, &a, RQ_RETRY, r, err);
    rq_args_free(&a);
    return rc;
}

int rq_epoch_present(rq_conn *c, int *present, dp_err *err)
{
    redisReply *r = NULL;
    int rc = epoch_command(c, "EXISTS", "epoch check", &r, err);
    if (rc == DP_OK)
        *present = r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    if (r != NULL)
        freeReplyObject(r);
    return rc;
}

int rq_epoch_mark(rq_conn *c, dp_err *err)
{
    redisReply *r = NULL;
    int rc = epoch_command(c, "SET", "epoch mark", &r, err);
    if (r != NULL)
        freeReplyObject(r);
    return rc;
}
