/* Routing: queue ids, per-queue depths, the set of offered profiles and a
 * runner's eligible queues (docs/redis.md, "Queues and routing"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rq_internal.h"

static int rq_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int rq_queue_id(const char *profile, const char *const *labels, size_t n_labels,
                char out[RQ_QID_MAX], dp_err *err)
{
    if (n_labels > DP_JOB_LABELS_MAX)
        return dp_err_set(err, DP_EINVAL, "more than %d labels", DP_JOB_LABELS_MAX);
    const char *sorted[DP_JOB_LABELS_MAX];
    for (size_t i = 0; i < n_labels; i++) {
        if (!dp_label_ok(labels[i]))
            return dp_err_set(err, DP_EINVAL,
                              "label '%.64s' must be [A-Za-z0-9_.-], start with a letter or "
                              "digit, at most %d characters",
                              labels[i] ? labels[i] : "", DP_LABEL_MAX);
        sorted[i] = labels[i];
    }
    qsort(sorted, n_labels, sizeof sorted[0], rq_cmp_str);
    const char *prof = profile != NULL ? profile : "";
    if (strlen(prof) > DP_PROFILE_NAME_MAX || strchr(prof, ':') != NULL)
        return dp_err_set(err, DP_EINVAL, "profile '%.64s' cannot name a queue", prof);
    size_t used = (size_t)snprintf(out, RQ_QID_MAX, "%s:", prof);
    for (size_t i = 0; i < n_labels; i++) {
        if (i > 0 && strcmp(sorted[i], sorted[i - 1]) == 0)
            continue; /* a set: duplicates name the same queue */
        used += (size_t)snprintf(out + used, RQ_QID_MAX - used, "%s%s",
                                 out[used - 1] == ':' ? "" : ",", sorted[i]);
    }
    return DP_OK;
}

static char *rq_dup_reply(const redisReply *r)
{
    if (r == NULL || r->type != REDIS_REPLY_STRING)
        return strdup("");
    char *s = malloc(r->len + 1);
    if (s != NULL) {
        memcpy(s, r->str, r->len);
        s[r->len] = '\0';
    }
    return s;
}

static const char *rq_prio_long(const redisReply *r)
{
    char c = r != NULL && r->type == REDIS_REPLY_STRING && r->len > 0 ? r->str[0] : 'n';
    return c == 'h' ? "high" : c == 'l' ? "low" : "normal";
}

int rq_queue_depths(rq_conn *c, size_t max, int with_empty, dp_queue_stats *out, dp_err *err)
{
    out->queues = NULL;
    out->n_queues = 0;
    rq_args a = {0};
    rq_args_u64(&a, max);
    rq_args_str(&a, with_empty ? "1" : "0");
    redisReply *r = NULL;
    int rc = rq_eval(c, RQ_LUA_QUEUES, &a, RQ_RETRY, &r, err);
    rq_args_free(&a);
    if (rc != DP_OK)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || (r->elements - 3) % 4 != 0) {
        freeReplyObject(r);
        return dp_err_set(err, DP_EPROTO, "queues: unexpected reply from the script");
    }
    out->pending = (uint64_t)rq_reply_int(r->element[0]);
    out->runners_draining = (uint64_t)rq_reply_int(r->element[2]);
    size_t n = (r->elements - 3) / 4;
    if (n > 0 && (out->queues = calloc(n, sizeof *out->queues)) == NULL) {
        freeReplyObject(r);
        return dp_err_set(err, DP_ENOMEM, "out of memory listing queues");
    }
    for (size_t i = 0; i < n; i++) {
        redisReply **row = &r->element[3 + 4 * i];
        dp_queue_depth *q = &out->queues[i];
        char *qid = rq_dup_reply(row[0]);
        char *colon = qid != NULL ? strchr(qid, ':') : NULL;
        out->n_queues = i + 1;
        if (colon == NULL) {
            free(qid);
            freeReplyObject(r);
            dp_queue_stats_free(out);
            return dp_err_set(err, DP_ENOMEM, "out of memory listing queues");
        }
        *colon = '\0';
        q->profile = qid;
        q->labels = strdup(colon + 1);
        q->priority = strdup(rq_prio_long(row[1]));
        q->depth = (uint64_t)rq_reply_int(row[2]);
        q->runners = (uint32_t)rq_reply_int(row[3]);
        if (q->labels == NULL || q->priority == NULL) {
            freeReplyObject(r);
            dp_queue_stats_free(out);
            return dp_err_set(err, DP_ENOMEM, "out of memory listing queues");
        }
    }
    freeReplyObject(r);
    return DP_OK;
}

