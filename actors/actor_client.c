/* Actor clients: see client.h. Over tcp:// and ipc:// a call goes on the
 * runtime's own stream link (actor_stream_client.c); over inproc:// to an
 * actor of this process straight into its mailbox (actor_local.c); else
 * (tls+tcp://, inproc:// of a plain nng socket) a call is a req context
 * plus an aio whose callback chains send -> receive. */
#include "actors/actor_client.h"
#include "actors/actor_impl.h"
#include "actors/actor_stream.h"
#include "actors/actor_urls.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#include "actors/actor_frame.h"

/* A reusable request context for blocking calls. */
typedef struct client_slot {
    nng_ctx ctx;
    nng_aio *aio; /* no callback: the caller waits on it */
    struct client_slot *next;
} client_slot;

#define CLIENT_POOL_MAX 32

struct actor_client {
    actor_stream_link *link; /* tcp:// and ipc://: the stream transport; no nng socket */
    nng_socket sock;
    char *url;               /* owned; for error messages */
    bool inproc_actor;       /* url is an actor's private inproc URL: calls may skip nng */
    actor_local_owner calls; /* async calls in flight; its mu also guards the pool */
    client_slot *pool;       /* idle slots, at most CLIENT_POOL_MAX; guarded by calls.mu */
    size_t pool_len;
    actor_future *idle_async; /* finished async calls kept for reuse; guarded by calls.mu */
    size_t n_idle_async;
};

enum { FUT_SEND, FUT_RECV, FUT_DONE };

struct actor_future {
    actor_client *client;    /* borrowed; outlives async calls (close waits) */
    actor_future *next_idle; /* in client->idle_async */
    char *url;               /* owned copy, for messages after the client is gone */
    actor_reply_fn cb;       /* NULL: someone waits with actor_future_wait */
    void *cb_arg;
    nng_ctx ctx;
    nng_aio *aio;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int phase; /* guarded by mu */
    int rv;
    nng_msg *reply;
    bool forever;
    nng_time deadline;
    bool on_link; /* a call on the stream link: the outcome is in code / link_err */
    int code;
    dp_err link_err;
};

static void future_free(actor_future *f);

static int map_nng(int rv)
{
    switch (rv) {
    case NNG_ETIMEDOUT:
        return DP_ETIMEOUT;
    case NNG_ECLOSED:
    case NNG_ECANCELED:
        return DP_ECLOSED;
    case NNG_ENOMEM:
        return DP_ENOMEM;
    case NNG_ECONNREFUSED:
    case NNG_ECONNSHUT:
    case NNG_ECONNRESET:
    case NNG_ECONNABORTED:
    case NNG_ENOENT:
    case NNG_EUNREACHABLE:
    case NNG_EADDRINVAL:
        return DP_EUNAVAIL;
    case NNG_EINVAL:
    case NNG_ENOTSUP:
    case NNG_EMSGSIZE:
        return DP_EINVAL;
    default:
        return DP_EIO;
    }
}

