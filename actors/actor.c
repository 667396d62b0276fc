/* Actor runtime: see actor.h for the contract, docs/actors.md for the design.
 *
 * Each actor has a rep socket with mailbox + reserve contexts ("slots"), each
 * with its own aio. nng completes slot aios on its own threads (actor_slot_cb);
 * they only move messages into the actor's bounded run queue under a.mu and
 * wake the actor thread, which runs every user callback. A slot that holds a
 * call stays HELD until the handler (or a later actor_reply) answers it. */
#include "actors/actor.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/protocol/reqrep0/rep.h>

#include "actors/actor_impl.h"
#include "actors/actor_stream.h"
#include "actors/actor_frame.h"

static atomic_ulong actor_seq;

static void ctx_reset(actor_ctx *c)
{
    c->current = 0;
    c->err_code = 0;
    c->err_msg[0] = '\0';
}

/* Runs one queued item on the actor thread. Called without mu. */
static void run_item(actor *a, actor_item it)
{
    actor_ctx *c = &a->ctx;
    ctx_reset(c);
    if (it.slot == ACTOR_ONE_WAY) {
        (void)a->handler(a->state, c, it.msg, NULL);
        pthread_mutex_lock(&a->mu);
        a->held--;
        a->stats.handled++;
        pthread_mutex_unlock(&a->mu);
        return;
    }
    actor_run_call(a, it.msg, it.slot, c);
}

/* Under mu: answers every HELD slot (queued or deferred) with DP_ECLOSED.
 * Unlocks around the sends. */
static void fail_held_locked(actor *a)
{
    for (size_t i = 0; i < a->n_slots + a->n_local; i++) {
        actor_slot *s = &a->slots[i];
        if (s->state != SLOT_HELD) {
            continue;
        }
        actor_slot_release_locked(a, s);
        pthread_mutex_unlock(&a->mu);
        actor_slot_send(s, actor_frame_reply(NULL, DP_ECLOSED, "actor stopped"));
        pthread_mutex_lock(&a->mu);
    }
}

/* Under mu, which it lets go while it sleeps: the idle wait of the actor
 * thread, until actor_wake rings or ms pass (0: no limit). May return
 * early; the caller looks again. See actor_wake for why no wake is lost. */
static void bell_wait(actor *a, uint64_t ms)
{
    uint32_t seq = atomic_load(&a->bell_seq);
    atomic_store(&a->bell_sleeping, 1);
    /* Listed as a sleeper after the read: a group send from then on rings
     * a changed bell, and the wait below returns at once. */
    if (a->group != NULL && !actor_group_sleep(a)) {
        atomic_store(&a->bell_sleeping, 0);
        return; /* a group message waits */
    }
    pthread_mutex_unlock(&a->mu);
    struct timespec rel = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    syscall(SYS_futex, &a->bell_seq, FUTEX_WAIT_PRIVATE, seq, ms != 0 ? &rel : NULL, NULL, 0);
    atomic_store(&a->bell_sleeping, 0);
    if (a->group != NULL)
        actor_group_awake(a);
    pthread_mutex_lock(&a->mu);
}

/* A group's message (owned by the handler) on the actor thread, one-way. */
static void run_group_item(actor *a, nng_msg *msg)
{
    ctx_reset(&a->ctx);
    (void)a->handler(a->state, &a->ctx, msg, NULL);
}

