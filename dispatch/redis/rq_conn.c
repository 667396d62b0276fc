/* The connection: connect, reconnect with backoff, commands, pipelines and
 * script calls (EVALSHA, SCRIPT LOAD on first use and on NOSCRIPT). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#if HIREDIS_MAJOR < 1
#include <hiredis/sds.h>
#endif

#include "common/metrics.h"
#include "rq_internal.h"

static const char *const rq_fixed_key_suffix[RQ_NKEYS] = {
    "", "jobs:pending", "jobs:leased", "jobs:dead", "runners:alive", "runners",
};

#define RQ_BACKOFF_MIN_MS 50u
#define RQ_BACKOFF_MAX_MS                                                                          \
    500u                 /* a Redis back answers within this (reporter_release.c: within 1 s) */
#define RQ_WHERE_MAX 300 /* "host:port" or "unix://path" */

void rq_options_default(rq_options *opt)
{
    opt->alive_ttl_ms = RQ_DEFAULT_ALIVE_TTL_MS;
    opt->max_attempts = RQ_DEFAULT_MAX_ATTEMPTS;
    opt->tombstone_ms = RQ_DEFAULT_TOMBSTONE_MS;
    opt->lost_keep_ms = RQ_DEFAULT_LOST_KEEP_MS;
    opt->connect_timeout_ms = 2000;
    opt->io_timeout_ms = 5000;
    opt->reconnect_wait_ms = 2000;
    opt->result_hold_ms = RQ_RESULT_HOLD_MS;
}

uint32_t rq_result_hold_ms(const rq_conn *c)
{
    return c->opt.result_hold_ms != 0 ? c->opt.result_hold_ms : RQ_RESULT_HOLD_MS;
}

