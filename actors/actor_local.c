/* Calls to an actor of this process without nng (docs/actors.md, "Hops").
 *
 * A client opened on an actor's private inproc URL puts a call straight
 * into that actor's run queue, on a local slot: a slot with no nng context
 * whose reply is handed to the caller's callback on the thread that
 * answers (the actor's, or whichever thread calls actor_reply for a
 * deferred request). Through nng inproc req/rep the same async call cost
 * 238 us of CPU and 19 context switches (an aio and a context per call,
 * reaped afterwards); this path costs 26 us and 2 (bench_hop,
 * docs/actors.md).
 *
 * Exactly once: a call ends when its reply is handed over, when its
 * deadline passes (the actor's thread checks deadlines between messages),
 * when the actor stops, or when the client closes; whichever comes first
 * calls the callback (local_finish's atomic flag), the others only drop
 * their part. A handler still holding a timed-out or abandoned request
 * answers it as usual and the answer is dropped, as nng drops a reply to a
 * req context that gave up.
 *
 * Ownership: a local call is shared by the actor's slot and the client's
 * list (refs); the last to let go frees it. Lock order: the client's mu,
 * then the registry lock, then the actor's mu; no callback runs under any
 * of them except the client's (actor_local_call_start). */
#include "actors/actor_impl.h"
#include "actors/actor_frame.h"
#include "common/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct actor_local_call {
    atomic_int refs;   /* the slot's and the client list's */
    atomic_bool done;  /* the callback was called (or is being called) */
    actor_reply_fn cb; /* called once, never under a lock */
    void *arg;
    actor_local_owner *owner; /* the client's bookkeeping; valid until done */
    uint64_t deadline_ms;     /* CLOCK_MONOTONIC ms (dp_now_ms, as actor_now_ms); 0: none */
    bool cancelling;          /* guarded by owner->mu: the client's close took it */
    struct actor_local_call *prev, *next; /* owner's list, guarded by owner->mu */
};

static void local_unref(actor_local_call *lc)
{
    if (atomic_fetch_sub(&lc->refs, 1) == 1)
        free(lc);
}

/* Hands the outcome to the callback unless someone already did; reply is
 * consumed either way. Called without any actor lock. */
static void local_finish(actor_local_call *lc, int code, nng_msg *reply, const char *text)
{
    if (atomic_exchange(&lc->done, true)) {
        nng_msg_free(reply);
        return;
    }
    actor_local_owner *o = lc->owner;
    lc->cb(lc->arg, code, code == 0 ? reply : NULL, code != 0 ? text : NULL);
    if (code != 0)
        nng_msg_free(reply);
    pthread_mutex_lock(&o->mu);
    if (lc->prev != NULL)
        lc->prev->next = lc->next;
    else
        o->head = lc->next;
    if (lc->next != NULL)
        lc->next->prev = lc->prev;
    lc->prev = lc->next = NULL;
    if (--o->callbacks == 0)
        pthread_cond_broadcast(&o->idle);
    pthread_mutex_unlock(&o->mu);
    local_unref(lc); /* the list's */
}

/* Turns a framed reply into the caller's result; consumes m. Here, not in
 * actor_client.c which uses it too: the mailbox calls into this file, and
 * files of the runtime may not call each other in a cycle (the layout
 * check). */
int actor_reply_decode(const char *url, nng_msg *m, nng_msg **reply, dp_err *err)
{
    if (nng_msg_len(m) < 1) {
        nng_msg_free(m);
        return dp_err_set(err, DP_EPROTO, "actor at %s: empty reply frame", url);
    }
    const char *body = nng_msg_body(m);
    int code = actor_frame_code((uint8_t)body[0]);
    if (code == 0) {
        nng_msg_trim(m, 1);
        *reply = m;
        return 0;
    }
    if (code > 0) {
        nng_msg_free(m);
        return dp_err_set(err, DP_EPROTO, "actor at %s: bad reply status %u", url,
                          (unsigned)(uint8_t)body[0]);
    }
    int len = (int)(nng_msg_len(m) - 1);
    if (len > 300) {
        len = 300;
    }
    dp_err_set(err, code, "actor at %s: %.*s", url, len, body + 1);
    nng_msg_free(m);
    return code;
}

