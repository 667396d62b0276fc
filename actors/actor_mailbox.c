/* The actor's mailbox: rep contexts ("slots") receiving requests into the
 * bounded run queue, sending replies, and deferred replies. Runs on nng's
 * threads (callbacks) and on any thread calling actor_reply; touches only
 * slots and mu-guarded fields, never the actor's state, except through
 * actor_run_call: a call's handler, run by the actor thread or, for an actor
 * with calls_on_receipt, by the nng thread that received the call. */
#include <stdlib.h>
#include <string.h>

#include "actors/actor_impl.h"
#include "actors/actor_frame.h"

uint64_t actor_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

actor_req_id actor_slot_id(const actor *a, const actor_slot *s)
{
    return ((uint64_t)s->gen << 32) | (uint64_t)(s - a->slots + 1);
}

nng_msg *actor_frame_reply(nng_msg *m, int code, const char *text)
{
    uint8_t status = actor_frame_status(code);
    if (m == NULL && nng_msg_alloc(&m, 0) != 0) {
        return NULL;
    }
    if (code != 0) {
        nng_msg_clear(m);
        if (text != NULL && nng_msg_append(m, text, strlen(text)) != 0) {
            nng_msg_clear(m);
        }
    }
    if (nng_msg_insert(m, &status, 1) != 0) {
        nng_msg_free(m);
        return NULL;
    }
    return m;
}

/* Starts sending reply m (already framed, may be NULL on OOM) on slot s,
 * whose state the caller set to SLOT_SEND under mu. Called without mu. */
void actor_slot_send(actor_slot *s, nng_msg *m)
{
    if (s->local != NULL) {
        actor_local_send(s, m); /* a call from this process: no socket */
        return;
    }
    if (m == NULL) {
        /* Out of memory: no reply possible, the caller times out. Re-arm. */
        actor *a = s->owner;
        pthread_mutex_lock(&a->mu);
        a->sending--;
        s->state = a->closing ? SLOT_IDLE : SLOT_RECV;
        bool rearm = s->state == SLOT_RECV;
        a->n_armed += rearm;
        pthread_cond_broadcast(&a->cond);
        pthread_mutex_unlock(&a->mu);
        if (rearm) {
            nng_ctx_recv(s->ctx, s->aio);
        }
        return;
    }
    nng_aio_set_msg(s->aio, m);
    nng_ctx_send(s->ctx, s->aio);
}

/* Under mu: marks HELD slot s as answered. */
void actor_slot_release_locked(actor *a, actor_slot *s)
{
    a->held--;
    if (s->deferred) {
        s->deferred = false;
        a->deferred--;
    }
    s->state = SLOT_SEND;
    a->sending++;
}

void actor_run_call(actor *a, nng_msg *msg, uint32_t slot, actor_ctx *c)
{
    actor_slot *s = &a->slots[slot];
    actor_req_id id = actor_slot_id(a, s);
    c->current = id;
    /* `handling` lets a reply come while the handler still runs (see
     * find_deferred_locked); handlers on receipt run several at once, so
     * for them a held slot is answerable as soon as its id is out. */
    if (!a->calls_on_receipt) {
        pthread_mutex_lock(&a->mu);
        a->handling = id;
        pthread_mutex_unlock(&a->mu);
    }
    nng_msg *reply = NULL;
    int rc = a->handler(a->state, c, msg, &reply);
    c->current = 0;
    pthread_mutex_lock(&a->mu);
    if (!a->calls_on_receipt)
        a->handling = 0;
    a->stats.handled++;
    if (s->state != SLOT_HELD || actor_slot_id(a, s) != id) {
        /* Already answered with actor_reply while the handler ran (e.g. an
         * async call it started completed first): nothing left to send. */
        pthread_mutex_unlock(&a->mu);
        nng_msg_free(reply);
        return;
    }
    if (rc == ACTOR_DEFER) {
        s->deferred = true;
        a->deferred++;
        pthread_mutex_unlock(&a->mu);
        nng_msg_free(reply);
        return;
    }
    actor_slot_release_locked(a, s);
    pthread_mutex_unlock(&a->mu);
    if (rc == 0) {
        actor_slot_send(s, actor_frame_reply(reply, 0, NULL));
        return;
    }
    if (rc > 0) {
        rc = DP_EINTERNAL;
    }
    const char *text = c->err_msg[0] != '\0' ? c->err_msg : dp_code_name(rc);
    actor_slot_send(s, actor_frame_reply(reply, rc, text));
}

