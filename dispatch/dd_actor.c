#include "dispatch/dd_actor.h"

#include <stdlib.h>

typedef struct {
    const dd_actor_def *def;
    void *state;
} dd_box;

static int dd_handle(void *box, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    dd_box *b = box;
    (void)reply;
    fwd_origin o;
    dp_msg m;
    if (fwd_receive(msg, &o, &m) != DP_OK)
        return 0;
    const dd_route *r = NULL;
    for (size_t i = 0; i < b->def->n_routes && r == NULL; i++)
        if (b->def->routes[i].type == m.type)
            r = &b->def->routes[i];
    if (r != NULL)
        r->fn(b->state, ctx, o, &m);
    else
        fwd_reply_error(o, m.id, DP_MSG_ERR_UNSUPPORTED, "this actor does not handle this message");
    dp_msg_free(&m);
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