actor_client *actor_client_open(const char *url, dp_err *err)
{
    if (url == NULL || url[0] == '\0') {
        dp_err_set(err, DP_EINVAL, "actor_client_open: url is empty");
        return NULL;
    }
    actor_client *c = calloc(1, sizeof *c);
    if (c == NULL || (c->url = strdup(url)) == NULL) {
        free(c);
        dp_err_set(err, DP_ENOMEM, "actor_client_open: out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->calls.mu, NULL);
    pthread_cond_init(&c->calls.idle, NULL);
    c->inproc_actor = strncmp(url, ACTOR_INPROC_PREFIX, strlen(ACTOR_INPROC_PREFIX)) == 0;
    if (actor_stream_handles(url)) {
        if ((c->link = actor_stream_link_open(url, err)) == NULL) {
            pthread_cond_destroy(&c->calls.idle);
            pthread_mutex_destroy(&c->calls.mu);
            free(c->url);
            free(c);
            return NULL;
        }
        return c;
    }
    int rv = nng_req0_open(&c->sock);
    if (rv != 0) {
        dp_err_set(err, DP_EIO, "req socket for %s: %s", url, nng_strerror(rv));
        pthread_cond_destroy(&c->calls.idle);
        pthread_mutex_destroy(&c->calls.mu);
        free(c->url);
        free(c);
        return NULL;
    }
    /* Contexts copy the resend time when opened: set it first. No timed
     * resends: a deferred reply may legitimately take long. */
    nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, ACTOR_DEFAULT_MAX_MSG_BYTES);
    nng_dialer d;
    if ((rv = nng_dialer_create(&d, c->sock, url)) == 0 &&
        actor_urls_tls_dialer(d, url, err) != 0) {
        nng_dialer_close(d);
        actor_client_close(c);
        return NULL;
    }
    if (rv == 0 && (rv = nng_dialer_start(d, 0)) != 0)
        nng_dialer_close(d); /* as nng_dial does: a failed dialer is not freed by nng_close */
    if (rv != 0) {
        dp_err_set(err, map_nng(rv) == DP_EINVAL ? DP_EINVAL : DP_EUNAVAIL,
                   "cannot connect to actor at %s: %s", url, nng_strerror(rv));
        actor_client_close(c);
        return NULL;
    }
    return c;
}

void actor_client_shutdown(actor_client *c)
{
    if (c == NULL) {
        return;
    }
    /* Closing aborts async calls still in flight; their callbacks run with
     * DP_ECLOSED, and must have returned before c goes. */
    pthread_mutex_lock(&c->calls.mu);
    bool first = !c->calls.closing;
    c->calls.closing = true;
    pthread_mutex_unlock(&c->calls.mu);
    if (first) {
        actor_local_cancel_all(&c->calls, c->url);
        if (c->link != NULL)
            actor_stream_link_shutdown(c->link);
        else
            nng_close(c->sock);
    }
    pthread_mutex_lock(&c->calls.mu);
    while (c->calls.callbacks > 0) {
        pthread_cond_wait(&c->calls.idle, &c->calls.mu);
    }
    pthread_mutex_unlock(&c->calls.mu);
}

void actor_client_close(actor_client *c)
{
    if (c == NULL) {
        return;
    }
    actor_client_shutdown(c);
    while (c->idle_async != NULL) { /* their contexts went with the socket */
        actor_future *f = c->idle_async;
        c->idle_async = f->next_idle;
        nng_aio_free(f->aio);
        future_free(f);
    }
    while (c->pool != NULL) {
        client_slot *s = c->pool;
        c->pool = s->next;
        nng_aio_free(s->aio);
        free(s);
    }
    actor_stream_link_free(c->link);
    pthread_cond_destroy(&c->calls.idle);
    pthread_mutex_destroy(&c->calls.mu);
    free(c->url);
    free(c);
}

/* The outcome of a call on the stream link, for a waiting caller. */
static void link_future_cb(void *arg, int code, nng_msg *reply, const char *errmsg)
{
    actor_future *f = arg;
    pthread_mutex_lock(&f->mu);
    f->code = code;
    f->reply = reply;
    if (code != 0)
        dp_err_set(&f->link_err, code, "%s", errmsg != NULL ? errmsg : dp_code_name(code));
    f->phase = FUT_DONE;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* A call on the stream link whose caller waits (a future, or a blocking
 * call). NULL + err when it could not start (req consumed). */
static actor_future *link_future_start(actor_client *c, nng_msg *req, int timeout_ms, dp_err *err)
{
    actor_future *f = calloc(1, sizeof *f);
    if (f == NULL || (f->url = strdup(c->url)) == NULL) {
        free(f);
        nng_msg_free(req);
        dp_err_set(err, DP_ENOMEM, "actor call to %s: out of memory", c->url);
        return NULL;
    }
    f->on_link = true;
    f->phase = FUT_SEND;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    if (actor_stream_link_call(c->link, req, timeout_ms, link_future_cb, f, err) != 0) {
        pthread_cond_destroy(&f->cv);
        pthread_mutex_destroy(&f->mu);
        free(f->url);
        free(f);
        return NULL;
    }
    return f;
}

/* Waits for a link future, returns its outcome, frees it. */
static int link_future_wait(actor_future *f, nng_msg **reply, dp_err *err)
{
    pthread_mutex_lock(&f->mu);
    while (f->phase != FUT_DONE)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
    int code = f->code;
    *reply = f->reply;
    if (code != 0 && err != NULL)
        *err = f->link_err;
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f->url);
    free(f);
    return code;
}

static client_slot *slot_get(actor_client *c, int *rv)
{
    pthread_mutex_lock(&c->calls.mu);
    client_slot *s = c->pool;
    if (s != NULL) {
        c->pool = s->next;
        c->pool_len--;
    }
    pthread_mutex_unlock(&c->calls.mu);
    if (s != NULL) {
        return s;
    }
    if ((s = calloc(1, sizeof *s)) == NULL) {
        *rv = NNG_ENOMEM;
        return NULL;
    }
    if ((*rv = nng_aio_alloc(&s->aio, NULL, NULL)) != 0) {
        free(s);
        return NULL;
    }
    if ((*rv = nng_ctx_open(&s->ctx, c->sock)) != 0) {
        nng_aio_free(s->aio);
        free(s);
        return NULL;
    }
    return s;
}

static void slot_put(actor_client *c, client_slot *s)
{
    pthread_mutex_lock(&c->calls.mu);
    if (c->pool_len < CLIENT_POOL_MAX) {
        s->next = c->pool;
        c->pool = s;
        c->pool_len++;
        s = NULL;
    }
    pthread_mutex_unlock(&c->calls.mu);
    if (s != NULL) {
        nng_ctx_close(s->ctx);
        nng_aio_free(s->aio);
        free(s);
    }
}

static void future_finish_locked(actor_future *f, int rv)
{
    f->rv = rv;
    f->phase = FUT_DONE;
    pthread_cond_broadcast(&f->cv);
}

static void future_free(actor_future *f)
{
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f->url);
    free(f);
}