void actor_run_on_receipt(actor *a, nng_msg *msg, uint32_t slot)
{
    actor_ctx c = {.owner = a};
    actor_run_call(a, msg, slot, &c);
    pthread_mutex_lock(&a->mu);
    /* Only a stop waits for this (run_stop, actor_receipt_stop); waking the
     * actor thread after every call would cost the hand-off saved. */
    if (--a->receipt_running == 0 && (a->stopping || a->receipt_off))
        pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->mu);
}

static void slot_cb_recv(actor *a, actor_slot *s, int rv)
{
    if (rv != 0) {
        pthread_mutex_lock(&a->mu);
        bool rearm = !(rv == NNG_ECLOSED || rv == NNG_ECANCELED || a->closing);
        s->state = rearm ? SLOT_RECV : SLOT_IDLE;
        a->n_armed -= !rearm;
        pthread_cond_broadcast(&a->cond);
        pthread_mutex_unlock(&a->mu);
        if (rearm) {
            nng_ctx_recv(s->ctx, s->aio);
        }
        return;
    }
    nng_msg *m = nng_aio_get_msg(s->aio);
    nng_aio_set_msg(s->aio, NULL);
    uint8_t kind = 0;
    if (nng_msg_len(m) >= 1) {
        kind = ((const uint8_t *)nng_msg_body(m))[0];
    }
    int code = 0;
    const char *text = NULL;
    pthread_mutex_lock(&a->mu);
    a->n_armed--; /* s holds a request now: another context may be due */
    actor_slot *more = actor_slot_more_locked(a);
    if (kind != ACTOR_FRAME_CALL && kind != ACTOR_FRAME_SEND) {
        code = DP_EPROTO;
        text = "not an actor request frame";
    } else if (kind == ACTOR_FRAME_SEND && a->calls_only) {
        code = DP_EPROTO;
        text = "one-way messages are not accepted here";
    } else if (a->stopping) {
        code = DP_ECLOSED;
        text = "actor is stopping";
    } else if (a->held >= a->mailbox) {
        code = DP_EFULL;
        text = "mailbox full";
        a->stats.rejected++;
    } else {
        nng_msg_trim(m, 1);
        if (kind == ACTOR_FRAME_CALL && a->calls_on_receipt && !a->receipt_off) {
            /* Held and counted as a queued call is, then handled right here. */
            actor_receipt_hold_locked(a);
            s->gen++;
            s->state = SLOT_HELD;
            pthread_mutex_unlock(&a->mu);
            actor_slot_open(a, more);
            actor_run_on_receipt(a, m, (uint32_t)(s - a->slots));
            return;
        }
        if (kind == ACTOR_FRAME_CALL) {
            actor_queue_push_locked(a, m, (uint32_t)(s - a->slots));
            s->gen++;
            s->state = SLOT_HELD;
            pthread_mutex_unlock(&a->mu);
            actor_slot_open(a, more);
            actor_wake(a);
            return;
        }
        /* One-way: the item owns the message now; ack at once so that the
         * slot is free again. The held count still bounds the queue. */
        actor_queue_push_locked(a, m, ACTOR_ONE_WAY);
        m = NULL;
    }
    s->state = SLOT_SEND;
    a->sending++;
    pthread_mutex_unlock(&a->mu);
    actor_slot_open(a, more);
    if (m == NULL)
        actor_wake(a);
    actor_slot_send(s, actor_frame_reply(m, code, text));
}

actor_slot *actor_slot_more_locked(actor *a)
{
    if (a->n_armed > 0 || a->n_open >= a->n_slots || a->closing || a->stopping)
        return NULL;
    actor_slot *s = &a->slots[a->n_open++];
    s->state = SLOT_RECV;
    a->n_armed++;
    return s;
}

void actor_slot_open(actor *a, actor_slot *s)
{
    if (s == NULL)
        return;
    /* a reserved slot never had an aio (a failed open is not retried) */
    if (nng_aio_alloc(&s->aio, actor_slot_cb, s) == 0 && nng_ctx_open(&s->ctx, a->sock) == 0) {
        nng_ctx_recv(s->ctx, s->aio);
        return;
    }
    pthread_mutex_lock(&a->mu);
    s->state = SLOT_IDLE;
    a->n_armed--;
    pthread_mutex_unlock(&a->mu);
}

