/* Read-side views: the runner list (`dispatchctl runners`) and queue stats. */
#include <stdlib.h>
#include <string.h>

#include "rq_internal.h"

static char *rq_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static int rq_split_labels(const char *s, dp_runner_info *ri)
{
    if (s == NULL || *s == '\0')
        return 0;
    size_t n = 1;
    for (const char *p = s; *p; p++)
        n += *p == ',';
    ri->labels = calloc(n, sizeof *ri->labels);
    if (ri->labels == NULL)
        return -1;
    const char *start = s;
    for (;;) {
        const char *end = strchr(start, ',');
        size_t len = end ? (size_t)(end - start) : strlen(start);
        if ((ri->labels[ri->n_labels] = rq_strndup(start, len)) == NULL)
            return -1;
        ri->n_labels++;
        if (end == NULL)
            return 0;
        start = end + 1;
    }
}

/* Fills ri from an HGETALL reply plus the job count and alive deadline. */
static int rq_fill_runner(rq_conn *c, const char *id, const redisReply *h, long long jobs,
                          const redisReply *deadline, dp_runner_info *ri)
{
    const char *name = "", *labels = "", *version = "";
    long long capacity = 0, last_seen = 0;
    int draining = 0;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const char *f = h->element[i]->str, *v = h->element[i + 1]->str;
        if (strcmp(f, "name") == 0)
            name = v;
        else if (strcmp(f, "labels") == 0)
            labels = v;
        else if (strcmp(f, "version") == 0)
            version = v;
        else if (strcmp(f, "capacity") == 0)
            capacity = strtoll(v, NULL, 10);
        else if (strcmp(f, "last_seen") == 0)
            last_seen = strtoll(v, NULL, 10);
        else if (strcmp(f, "draining") == 0)
            draining = strcmp(v, "1") == 0;
    }
    long long dl = deadline->type == REDIS_REPLY_STRING ? strtoll(deadline->str, NULL, 10) : 0;
    /* last_seen = deadline - ttl: the heartbeat only moves the deadline. */
    if (dl > 0)
        last_seen = dl - (long long)c->opt.alive_ttl_ms;
    char ts[32];
    rq_format_time(last_seen, ts);
    ri->runner_id = strdup(id);
    ri->name = strdup(name);
    ri->version = strdup(version);
    ri->last_seen = strdup(ts);
    ri->alive = dl > rq_now_ms();
    ri->draining = draining;
    ri->capacity = (uint32_t)capacity;
    ri->leased_jobs = (uint32_t)jobs;
    if (!ri->runner_id || !ri->name || !ri->version || !ri->last_seen ||
        rq_split_labels(labels, ri) != 0)
        return DP_ENOMEM;
    return DP_OK;
}