static void run_loop(actor *a)
{
    uint64_t next_tick = a->tick_ms > 0 ? actor_now_ms() + (uint64_t)a->tick_ms : 0;
    pthread_mutex_lock(&a->mu);
    while (!a->stop_requested && !a->ctx.stop) {
        /* A group member looks at the shared queue first, then handles at
         * most one message of its own: neither starves the other. */
        bool took = false;
        if (a->group != NULL) {
            pthread_mutex_unlock(&a->mu);
            nng_msg *gm = actor_group_take(a);
            if (gm != NULL)
                run_group_item(a, gm);
            pthread_mutex_lock(&a->mu);
            took = gm != NULL;
            a->stats.handled += took;
            if (a->stop_requested || a->ctx.stop)
                break;
        }
        if (a->q_len > 0) {
            actor_item it = a->queue[a->q_head];
            a->q_head = (a->q_head + 1) % a->mailbox;
            a->q_len--;
            pthread_mutex_unlock(&a->mu);
            run_item(a, it);
            pthread_mutex_lock(&a->mu);
            /* Ticks and deadlines are not starved by a busy queue: checked
             * between items. */
        }
        uint64_t now = next_tick != 0 || a->local_deadline != 0 ? actor_now_ms() : 0;
        if (a->local_deadline != 0 && now >= a->local_deadline) {
            actor_local_expire_locked(a, now);
            now = actor_now_ms(); /* its callbacks ran unlocked */
        }
        if (next_tick != 0 && now >= next_tick) {
            a->stats.ticks++;
            pthread_mutex_unlock(&a->mu);
            ctx_reset(&a->ctx);
            a->on_tick(a->state, &a->ctx);
            pthread_mutex_lock(&a->mu);
            /* A late tick is not repeated to catch up. */
            next_tick += (uint64_t)a->tick_ms;
            now = actor_now_ms();
            if (next_tick <= now) {
                next_tick = now + (uint64_t)a->tick_ms;
            }
            continue;
        }
        if (took || a->q_len > 0 || a->stop_requested || a->ctx.stop)
            continue;
        uint64_t wake = next_tick;
        if (a->local_deadline != 0 && (wake == 0 || a->local_deadline < wake))
            wake = a->local_deadline;
        if (wake == 0 || wake > now)
            bell_wait(a, wake == 0 ? 0 : wake - now);
    }
    pthread_mutex_unlock(&a->mu);
}

/* The stop sequence, on the actor thread: refuse new requests, fail queued
 * ones, let on_stop answer held ones, fail the rest, drain sends, close. */
static void run_stop(actor *a)
{
    actor_group_leave(a); /* no group message starts here from now on */
    pthread_mutex_lock(&a->mu);
    a->stopping = true;
    /* Handlers running on receipt finish before on_stop frees the state;
     * no new one starts once stopping is set (slot_cb_recv). */
    while (a->receipt_running > 0)
        pthread_cond_wait(&a->cond, &a->mu);
    while (a->q_len > 0) {
        actor_item it = a->queue[a->q_head];
        a->q_head = (a->q_head + 1) % a->mailbox;
        a->q_len--;
        if (it.slot == ACTOR_ONE_WAY) {
            a->held--;
            nng_msg_free(it.msg);
            continue;
        }
        nng_msg_free(it.msg);
        actor_slot *s = &a->slots[it.slot];
        actor_slot_release_locked(a, s);
        pthread_mutex_unlock(&a->mu);
        actor_slot_send(
            s, actor_frame_reply(NULL, DP_ECLOSED, "actor stopped before handling the request"));
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    if (a->on_stop != NULL) {
        ctx_reset(&a->ctx);
        a->on_stop(a->state, &a->ctx);
    }
    pthread_mutex_lock(&a->mu);
    fail_held_locked(a);
    a->closing = true;
    /* Let the DP_ECLOSED replies reach the wire before the pipes close; a
     * peer that stopped reading cannot hold us longer than this. */
    struct timespec limit = actor_deadline_ts(500);
    while (a->sending > 0) {
        if (pthread_cond_timedwait(&a->cond, &a->mu, &limit) == ETIMEDOUT) {
            break;
        }
    }
    uint64_t last = a->last_sent_ms;
    pthread_mutex_unlock(&a->mu);
    /* A finished send only means the reply was handed to the connection;
     * nng has no linger, and closing at once can drop it (nng_close(3)).
     * Give replies sent just now a moment to leave. */
    uint64_t now = actor_now_ms();
    if (last != 0 && now < last + ACTOR_CLOSE_LINGER_MS) {
        struct timespec ts = {0, (long)(last + ACTOR_CLOSE_LINGER_MS - now) * 1000000L};
        nanosleep(&ts, NULL);
    }
    actor_stream_close(&a->stream, 500);
    nng_close(a->sock);
    pthread_mutex_lock(&a->mu);
    a->sock_open = false;
    a->finished = true;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->mu);
}