/* Turns a finished future's outcome into a code, reply and error. */
static int future_result(actor_future *f, nng_msg **reply, dp_err *err)
{
    *reply = NULL;
    if (f->rv != 0) {
        if (f->rv == NNG_ETIMEDOUT) {
            return dp_err_set(err, DP_ETIMEOUT, "actor at %s: no reply in time", f->url);
        }
        return dp_err_set(err, map_nng(f->rv), "actor at %s: %s", f->url, nng_strerror(f->rv));
    }
    nng_msg *m = f->reply;
    f->reply = NULL;
    return actor_reply_decode(f->url, m, reply, err);
}

/* Async completion, on the nng thread that finished the call: hands the
 * result to the user's callback, then releases everything. */
static void future_complete_async(actor_future *f)
{
    nng_msg *reply = NULL;
    dp_err err;
    dp_err_clear(&err);
    int ok = f->rv == 0;
    int code = future_result(f, &reply, &err);
    actor_client *c = f->client;
    pthread_mutex_lock(&c->calls.mu);
    bool closing = c->calls.closing;
    pthread_mutex_unlock(&c->calls.mu);
    if (code != 0 && closing) {
        /* nng reports the aborted call as a reset connection. */
        code = dp_err_set(&err, DP_ECLOSED, "actor at %s: client closed", f->url);
    }
    f->cb(f->cb_arg, code, reply, code != 0 ? err.msg : NULL);
    pthread_mutex_lock(&c->calls.mu);
    /* A call that went through keeps its aio and context for the next one
     * (opening, closing and reaping them per call cost the runner ~50 us of
     * CPU, docs/bench.md, ninth session). f is not touched once the lock
     * is let go: the next call may have it already. */
    if (ok && !c->calls.closing && c->n_idle_async < CLIENT_POOL_MAX) {
        f->next_idle = c->idle_async;
        c->idle_async = f;
        c->n_idle_async++;
        if (--c->calls.callbacks == 0)
            pthread_cond_broadcast(&c->calls.idle);
        pthread_mutex_unlock(&c->calls.mu);
        return;
    }
    /* Closing a context while another thread closes its socket races
     * inside nng (it panics): once closing, the socket close does it. The
     * lock orders this against actor_client_close setting closing. */
    if (!c->calls.closing) {
        nng_ctx_close(f->ctx);
    }
    pthread_mutex_unlock(&c->calls.mu);
    nng_aio_reap(f->aio); /* freed after this callback returns */
    future_free(f);
    pthread_mutex_lock(&c->calls.mu);
    if (--c->calls.callbacks == 0) {
        pthread_cond_broadcast(&c->calls.idle);
    }
    pthread_mutex_unlock(&c->calls.mu);
}