static int64_t rq_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void rq_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static struct timeval rq_tv(uint32_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

static const char *rq_where(const rq_conn *c, char *buf, size_t n)
{
    if (c->url.unix_path[0])
        snprintf(buf, n, "unix://%s", c->url.unix_path);
    else
        snprintf(buf, n, "%s:%d", c->url.host, c->url.port);
    return buf;
}

/* Runs AUTH or SELECT on a fresh context; the password is never echoed. */
static int rq_setup_cmd(rq_conn *c, redisContext *ctx, const char *cmd, const char *arg,
                        dp_err *err)
{
    const char *argv[2] = {cmd, arg};
    size_t len[2] = {strlen(cmd), strlen(arg)};
    redisReply *r = redisCommandArgv(ctx, 2, argv, len);
    c->round_trips++;
    if (r == NULL)
        return dp_err_set(err, DP_EUNAVAIL, "redis connection lost during %s", cmd);
    int bad = r->type == REDIS_REPLY_ERROR;
    freeReplyObject(r);
    if (bad && strcmp(cmd, "AUTH") == 0)
        return dp_err_set(err, DP_EAUTH, "redis rejected the password from the URL");
    if (bad)
        return dp_err_set(err, DP_EINVAL, "redis refused SELECT %s", arg);
    return DP_OK;
}

static int rq_try_connect(rq_conn *c, dp_err *err)
{
    char where[RQ_WHERE_MAX];
    struct timeval tv = rq_tv(c->opt.connect_timeout_ms);
    redisContext *ctx = c->url.unix_path[0] ? redisConnectUnixWithTimeout(c->url.unix_path, tv)
                                            : redisConnectWithTimeout(c->url.host, c->url.port, tv);
    if (ctx == NULL)
        return dp_err_set(err, DP_ENOMEM, "redis context allocation failed");
    if (ctx->err) {
        dp_err_set(err, DP_EUNAVAIL, "redis at %s unreachable: %s",
                   rq_where(c, where, sizeof where), ctx->errstr);
        redisFree(ctx);
        return DP_EUNAVAIL;
    }
    redisSetTimeout(ctx, rq_tv(c->opt.io_timeout_ms));
    if (!c->url.unix_path[0])
        redisEnableKeepAlive(ctx);
    int rc = DP_OK;
    if (c->url.password[0])
        rc = rq_setup_cmd(c, ctx, "AUTH", c->url.password, err);
    if (rc == DP_OK && c->url.db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", c->url.db);
        rc = rq_setup_cmd(c, ctx, "SELECT", db, err);
    }
    if (rc != DP_OK) {
        redisFree(ctx);
        return rc;
    }
    c->ctx = ctx;
    c->backoff_ms = 0;
    return DP_OK;
}

/* Connects if needed, waiting at most reconnect_wait_ms and never trying
 * more often than the backoff allows. */
static int rq_ensure(rq_conn *c, dp_err *err)
{
    if (c->ctx != NULL)
        return DP_OK;
    int64_t deadline = rq_mono_ms() + c->opt.reconnect_wait_ms;
    int rc = DP_EUNAVAIL;
    char where[RQ_WHERE_MAX];
    dp_err_set(err, DP_EUNAVAIL, "redis at %s unreachable: waiting %u ms before reconnecting",
               rq_where(c, where, sizeof where), (unsigned)c->backoff_ms);
    for (;;) {
        int64_t now = rq_mono_ms();
        if (now >= c->next_connect_ms) {
            rc = rq_try_connect(c, err);
            if (rc == DP_OK || rc == DP_EAUTH || rc == DP_EINVAL || rc == DP_ENOMEM)
                return rc;
            c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : RQ_BACKOFF_MIN_MS;
            if (c->backoff_ms > RQ_BACKOFF_MAX_MS)
                c->backoff_ms = RQ_BACKOFF_MAX_MS;
            c->next_connect_ms = rq_mono_ms() + c->backoff_ms;
        }
        now = rq_mono_ms();
        if (now >= deadline)
            return rc;
        rq_sleep_ms((c->next_connect_ms < deadline ? c->next_connect_ms : deadline) - now);
    }
}

static void rq_count_error(rq_conn *c)
{
    if (c->m_errors != NULL)
        *c->m_errors += 1;
}

static void rq_drop(rq_conn *c, const char *what, dp_err *err)
{
    char where[RQ_WHERE_MAX];
    dp_err_set(err, DP_EUNAVAIL, "redis connection to %s lost during %s: %s",
               rq_where(c, where, sizeof where), what, c->ctx->errstr);
    redisFree(c->ctx);
    c->ctx = NULL;
}

#if HIREDIS_MAJOR < 1
/* "<c><n>\r\n" at p; returns its length. */
static size_t resp_header(char *p, char c, size_t n)
{
    char digits[24];
    size_t k = 0;
    do
        digits[k++] = (char)('0' + n % 10);
    while ((n /= 10) > 0);
    size_t len = 0;
    p[len++] = c;
    while (k > 0)
        p[len++] = digits[--k];
    p[len++] = '\r';
    p[len++] = '\n';
    return len;
}

static size_t resp_header_len(size_t n)
{
    size_t len = 4; /* the type, at least one digit, CR LF */
    while ((n /= 10) > 0)
        len++;
    return len;
}
#endif

/* Appends a's command to ctx's output buffer (the context's, an sds hiredis
 * sends and frees) in RESP, each argument copied once.
 * redisAppendCommandArgv formats into a buffer of its own, then copies that
 * into the output buffer: a submit's enqueue of 1,000 jobs is ~700 KB, and
 * the two copies and the formatting were 9 % of dispatchd's CPU in the no-op
 * bench. Written against hiredis 0.14's sds (Debian 12); hiredis 1.x renamed
 * it, and there redisAppendCommandArgv does the work. Returns REDIS_OK, or
 * REDIS_ERR when out of memory (the buffer as it was). */
static int rq_append(redisContext *ctx, const rq_args *a)
{
#if HIREDIS_MAJOR < 1
    size_t total = resp_header_len(a->n);
    for (size_t i = 0; i < a->n; i++)
        total += resp_header_len(a->len[i]) + a->len[i] + 2;
    if (total > INT_MAX / 2) /* sdsIncrLen takes an int */
        return redisAppendCommandArgv(ctx, (int)a->n, a->v, a->len);
    sds buf = sdsMakeRoomFor(ctx->obuf, total);
    if (buf == NULL)
        return REDIS_ERR;
    ctx->obuf = buf;
    char *p = buf + sdslen(buf);
    p += resp_header(p, '*', a->n);
    for (size_t i = 0; i < a->n; i++) {
        p += resp_header(p, '$', a->len[i]);
        if (a->len[i] > 0)
            memcpy(p, a->v[i], a->len[i]);
        p += a->len[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    sdsIncrLen(buf, (int)total);
    return REDIS_OK;
#else
    return redisAppendCommandArgv(ctx, (int)a->n, a->v, a->len);
#endif
}

/* One command; error replies are returned as replies, not as codes. */
static int rq_raw(rq_conn *c, const char *what, rq_args *a, int retry, redisReply **out,
                  dp_err *err)
{
    *out = NULL;
    if (a->oom)
        return dp_err_set(err, DP_ENOMEM, "out of memory building %s", what);
    for (int attempt = 0;; attempt++) {
        int rc = rq_ensure(c, err);
        if (rc != DP_OK)
            return rc;
        /* nothing is sent before the buffer holds the whole command */
        if (rq_append(c->ctx, a) != REDIS_OK)
            return dp_err_set(err, DP_ENOMEM, "out of memory sending %s", what);
        double t0 = c->m_rtt != NULL ? dp_metrics_now() : 0;
        void *reply = NULL;
        redisReply *r = redisGetReply(c->ctx, &reply) == REDIS_OK ? reply : NULL;
        c->round_trips++;
        if (c->m_rtt != NULL)
            dp_hist_observe(c->m_rtt, dp_metrics_now() - t0);
        if (r != NULL) {
            *out = r;
            return DP_OK;
        }
        rq_count_error(c);
        rq_drop(c, what, err);
        if (retry != RQ_RETRY || attempt > 0) {
            if (retry != RQ_RETRY && err != NULL) {
                size_t l = strlen(err->msg);
                snprintf(err->msg + l, sizeof err->msg - l, " (outcome unknown)");
            }
            return DP_EUNAVAIL;
        }
    }
}

static int rq_error_reply(rq_conn *c, redisReply *r, const char *what, dp_err *err)
{
    rq_count_error(c);
    dp_err_set(err, DP_EIO, "redis error during %s: %.*s", what, (int)(r->len > 300 ? 300 : r->len),
               r->str);
    freeReplyObject(r);
    return DP_EIO;
}

int rq_call(rq_conn *c, const char *what, rq_args *a, int retry, redisReply **out, dp_err *err)
{
    int rc = rq_raw(c, what, a, retry, out, err);
    if (rc == DP_OK && (*out)->type == REDIS_REPLY_ERROR) {
        rc = rq_error_reply(c, *out, what, err);
        *out = NULL;
    }
    return rc;
}

static int rq_load_script(rq_conn *c, rq_lua_id id, dp_err *err)
{
    rq_args a = {0};
    rq_args_str(&a, "SCRIPT");
    rq_args_str(&a, "LOAD");
    rq_args_str(&a, rq_lua_source[id]);
    redisReply *r = NULL;
    int rc = rq_call(c, "SCRIPT LOAD", &a, RQ_RETRY, &r, err);
    rq_args_free(&a);
    if (rc != DP_OK)
        return rc;
    if (r->type != REDIS_REPLY_STRING || r->len != 40) {
        freeReplyObject(r);
        return dp_err_set(err, DP_EPROTO, "SCRIPT LOAD %s: unexpected reply", rq_lua_name[id]);
    }
    memcpy(c->sha[id], r->str, 40);
    c->sha[id][40] = '\0';
    freeReplyObject(r);
    return DP_OK;
}

int rq_script_ready(rq_conn *c, rq_lua_id script, dp_err *err)
{
    return c->sha[script][0] != '\0' ? DP_OK : rq_load_script(c, script, err);
}

int rq_eval(rq_conn *c, rq_lua_id script, rq_args *argv, int retry, redisReply **out, dp_err *err)
{
    return rq_eval_keys(c, script, NULL, 0, argv, retry, out, err);
}

int rq_eval_keys(rq_conn *c, rq_lua_id script, const char *const *extra, size_t n_extra,
                 rq_args *argv, int retry, redisReply **out, dp_err *err)
{
    *out = NULL;
    if (argv->oom)
        return dp_err_set(err, DP_ENOMEM, "out of memory building %s", rq_lua_name[script]);
    rq_args a = {0};
    rq_args_str(&a, "EVALSHA");
    rq_args_str(&a, c->sha[script]); /* borrowed: reloading rewrites it in place */
    rq_args_u64(&a, RQ_NKEYS + n_extra);
    for (int i = 0; i < RQ_NKEYS; i++)
        rq_args_str(&a, c->keys[i]);
    for (size_t i = 0; i < n_extra; i++)
        rq_args_str(&a, extra[i]);
    for (size_t i = 0; i < argv->n; i++)
        rq_args_add(&a, argv->v[i], argv->len[i]);
    int rc = DP_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (c->sha[script][0] == '\0' && (rc = rq_load_script(c, script, err)) != DP_OK)
            break;
        a.len[1] = 40;
        rc = rq_raw(c, rq_lua_name[script], &a, retry, out, err);
        if (rc != DP_OK)
            break;
        if ((*out)->type == REDIS_REPLY_ERROR && strncmp((*out)->str, "NOSCRIPT", 8) == 0) {
            /* SCRIPT FLUSH or a restarted server: load again, retry once. */
            freeReplyObject(*out);
            *out = NULL;
            c->sha[script][0] = '\0';
            rc = dp_err_set(err, DP_EIO, "redis lost script %s twice", rq_lua_name[script]);
            continue;
        }
        if ((*out)->type == REDIS_REPLY_ERROR) {
            rc = rq_error_reply(c, *out, rq_lua_name[script], err);
            *out = NULL;
        }
        break;
    }
    rq_args_free(&a);
    return rc;
}

int rq_pipeline(rq_conn *c, const char *what, rq_args *cmds, size_t n, redisReply **out,
                dp_err *err)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = NULL;
        if (cmds[i].oom)
            return dp_err_set(err, DP_ENOMEM, "out of memory building %s", what);
    }
    /* Only read-only or idempotent pipelines are used: retry once. */
    for (int attempt = 0; attempt < 2; attempt++) {
        int rc = rq_ensure(c, err);
        if (rc != DP_OK) {
            rq_count_error(c);
            return rc;
        }
        double t0 = c->m_rtt != NULL ? dp_metrics_now() : 0;
        size_t sent = 0;
        while (sent < n && rq_append(c->ctx, &cmds[sent]) == REDIS_OK)
            sent++;
        if (sent < n) { /* nothing went out yet: drop what was appended */
            rq_count_error(c);
            rq_drop(c, what, err);
            return dp_err_set(err, DP_ENOMEM, "out of memory building %s", what);
        }
        c->round_trips++;
        size_t got = 0;
        for (; got < n; got++) {
            void *r = NULL;
            if (redisGetReply(c->ctx, &r) != REDIS_OK || r == NULL)
                break;
            out[got] = r;
        }
        if (c->m_rtt != NULL)
            dp_hist_observe(c->m_rtt, dp_metrics_now() - t0);
        if (got == n) {
            for (size_t i = 0; i < n; i++) {
                if (out[i]->type == REDIS_REPLY_ERROR) {
                    rq_count_error(c);
                    dp_err_set(err, DP_EIO, "redis error during %s: %.300s", what, out[i]->str);
                    for (size_t j = 0; j < n; j++) {
                        freeReplyObject(out[j]);
                        out[j] = NULL;
                    }
                    return DP_EIO;
                }
            }
            return DP_OK;
        }
        for (size_t i = 0; i < got; i++) {
            freeReplyObject(out[i]);
            out[i] = NULL;
        }
        rq_count_error(c);
        rq_drop(c, what, err);
    }
    return DP_EUNAVAIL;
}