static void *actor_main(void *arg)
{
    actor *a = arg;
    char tname[16];
    snprintf(tname, sizeof tname, "a:%s", a->name);
    pthread_setname_np(pthread_self(), tname);

    dp_err err;
    dp_err_clear(&err);
    int rc = 0;
    if (a->on_start != NULL) {
        ctx_reset(&a->ctx);
        rc = a->on_start(a->state, &a->ctx, &err);
        if (rc != 0 && err.msg[0] == '\0') {
            dp_err_set(&err, rc, "on_start failed: %s", dp_code_name(rc));
        }
    }
    if (rc == 0)
        rc = actor_stream_start(a->stream, &err);
    pthread_mutex_lock(&a->mu);
    a->ready = true;
    a->start_rc = rc;
    a->start_err = err;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->mu);
    if (rc != 0) {
        return NULL;
    }
    /* The contexts spawn opened, counted before the first is armed: once one
     * is, a request on it may open more (actor_slot_more_locked), which
     * their opener arms itself. */
    size_t first = a->n_open;
    for (size_t i = 0; i < first; i++) {
        pthread_mutex_lock(&a->mu);
        a->slots[i].state = SLOT_RECV;
        a->n_armed++;
        pthread_mutex_unlock(&a->mu);
        nng_ctx_recv(a->slots[i].ctx, a->slots[i].aio);
    }
    run_loop(a);
    run_stop(a);
    return NULL;
}

static int check_opts(const actor_opts *o, dp_err *err)
{
    if (o == NULL) {
        return dp_err_set(err, DP_EINVAL, "actor_spawn: opts is NULL");
    }
    if (o->name == NULL || o->name[0] == '\0' || strlen(o->name) > 64) {
        return dp_err_set(err, DP_EINVAL, "actor_spawn: name must be 1..64 characters");
    }
    if (strpbrk(o->name, "/ \t\r\n") != NULL) {
        return dp_err_set(err, DP_EINVAL, "actor_spawn: name '%s' has '/' or whitespace", o->name);
    }
    if (o->handler == NULL) {
        return dp_err_set(err, DP_EINVAL, "actor %s: handler is required", o->name);
    }
    if ((o->on_tick != NULL) != (o->tick_ms > 0) || o->tick_ms < 0) {
        return dp_err_set(err, DP_EINVAL, "actor %s: on_tick and tick_ms > 0 go together", o->name);
    }
    if (o->mailbox > ACTOR_MAX_MAILBOX) {
        return dp_err_set(err, DP_EINVAL, "actor %s: mailbox %zu above the maximum %d", o->name,
                          o->mailbox, ACTOR_MAX_MAILBOX);
    }
    if (o->n_listen_urls > 0 && o->listen_urls == NULL) {
        return dp_err_set(err, DP_EINVAL, "actor %s: listen_urls is NULL", o->name);
    }
    return 0;
}

/* Frees everything spawn created; the thread must not be running. */
static void actor_free(actor *a)
{
    actor_group_leave(a); /* a failed spawn: its thread never ran */
    actor_client_close(a->self_client);
    actor_stream_close(&a->stream, 0);
    if (a->sock_open) {
        nng_close(a->sock);
    }
    for (size_t i = 0; i < a->n_slots; i++) {
        if (a->slots[i].aio != NULL) {
            nng_aio_free(a->slots[i].aio);
        }
    }
    /* Nothing can be queued: the stop sequence drained it. */
    free(a->slots);
    free(a->local_free);
    free(a->queue);
    actor_urls_free(&a->urls);
    pthread_cond_destroy(&a->cond);
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->conns_mu);
    free(a->conn_ids);
    free(a->name);
    free(a);
}

