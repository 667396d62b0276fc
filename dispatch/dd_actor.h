/* The one skeleton of dispatchd's domain actors (registrar, leaser,
 * reporter, publisher): a table from message type to handler that also says
 * which gateway may route that type to the actor, and a spawn helper.
 *
 * Adding a message: add it to messages/ (schema, validation), add one row to
 * the handling actor's table, write the handler. The gateways' routing is
 * built from the tables (dd_routes_add), never by hand.
 *
 * Ownership: dd_actor_spawn takes `state`: it is released by def->on_stop,
 * on a normal stop and when the spawn fails (then with ctx NULL). A handler
 * gets m decoded and owned by the skeleton (freed after the handler returns;
 * a handler may move members out and NULL them). */
#ifndef DP_DD_ACTOR_H
#define DP_DD_ACTOR_H

#include "actors/actor.h"
#include "common/apikey.h"
#include "dispatch/fwd.h"
#include "messages/msg.h"

#include <stdbool.h>
#include <stddef.h>

/* Where a message may come from: a gateway, or another actor of this process. */
enum { DD_FROM_RUNNER = 1u << 0, DD_FROM_ADMIN = 1u << 1, DD_INTERNAL = 1u << 2 };

typedef void (*dd_handler_fn)(void *state, actor_ctx *ctx, fwd_origin o, dp_msg *m);

typedef struct {
    dp_msg_type type;
    unsigned from;  /* DD_FROM_* | DD_INTERNAL */
    unsigned scope; /* an API key needs any of these DP_SCOPE_* (common/apikey.h) where
                       keys are required; 0: none (runner requests carry runner tokens) */
    dd_handler_fn fn;
} dd_route;

typedef struct {
    const char *name;
    const dd_route *routes;
    size_t n_routes;
    actor_start_fn on_start; /* optional; gets the actor's own state */
    actor_stop_fn on_stop;   /* required: releases the state */
    actor_tick_fn on_tick;   /* optional */
    /* optional: after a message, whatever it was (a metrics query, one
     * refused), when no other waits behind it: an actor that holds messages
     * while others wait sends what it holds here */
    void (*on_idle)(void *state, actor_ctx *ctx);
    int tick_ms;
    size_t mailbox; /* 0: the runtime's default */
    /* optional: the actor's own metrics registry (common/metrics.h), which
     * only its thread writes. A call (request/reply: only actors of this
     * process make them; gateways forward one-way) with the body
     * DD_METRICS_QUERY is answered with a snapshot of it (dd_metrics_gather). */
    struct dp_metrics *(*metrics)(void *state);
} dd_actor_def;

#define DD_METRICS_QUERY "metrics?"

/* Asks each actor (a dd actor with def->metrics) for its snapshot and
 * merges them into `into`; an actor that does not answer within timeout_ms
 * is skipped (counted in *missed when not NULL). From any thread but those
 * actors' own. */
struct dp_metrics;
void dd_metrics_gather(actor *const *actors, size_t n, struct dp_metrics *into, int timeout_ms,
                       size_t *missed);

actor *dd_actor_spawn(const dd_actor_def *def, void *state, dp_err *err);

/* Whether nothing waits behind the message being handled (from the actor's
 * own handler): batches go out when the mailbox runs empty, never on a timer. */
bool dd_mailbox_empty(actor_ctx *ctx);

/* A gateway's routing: which actor takes each type, and the scope a key
 * needs for it. */
typedef struct {
    actor *to[DP_MSG_TYPE_COUNT]; /* NULL: refused on this gateway */
    unsigned scope[DP_MSG_TYPE_COUNT];
} dd_routes;

/* Adds every row of def that `from` may send, to actor a. DP_EINVAL when a
 * type is already routed to another actor. */
int dd_routes_add(dd_routes *routes, unsigned from, const dd_actor_def *def, actor *a, dp_err *err);

#endif