int rq_runner_list(rq_conn *c, dp_runner_info **out, size_t *n_out, dp_err *err)
{
    *out = NULL;
    *n_out = 0;
    rq_args a = {0};
    rq_args_str(&a, "SMEMBERS");
    rq_args_str(&a, c->keys[5]);
    redisReply *ids = NULL;
    int rc = rq_call(c, "runner list", &a, RQ_RETRY, &ids, err);
    rq_args_free(&a);
    if (rc != DP_OK)
        return rc;
    size_t n = ids->elements;
    if (n == 0) {
        freeReplyObject(ids);
        return DP_OK;
    }
    rq_args *cmds = calloc(3 * n, sizeof *cmds);
    redisReply **rep = calloc(3 * n, sizeof *rep);
    char(*keys)[RQ_PREFIX_MAX + DP_ID_MAX + 16] = calloc(2 * n, sizeof *keys);
    dp_runner_info *list = calloc(n, sizeof *list);
    rq_args gone = {0};
    if (!cmds || !rep || !keys || !list) {
        rc = dp_err_set(err, DP_ENOMEM, "out of memory listing runners");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const char *id = ids->element[i]->str;
        snprintf(keys[2 * i], sizeof keys[0], "%srunner:%s", c->prefix, id);
        snprintf(keys[2 * i + 1], sizeof keys[0], "%srunner:%s:jobs", c->prefix, id);
        rq_args_str(&cmds[3 * i], "HGETALL");
        rq_args_str(&cmds[3 * i], keys[2 * i]);
        rq_args_str(&cmds[3 * i + 1], "SCARD");
        rq_args_str(&cmds[3 * i + 1], keys[2 * i + 1]);
        rq_args_str(&cmds[3 * i + 2], "ZSCORE");
        rq_args_str(&cmds[3 * i + 2], c->keys[4]);
        rq_args_str(&cmds[3 * i + 2], id);
    }
    if ((rc = rq_pipeline(c, "runner list", cmds, 3 * n, rep, err)) != DP_OK)
        goto out;
    size_t kept = 0;
    rq_args_str(&gone, "SREM");
    rq_args_str(&gone, c->keys[5]);
    for (size_t i = 0; i < n; i++) {
        if (rep[3 * i]->elements == 0) {
            /* A reaped runner whose hash expired: forget its id. */
            rq_args_str(&gone, ids->element[i]->str);
            continue;
        }
        if (rq_fill_runner(c, ids->element[i]->str, rep[3 * i], rq_reply_int(rep[3 * i + 1]),
                           rep[3 * i + 2], &list[kept]) != DP_OK) {
            kept++;
            rc = dp_err_set(err, DP_ENOMEM, "out of memory listing runners");
            rq_runner_list_free(list, kept);
            list = NULL;
            goto out;
        }
        kept++;
    }
    if (gone.n > 2) {
        redisReply *r = NULL;
        if (rq_call(c, "runner list cleanup", &gone, RQ_RETRY, &r, NULL) == DP_OK)
            freeReplyObject(r);
    }
    *out = list;
    *n_out = kept;
    list = NULL;
out:
    if (rep)
        for (size_t i = 0; i < 3 * n; i++)
            if (rep[i])
                freeReplyObject(rep[i]);
    if (cmds)
        for (size_t i = 0; i < 3 * n; i++)
            rq_args_free(&cmds[i]);
    rq_args_free(&gone);
    free(cmds);
    free(rep);
    free(keys);
    free(list);
    freeReplyObject(ids);
    return rc;
}

void rq_runner_list_free(dp_runner_info *list, size_t n)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        dp_runner_info_free(&list[i]);
    free(list);
}

int rq_stats(rq_conn *c, dp_queue_stats *out, dp_err *err)
{
    memset(out, 0, sizeof *out);
    /* pending: the sum over the queues (no rows asked for). */
    int rc = rq_queue_depths(c, 0, 0, out, err);
    if (rc != DP_OK)
        return rc;
    uint64_t pending = out->pending;
    rq_args cmds[4] = {{0}};
    rq_args_str(&cmds[0], "EXISTS");
    rq_args_str(&cmds[0], c->keys[1]);
    rq_args_str(&cmds[1], "SCARD");
    rq_args_str(&cmds[1], c->keys[2]);
    rq_args_str(&cmds[2], "LLEN");
    rq_args_str(&cmds[2], c->keys[3]);
    rq_args_str(&cmds[3], "ZCOUNT");
    rq_args_str(&cmds[3], c->keys[4]);
    rq_args_u64(&cmds[3], (uint64_t)rq_now_ms());
    rq_args_str(&cmds[3], "+inf");
    redisReply *rep[4];
    rc = rq_pipeline(c, "stats", cmds, 4, rep, err);
    if (rc == DP_OK) {
        out->pending = pending;
        out->leased = (uint64_t)rq_reply_int(rep[1]);
        out->dead = (uint64_t)rq_reply_int(rep[2]);
        out->runners_alive = (uint64_t)rq_reply_int(rep[3]);
        for (int i = 0; i < 4; i++)
            freeReplyObject(rep[i]);
    }
    for (int i = 0; i < 4; i++)
        rq_args_free(&cmds[i]);
    return rc;
}