/* Connection cap: a peer beyond max_conns is closed before it can send,
 * so unauthenticated clients cannot hold unbounded receive buffers. */
static void pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    actor *a = arg;
    uint32_t id = (uint32_t)nng_pipe_id(p);
    int refuse = 0;
    pthread_mutex_lock(&a->conns_mu);
    if (ev == NNG_PIPE_EV_ADD_PRE) {
        if (a->n_conns >= a->max_conns) {
            refuse = 1;
            a->conns_refused++;
        } else {
            a->conn_ids[a->n_conns++] = id; /* counted until its REM_POST */
        }
    } else if (ev == NNG_PIPE_EV_REM_POST) {
        for (size_t i = 0; i < a->n_conns; i++)
            if (a->conn_ids[i] == id) {
                a->conn_ids[i] = a->conn_ids[--a->n_conns];
                break;
            }
    }
    pthread_mutex_unlock(&a->conns_mu);
    if (refuse)
        nng_pipe_close(p);
}

static int open_socket(actor *a, const actor_opts *o, dp_err *err)
{
    int rv = nng_rep0_open(&a->sock);
    if (rv != 0) {
        return dp_err_set(err, DP_EIO, "actor %s: rep socket: %s", a->name, nng_strerror(rv));
    }
    a->sock_open = true;
    size_t max = o->max_msg_bytes != 0 ? o->max_msg_bytes : ACTOR_DEFAULT_MAX_MSG_BYTES;
    nng_socket_set_size(a->sock, NNG_OPT_RECVMAXSZ, max);
    a->max_msg_bytes = max;
    a->max_conns = o->max_conns;
    a->calls_only = o->calls_only;
    a->calls_on_receipt = o->calls_on_receipt;
    if (a->max_conns != 0 && (a->conn_ids = calloc(a->max_conns, sizeof *a->conn_ids)) == NULL)
        return dp_err_set(err, DP_ENOMEM, "actor %s: out of memory", a->name);
    if (a->max_conns != 0 &&
        ((rv = nng_pipe_notify(a->sock, NNG_PIPE_EV_ADD_PRE, pipe_event, a)) != 0 ||
         (rv = nng_pipe_notify(a->sock, NNG_PIPE_EV_REM_POST, pipe_event, a)) != 0))
        return dp_err_set(err, DP_EIO, "actor %s: pipe notify: %s", a->name, nng_strerror(rv));
    /* A few spare contexts beyond the mailbox answer DP_EFULL at once
     * instead of leaving senders to time out. */
    size_t reserve = 4 + a->mailbox / 16;
    if (reserve > 256) {
        reserve = 256;
    }
    a->n_slots = a->mailbox + reserve;
    /* Local slots (calls from this process that skip nng, actor_local.c):
     * one per request the mailbox may hold, so one is always free while
     * the mailbox has room. */
    a->n_local = a->mailbox;
    a->slots = calloc(a->n_slots + a->n_local, sizeof *a->slots);
    a->local_free = calloc(a->n_local, sizeof *a->local_free);
    a->queue = calloc(a->mailbox, sizeof *a->queue);
    if (a->slots == NULL || a->local_free == NULL || a->queue == NULL) {
        a->n_slots = a->n_local = 0;
        return dp_err_set(err, DP_ENOMEM, "actor %s: out of memory for %zu slots", a->name,
                          a->mailbox);
    }
    for (size_t i = 0; i < a->n_local; i++) {
        a->slots[a->n_slots + i].owner = a;
        a->local_free[a->n_local_free++] = (uint32_t)(a->n_slots + a->n_local - 1 - i);
    }
    /* The first few contexts now, the rest as callers need them
     * (actor_slot_more_locked: one more whenever none waits). Each costs
     * ~700 bytes of nng state; opening all of them at once held ~16,000 in
     * dispatchd (11 MB, a third of its RSS) where most actors are called
     * in-process only (actor_local.c) and never use one. */
    for (size_t i = 0; i < a->n_slots; i++)
        a->slots[i].owner = a;
    a->n_open = a->n_slots < ACTOR_CONTEXTS_FIRST ? a->n_slots : ACTOR_CONTEXTS_FIRST;
    for (size_t i = 0; i < a->n_open; i++) {
        actor_slot *s = &a->slots[i];
        if ((rv = nng_aio_alloc(&s->aio, actor_slot_cb, s)) != 0 ||
            (rv = nng_ctx_open(&s->ctx, a->sock)) != 0) {
            return dp_err_set(err, DP_EIO, "actor %s: context %zu: %s", a->name, i,
                              nng_strerror(rv));
        }
    }
    char inproc[128];
    snprintf(inproc, sizeof inproc, ACTOR_INPROC_PREFIX "%s/%ld/%lu", a->name, (long)getpid(),
             (unsigned long)atomic_fetch_add(&actor_seq, 1));
    if ((rv = actor_urls_listen(&a->urls, a->sock, inproc, err)) != 0) {
        return rv;
    }
    for (size_t i = 0; i < o->n_listen_urls; i++) {
        const char *url = o->listen_urls[i];
        char *resolved = NULL;
        if (actor_stream_handles(url))
            rv = actor_stream_listen(&a->stream, a, url, &resolved, err);
        if (actor_stream_handles(url) && rv == 0)
            rv = actor_urls_add(&a->urls, resolved, err);
        else if (!actor_stream_handles(url))
            rv = actor_urls_listen(&a->urls, a->sock, url, err);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

actor *actor_spawn(const actor_opts *opts, dp_err *err)
{
    if (check_opts(opts, err) != 0) {
        return NULL;
    }
    actor *a = calloc(1, sizeof *a);
    if (a == NULL || (a->name = strdup(opts->name)) == NULL) {
        free(a);
        dp_err_set(err, DP_ENOMEM, "actor_spawn: out of memory");
        return NULL;
    }
    a->state = opts->state;
    a->handler = opts->handler;
    a->on_start = opts->on_start;
    a->on_stop = opts->on_stop;
    a->on_tick = opts->on_tick;
    a->tick_ms = opts->tick_ms;
    a->mailbox = opts->mailbox != 0 ? opts->mailbox : ACTOR_DEFAULT_MAILBOX;
    a->ctx.owner = a;
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->conns_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cond, &ca);
    pthread_condattr_destroy(&ca);

    a->group = opts->group;
    if (open_socket(a, opts, err) != 0 || (a->group != NULL && actor_group_join(a, err) != 0)) {
        actor_free(a);
        return NULL;
    }
    int rv = pthread_create(&a->thread, NULL, actor_main, a);
    if (rv != 0) {
        dp_err_set(err, DP_EIO, "actor %s: thread: %s", a->name, strerror(rv));
        actor_free(a);
        return NULL;
    }
    a->thread_started = true;
    pthread_mutex_lock(&a->mu);
    while (!a->ready) {
        pthread_cond_wait(&a->cond, &a->mu);
    }
    int start_rc = a->start_rc;
    pthread_mutex_unlock(&a->mu);
    if (start_rc != 0) {
        pthread_join(a->thread, NULL);
        if (err != NULL) {
            dp_err_set(err, start_rc, "actor %s: %s", a->name, a->start_err.msg);
        }
        actor_free(a);
        return NULL;
    }
    actor_registry_add(a);
    return a;
}

actor *actor_spawn_owned(const actor_opts *opts, dp_err *err)
{
    actor *a = actor_spawn(opts, err);
    if (a == NULL && opts != NULL && opts->on_stop != NULL)
        opts->on_stop(opts->state, NULL);
    return a;
}

void actor_stop(actor *a)
{
    if (a == NULL) {
        return;
    }
    pthread_mutex_lock(&a->mu);
    a->stop_requested = true;
    pthread_cond_broadcast(&a->cond);
    /* Rung under mu, unlike a push: once mu is let go the actor may see the
     * stop on its own, finish, and be freed by its owner (actor_stop is
     * callable from any thread); a stop's extra context switch is no cost. */
    actor_wake(a);
    pthread_mutex_unlock(&a->mu);
}

void actor_destroy(actor *a)
{
    if (a == NULL) {
        return;
    }
    actor_registry_remove(a); /* no client reaches it by URL from now on */
    actor_stop(a);
    if (a->thread_started) {
        pthread_join(a->thread, NULL);
    }
    actor_free(a);
}

int actor_wait(actor *a, int timeout_ms, dp_err *err)
{
    struct timespec limit = actor_deadline_ts(timeout_ms > 0 ? (uint64_t)timeout_ms : 0);
    pthread_mutex_lock(&a->mu);
    while (!a->finished) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&a->cond, &a->mu);
        } else if (pthread_cond_timedwait(&a->cond, &a->mu, &limit) == ETIMEDOUT) {
            break;
        }
    }
    bool finished = a->finished;
    pthread_mutex_unlock(&a->mu);
    if (!finished) {
        return dp_err_set(err, DP_ETIMEOUT, "actor %s still running after %d ms", a->name,
                          timeout_ms);
    }
    return 0;
}