static void future_cb(void *arg)
{
    actor_future *f = arg;
    int rv = nng_aio_result(f->aio);
    pthread_mutex_lock(&f->mu);
    if (f->phase == FUT_SEND && rv == 0) {
        nng_duration left = NNG_DURATION_INFINITE;
        bool late = false;
        if (!f->forever) {
            nng_time now = nng_clock();
            late = now >= f->deadline;
            left = late ? 0 : (nng_duration)(f->deadline - now);
        }
        if (!late) {
            f->phase = FUT_RECV;
            pthread_mutex_unlock(&f->mu);
            nng_aio_set_timeout(f->aio, left);
            nng_ctx_recv(f->ctx, f->aio);
            return;
        }
        rv = NNG_ETIMEDOUT;
    } else if (f->phase == FUT_SEND) {
        nng_msg_free(nng_aio_get_msg(f->aio));
        nng_aio_set_msg(f->aio, NULL);
    } else if (rv == 0) {
        f->reply = nng_aio_get_msg(f->aio);
        nng_aio_set_msg(f->aio, NULL);
    }
    bool async = f->cb != NULL;
    if (async) {
        f->rv = rv;
        f->phase = FUT_DONE;
    } else {
        future_finish_locked(f, rv);
    }
    pthread_mutex_unlock(&f->mu);
    if (async) {
        future_complete_async(f);
    }
}

/* Sends framed req on f's context: a new future, or an idle one reused. */
static void future_send(actor_future *f, nng_msg *req, int timeout_ms, actor_reply_fn cb,
                        void *cb_arg)
{
    f->cb = cb;
    f->cb_arg = cb_arg;
    f->forever = timeout_ms == ACTOR_FOREVER;
    f->deadline = nng_clock() + (nng_time)(f->forever ? 0 : timeout_ms);
    f->phase = FUT_SEND;
    f->rv = 0;
    f->reply = NULL;
    nng_aio_set_timeout(f->aio, f->forever ? NNG_DURATION_INFINITE : (nng_duration)timeout_ms);
    nng_aio_set_msg(f->aio, req);
    nng_ctx_send(f->ctx, f->aio);
}

/* Starts a call; *out is the future, or NULL with the returned code. */
static int future_start(actor_client *c, nng_msg *req, uint8_t kind, int timeout_ms,
                        actor_reply_fn cb, void *cb_arg, actor_future **out, dp_err *err)
{
    *out = NULL;
    if (c == NULL || req == NULL || (timeout_ms <= 0 && timeout_ms != ACTOR_FOREVER)) {
        nng_msg_free(req);
        return dp_err_set(err, DP_EINVAL,
                          "actor call: client and request required, timeout_ms > 0");
    }
    if (nng_msg_insert(req, &kind, 1) != 0) {
        nng_msg_free(req);
        return dp_err_set(err, DP_ENOMEM, "actor call to %s: out of memory", c->url);
    }
    if (c->link != NULL && cb != NULL)
        return actor_stream_link_call(c->link, req, timeout_ms, cb, cb_arg, err);
    if (c->link != NULL) {
        *out = link_future_start(c, req, timeout_ms, err);
        return *out != NULL ? 0 : err != NULL ? err->code : DP_ENOMEM;
    }
    if (cb != NULL) {
        /* Counted before anything is opened, so a shutdown that finds no
         * callback pending has no call left to wait for. */
        pthread_mutex_lock(&c->calls.mu);
        if (c->calls.closing) {
            pthread_mutex_unlock(&c->calls.mu);
            nng_msg_free(req);
            return dp_err_set(err, DP_ECLOSED, "actor at %s: client closed", c->url);
        }
        c->calls.callbacks++;
        actor_future *f = c->idle_async;
        if (f != NULL) {
            c->idle_async = f->next_idle;
            c->n_idle_async--;
            pthread_mutex_unlock(&c->calls.mu);
            future_send(f, req, timeout_ms, cb, cb_arg);
            *out = f;
            return 0;
        }
        pthread_mutex_unlock(&c->calls.mu);
    }
    actor_future *f = calloc(1, sizeof *f);
    int rv = NNG_ENOMEM;
    if (f != NULL && (f->url = strdup(c->url)) != NULL) {
        f->client = c;
        rv = nng_aio_alloc(&f->aio, future_cb, f);
        if (rv == 0 && (rv = nng_ctx_open(&f->ctx, c->sock)) != 0)
            nng_aio_free(f->aio);
    }
    if (rv != 0) {
        if (f != NULL)
            free(f->url);
        free(f);
        nng_msg_free(req);
        if (cb != NULL) {
            pthread_mutex_lock(&c->calls.mu);
            if (--c->calls.callbacks == 0)
                pthread_cond_broadcast(&c->calls.idle);
            pthread_mutex_unlock(&c->calls.mu);
        }
        return dp_err_set(err, map_nng(rv), "actor call to %s: %s", c->url, nng_strerror(rv));
    }
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    future_send(f, req, timeout_ms, cb, cb_arg);
    *out = f;
    return 0;
}

