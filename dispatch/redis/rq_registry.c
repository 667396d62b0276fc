/* Runner registry: register, verify token, heartbeat, deregister, drain,
 * list. Tokens are compared in constant time and never logged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sha256.h"
#include "rq_internal.h"

static int rq_check_text(const char *s, const char *what, size_t max, int no_comma, dp_err *err)
{
    if (s == NULL)
        return dp_err_set(err, DP_EINVAL, "runner %s is missing", what);
    size_t n = strlen(s);
    if (n > max)
        return dp_err_set(err, DP_EINVAL, "runner %s is longer than %zu chars", what, max);
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < ' ' || *p == 127 || (no_comma && *p == ','))
            return dp_err_set(err, DP_EINVAL, "runner %s has a control character%s", what,
                              no_comma ? " or a comma" : "");
    return DP_OK;
}

int rq_registry_register(rq_conn *c, const char *expected_registration_token,
                         const char *presented_registration_token, const rq_runner_reg *reg,
                         char runner_id[DP_ID_MAX], char runner_token[RQ_TOKEN_HEX_LEN + 1],
                         dp_err *err)
{
    if (expected_registration_token == NULL || *expected_registration_token == '\0')
        return dp_err_set(err, DP_EINVAL, "no registration token is configured");
    if (presented_registration_token == NULL)
        return dp_err_set(err, DP_EAUTH, "registration token missing");
    /* Hash both sides first so the comparison does not depend on lengths. */
    char want[DP_SHA256_HEX_LEN + 1], got[DP_SHA256_HEX_LEN + 1];
    dp_sha256_hex(expected_registration_token, strlen(expected_registration_token), want);
    dp_sha256_hex(presented_registration_token, strlen(presented_registration_token), got);
    if (!dp_ct_equal(want, got, DP_SHA256_HEX_LEN))
        return dp_err_set(err, DP_EAUTH, "registration token rejected");
    int rc;
    if ((rc = rq_check_text(reg->name, "name", 200, 0, err)) != DP_OK ||
        (rc = rq_check_text(reg->version, "version", 100, 0, err)) != DP_OK)
        return rc;
    if (reg->capacity == 0 || reg->capacity > 10000)
        return dp_err_set(err, DP_EINVAL, "runner capacity %u is outside 1..10000",
                          (unsigned)reg->capacity);
    if (reg->n_labels > RQ_LABELS_MAX)
        return dp_err_set(err, DP_EINVAL, "runner has more than %d labels", RQ_LABELS_MAX);
    char labels[RQ_LABELS_MAX * 65] = "";
    size_t used = 0;
    for (size_t i = 0; i < reg->n_labels; i++) {
        if ((rc = rq_check_text(reg->labels[i], "label", 64, 1, err)) != DP_OK)
            return rc;
        used += (size_t)snprintf(labels + used, sizeof labels - used, "%s%s", i ? "," : "",
                                 reg->labels[i]);
    }
    /* Profiles: names a queue id can hold; '*' (none sent) takes every profile. */
    char profiles[256 * (DP_PROFILE_NAME_MAX + 1) + 2] = "*";
    if (reg->profiles != NULL) {
        size_t pu = 0;
        profiles[0] = '\0';
        if (reg->n_profiles > 256)
            return dp_err_set(err, DP_EINVAL, "runner offers more than 256 profiles");
        for (size_t i = 0; i < reg->n_profiles; i++) {
            const char *p = reg->profiles[i];
            if ((rc = rq_check_text(p, "profile", DP_PROFILE_NAME_MAX, 1, err)) != DP_OK)
                return rc;
            if (*p == '\0' || strchr(p, ':') != NULL || strcmp(p, "*") == 0)
                return dp_err_set(err, DP_EINVAL, "runner profile '%s' is not a profile name", p);
            int w = snprintf(profiles + pu, sizeof profiles - pu, "%s%s", i ? "," : "", p);
            if (w < 0 || (size_t)w >= sizeof profiles - pu)
                return dp_err_set(err, DP_EINVAL, "runner profiles exceed %zu bytes",
                                  sizeof profiles - 1);
            pu += (size_t)w;
        }
    }
    uint8_t raw[32];
    if (dp_new_id("r-", runner_id, DP_ID_MAX) != 0 || dp_random_bytes(raw, sizeof raw) != 0)
        return dp_err_set(err, DP_EIO, "getrandom failed creating a runner id or token");
    dp_hex_encode(raw, sizeof raw, runner_token);
    explicit_bzero(raw, sizeof raw);
    char hash[DP_SHA256_HEX_LEN + 1];
    dp_sha256_hex(runner_token, RQ_TOKEN_HEX_LEN, hash);

    rq_args a = {0};
    rq_args_str(&a, runner_id);
    rq_args_str(&a, hash);
    rq_args_str(&a, reg->name);
    rq_args_str(&a, labels);
    rq_args_u64(&a, reg->capacity);
    rq_args_str(&a, reg->version);
    rq_args_u64(&a, c->opt.alive_ttl_ms);
    rq_args_str(&a, profiles);
    redisReply *r = NULL;
    /* A retry after a lost reply creates at most one orphan runner, which
     * never heartbeats and is reaped. */
    rc = rq_eval(c, RQ_LUA_REGISTER, &a, RQ_RETRY, &r, err);
    rq_args_free(&a);
    if (r)
        freeReplyObject(r);
    if (rc != DP_OK)
        explicit_bzero(runner_token, RQ_TOKEN_HEX_LEN + 1);
    return rc;
}