static int rq_check_prefix(const char *prefix, dp_err *err)
{
    size_t n = strlen(prefix);
    if (n == 0 || n >= RQ_PREFIX_MAX)
        return dp_err_set(err, DP_EINVAL, "redis key prefix must be 1..%d chars",
                          RQ_PREFIX_MAX - 1);
    const char *open = strchr(prefix, '{');
    const char *close = open ? strchr(open, '}') : NULL;
    if (open == NULL || close == NULL || close == open + 1)
        return dp_err_set(err, DP_EINVAL,
                          "redis key prefix \"%s\" needs a non-empty {hash tag} so every key "
                          "lands in one cluster slot",
                          prefix);
    for (const char *p = prefix; *p; p++)
        if (*p <= ' ' || *p == 127)
            return dp_err_set(err, DP_EINVAL, "redis key prefix has a space or control char");
    return DP_OK;
}

rq_conn *rq_connect(const char *url, const char *prefix, const rq_options *opt, dp_err *err)
{
    if (prefix == NULL)
        prefix = RQ_DEFAULT_PREFIX;
    if (rq_check_prefix(prefix, err) != DP_OK)
        return NULL;
    rq_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        dp_err_set(err, DP_ENOMEM, "out of memory allocating the redis connection");
        return NULL;
    }
    if (opt)
        c->opt = *opt;
    else
        rq_options_default(&c->opt);
    if (c->opt.alive_ttl_ms == 0 || c->opt.max_attempts == 0 || c->opt.tombstone_ms == 0 ||
        c->opt.max_attempts > DP_MAX_ATTEMPTS_LIMIT) {
        dp_err_set(err, DP_EINVAL,
                   "rq options: alive_ttl_ms, tombstone_ms must be > 0 and "
                   "max_attempts 1..%d",
                   DP_MAX_ATTEMPTS_LIMIT);
        free(c);
        return NULL;
    }
    if (rq_url_parse(url, &c->url, err) != DP_OK) {
        free(c);
        return NULL;
    }
    snprintf(c->prefix, sizeof c->prefix, "%s", prefix);
    for (int i = 0; i < RQ_NKEYS; i++)
        snprintf(c->keys[i], sizeof c->keys[i], "%s%s", prefix, rq_fixed_key_suffix[i]);
    if (rq_try_connect(c, err) != DP_OK) {
        rq_close(c);
        return NULL;
    }
    return c;
}

void rq_close(rq_conn *c)
{
    if (c == NULL)
        return;
    if (c->ctx)
        redisFree(c->ctx);
    explicit_bzero(c->url.password, sizeof c->url.password);
    free(c);
}

uint64_t rq_round_trips(const rq_conn *c)
{
    return c->round_trips;
}

int rq_eval_ids(rq_conn *c, int script, const char *const *ids, size_t n, dp_err *err)
{
    for (size_t i = 0; i < n; i += RQ_BATCH_MAX) {
        size_t m = n - i < RQ_BATCH_MAX ? n - i : RQ_BATCH_MAX;
        rq_args a = {0};
        for (size_t j = 0; j < m; j++)
            rq_args_str(&a, ids[i + j]);
        redisReply *r = NULL;
        int rc = rq_eval(c, script, &a, RQ_RETRY, &r, err);
        rq_args_free(&a);
        if (rc != DP_OK)
            return rc;
        freeReplyObject(r);
    }
    return DP_OK;
}

void rq_set_metrics(rq_conn *c, dp_metrics *m)
{
    c->m_rtt = dp_metrics_hist(m, "dispatch_redis_request_duration_seconds", "");
    c->m_errors = dp_metrics_counter(m, "dispatch_redis_errors_total", "");
}
