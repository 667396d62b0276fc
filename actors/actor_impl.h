/* Internals of the actor runtime shared by actor.c (thread, lifecycle) and
 * mailbox.c (slots, replies). Not for use outside actors/.
 *
 * Ownership: an actor owns its slots, queue, URLs and name; queue entries
 * own their messages until popped; a slot's aio owns the message it is
 * sending. Fields marked "guarded by mu" are read and written under
 * actor.mu only. */
#ifndef DP_ACTOR_IMPL_H
#define DP_ACTOR_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#include <nng/nng.h>

#include "actors/actor.h"
#include "actors/actor_client.h"
#include "actors/actor_group.h"
#include "actors/actor_urls.h"

/* nng contexts an actor opens when it starts; more as callers need them. */
#define ACTOR_CONTEXTS_FIRST 4

enum slot_state {
    SLOT_IDLE, /* no operation pending (before start, after close) */
    SLOT_RECV, /* waiting for a request */
    SLOT_HELD, /* holds a call: queued, being handled, or deferred */
    SLOT_SEND  /* sending a reply, an ack or an error */
};

typedef struct actor_local_call actor_local_call;

typedef struct actor_slot {
    actor *owner;
    actor_local_call *local; /* a local slot's call (actor_local.c); NULL on nng slots */
    nng_ctx ctx;
    nng_aio *aio;
    int state;
    uint32_t gen; /* bumped per request: makes stale actor_req_ids detectable */
    bool deferred;
} actor_slot;

#define ACTOR_ONE_WAY UINT32_MAX
#define ACTOR_INPROC_PREFIX "inproc://dp-actor/"
#define ACTOR_CLOSE_LINGER_MS 20u

typedef struct actor_item {
    nng_msg *msg;  /* owned by the queue until popped */
    uint32_t slot; /* slot index, or ACTOR_ONE_WAY */
} actor_item;

struct actor_ctx {
    actor *owner;
    actor_req_id current;
    int err_code;
    char err_msg[256];
    bool stop;
};

struct actor {
    char *name;
    struct actor *registry_next; /* guarded by the registry's lock (actor_registry.c) */
    void *state;
    actor_handler handler;
    actor_start_fn on_start;
    actor_stop_fn on_stop;
    actor_tick_fn on_tick;
    int tick_ms;
    size_t mailbox;

    nng_socket sock; /* inproc:// and tls+tcp:// */
    bool sock_open;
    struct actor_stream_server *stream; /* tcp:// and ipc:// (actor_stream_server.c); or NULL */
    actor_slot *slots;                  /* n_slots nng contexts, then n_local local slots */
    size_t n_slots, n_local;
    /* nng contexts are opened as callers need them (actor_slot_more_locked):
     * slots [0, n_open) have one, n_armed of those wait for a request
     * (SLOT_RECV). Both guarded by mu. */
    size_t n_open, n_armed;
    size_t max_msg_bytes;
    actor_urls urls;

    /* Everything below, up to thread, is guarded by mu. */
    pthread_mutex_t mu;
    pthread_cond_t cond; /* stop done, ready, sends drained (not the idle wait) */
    actor_item *queue;   /* ring of capacity mailbox */
    size_t q_head, q_len;
    bool ready;
    int start_rc;
    dp_err start_err;
    bool stop_requested;
    bool stopping; /* new requests are answered DP_ECLOSED */
    bool finished; /* the actor thread has closed the socket and is exiting */
    bool closing;  /* finished sends no longer re-arm a receive */
    size_t held, deferred, sending;
    uint32_t *local_free; /* indexes of idle local slots, n_local_free of them */
    size_t n_local_free;
    uint64_t local_deadline; /* earliest deadline of a local call held, or 0 */
    actor_req_id handling;   /* call the handler is running for; answerable early */
    uint64_t last_sent_ms;   /* when a reply last left a slot (for the close linger) */
    actor_stats stats;
    actor_client *self_client;
    size_t max_conns;         /* 0: no cap */
    int calls_only;           /* one-way frames from sockets are refused */
    int calls_on_receipt;     /* calls from sockets run their handler on nng's thread */
    size_t receipt_running;   /* such handlers running now (under mu); run_stop waits */
    bool receipt_off;         /* actor_receipt_stop: calls are queued again (under mu) */
    pthread_mutex_t conns_mu; /* guards the pipe ids below (nng's pipe callbacks) */
    uint32_t *conn_ids;       /* ids of the pipes counted as open, n_conns of them */
    size_t n_conns;
    uint64_t conns_refused;

