/* Actor runtime: one thread per actor, one nng rep socket per actor.
 *
 * An actor owns a state pointer that only its own thread touches. It listens
 * on a private inproc:// address (always) plus any extra URLs (ipc://,
 * tcp://, tls+tcp://): the same actor is reachable from a thread, another
 * process or another host by changing only the URL a client connects to.
 * ipc:// and tcp:// are the runtime's own stream transport (actor_stream.h),
 * the others nng.
 *
 * Messages are raw nng_msg bodies; the runtime adds a one-byte frame on the
 * wire (call / one-way send; reply status) and strips it again, so a handler
 * sees exactly the bytes the sender put in. Typed dispatch (decode ->
 * switch on type -> handler table) is a handler layered on top.
 *
 * Mailbox: at most `mailbox` requests are held at once (queued, being
 * handled, or deferred). One more arriving is answered DP_EFULL at once, so a
 * sender sees back-pressure without waiting; nothing grows without bound.
 *
 * Ownership: the runtime copies every string in actor_opts; the caller keeps
 * its own. nng_msg ownership is stated on each function. */
#ifndef DP_ACTOR_H
#define DP_ACTOR_H

#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

#include "actors/actor_client.h"
#include "common/err.h"

typedef struct actor actor;
typedef struct actor_ctx actor_ctx;

/* Names one held request so that it can be answered later (deferred reply).
 * 0 is never a valid id. A stale id (answered, or its actor stopping) is
 * rejected with DP_ENOTFOUND, never mixed up with a newer request. */
typedef uint64_t actor_req_id;

/* Handler return value meaning "I keep this request and answer it later
 * with actor_reply": the request stays held (counts against the mailbox). */
#define ACTOR_DEFER 1

/* Called on the actor's thread for every message.
 * - msg: owned by the handler from now on (free it, keep it, or reuse it
 *   as *reply, the nng idiom).
 * - reply: NULL for a one-way message (actor_send). For a call, set *reply
 *   to a message the runtime sends and then owns; leaving it NULL sends an
 *   empty reply.
 * Return 0 to reply, ACTOR_DEFER to answer later (take the id with
 * actor_ctx_request first), or a negative dp_code to send that error to the
 * caller (message from actor_ctx_error, else the code's name). */
typedef int (*actor_handler)(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply);

/* Runs on the actor's thread before any message. Nonzero fails actor_spawn
 * with that code; fill err with why. */
typedef int (*actor_start_fn)(void *state, actor_ctx *ctx, dp_err *err);

/* Runs on the actor's thread on stop, after queued unhandled requests were
 * answered DP_ECLOSED and before still-held (deferred) ones are. A chance to
 * answer held requests properly. */
typedef void (*actor_stop_fn)(void *state, actor_ctx *ctx);

/* Periodic work on the actor's thread, every tick_ms (never concurrently
 * with a handler; a late tick is not repeated to catch up). */
typedef void (*actor_tick_fn)(void *state, actor_ctx *ctx);

#define ACTOR_DEFAULT_MAILBOX 64
#define ACTOR_MAX_MAILBOX 65536

typedef struct actor_opts {
    const char *name;               /* for logs, the thread name and the inproc URL; required */
    void *state;                    /* borrowed; only the actor thread touches it */
    actor_handler handler;          /* required */
    actor_start_fn on_start;        /* optional */
    actor_stop_fn on_stop;          /* optional */
    actor_tick_fn on_tick;          /* optional; needs tick_ms > 0 */
    int tick_ms;                    /* 0: no tick */
    size_t mailbox;                 /* held-request bound; 0: ACTOR_DEFAULT_MAILBOX */
    size_t max_msg_bytes;           /* larger requests are dropped; 0: default */
    size_t max_conns;               /* connections beyond this are closed at once; 0: no cap */
    int calls_only;                 /* refuse one-way frames from sockets (actor_send within
                                       the process still works): for actors facing a network,
                                       where a one-way message must not be able to mean
                                       "the process tells you" */
    int calls_on_receipt;           /* calls from sockets are handled on the thread that
                                       received them (nng's), several at once, instead of
                                       queued for the actor thread: one thread hand-off less
                                       per call, for a handler that keeps no mutable state
                                       and never blocks (the gateway's routing, docs/actors.md).
                                       One-way messages, local calls, ticks, on_start and
                                       on_stop still run on the actor thread; on_stop only
                                       after every such handler has returned. */
    struct actor_group *group;      /* shares this group's work queue (actor_group.h); or
                                       NULL. Borrowed: the group outlives the actor */
    const char *const *listen_urls; /* extra URLs (ipc://, tcp://host:0 ...), may be NULL */
    size_t n_listen_urls;
} actor_opts;

/* Starts the actor's thread, runs on_start there, and returns once the
 * actor's listeners are up and on_start succeeded. NULL + err on failure
 * (bad option, address in use, on_start failed). The result is owned by the
 * caller: actor_destroy it. */
actor *actor_spawn(const actor_opts *opts, dp_err *err);

