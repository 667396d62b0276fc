/* The shared event stream (rq_events.h). */
#include "dispatch/redis/rq_events.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rq_internal.h"

static void stream_key(const rq_conn *c, char *out, size_t cap)
{
    snprintf(out, cap, "%sevents", c->prefix);
}

int rq_events_add(rq_conn *c, const void *const *blobs, const size_t *lens, size_t n, dp_err *err)
{
    if (n == 0)
        return DP_OK;
    char key[RQ_PREFIX_MAX + 16];
    stream_key(c, key, sizeof key);
    rq_args *cmds = calloc(n, sizeof *cmds);
    redisReply **out = calloc(n, sizeof *out);
    if (cmds == NULL || out == NULL) {
        free(cmds);
        free(out);
        return dp_err_set(err, DP_ENOMEM, "out of memory adding %zu events", n);
    }
    for (size_t i = 0; i < n; i++) {
        rq_args_str(&cmds[i], "XADD");
        rq_args_str(&cmds[i], key);
        /* Only the batch's last XADD trims: the cap holds after every batch
         * (MAXLEN ~ drops whole nodes, up to 10,000 entries a call), and a
         * trim check cost ~1 us of the ~3.7 us of each XADD at the cap. */
        if (i + 1 == n) {
            rq_args_str(&cmds[i], "MAXLEN");
            rq_args_str(&cmds[i], "~");
            rq_args_u64(&cmds[i], RQ_EVENTS_MAXLEN);
        }
        rq_args_str(&cmds[i], "*");
        rq_args_str(&cmds[i], "e");
        rq_args_add(&cmds[i], blobs[i], lens[i]);
    }
    int rc = rq_pipeline(c, "add events", cmds, n, out, err);
    for (size_t i = 0; i < n; i++) {
        if (out[i] != NULL)
            freeReplyObject(out[i]);
        rq_args_free(&cmds[i]);
    }
    free(cmds);
    free(out);
    return rc;
}

/* One stream entry: [id, [field, value, ...]]. */
static int entry(const redisReply *e, const char **id, const char **data, size_t *len)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
        return -1;
    const redisReply *kv = e->element[1];
    *id = e->element[0]->str;
    *data = NULL;
    for (size_t i = 0; i + 1 < kv->elements; i += 2)
        if (kv->element[i]->type == REDIS_REPLY_STRING && strcmp(kv->element[i]->str, "e") == 0 &&
            kv->element[i + 1]->type == REDIS_REPLY_STRING) {
            *data = kv->element[i + 1]->str;
            *len = kv->element[i + 1]->len;
        }
    return 0;
}

int rq_events_read(rq_conn *c, char after[RQ_EVENT_ID_MAX], size_t max, int block_ms,
                   rq_event_fn fn, void *arg, dp_err *err)
{
    char key[RQ_PREFIX_MAX + 16];
    stream_key(c, key, sizeof key);
    rq_args a = {0};
    rq_args_str(&a, "XREAD");
    rq_args_str(&a, "COUNT");
    rq_args_u64(&a, max);
    rq_args_str(&a, "BLOCK");
    rq_args_u64(&a, (uint64_t)block_ms);
    rq_args_str(&a, "STREAMS");
    rq_args_str(&a, key);
    rq_args_str(&a, after);
    redisReply *r = NULL;
    int rc = rq_call(c, "read events", &a, RQ_RETRY, &r, err);
    rq_args_free(&a);
    if (rc != DP_OK)
        return rc;
    int n = 0;
    /* nil: nothing within block_ms; else [[key, [entries...]]] */
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2) {
        const redisReply *entries = r->element[0]->element[1];
        for (size_t i = 0; entries->type == REDIS_REPLY_ARRAY && i < entries->elements; i++) {
            const char *id, *data;
            size_t len = 0;
            if (entry(entries->element[i], &id, &data, &len) != 0)
                continue;
            snprintf(after, RQ_EVENT_ID_MAX, "%s", id);
            if (data != NULL)
                fn(arg, id, data, len);
            n++;
        }
    }
    freeReplyObject(r);
    return n;
}