    /* The doorbell the actor thread sleeps on when idle (actor_bell_wait),
     * not a->cond: glibc takes the mutex back from a condition wait marked
     * contended, so every wake-up cost one more futex syscall at the next
     * unlock, woken or not (seen in strace: a FUTEX_WAKE of mu answering 0
     * after each wait). Atomic, outside mu. */
    _Atomic uint32_t bell_seq;      /* rung: changed by each actor_wake */
    _Atomic uint32_t bell_sleeping; /* 1 while the actor thread may be in FUTEX_WAIT */

    /* The group whose queue this actor shares (actor_group.c), or NULL;
     * group_state is guarded by the group's lock. */
    actor_group *group;
    _Atomic int group_state; /* written under the group's lock; read without it by
                                actor_group_awake only */

    pthread_t thread;
    bool thread_started;
    actor_ctx ctx; /* touched by the actor thread only */
};

/* Under mu: queues msg for the actor thread (slot: the held request's
 * slot index, or ACTOR_ONE_WAY), counted against the mailbox. The caller
 * checked that the mailbox has room, and wakes the thread with actor_wake
 * once it has let go of mu. */
static inline void actor_queue_push_locked(actor *a, nng_msg *msg, uint32_t slot)
{
    a->queue[(a->q_head + a->q_len) % a->mailbox] = (actor_item){msg, slot};
    a->q_len++;
    a->held++;
    if (a->held > a->stats.max_held)
        a->stats.max_held = a->held;
}

/* Wakes the actor thread after a push, called without mu while a cannot be
 * freed (under the registry lock, in one of a's own slot callbacks, which
 * actor_free waits for, or in actor_send, whose caller keeps a alive);
 * actor_stop rings under mu instead (see there). Not under mu: a thread
 * woken while the pusher still held mu went straight back to sleep on it,
 * two context switches per message instead of one (docs/actors.md,
 * "Hops"). The ring is an atomic add; the futex syscall only when the
 * thread sleeps. A wake is never lost: the thread reads bell_seq and
 * announces its sleep under mu, after it saw the queue empty and no stop,
 * and everything it waits for changes under mu; so a push or stop made
 * after that rings after the read and after the announcement: the ringer
 * sees bell_sleeping, and the wait sees the new bell_seq and returns at
 * once. (A state changed without mu and then rung would need the seq_cst
 * order of the two atomics too.) */