void actor_slot_cb(void *arg)
{
    actor_slot *s = arg;
    actor *a = s->owner;
    int rv = nng_aio_result(s->aio);
    pthread_mutex_lock(&a->mu);
    int state = s->state;
    pthread_mutex_unlock(&a->mu);
    if (state == SLOT_RECV) {
        slot_cb_recv(a, s, rv);
        return;
    }
    /* A send finished. */
    if (rv != 0) {
        nng_msg_free(nng_aio_get_msg(s->aio));
        nng_aio_set_msg(s->aio, NULL);
    }
    uint64_t now = actor_now_ms();
    pthread_mutex_lock(&a->mu);
    a->last_sent_ms = now;
    a->sending--;
    bool rearm = !a->closing && rv != NNG_ECLOSED;
    s->state = rearm ? SLOT_RECV : SLOT_IDLE;
    a->n_armed += rearm;
    /* Only run_stop's drain waits for sends (it sets stopping first); a
     * wake-up of the actor thread per reply cost a context switch each. */
    if (a->stopping)
        pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->mu);
    if (rearm) {
        nng_ctx_recv(s->ctx, s->aio);
    }
}

struct timespec actor_deadline_ts(uint64_t ms_from_now)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms_from_now / 1000u);
    ts.tv_nsec += (long)(ms_from_now % 1000u) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static actor_slot *find_deferred_locked(actor *a, actor_req_id id)
{
    uint64_t idx = (id & 0xffffffffu);
    if (idx == 0 || idx > a->n_slots + a->n_local) {
        return NULL;
    }
    actor_slot *s = &a->slots[idx - 1];
    if (s->state != SLOT_HELD || s->gen != (uint32_t)(id >> 32)) {
        return NULL;
    }
    /* Deferred, or being handled right now (its id is out already). */
    if (!s->deferred && a->handling != id && !a->calls_on_receipt) {
        return NULL;
    }
    return s;
}

static int reply_common(actor *a, actor_req_id id, nng_msg *reply, int code, const char *text,
                        dp_err *err)
{
    pthread_mutex_lock(&a->mu);
    actor_slot *s = find_deferred_locked(a, id);
    if (s == NULL) {
        pthread_mutex_unlock(&a->mu);
        nng_msg_free(reply);
        return dp_err_set(err, DP_ENOTFOUND, "actor %s: request %llx is not held (answered?)",
                          a->name, (unsigned long long)id);
    }
    actor_slot_release_locked(a, s);
    pthread_mutex_unlock(&a->mu);
    actor_slot_send(s, actor_frame_reply(reply, code, text));
    return 0;
}

int actor_reply(actor *a, actor_req_id id, nng_msg *reply, dp_err *err)
{
    return reply_common(a, id, reply, 0, NULL, err);
}

int actor_reply_error(actor *a, actor_req_id id, int code, const char *msg, dp_err *err)
{
    if (code >= 0 || code < DP_EINTERNAL) {
        code = DP_EINTERNAL;
    }
    return reply_common(a, id, NULL, code, msg != NULL ? msg : dp_code_name(code), err);
}

size_t actor_deferred_count(actor *a)
{
    pthread_mutex_lock(&a->mu);
    size_t n = a->deferred;
    pthread_mutex_unlock(&a->mu);
    return n;
}

/* The direct one-way send (see actor_send). */
int actor_mailbox_push(actor *a, nng_msg *msg, dp_err *err)
{
    pthread_mutex_lock(&a->mu);
    if (a->stopping || a->stop_requested) {
        pthread_mutex_unlock(&a->mu);
        nng_msg_free(msg);
        return dp_err_set(err, DP_ECLOSED, "actor %s: actor is stopping", a->name);
    }
    if (a->held >= a->mailbox) {
        a->stats.rejected++;
        pthread_mutex_unlock(&a->mu);
        nng_msg_free(msg);
        return dp_err_set(err, DP_EFULL, "actor %s: mailbox full", a->name);
    }
    /* The same queue entry the inproc listener makes for a one-way frame. */
    actor_queue_push_locked(a, msg, ACTOR_ONE_WAY);
    pthread_mutex_unlock(&a->mu);
    actor_wake(a);
    return DP_OK;
}

void actor_receipt_stop(actor *a)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->mu);
    a->receipt_off = true;
    while (a->receipt_running > 0)
        pthread_cond_wait(&a->cond, &a->mu);
    pthread_mutex_unlock(&a->mu);
}