int rq_events_back(rq_conn *c, const char *after, char before[RQ_EVENT_ID_MAX], size_t max,
                   rq_event_fn fn, void *arg, dp_err *err)
{
    char key[RQ_PREFIX_MAX + 16], lo[RQ_EVENT_ID_MAX + 1], hi[RQ_EVENT_ID_MAX + 1];
    stream_key(c, key, sizeof key);
    snprintf(lo, sizeof lo, "(%s", after); /* exclusive bounds: Redis >= 6.2 */
    snprintf(hi, sizeof hi, before[0] != '\0' ? "(%s" : "+", before);
    rq_args a = {0};
    rq_args_str(&a, "XREVRANGE");
    rq_args_str(&a, key);
    rq_args_str(&a, hi);
    rq_args_str(&a, lo);
    rq_args_str(&a, "COUNT");
    rq_args_u64(&a, max);
    redisReply *r = NULL;
    int rc = rq_call(c, "earlier events", &a, RQ_RETRY, &r, err);
    rq_args_free(&a);
    if (rc != DP_OK)
        return rc;
    int n = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const char *id, *data;
        size_t len = 0;
        if (entry(r->element[i], &id, &data, &len) != 0)
            continue;
        snprintf(before, RQ_EVENT_ID_MAX, "%s", id);
        if (data != NULL)
            fn(arg, id, data, len);
    }
    /* every entry counts, a malformed one too: fewer than max means none older */
    n = r->type == REDIS_REPLY_ARRAY ? (int)r->elements : 0;
    freeReplyObject(r);
    return n;
}

int rq_events_has(rq_conn *c, const char *id, int *has, dp_err *err)
{
    char key[RQ_PREFIX_MAX + 16];
    stream_key(c, key, sizeof key);
    rq_args a = {0};
    rq_args_str(&a, "XRANGE");
    rq_args_str(&a, key);
    rq_args_str(&a, id);
    rq_args_str(&a, id);
    redisReply *r = NULL;
    int rc = rq_call(c, "event entry", &a, RQ_RETRY, &r, err);
    rq_args_free(&a);
    if (rc != DP_OK)
        return rc;
    *has = r->type == REDIS_REPLY_ARRAY && r->elements > 0;
    freeReplyObject(r);
    return DP_OK;
}

int rq_events_last_id(rq_conn *c, char out[RQ_EVENT_ID_MAX], dp_err *err)
{
    char key[RQ_PREFIX_MAX + 16];
    stream_key(c, key, sizeof key);
    rq_args a = {0};
    rq_args_str(&a, "XREVRANGE");
    rq_args_str(&a, key);
    rq_args_str(&a, "+");
    rq_args_str(&a, "-");
    rq_args_str(&a, "COUNT");
    rq_args_str(&a, "1");
    redisReply *r = NULL;
    int rc = rq_call(c, "last event id", &a, RQ_RETRY, &r, err);
    rq_args_free(&a);
    if (rc != DP_OK)
        return rc;
    snprintf(out, RQ_EVENT_ID_MAX, "0-0");
    const char *id, *data;
    size_t len;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        entry(r->element[0], &id, &data, &len) == 0)
        snprintf(out, RQ_EVENT_ID_MAX, "%s", id);
    freeReplyObject(r);
    return DP_OK;
}

int rq_event_id_parse(const char *s, uint64_t *out)
{
    char *end = NULL;
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    unsigned long long ms = strtoull(s, &end, 10);
    if (*end != '-' || end[1] < '0' || end[1] > '9')
        return -1;
    unsigned long long seq = strtoull(end + 1, &end, 10);
    if (*end != '\0' || ms >= (1ull << 43) || seq >= (1ull << 20))
        return -1;
    *out = ((uint64_t)ms << 20) | (uint64_t)seq;
    return 0;
}

void rq_event_id_format(uint64_t v, char out[RQ_EVENT_ID_MAX])
{
    snprintf(out, RQ_EVENT_ID_MAX, "%" PRIu64 "-%" PRIu64, v >> 20, v & ((1u << 20) - 1));
}

int rq_event_id_of(const char *entry_id, size_t i, char out[RQ_EVENT_ID_MAX])
{
    uint64_t v;
    if (i >= RQ_EVENTS_PER_ENTRY || rq_event_id_parse(entry_id, &v) != 0)
        return -1;
    uint64_t ms = v >> 20, seq = v & ((1u << 20) - 1);
    if (seq >= (1u << 20) / RQ_EVENTS_PER_ENTRY)
        return -1;
    rq_event_id_format(ms << 20 | (seq * RQ_EVENTS_PER_ENTRY + i), out);
    return 0;
}