int rq_registry_verify_token(rq_conn *c, const char *runner_id, const char *runner_token,
                             dp_err *err)
{
    int rc = rq_check_id(runner_id, "runner id", err);
    if (rc != DP_OK)
        return rc;
    if (runner_token == NULL)
        return dp_err_set(err, DP_EAUTH, "runner token missing");
    char key[RQ_PREFIX_MAX + DP_ID_MAX + 16];
    snprintf(key, sizeof key, "%srunner:%s:token", c->prefix, runner_id);
    rq_args a = {0};
    rq_args_str(&a, "GET");
    rq_args_str(&a, key);
    redisReply *r = NULL;
    rc = rq_call(c, "verify token", &a, RQ_RETRY, &r, err);
    rq_args_free(&a);
    if (rc != DP_OK)
        return rc;
    if (r->type == REDIS_REPLY_NIL) { /* never registered, reaped or deregistered */
        freeReplyObject(r);
        return dp_err_set(err, DP_ENOTFOUND, "runner %s is not registered: register again",
                          runner_id);
    }
    char got[DP_SHA256_HEX_LEN + 1];
    dp_sha256_hex(runner_token, strlen(runner_token), got);
    int ok = r->type == REDIS_REPLY_STRING && r->len == DP_SHA256_HEX_LEN &&
             dp_ct_equal(r->str, got, DP_SHA256_HEX_LEN);
    freeReplyObject(r);
    if (!ok)
        return dp_err_set(err, DP_EAUTH, "runner token rejected for runner %s", runner_id);
    return DP_OK;
}

int rq_heartbeat(rq_conn *c, const char *runner_id, dp_err *err)
{
    int rc = rq_check_id(runner_id, "runner id", err);
    if (rc != DP_OK)
        return rc;
    rq_args a = {0};
    rq_args_str(&a, "ZADD");
    rq_args_str(&a, c->keys[4]);
    rq_args_str(&a, "XX");
    rq_args_str(&a, "GT");
    rq_args_str(&a, "CH");
    rq_args_u64(&a, (uint64_t)rq_now_ms() + c->opt.alive_ttl_ms);
    rq_args_str(&a, runner_id);
    redisReply *r = NULL;
    rc = rq_call(c, "heartbeat", &a, RQ_RETRY, &r, err);
    rq_args_free(&a);
    if (rc != DP_OK)
        return rc;
    long long changed = rq_reply_int(r);
    freeReplyObject(r);
    if (changed == 1)
        return DP_OK;
    /* 0: unknown, or a deadline that is not later (same millisecond, or a
     * replica with a clock ahead of ours). Rare: ask which. */
    rq_args b = {0};
    rq_args_str(&b, "ZSCORE");
    rq_args_str(&b, c->keys[4]);
    rq_args_str(&b, runner_id);
    rc = rq_call(c, "heartbeat", &b, RQ_RETRY, &r, err);
    rq_args_free(&b);
    if (rc != DP_OK)
        return rc;
    int known = r->type == REDIS_REPLY_STRING;
    freeReplyObject(r);
    if (!known)
        return dp_err_set(err, DP_ENOTFOUND, "runner %s is not registered (or was reaped)",
                          runner_id);
    return DP_OK;
}

int rq_deregister(rq_conn *c, const char *runner_id, uint32_t *released, dp_err *err)
{
    int rc = rq_check_id(runner_id, "runner id", err);
    if (rc != DP_OK)
        return rc;
    rq_args a = {0};
    rq_args_str(&a, runner_id);
    rq_args_u64(&a, rq_result_hold_ms(c));
    redisReply *r = NULL;
    rc = rq_eval(c, RQ_LUA_DEREGISTER, &a, RQ_RETRY, &r, err);
    rq_args_free(&a);
    if (rc != DP_OK)
        return rc;
    long long n = rq_reply_int(r);
    freeReplyObject(r);
    if (n < 0)
        return dp_err_set(err, DP_ENOTFOUND, "runner %s is not registered", runner_id);
    if (released)
        *released = (uint32_t)n;
    return DP_OK;
}

int rq_drain(rq_conn *c, const char *runner_id, int draining, dp_err *err)
{
    int rc = rq_check_id(runner_id, "runner id", err);
    if (rc != DP_OK)
        return rc;
    rq_args a = {0};
    rq_args_str(&a, runner_id);
    rq_args_str(&a, draining ? "1" : "0");
    redisReply *r = NULL;
    rc = rq_eval(c, RQ_LUA_DRAIN, &a, RQ_RETRY, &r, err);
    rq_args_free(&a);
    if (rc != DP_OK)
        return rc;
    long long code = rq_reply_int(r);
    freeReplyObject(r);
    if (code != 0)
        return dp_err_set(err, DP_ENOTFOUND, "runner %s is not registered (or was reaped)",
                          runner_id);
    return DP_OK;
}
