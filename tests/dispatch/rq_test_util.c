/* Helpers for the dispatch/ tests (see rq_test_util.h). */
#include "tests/dispatch/rq_test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "common/sha256.h"

const char *t_redis_url(void)
{
    const char *u = getenv("DISPATCH_REDIS_URL");
    if (u == NULL || *u == '\0')
        fail_msg("DISPATCH_REDIS_URL is not set: run the tests with ./dev test or "
                 "scripts/with-services.sh meson test");
    return u;
}

void t_unique_prefix(char *out)
{
    uint8_t raw[16];
    char hex[33];
    assert_int_equal(dp_random_bytes(raw, sizeof raw), 0);
    dp_hex_encode(raw, sizeof raw, hex);
    snprintf(out, 64, "{t-%s}:", hex);
}

rq_conn *t_connect(const char *url, const char *prefix, const rq_options *opt)
{
    dp_err err = {0};
    rq_conn *c = rq_connect(url, prefix, opt, &err);
    if (c == NULL)
        fail_msg("rq_connect(%s): %s", url, err.msg);
    return c;
}

redisContext *t_raw(const char *url)
{
    rq_url u;
    dp_err err = {0};
    if (rq_url_parse(url, &u, &err) != DP_OK)
        fail_msg("%s", err.msg);
    redisContext *c = redisConnect(u.host, u.port);
    if (c == NULL || c->err)
        fail_msg("connect %s: %s", url, c ? c->errstr : "oom");
    return c;
}

long long t_int(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (r == NULL)
        fail_msg("raw command failed: %s", c->errstr);
    long long v = -1;
    if (r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    else if (r->type == REDIS_REPLY_STRING)
        v = strtoll(r->str, NULL, 10);
    else if (r->type == REDIS_REPLY_ERROR)
        fail_msg("raw command error: %s", r->str);
    freeReplyObject(r);
    return v;
}

void t_register(rq_conn *c, const char *name, uint32_t capacity, char *id, char *token)
{
    const char *labels[] = {"python3", "c"};
    rq_runner_reg reg = {
        .name = name, .labels = labels, .n_labels = 2, .capacity = capacity, .version = "test-1"};
    char tok[RQ_TOKEN_HEX_LEN + 1];
    dp_err err = {0};
    int rc = rq_registry_register(c, "regtok", "regtok", &reg, id, token ? token : tok, &err);
    if (rc != DP_OK)
        fail_msg("register: %s", err.msg);
}

void t_enqueue(rq_conn *c, const char *stem, size_t n, uint32_t max_attempts)
{
    rq_job_in *jobs = calloc(n, sizeof *jobs);
    char(*ids)[64] = calloc(n, 64);
    char(*specs)[64] = calloc(n, 64);
    assert_non_null(jobs);
    assert_non_null(ids);
    assert_non_null(specs);
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], 64, "%s-%zu", stem, i);
        snprintf(specs[i], 64, "spec-%zu", i);
        jobs[i] = (rq_job_in){.job_id = ids[i],
                              .spec = specs[i],
                              .spec_len = strlen(specs[i]),
                              .max_attempts = max_attempts};
    }
    dp_err err = {0};
    size_t added = 0;
    int rc = rq_enqueue(c, jobs, n, &added, &err);
    free(jobs);
    free(ids);
    free(specs);
    if (rc != DP_OK)
        fail_msg("enqueue: %s", err.msg);
    assert_int_equal(added, n);
}

int t_fx_open(void **state, const rq_options *opt)
{
    t_fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    t_unique_prefix(f->prefix);
    if (opt != NULL)
        f->opt = *opt;
    else
        rq_options_default(&f->opt);
    f->c = t_connect(t_redis_url(), f->prefix, &f->opt);
    f->raw = t_raw(t_redis_url());
    *state = f;
    return 0;
}

int t_fx_setup(void **state)
{
    return t_fx_open(state, NULL);
}

size_t t_lease_n(rq_conn *c, const char *runner, uint32_t k)
{
    rq_lease l[RQ_LEASE_MAX];
    size_t n = 0;
    dp_err err = {0};
    if (rq_lease_claim(c, runner, k, NULL, l, &n, &err) != DP_OK)
        fail_msg("lease: %s", err.msg);
    rq_leases_free(l, n);
    return n;
}

void t_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

int t_fx_teardown(void **state)
{
    t_fx *f = *state;
    rq_close(f->c);
    redisFree(f->raw);
    free(f);
    return 0;
}
