/* API-key quota counters and the fleet's profiles (rq_quota.h). */
#include "dispatch/redis/rq_quota.h"

#include "rq_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int quota_call(rq_conn *c, const char *key_id, uint32_t limit, long long n, long long *reply,
                      int64_t *window_end_ms, dp_err *err)
{
    int rc = rq_check_id(key_id, "api key id", err);
    if (rc != DP_OK)
        return rc;
    int64_t now = rq_now_ms(), window = now / RQ_QUOTA_WINDOW_MS;
    char key[RQ_PREFIX_MAX + DP_ID_MAX + 48];
    snprintf(key, sizeof key, "%squota:%s:%lld", c->keys[0], key_id, (long long)window);
    const char *keys[] = {key};
    char nbuf[32];
    snprintf(nbuf, sizeof nbuf, "%lld", n);
    rq_args a = {0};
    rq_args_u64(&a, limit);
    rq_args_str(&a, nbuf);
    rq_args_u64(&a, RQ_QUOTA_WINDOW_MS);
    redisReply *r = NULL;
    /* Not retried after a lost reply: a retry could count one submit twice. */
    rc = rq_eval_keys(c, RQ_LUA_QUOTA, keys, 1, &a, RQ_NO_RETRY, &r, err);
    rq_args_free(&a);
    if (rc == DP_OK)
        *reply = rq_reply_int(r);
    if (r != NULL)
        freeReplyObject(r);
    *window_end_ms = (window + 1) * RQ_QUOTA_WINDOW_MS - now;
    return rc;
}

int rq_quota_take(rq_conn *c, const char *key_id, uint32_t limit, uint32_t n, uint32_t *granted,
                  uint32_t *retry_ms, dp_err *err)
{
    long long got = 0;
    int64_t left = 0;
    *granted = 0;
    int rc = quota_call(c, key_id, limit, n, &got, &left, err);
    *retry_ms = (uint32_t)(left > 0 ? left : 1);
    if (rc == DP_OK)
        *granted = got < 0 ? 0 : got > n ? n : (uint32_t)got;
    return rc;
}

int rq_quota_give_back(rq_conn *c, const char *key_id, uint32_t n, dp_err *err)
{
    long long got = 0;
    int64_t left = 0;
    return n == 0 ? DP_OK : quota_call(c, key_id, 0, -(long long)n, &got, &left, err);
}

void rq_fleet_profiles_free(rq_profile_row *rows, size_t n)
{
    for (size_t i = 0; rows != NULL && i < n; i++)
        free(rows[i].name);
    free(rows);
}

int rq_fleet_profiles(rq_conn *c, rq_profile_row **out, size_t *n, dp_err *err)
{
    *out = NULL;
    *n = 0;
    rq_args a = {0};
    rq_args_u64(&a, c->opt.alive_ttl_ms);
    redisReply *r = NULL;
    int rc = rq_eval(c, RQ_LUA_PROFILES, &a, RQ_RETRY, &r, err);
    rq_args_free(&a);
    if (rc != DP_OK)
        return rc;
    size_t rows = r->type == REDIS_REPLY_ARRAY ? r->elements / 4 : 0;
    rq_profile_row *p = calloc(rows > 0 ? rows : 1, sizeof *p);
    if (p == NULL) {
        freeReplyObject(r);
        return dp_err_set(err, DP_ENOMEM, "profiles: out of memory");
    }
    for (size_t i = 0; i < rows; i++) {
        redisReply **e = &r->element[4 * i];
        p[i].name = strndup(e[0]->str != NULL ? e[0]->str : "", e[0]->len);
        p[i].runners = (uint32_t)rq_reply_int(e[1]);
        p[i].capacity = (uint32_t)rq_reply_int(e[2]);
        rq_format_time(rq_reply_int(e[3]), p[i].last_seen);
        if (p[i].name == NULL) {
            rq_fleet_profiles_free(p, i);
            freeReplyObject(r);
            return dp_err_set(err, DP_ENOMEM, "profiles: out of memory");
        }
    }
    freeReplyObject(r);
    *out = p;
    *n = rows;
    return DP_OK;
}
