/* Wake-ups for long-polling leasers: a dedicated SUBSCRIBE connection to
 * <prefix>wake whose fd the caller polls. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rq_internal.h"

struct rq_wake {
    redisContext *ctx;
    /* What the last rq_wake_read received: the queue ids that became
     * non-empty, or `all` (a new queue: every waiter's queues may have grown,
     * or more ids than fit). */
    char qids[RQ_WAKE_QIDS_MAX][RQ_QID_MAX];
    size_t n_qids;
    int all;
};

rq_wake *rq_wake_subscribe(const char *url, const char *prefix, dp_err *err)
{
    rq_options opt;
    rq_options_default(&opt);
    opt.reconnect_wait_ms = 0;
    /* Reuse the connect logic (URL, AUTH, SELECT, prefix check), then take
     * its context over: a subscribed connection can run nothing else. */
    rq_conn *c = rq_connect(url, prefix, &opt, err);
    if (c == NULL)
        return NULL;
    rq_wake *w = calloc(1, sizeof *w);
    if (w == NULL) {
        rq_close(c);
        dp_err_set(err, DP_ENOMEM, "out of memory subscribing to wake-ups");
        return NULL;
    }
    w->ctx = c->ctx;
    c->ctx = NULL;
    char chan[RQ_PREFIX_MAX + 8];
    snprintf(chan, sizeof chan, "%swake", c->prefix);
    rq_close(c);
    const char *argv[2] = {"SUBSCRIBE", chan};
    size_t len[2] = {9, strlen(chan)};
    redisReply *r = redisCommandArgv(w->ctx, 2, argv, len);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        dp_err_set(err, DP_EUNAVAIL, "redis SUBSCRIBE %s failed: %s", chan,
                   r ? (r->str ? r->str : "unexpected reply") : w->ctx->errstr);
        if (r)
            freeReplyObject(r);
        rq_wake_close(w);
        return NULL;
    }
    freeReplyObject(r);
    /* Reads happen only after poll says readable; no read timeout. */
    struct timeval tv = {0, 0};
    redisSetTimeout(w->ctx, tv);
    return w;
}

int rq_wake_fd(const rq_wake *w)
{
    return w->ctx->fd;
}

/* Records the payload of one pub/sub message ["message", channel, qid]. */
static void rq_wake_note(rq_wake *w, const redisReply *r)
{
    const redisReply *p = r->type == REDIS_REPLY_ARRAY && r->elements == 3 ? r->element[2] : NULL;
    if (p == NULL || p->type != REDIS_REPLY_STRING || p->len == 0 || p->len >= RQ_QID_MAX ||
        strcmp(p->str, "*") == 0 || strchr(p->str, ':') == NULL) {
        w->all = 1; /* a new queue, or an old-style payload: wake everyone */
        return;
    }
    for (size_t i = 0; i < w->n_qids; i++)
        if (strcmp(w->qids[i], p->str) == 0)
            return;
    if (w->n_qids == RQ_WAKE_QIDS_MAX) {
        w->all = 1;
        return;
    }
    memcpy(w->qids[w->n_qids], p->str, p->len + 1);
    w->n_qids++;
}

/* Consumes the replies already buffered: each is one message. */
static int rq_wake_consume(rq_wake *w, dp_err *err)
{
    int n = 0;
    for (;;) {
        void *r = NULL;
        if (redisGetReplyFromReader(w->ctx, &r) != REDIS_OK)
            return dp_err_set(err, DP_EPROTO, "wake-up connection: %s", w->ctx->errstr);
        if (r == NULL)
            return n;
        rq_wake_note(w, r);
        freeReplyObject(r);
        n++;
    }
}

int rq_wake_read(rq_wake *w, int timeout_ms, dp_err *err)
{
    w->n_qids = 0;
    w->all = 0;
    int n = rq_wake_consume(w, err);
    if (n != 0)
        return n;
    struct pollfd p = {.fd = w->ctx->fd, .events = POLLIN};
    int pr;
    do {
        pr = poll(&p, 1, timeout_ms);
    } while (pr < 0 && errno == EINTR);
    if (pr < 0)
        return dp_err_set(err, DP_EIO, "poll on the wake-up connection: %s", strerror(errno));
    if (pr == 0)
        return 0;
    if (redisBufferRead(w->ctx) != REDIS_OK)
        return dp_err_set(err, DP_EUNAVAIL, "wake-up connection lost: %s", w->ctx->errstr);
    return rq_wake_consume(w, err);
}

size_t rq_wake_queues(const rq_wake *w, const char **out, size_t max, int *all)
{
    size_t n = w->n_qids < max ? w->n_qids : max;
    for (size_t i = 0; i < n; i++)
        out[i] = w->qids[i];
    *all = w->all || w->n_qids > max;
    return n;
}

void rq_wake_close(rq_wake *w)
{
    if (w == NULL)
        return;
    if (w->ctx)
        redisFree(w->ctx);
    free(w);
}