/* Under a->mu: takes a free local slot for msg and queues it as a call,
 * or, with on_receipt, holds it for the caller to run (*slot_out). */
static int local_push_locked(actor *a, nng_msg *msg, actor_local_call *lc, bool on_receipt,
                             uint32_t *slot_out, dp_err *err)
{
    if (a->stopping || a->stop_requested)
        return dp_err_set(err, DP_ECLOSED, "actor %s: actor is stopping", a->name);
    if (nng_msg_len(msg) > a->max_msg_bytes)
        return dp_err_set(err, DP_EINVAL, "actor %s: request of %zu bytes above its limit %zu",
                          a->name, nng_msg_len(msg), a->max_msg_bytes);
    if (a->held >= a->mailbox || a->n_local_free == 0) {
        a->stats.rejected++;
        return dp_err_set(err, DP_EFULL, "actor %s: mailbox full", a->name);
    }
    uint32_t idx = a->local_free[--a->n_local_free];
    actor_slot *s = &a->slots[idx];
    s->gen++;
    s->state = SLOT_HELD;
    s->local = lc;
    if (lc->deadline_ms != 0 && (a->local_deadline == 0 || lc->deadline_ms < a->local_deadline))
        a->local_deadline = lc->deadline_ms;
    *slot_out = idx;
    if (on_receipt) {
        actor_receipt_hold_locked(a);
        return DP_OK;
    }
    actor_queue_push_locked(a, msg, idx);
    return DP_OK;
}

typedef struct {
    nng_msg *msg;
    actor_local_call *lc;
    bool on_receipt;
    uint32_t slot;
    dp_err *err;
} local_push_args;

/* Under the registry lock (actor_registry_with), or with a kept alive by
 * its caller: msg consumed unless it is held to run on receipt. */
static int local_push(actor *a, void *arg)
{
    local_push_args *p = arg;
    pthread_mutex_lock(&a->mu);
    p->on_receipt = p->on_receipt && a->calls_on_receipt && !a->receipt_off;
    int rc = local_push_locked(a, p->msg, p->lc, p->on_receipt, &p->slot, p->err);
    pthread_mutex_unlock(&a->mu);
    if (rc != DP_OK)
        nng_msg_free(p->msg);
    else if (!p->on_receipt)
        actor_wake(a);
    return rc;
}

/* actor_local_call_start and actor_local_call_to: direct is the actor, or
 * NULL to find it by url in the registry; *receipt_slot as
 * actor_local_call_to says. */
static int local_start(actor_local_owner *o, const char *url, actor *direct, nng_msg *req,
                       int timeout_ms, actor_reply_fn cb, void *arg, uint32_t *receipt_slot,
                       dp_err *err)
{
    actor_local_call *lc = calloc(1, sizeof *lc);
    if (lc == NULL) {
        if (direct == NULL)
            return ACTOR_NOT_LOCAL; /* the socket path reports it */
        nng_msg_free(req);
        return dp_err_set(err, DP_ENOMEM, "actor %s: out of memory", direct->name);
    }
    atomic_init(&lc->refs, 2);
    atomic_init(&lc->done, false);
    lc->cb = cb;
    lc->arg = arg;
    lc->owner = o;
    lc->deadline_ms = timeout_ms > 0 ? (uint64_t)dp_now_ms() + (uint64_t)timeout_ms : 0;
    /* The client's lock is held across the push, so the answer (which may
     * come at once, on the actor's thread) finds the call in the list. */
    pthread_mutex_lock(&o->mu);
    if (o->closing) {
        pthread_mutex_unlock(&o->mu);
        free(lc);
        nng_msg_free(req);
        return dp_err_set(err, DP_ECLOSED, "actor at %s: client closed", url);
    }
    local_push_args p = {req, lc, direct != NULL, 0, err};
    int rc = direct != NULL ? local_push(direct, &p) : actor_registry_with(url, local_push, &p);
    if (rc == DP_OK) {
        lc->next = o->head;
        if (o->head != NULL)
            o->head->prev = lc;
        o->head = lc;
        o->callbacks++;
    }
    pthread_mutex_unlock(&o->mu);
    if (rc != DP_OK)
        free(lc); /* not queued: nobody else holds it (req consumed unless ACTOR_NOT_LOCAL) */
    if (receipt_slot != NULL)
        *receipt_slot = rc == DP_OK && p.on_receipt ? p.slot : ACTOR_ONE_WAY;
    return rc;
}