actor_future *actor_client_call_start(actor_client *c, nng_msg *req, int timeout_ms, dp_err *err)
{
    actor_future *f = NULL;
    (void)future_start(c, req, ACTOR_FRAME_CALL, timeout_ms, NULL, NULL, &f, err);
    return f;
}

int actor_client_call_async(actor_client *c, nng_msg *req, int timeout_ms, actor_reply_fn cb,
                            void *arg, dp_err *err)
{
    if (cb == NULL) {
        nng_msg_free(req);
        return dp_err_set(err, DP_EINVAL, "actor_client_call_async: callback is NULL");
    }
    /* An actor of this process: straight into its mailbox (no nng hop). */
    if (c != NULL && req != NULL && c->inproc_actor &&
        (timeout_ms > 0 || timeout_ms == ACTOR_FOREVER)) {
        int rc = actor_local_call_start(&c->calls, c->url, req, timeout_ms, cb, arg, err);
        if (rc != ACTOR_NOT_LOCAL)
            return rc;
    }
    actor_future *f = NULL;
    return future_start(c, req, ACTOR_FRAME_CALL, timeout_ms, cb, arg, &f, err);
}

int actor_future_wait(actor_future *f, nng_msg **reply, dp_err *err)
{
    *reply = NULL;
    if (f->on_link)
        return link_future_wait(f, reply, err);
    pthread_mutex_lock(&f->mu);
    while (f->phase != FUT_DONE) {
        pthread_cond_wait(&f->cv, &f->mu);
    }
    pthread_mutex_unlock(&f->mu);
    /* Waits for the callback to return, so f can go. */
    nng_aio_free(f->aio);
    nng_ctx_close(f->ctx);
    int rc = future_result(f, reply, err);
    future_free(f);
    return rc;
}

static int wait_error(const char *url, int rv, dp_err *err)
{
    if (rv == NNG_ETIMEDOUT) {
        return dp_err_set(err, DP_ETIMEOUT, "actor at %s: no reply in time", url);
    }
    return dp_err_set(err, map_nng(rv), "actor at %s: %s", url, nng_strerror(rv));
}

/* A blocking call on a pooled context: the caller's thread waits on the
 * aio directly, which saves a thread hop per call over a future. */
