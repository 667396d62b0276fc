#include "dispatch/rq_owner.h"

#include "dispatch/rq_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One read for either shape of the job key: the live hash (fields as an
 * array), the string tombstone a complete or cancel leaves, or nil. A plain
 * HMGET would fail the whole pipeline with WRONGTYPE on a tombstone. */
static const char owner_script[] =
    "local t = redis.call('TYPE', KEYS[1]).ok "
    "if t == 'hash' then return redis.call('HMGET', KEYS[1], 'state', 'leased_by', "
    "'attempts', 'max_attempts') end "
    "if t == 'string' then return redis.call('GET', KEYS[1]) end "
    "return false";

static void job_key(const rq_conn *c, const char *id, char *out, size_t len)
{
    snprintf(out, len, "%sjob:%s", c->prefix, id);
}

int rq_owner_check(rq_conn *c, rq_owner_item *items, size_t n, dp_err *err)
{
    if (n == 0)
        return DP_OK;
    rq_args *cmds = calloc(n, sizeof *cmds);
    redisReply **rep = calloc(n, sizeof *rep);
    char(*keys)[RQ_PREFIX_MAX + DP_ID_MAX + 8] = calloc(n, sizeof *keys);
    int rc = DP_ENOMEM;
    if (cmds == NULL || rep == NULL || keys == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        job_key(c, items[i].job_id, keys[i], sizeof keys[i]);
        rq_args_str(&cmds[i], "EVAL");
        rq_args_str(&cmds[i], owner_script);
        rq_args_str(&cmds[i], "1");
        rq_args_str(&cmds[i], keys[i]);
    }
    rc = rq_pipeline(c, "owner check", cmds, n, rep, err);
    if (rc != DP_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        rq_owner_item *it = &items[i];
        redisReply *r = rep[i];
        it->result = DP_ENOTFOUND;
        if (r == NULL)
            continue;
        if (r->type == REDIS_REPLY_STRING) {
            /* A tombstone: "completed <runner> <attempt>" or "cancelled". */
            char want[DP_ID_MAX * 2 + 32];
            snprintf(want, sizeof want, "completed %s %u", it->runner_id, it->attempt);
            it->result = strcmp(r->str, want) == 0 ? DP_OK : DP_ECONFLICT;
            continue;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 4 ||
            r->element[0]->type != REDIS_REPLY_STRING)
            continue; /* no such job */
        char att[16];
        snprintf(att, sizeof att, "%u", it->attempt);
        int owner = r->element[1]->type == REDIS_REPLY_STRING &&
                    strcmp(r->element[1]->str, it->runner_id) == 0;
        int same =
            r->element[2]->type == REDIS_REPLY_STRING && strcmp(r->element[2]->str, att) == 0;
        it->result =
            strcmp(r->element[0]->str, "leased") == 0 && owner && same ? DP_OK : DP_ECONFLICT;
        it->max_attempts = r->element[3]->type == REDIS_REPLY_STRING
                               ? (uint32_t)strtoul(r->element[3]->str, NULL, 10)
                               : 0;
    }
out:
    for (size_t i = 0; cmds != NULL && i < n; i++) {
        rq_args_free(&cmds[i]);
        if (rep != NULL && rep[i] != NULL)
            freeReplyObject(rep[i]);
    }
    free(cmds);
    free(rep);
    free(keys);
    if (rc == DP_ENOMEM)
        dp_err_set(err, DP_ENOMEM, "owner check: out of memory");
    return rc;
}

static const char clear_script[] =
    "if redis.call('TYPE', KEYS[1]).ok == 'string' then return redis.call('DEL', KEYS[1]) end "
    "return 0";

int rq_owner_clear_tombstones(rq_conn *c, const char *const *job_ids, size_t n, dp_err *err)
{
    if (n == 0)
        return DP_OK;
    rq_args *cmds = calloc(n, sizeof *cmds);
    redisReply **rep = calloc(n, sizeof *rep);
    char(*keys)[RQ_PREFIX_MAX + DP_ID_MAX + 8] = calloc(n, sizeof *keys);
    int rc = DP_ENOMEM;
    if (cmds != NULL && rep != NULL && keys != NULL) {
        for (size_t i = 0; i < n; i++) {
            job_key(c, job_ids[i], keys[i], sizeof keys[i]);
            rq_args_str(&cmds[i], "EVAL");
            rq_args_str(&cmds[i], clear_script);
            rq_args_str(&cmds[i], "1");
            rq_args_str(&cmds[i], keys[i]);
        }
        rc = rq_pipeline(c, "tombstone clear", cmds, n, rep, err);
    }
    for (size_t i = 0; cmds != NULL && i < n; i++) {
        rq_args_free(&cmds[i]);
        if (rep != NULL && rep[i] != NULL)
            freeReplyObject(rep[i]);
    }
    free(cmds);
    free(rep);
    free(keys);
    if (rc == DP_ENOMEM)
        dp_err_set(err, DP_ENOMEM, "tombstone clear: out of memory");
    return rc;
}

int rq_epoch_present(rq_conn *c, int *present, dp_err *err)
{
    char key[RQ_PREFIX_MAX + 8];
    snprintf(key, sizeof key, "%sepoch", c->prefix);
    rq_args a = {0};
    redisReply *r = NULL;
    rq_args_str(&a, "EXISTS");
    rq_args_str(&a, key);
    int rc = rq_call(c, "epoch check", &a, RQ_RETRY, &r, err);
    if (rc == DP_OK)
        *present = r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    if (r != NULL)
        freeReplyObject(r);
    rq_args_free(&a);
    return rc;
}

int rq_epoch_mark(rq_conn *c, dp_err *err)
{
    char key[RQ_PREFIX_MAX + 8];
    snprintf(key, sizeof key, "%sepoch", c->prefix);
    rq_args a = {0};
    redisReply *r = NULL;
    rq_args_str(&a, "SET");
    rq_args_str(&a, key);
    rq_args_str(&a, "1");
    int rc = rq_call(c, "epoch mark", &a, RQ_RETRY, &r, err);
    if (r != NULL)
        freeReplyObject(r);
    rq_args_free(&a);
    return rc;
}