const char *actor_url(const actor *a, size_t index)
{
    return actor_urls_get(&a->urls, index);
}

const char *actor_name(const actor *a)
{
    return a->name;
}

void actor_get_stats(actor *a, actor_stats *out)
{
    pthread_mutex_lock(&a->mu);
    *out = a->stats;
    out->held = a->held;
    out->queued = a->q_len;
    pthread_mutex_unlock(&a->mu);
}

actor_req_id actor_ctx_request(const actor_ctx *ctx)
{
    return ctx->current;
}

actor *actor_ctx_actor(actor_ctx *ctx)
{
    return ctx->owner;
}

int actor_ctx_error(actor_ctx *ctx, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err_msg, sizeof ctx->err_msg, fmt, ap);
    va_end(ap);
    ctx->err_code = code;
    return code;
}

void actor_ctx_stop(actor_ctx *ctx)
{
    if (ctx != &ctx->owner->ctx) { /* a handler on receipt: not the actor thread's context */
        actor_stop(ctx->owner);
        return;
    }
    ctx->stop = true;
}

actor_client *actor_shared_client(actor *a, dp_err *err)
{
    pthread_mutex_lock(&a->mu);
    actor_client *c = NULL;
    if (a->stopping) {
        /* Fail fast rather than send into a closing socket. */
        dp_err_set(err, DP_ECLOSED, "actor %s is stopping", a->name);
    } else {
        if (a->self_client == NULL) {
            a->self_client = actor_client_open(actor_url(a, 0), err);
        }
        c = a->self_client;
    }
    pthread_mutex_unlock(&a->mu);
    return c;
}

int actor_call(actor *a, nng_msg *req, nng_msg **reply, int timeout_ms, dp_err *err)
{
    *reply = NULL;
    actor_client *c = actor_shared_client(a, err);
    if (c == NULL) {
        nng_msg_free(req);
        return err != NULL ? err->code : DP_ECLOSED;
    }
    return actor_client_call(c, req, reply, timeout_ms, err);
}

int actor_send(actor *a, nng_msg *msg, int timeout_ms, dp_err *err)
{
    (void)timeout_ms;
    return actor_mailbox_push(a, msg, err);
}