static inline void actor_wake(actor *a)
{
    atomic_fetch_add(&a->bell_seq, 1);
    if (atomic_load(&a->bell_sleeping))
        syscall(SYS_futex, &a->bell_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Under mu: counts a call that is held to run on the receiving thread
 * (calls_on_receipt) instead of being queued. */
static inline void actor_receipt_hold_locked(actor *a)
{
    a->held++;
    if (a->held > a->stats.max_held)
        a->stats.max_held = a->held;
    a->receipt_running++;
}

/* Runs held call msg (owned by the handler) of slot `slot` on this thread
 * with a context of its own, after actor_receipt_hold_locked; wakes a stop
 * that waits for it. Called without mu. */
void actor_run_on_receipt(actor *a, nng_msg *msg, uint32_t slot);

/* Runs the handler for the held call in slot `slot` (message msg, owned by
 * the handler) with context c and sends or defers its answer. On the actor
 * thread with &a->ctx; on a receiving thread with a context of its own for
 * calls_on_receipt. Called without mu. */
void actor_run_call(actor *a, nng_msg *msg, uint32_t slot, actor_ctx *c);

/* Monotonic milliseconds. */
uint64_t actor_now_ms(void);

/* CLOCK_MONOTONIC deadline ms_from_now ahead (the actor cond uses it). */
struct timespec actor_deadline_ts(uint64_t ms_from_now);

/* The id of the request slot s holds now. */
actor_req_id actor_slot_id(const actor *a, const actor_slot *s);

/* Prepends the status byte to m (NULL: an empty body); for an error the
 * body becomes text. Consumes m; NULL when out of memory. */
nng_msg *actor_frame_reply(nng_msg *m, int code, const char *text);

/* Under mu: marks HELD slot s as answered (state SEND). */
void actor_slot_release_locked(actor *a, actor_slot *s);

/* Sends framed reply m (NULL on OOM: re-arms instead) on slot s, which
 * actor_slot_release_locked moved to SEND. Called without mu. */
void actor_slot_send(actor_slot *s, nng_msg *m);

/* The aio callback of every slot. */
void actor_slot_cb(void *arg);

/* Under mu: when no opened context waits for a request and some slot has
 * none yet, reserves the next one (armed, counted) and returns it for
 * actor_slot_open; NULL otherwise. */
actor_slot *actor_slot_more_locked(actor *a);

/* Opens s's aio and context and starts its receive; without mu. s came
 * from actor_slot_more_locked or is one of the first contexts (actor.c).
 * On failure (out of memory, the socket closed) s goes back to IDLE,
 * uncounted: the contexts already open keep serving. s NULL: nothing. */
void actor_slot_open(actor *a, actor_slot *s);

/* Queues msg (consumed) as a one-way item and wakes a: DP_EFULL when the
 * mailbox is full, DP_ECLOSED once a is stopping. */
int actor_mailbox_push(actor *a, nng_msg *msg, dp_err *err);

/* The member side of an actor group (actor_group.c); a is a->group's
 * member, and only a's own thread calls these, except join (actor_spawn,
 * before the thread starts). actor.c leaves with the public
 * actor_group_leave (its stop, a failed spawn). */
/* Joins before a's thread starts, as awake: 0, or DP_EINVAL when the group
 * is full. */
int actor_group_join(actor *a, dp_err *err);
/* Without a->mu: the next group message for a's handler, or NULL (queue
 * empty, or a left). Wakes one more member while messages wait and nobody
 * else is looking. */
nng_msg *actor_group_take(actor *a);
/* Under a->mu, after the bell was read (bell_wait): false when the queue
 * has a message (do not sleep); true after a is listed as asleep (or has
 * left), so a send from now on rings its bell. */
bool actor_group_sleep(actor *a);
/* After the bell wait returned: a is awake again (a send may have woken it
 * already). */
void actor_group_awake(actor *a);

/* Not an actor of this process (or no memory to call it directly): the
 * caller uses the socket. Positive, so never a dp code. */
#define ACTOR_NOT_LOCAL 1

/* The process's live actors by their private inproc URL, so that a client
 * opened on such a URL reaches the mailbox without nng. */
void actor_registry_add(actor *a);
void actor_registry_remove(actor *a);
/* fn(a, arg) under the registry lock (a cannot be freed meanwhile) for the
 * live actor whose inproc URL is url; its result, or ACTOR_NOT_LOCAL when
 * there is none. */
int actor_registry_with(const char *url, int (*fn)(actor *a, void *arg), void *arg);

/* A client's calls that skip nng (actor_local.c); the client's mu guards
 * every field. */
typedef struct actor_local_owner {
    pthread_mutex_t mu;
    pthread_cond_t idle; /* callbacks reached 0 */
    size_t callbacks;    /* async calls whose callback has not returned */
    bool closing;        /* actor_client_close has begun */
    actor_local_call *head;
} actor_local_owner;

/* A call to the live actor of this process whose inproc URL is url, on a
 * local slot: cb gets the outcome exactly once (as actor_client_call_async
 * describes), on the thread that answers. 0: queued; a dp code: refused
 * (req consumed, cb not called); ACTOR_NOT_LOCAL (req not consumed). */
int actor_local_call_start(actor_local_owner *o, const char *url, nng_msg *req, int timeout_ms,
                           actor_reply_fn cb, void *arg, dp_err *err);
/* A call from a stream connection of a's own listener (actor_stream_server.c)
 * on a local slot of a, without a deadline (the caller keeps its own):
 * queued for a's thread (req consumed, *receipt_slot = ACTOR_ONE_WAY), or,
 * for an actor with calls_on_receipt, held for the caller to run at once
 * with actor_run_on_receipt(a, req, *receipt_slot). cb and o as
 * actor_local_call_start; 0, or a dp code (req consumed, cb not called).
 * The caller keeps a alive (its listener closes before a is freed). */
int actor_local_call_to(actor *a, actor_local_owner *o, nng_msg *req, actor_reply_fn cb, void *arg,
                        uint32_t *receipt_slot, dp_err *err);
/* actor_slot_send for a local slot: hands framed reply m (NULL: out of
 * memory) to the call's callback and frees the slot. Without mu. */
void actor_local_send(actor_slot *s, nng_msg *m);
/* Under mu, released around callbacks: ends the local calls past their
 * deadline. */
void actor_local_expire_locked(actor *a, uint64_t now);
/* Ends every call of o still in flight with DP_ECLOSED (its close). */
void actor_local_cancel_all(actor_local_owner *o, const char *url);
/* A framed reply as the caller sees it (consumes m): 0 and *reply, or the
 * actor's error code with err naming url. */
int actor_reply_decode(const char *url, nng_msg *m, nng_msg **reply, dp_err *err);

#endif
