#include "dispatch/dd_actor.h"

#include "common/metrics.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const dd_actor_def *def;
    void *state;
} dd_box;

static int dd_metrics_answer(dd_box *b, nng_msg *msg, nng_msg **reply)
{
    int query = nng_msg_len(msg) == strlen(DD_METRICS_QUERY) &&
                memcmp(nng_msg_body(msg), DD_METRICS_QUERY, nng_msg_len(msg)) == 0;
    nng_msg_free(msg);
    dp_metrics *m = b->def->metrics != NULL ? b->def->metrics(b->state) : NULL;
    if (!query || m == NULL)
        return DP_EINVAL;
    size_t len = 0;
    const void *snap = dp_metrics_snapshot(m, &len);
    if (nng_msg_alloc(reply, 0) != 0 || nng_msg_append(*reply, snap, len) != 0) {
        if (*reply != NULL)
            nng_msg_free(*reply);
        *reply = NULL;
        return DP_ENOMEM;
    }
    return 0;
}

void dd_metrics_gather(actor *const *actors, size_t n, dp_metrics *into, int timeout_ms,
                       size_t *missed)
{
    for (size_t i = 0; i < n; i++) {
        if (actors[i] == NULL)
            continue;
        nng_msg *q = NULL, *r = NULL;
        dp_err err = {0};
        if (nng_msg_alloc(&q, 0) == 0 &&
            nng_msg_append(q, DD_METRICS_QUERY, strlen(DD_METRICS_QUERY)) != 0) {
            nng_msg_free(q);
            q = NULL;
        }
        if (q == NULL || actor_call(actors[i], q, &r, timeout_ms, &err) != 0 ||
            dp_metrics_merge(into, nng_msg_body(r), nng_msg_len(r), &err) != DP_OK) {
            if (missed != NULL)
                (*missed)++;
        }
        if (r != NULL)
            nng_msg_free(r);
    }
}

/* def->on_idle when no message waits behind this one. */
static void dd_after(dd_box *b, actor_ctx *ctx)
{
    if (b->def->on_idle == NULL)
        return;
    actor_stats st;
    actor_get_stats(actor_ctx_actor(ctx), &st);
    if (st.queued == 0)
        b->def->on_idle(b->state, ctx);
}

static int dd_handle(void *box, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    dd_box *b = box;
    if (reply != NULL) { /* a call: only the metrics query is one */
        int rc = dd_metrics_answer(b, msg, reply);
        dd_after(b, ctx);
        return rc;
    }
    fwd_origin o;
    dp_msg m;
    if (fwd_receive(msg, &o, &m) != DP_OK) {
        dd_after(b, ctx);
        return 0;
    }
    const dd_route *r = NULL;
    for (size_t i = 0; i < b->def->n_routes && r == NULL; i++)
        if (b->def->routes[i].type == m.type)
            r = &b->def->routes[i];
    if (r != NULL)
        r->fn(b->state, ctx, o, &m);
    else
        fwd_reply_error(o, m.id, DP_MSG_ERR_UNSUPPORTED, "this actor does not handle this message");
    dp_msg_free(&m);
    dd_after(b, ctx);
    return 0;
}

static int dd_start(void *box, actor_ctx *ctx, dp_err *err)
{
    dd_box *b = box;
    return b->def->on_start != NULL ? b->def->on_start(b->state, ctx, err) : DP_OK;
}

static void dd_tick(void *box, actor_ctx *ctx)
{
    dd_box *b = box;
    b->def->on_tick(b->state, ctx);
}

static void dd_stop(void *box, actor_ctx *ctx)
{
    dd_box *b = box;
    b->def->on_stop(b->state, ctx);
    free(b);
}

bool dd_mailbox_empty(actor_ctx *ctx)
{
    actor_stats st;
    actor_get_stats(actor_ctx_actor(ctx), &st);
    return st.queued == 0;
}

actor *dd_actor_spawn(const dd_actor_def *def, void *state, dp_err *err)
{
    dd_box *b = calloc(1, sizeof *b);
    if (b == NULL) {
        def->on_stop(state, NULL);
        dp_err_set(err, DP_ENOMEM, "%s: out of memory", def->name);
        return NULL;
    }
    b->def = def;
    b->state = state;
    actor_opts o = {
        .name = def->name,
        .state = b,
        .handler = dd_handle,
        .on_start = dd_start,
        .on_stop = dd_stop,
        .on_tick = def->on_tick != NULL ? dd_tick : NULL,
        .tick_ms = def->on_tick != NULL ? def->tick_ms : 0,
        .mailbox = def->mailbox,
        .max_msg_bytes = DP_MSG_MAX_SIZE,
    };
    return actor_spawn_owned(&o, err);
}

int dd_routes_add(dd_routes *routes, unsigned from, const dd_actor_def *def, actor *a, dp_err *err)
{
    for (size_t i = 0; i < def->n_routes; i++) {
        const dd_route *r = &def->routes[i];
        if ((r->from & from) == 0)
            continue;
        if (routes->to[r->type] != NULL && routes->to[r->type] != a)
            return dp_err_set(err, DP_EINVAL, "%s: '%s' is already routed to another actor",
                              def->name, dp_msg_type_name(r->type));
        routes->to[r->type] = a;
        routes->scope[r->type] = r->scope;
    }
    return DP_OK;
}
