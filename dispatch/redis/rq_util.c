/* URL parsing, argument vectors and small helpers for the rq_ library. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rq_internal.h"

static int rq_parse_uint(const char *s, size_t n, int max, int *out)
{
    if (n == 0 || n > 9)
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

int rq_url_parse(const char *url, rq_url *out, dp_err *err)
{
    memset(out, 0, sizeof *out);
    out->port = 6379;
    if (url == NULL || *url == '\0')
        return dp_err_set(err, DP_EINVAL, "redis URL is empty");
    if (strncmp(url, "unix://", 7) == 0) {
        const char *path = url + 7;
        if (path[0] != '/')
            return dp_err_set(err, DP_EINVAL, "redis URL: unix:// needs an absolute path");
        if (strlen(path) >= sizeof out->unix_path)
            return dp_err_set(err, DP_EINVAL, "redis URL: unix socket path too long");
        strcpy(out->unix_path, path);
        return DP_OK;
    }
    if (strncmp(url, "redis://", 8) != 0)
        return dp_err_set(err, DP_EINVAL, "redis URL must start with redis:// or unix://");
    const char *p = url + 8;
    const char *at = strrchr(p, '@');
    if (at != NULL) {
        /* userinfo: [user]:password; only the password is used (no ACL users). */
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        size_t pwlen = (size_t)(at - pw);
        if (pwlen >= sizeof out->password)
            return dp_err_set(err, DP_EINVAL, "redis URL: password too long");
        memcpy(out->password, pw, pwlen);
        out->password[pwlen] = '\0';
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    const char *hostend = slash ? slash : p + strlen(p);
    const char *colon = memchr(p, ':', (size_t)(hostend - p));
    const char *hend = colon ? colon : hostend;
    if (hend == p)
        return dp_err_set(err, DP_EINVAL, "redis URL: missing host");
    if ((size_t)(hend - p) >= sizeof out->host)
        return dp_err_set(err, DP_EINVAL, "redis URL: host too long");
    memcpy(out->host, p, (size_t)(hend - p));
    out->host[hend - p] = '\0';
    if (colon && (rq_parse_uint(colon + 1, (size_t)(hostend - colon - 1), 65535, &out->port) != 0 ||
                  out->port == 0))
        return dp_err_set(err, DP_EINVAL, "redis URL: bad port");
    if (slash && slash[1] != '\0' &&
        rq_parse_uint(slash + 1, strlen(slash + 1), 1000000, &out->db) != 0)
        return dp_err_set(err, DP_EINVAL, "redis URL: bad database number");
    return DP_OK;
}

static void rq_args_grow(rq_args *a)
{
    if (a->n < a->cap)
        return;
    size_t cap = a->cap ? a->cap * 2 : 16;
    const char **v = realloc(a->v, cap * sizeof *v);
    if (v == NULL) {
        a->oom = 1;
        return;
    }
    a->v = v;
    size_t *len = realloc(a->len, cap * sizeof *len);
    if (len == NULL) {
        a->oom = 1;
        return;
    }
    a->len = len;
    a->cap = cap;
}

void rq_args_add(rq_args *a, const void *p, size_t len)
{
    rq_args_grow(a);
    if (a->oom)
        return;
    a->v[a->n] = p;
    a->len[a->n] = len;
    a->n++;
}

void rq_args_str(rq_args *a, const char *s)
{
    rq_args_add(a, s, strlen(s));
}

/* Adds s (heap, now owned by a) as the next argument; NULL marks oom. */
static void rq_args_take(rq_args *a, char *s)
{
    if (s == NULL)
        a->oom = 1;
    if (a->oom) {
        free(s);
        return;
    }
    if (a->n_owned == a->cap_owned) {
        size_t cap = a->cap_owned ? a->cap_owned * 2 : 8;
        char **o = realloc(a->owned, cap * sizeof *o);
        if (o == NULL) {
            a->oom = 1;
            free(s);
            return;
        }
        a->owned = o;
        a->cap_owned = cap;
    }
    a->owned[a->n_owned++] = s;
    rq_args_str(a, s);
}

void rq_args_u64(rq_args *a, uint64_t v)
{
    char *s = malloc(24);
    if (s != NULL)
        snprintf(s, 24, "%llu", (unsigned long long)v);
    rq_args_take(a, s);
}

void rq_args_dup(rq_args *a, const char *s)
{
    rq_args_take(a, strdup(s));
}

void rq_args_free(rq_args *a)
{
    for (size_t i = 0; i < a->n_owned; i++)
        free(a->owned[i]);
    free(a->owned);
    free(a->v);
    free(a->len);
    memset(a, 0, sizeof *a);
}

int rq_check_id(const char *id, const char *what, dp_err *err)
{
    if (id == NULL || *id == '\0')
        return dp_err_set(err, DP_EINVAL, "%s is empty", what);
    size_t n = 0;
    for (const char *p = id; *p; p++, n++) {
        if (n >= DP_ID_MAX - 1)
            return dp_err_set(err, DP_EINVAL, "%s is longer than %d chars", what, DP_ID_MAX - 1);
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return dp_err_set(err, DP_EINVAL, "%s has a character outside [A-Za-z0-9_.-]", what);
    }
    return DP_OK;
}

int64_t rq_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rq_format_time(int64_t ms, char out[32])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%03dZ", base, (int)(ms % 1000));
}

long long rq_reply_int(const redisReply *r)
{
    if (r == NULL)
        return 0;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    return 0;
}