int actor_local_call_start(actor_local_owner *o, const char *url, nng_msg *req, int timeout_ms,
                           actor_reply_fn cb, void *arg, dp_err *err)
{
    return local_start(o, url, NULL, req, timeout_ms, cb, arg, NULL, err);
}

int actor_local_call_to(actor *a, actor_local_owner *o, nng_msg *req, actor_reply_fn cb, void *arg,
                        uint32_t *receipt_slot, dp_err *err)
{
    return local_start(o, actor_urls_get(&a->urls, 0), a, req, 0, cb, arg, receipt_slot, err);
}

void actor_local_send(actor_slot *s, nng_msg *m)
{
    actor *a = s->owner;
    nng_msg *reply = NULL;
    dp_err err = {0};
    int code = DP_ENOMEM;
    if (m == NULL)
        dp_err_set(&err, DP_ENOMEM, "actor %s: out of memory for the reply", a->name);
    else
        code = actor_reply_decode(actor_urls_get(&a->urls, 0), m, &reply, &err);
    /* The slot is free again before the callback runs: nothing here touches
     * the actor afterwards (it may be stopped and freed meanwhile), and its
     * mailbox has room for a call the callback makes. lc lives on by the
     * slot's reference, taken over here. */
    pthread_mutex_lock(&a->mu);
    actor_local_call *lc = s->local;
    a->sending--;
    s->state = SLOT_IDLE;
    s->local = NULL;
    a->local_free[a->n_local_free++] = (uint32_t)(s - a->slots);
    if (a->stopping) /* run_stop's drain of sends; nobody else waits for this */
        pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->mu);
    local_finish(lc, code, reply, err.msg);
    local_unref(lc); /* the slot's */
}

/* Under a->mu (released around the callbacks): ends every local call
 * whose deadline has passed, and sets a->local_deadline to the next one. */
void actor_local_expire_locked(actor *a, uint64_t now)
{
    enum { EXPIRE_BATCH = 64 };
    for (;;) {
        actor_local_call *due[EXPIRE_BATCH];
        size_t n_due = 0;
        uint64_t next = 0;
        bool more = false;
        for (size_t i = a->n_slots; i < a->n_slots + a->n_local; i++) {
            actor_local_call *lc = a->slots[i].local;
            if (a->slots[i].state != SLOT_HELD || lc == NULL || lc->deadline_ms == 0 ||
                atomic_load(&lc->done))
                continue;
            if (lc->deadline_ms > now) {
                if (next == 0 || lc->deadline_ms < next)
                    next = lc->deadline_ms;
            } else if (n_due < EXPIRE_BATCH) {
                atomic_fetch_add(&lc->refs, 1); /* the slot may be freed meanwhile */
                due[n_due++] = lc;
            } else {
                more = true; /* the next pass takes it */
            }
        }
        a->local_deadline = more ? now : next;
        if (n_due == 0)
            return;
        char text[200];
        snprintf(text, sizeof text, "actor at %s: no reply in time", actor_urls_get(&a->urls, 0));
        pthread_mutex_unlock(&a->mu);
        for (size_t k = 0; k < n_due; k++) {
            local_finish(due[k], DP_ETIMEOUT, NULL, text);
            local_unref(due[k]);
        }
        pthread_mutex_lock(&a->mu);
        if (!more)
            return;
    }
}

void actor_local_cancel_all(actor_local_owner *o, const char *url)
{
    char text[200];
    snprintf(text, sizeof text, "actor at %s: client closed", url);
    pthread_mutex_lock(&o->mu);
    for (;;) {
        actor_local_call *lc = o->head;
        while (lc != NULL && lc->cancelling)
            lc = lc->next;
        if (lc == NULL)
            break;
        lc->cancelling = true;
        atomic_fetch_add(&lc->refs, 1); /* its answer may free it meanwhile */
        pthread_mutex_unlock(&o->mu);
        local_finish(lc, DP_ECLOSED, NULL, text);
        local_unref(lc);
        pthread_mutex_lock(&o->mu);
    }
    pthread_mutex_unlock(&o->mu);
}