/* actor_spawn for an actor whose on_stop releases its state: when the spawn
 * fails, on_stop(state, NULL) runs here (it never ran on the actor's
 * thread), so the state is released the one way it is on a normal stop. */
actor *actor_spawn_owned(const actor_opts *opts, dp_err *err);

/* Asks the actor to stop (the terminate message); returns at once. Safe
 * from any thread, and more than once. */
void actor_stop(actor *a);

/* For an actor with calls_on_receipt: calls arriving from now on are queued
 * for the actor thread, behind whatever is queued already, as without the
 * option; returns once every handler still running on receipt has
 * returned. A gateway that is closing sends itself the one-way "closing"
 * message first, then calls this: no handler forwards anything after it
 * returns. Safe from any thread but the actor's own handlers; a no-op for
 * other actors. */
void actor_receipt_stop(actor *a);

/* Stops the actor, joins its thread, closes its socket, frees it. Callers
 * with requests still in flight get DP_ECLOSED (if their request had
 * arrived) or a timeout. NULL is a no-op. Never call from the actor's own
 * thread. */
void actor_destroy(actor *a);

/* Waits until the actor's thread has finished (it stopped itself with
 * actor_ctx_stop, or actor_stop was called) and its socket is closed:
 * 0, or DP_ETIMEOUT after timeout_ms (< 0: wait forever). Any thread but
 * the actor's own. actor_destroy is still needed to free it. */
int actor_wait(actor *a, int timeout_ms, dp_err *err);

/* The actor's URLs: index 0 is its inproc address, then the extra URLs in
 * order, with a tcp port 0 resolved to the real port. Borrowed: valid until
 * actor_destroy. NULL past the end. */
const char *actor_url(const actor *a, size_t index);
const char *actor_name(const actor *a);

typedef struct actor_stats {
    uint64_t handled;  /* messages given to the handler */
    uint64_t rejected; /* answered DP_EFULL (mailbox full) */
    uint64_t ticks;    /* on_tick calls */
    size_t held;       /* requests held now */
    size_t queued;     /* of those, received and not yet given to the handler: 0 inside a
                          handler means nothing waits behind this message (send a batch now) */
    size_t max_held;   /* high-water mark of held; never above the mailbox */
} actor_stats;

/* A snapshot; safe from any thread. */
void actor_get_stats(actor *a, actor_stats *out);

/* --- inside handlers, on_start, on_stop, on_tick (actor thread only) --- */

/* The request being handled, for a later actor_reply; 0 for a one-way
 * message or outside a handler. */
actor_req_id actor_ctx_request(const actor_ctx *ctx);
actor *actor_ctx_actor(actor_ctx *ctx);

/* Records the error message sent with the current handler's error reply;
 * returns code so a handler can `return actor_ctx_error(ctx, DP_EINVAL, ..)`. */
int actor_ctx_error(actor_ctx *ctx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Asks the actor to stop after the current callback returns. */
void actor_ctx_stop(actor_ctx *ctx);

/* Answers a deferred request, or the one whose handler is still running
 * (then that handler's own reply or return value is dropped). reply is
 * owned by the runtime from now on (freed on error too); NULL sends an
 * empty reply. Safe from any thread while the actor exists. DP_ENOTFOUND
 * for a stale id. */
int actor_reply(actor *a, actor_req_id id, nng_msg *reply, dp_err *err);

/* Answers a deferred request with an error code and a one-line message. */
int actor_reply_error(actor *a, actor_req_id id, int code, const char *msg, dp_err *err);

/* Requests currently held by the actor that are deferred (a handler returned
 * ACTOR_DEFER and nobody answered yet). */
size_t actor_deferred_count(actor *a);

/* Same as the client call, on a client the actor keeps for its inproc
 * URL. Never call an actor from its own thread (it would wait on itself). */
int actor_call(actor *a, nng_msg *req, nng_msg **reply, int timeout_ms, dp_err *err);

/* One-way to an actor of this process: msg goes straight into a's mailbox
 * queue under its lock (no nng hop: ~0.3 us and no context switch of its
 * own, against ~20-40 us and 8-18 switches through inproc req/rep, see
 * docs/actors.md). Same contract as actor_client_send: msg is consumed;
 * DP_EFULL at once when the mailbox is full, DP_ECLOSED once a is stopping;
 * timeout_ms is unused (nothing waits). Safe from any thread, including a's. */
int actor_send(actor *a, nng_msg *msg, int timeout_ms, dp_err *err);

/* One-way msg (consumed) into the mailbox of the live actor of this process
 * whose inproc URL (actor_url index 0) is url, found in the registry, so an
 * actor that stopped or was destroyed meanwhile is never touched:
 * DP_ENOTFOUND when there is none, else as actor_send. */
int actor_send_local(const char *url, nng_msg *msg, dp_err *err);

/* The client actor_call uses for a (created on first use, owned by a, closed
 * by actor_destroy). NULL + DP_ECLOSED once a is stopping. */
actor_client *actor_shared_client(actor *a, dp_err *err);

#endif