int rq_profile_offered(rq_conn *c, const char *profile, int *offered, int *any, dp_err *err)
{
    char key[RQ_PREFIX_MAX + 16];
    snprintf(key, sizeof key, "%sprofiles", c->prefix);
    rq_args cmds[2] = {{0}};
    rq_args_str(&cmds[0], "SISMEMBER");
    rq_args_str(&cmds[0], key);
    rq_args_str(&cmds[0], profile != NULL ? profile : "");
    rq_args_str(&cmds[1], "SCARD");
    rq_args_str(&cmds[1], key);
    redisReply *rep[2] = {NULL, NULL};
    int rc = rq_pipeline(c, "profile offered", cmds, 2, rep, err);
    if (rc == DP_OK) {
        *offered = rq_reply_int(rep[0]) == 1;
        *any = rq_reply_int(rep[1]) > 0;
        freeReplyObject(rep[0]);
        freeReplyObject(rep[1]);
    }
    rq_args_free(&cmds[0]);
    rq_args_free(&cmds[1]);
    return rc;
}

void rq_strings_free(char **list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        free(list[i]);
    free(list);
}

/* SMEMBERS key -> heap strings. */
static int rq_smembers(rq_conn *c, const char *what, const char *key, char ***out, size_t *n_out,
                       dp_err *err)
{
    *out = NULL;
    *n_out = 0;
    rq_args a = {0};
    rq_args_str(&a, "SMEMBERS");
    rq_args_str(&a, key);
    redisReply *r = NULL;
    int rc = rq_call(c, what, &a, RQ_RETRY, &r, err);
    rq_args_free(&a);
    if (rc != DP_OK)
        return rc;
    size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    char **list = n > 0 ? calloc(n, sizeof *list) : NULL;
    for (size_t i = 0; list != NULL && i < n; i++) {
        if ((list[i] = rq_dup_reply(r->element[i])) == NULL) {
            rq_strings_free(list, i);
            list = NULL;
        }
    }
    freeReplyObject(r);
    if (n > 0 && list == NULL)
        return dp_err_set(err, DP_ENOMEM, "%s: out of memory", what);
    *out = list;
    *n_out = n;
    return DP_OK;
}

int rq_profiles_list(rq_conn *c, char ***out, size_t *n_out, dp_err *err)
{
    char key[RQ_PREFIX_MAX + 16];
    snprintf(key, sizeof key, "%sprofiles", c->prefix);
    return rq_smembers(c, "offered profiles", key, out, n_out, err);
}

int rq_profiles_add(rq_conn *c, const char *const *profiles, size_t n, dp_err *err)
{
    if (n == 0)
        return DP_OK;
    char key[RQ_PREFIX_MAX + 16];
    snprintf(key, sizeof key, "%sprofiles", c->prefix);
    rq_args a = {0};
    rq_args_str(&a, "SADD");
    rq_args_str(&a, key);
    for (size_t i = 0; i < n; i++)
        rq_args_str(&a, profiles[i]);
    redisReply *r = NULL;
    int rc = rq_call(c, "add offered profiles", &a, RQ_RETRY, &r, err);
    rq_args_free(&a);
    if (r != NULL)
        freeReplyObject(r);
    return rc;
}

int rq_runner_queues(rq_conn *c, const char *runner_id, char ***out, size_t *n_out, dp_err *err)
{
    int rc = rq_check_id(runner_id, "runner id", err);
    if (rc != DP_OK)
        return rc;
    char key[RQ_PREFIX_MAX + DP_ID_MAX + 16];
    snprintf(key, sizeof key, "%srunner:%s:queues", c->prefix, runner_id);
    return rq_smembers(c, "runner queues", key, out, n_out, err);
}

int rq_migrate_pending(rq_conn *c, uint64_t *moved_left, dp_err *err)
{
    for (int round = 0;; round++) {
        rq_args a = {0};
        rq_args_u64(&a, RQ_BATCH_MAX);
        redisReply *r = NULL;
        int rc = rq_eval(c, RQ_LUA_MIGRATE_PENDING, &a, RQ_RETRY, &r, err);
        rq_args_free(&a);
        if (rc != DP_OK)
            return rc;
        long long left = rq_reply_int(r);
        freeReplyObject(r);
        if (moved_left != NULL)
            *moved_left = (uint64_t)left;
        if (left == 0 || round > 100000)
            return DP_OK;
    }
}