static int call_sync(actor_client *c, nng_msg *req, uint8_t kind, nng_msg **reply, int timeout_ms,
                     dp_err *err)
{
    *reply = NULL;
    if (c == NULL || req == NULL || (timeout_ms <= 0 && timeout_ms != ACTOR_FOREVER)) {
        nng_msg_free(req);
        return dp_err_set(err, DP_EINVAL,
                          "actor call: client and request required, timeout_ms > 0");
    }
    if (nng_msg_insert(req, &kind, 1) != 0) {
        nng_msg_free(req);
        return dp_err_set(err, DP_ENOMEM, "actor call to %s: out of memory", c->url);
    }
    if (c->link != NULL) {
        actor_future *f = link_future_start(c, req, timeout_ms, err);
        return f != NULL ? link_future_wait(f, reply, err) : err != NULL ? err->code : DP_ENOMEM;
    }
    int rv = 0;
    client_slot *s = slot_get(c, &rv);
    if (s == NULL) {
        nng_msg_free(req);
        return dp_err_set(err, map_nng(rv), "actor call to %s: %s", c->url, nng_strerror(rv));
    }
    nng_time deadline = nng_clock() + (nng_time)(timeout_ms > 0 ? timeout_ms : 0);
    nng_aio_set_timeout(s->aio, timeout_ms > 0 ? (nng_duration)timeout_ms : NNG_DURATION_INFINITE);
    nng_aio_set_msg(s->aio, req);
    nng_ctx_send(s->ctx, s->aio);
    nng_aio_wait(s->aio);
    if ((rv = nng_aio_result(s->aio)) != 0) {
        nng_msg_free(nng_aio_get_msg(s->aio));
        nng_aio_set_msg(s->aio, NULL);
        slot_put(c, s);
        return wait_error(c->url, rv, err);
    }
    nng_duration left = NNG_DURATION_INFINITE;
    if (timeout_ms > 0) {
        nng_time now = nng_clock();
        left = now >= deadline ? 1 : (nng_duration)(deadline - now);
    }
    nng_aio_set_timeout(s->aio, left);
    nng_ctx_recv(s->ctx, s->aio);
    nng_aio_wait(s->aio);
    rv = nng_aio_result(s->aio);
    nng_msg *m = rv == 0 ? nng_aio_get_msg(s->aio) : NULL;
    nng_aio_set_msg(s->aio, NULL);
    /* A failed receive resets the request context: it is reusable. */
    slot_put(c, s);
    if (rv != 0) {
        return wait_error(c->url, rv, err);
    }
    return actor_reply_decode(c->url, m, reply, err);
}

int actor_client_call(actor_client *c, nng_msg *req, nng_msg **reply, int timeout_ms, dp_err *err)
{
    return call_sync(c, req, ACTOR_FRAME_CALL, reply, timeout_ms, err);
}

typedef struct {
    nng_msg *msg;
    dp_err *err;
} one_way_args;

/* Under the registry lock (actor_registry_with): msg consumed. */
static int push_one_way(actor *a, void *arg)
{
    one_way_args *p = arg;
    return actor_mailbox_push(a, p->msg, p->err);
}

int actor_client_send(actor_client *c, nng_msg *msg, int timeout_ms, dp_err *err)
{
    /* An actor of this process: straight into its mailbox (no nng hop). */
    if (c->inproc_actor) {
        int rc = actor_registry_with(c->url, push_one_way, &(one_way_args){msg, err});
        if (rc != ACTOR_NOT_LOCAL)
            return rc;
    }
    nng_msg *ack = NULL;
    int rc = call_sync(c, msg, ACTOR_FRAME_SEND, &ack, timeout_ms, err);
    nng_msg_free(ack);
    return rc;
}

int actor_send_local(const char *url, nng_msg *msg, dp_err *err)
{
    int rc = actor_registry_with(url, push_one_way, &(one_way_args){msg, err});
    if (rc != ACTOR_NOT_LOCAL)
        return rc;
    nng_msg_free(msg);
    return dp_err_set(err, DP_ENOTFOUND, "no live actor at %s", url);
}

int actor_call_url(const char *url, nng_msg *req, nng_msg **reply, int timeout_ms, dp_err *err)
{
    *reply = NULL;
    actor_client *c = actor_client_open(url, err);
    if (c == NULL) {
        nng_msg_free(req);
        return err != NULL ? err->code : DP_EUNAVAIL;
    }
    int rc = actor_client_call(c, req, reply, timeout_ms, err);
    actor_client_close(c);
    return rc;
}

int actor_send_url(const char *url, nng_msg *msg, int timeout_ms, dp_err *err)
{
    actor_client *c = actor_client_open(url, err);
    if (c == NULL) {
        nng_msg_free(msg);
        return err != NULL ? err->code : DP_EUNAVAIL;
    }
    int rc = actor_client_send(c, msg, timeout_ms, err);
    actor_client_close(c);
    return rc;
}
