/* The listening side of the stream transport (actor_stream.h).
 *
 * One thread per actor with tcp:// or ipc:// URLs waits in epoll on its
 * listening sockets and connections (level-triggered). It reads whole
 * frames; a call becomes a call on one of the actor's local slots
 * (actor_local.c) whose answer is written to the connection by the thread
 * that answers, straight from its buffer when the socket has room (one
 * send per reply, no hand-off). Only a reply that does not fit waits in
 * the connection's backlog for this thread to send when the socket drains.
 *
 * A connection ends on EOF, an error, a frame above the actor's limit or a
 * greeting that is not ours: its socket is closed at once (writers check
 * `closed` under wmu, so nobody writes to a reused descriptor), the calls
 * it has in flight end (their late answers are dropped), and it is freed
 * once no answer callback is still running for it.
 *
 * Ownership: the server owns its listeners and connections; a connection
 * owns its buffers; a call's stream_call (connection + id) is owned by the
 * answer callback, which frees it. */
#include "actors/actor_stream.h"

#include "actors/actor_frame.h"
#include "actors/actor_impl.h"
#include "common/clock.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

enum { EP_WAKE, EP_LISTENER, EP_CONN };

#define STREAM_READ_CHUNK (64u << 10)
#define STREAM_EVENTS 64
#define STREAM_GREET_MS 10000      /* as nng's handshake timeout */
#define STREAM_ACCEPT_PAUSE_MS 100 /* out of descriptors: try again after this */

typedef struct {
    int kind; /* EP_LISTENER */
    int fd;
    char *ipc_path; /* owned; unlinked on close; NULL for tcp */
} stream_listener;

typedef struct stream_conn {
    int kind; /* EP_CONN */
    actor_stream_server *srv;
    int fd;
    pthread_mutex_t wmu; /* guards closed, armed and the backlog */
    bool closed;
    uint32_t armed;     /* the epoll events asked for now */
    int64_t born_ms;    /* when accepted: a peer that does not greet in time goes */
    unsigned char *out; /* backlog: unsent reply bytes, out_off .. out_len */
    size_t out_len, out_off, out_cap;
    actor_stream_input in;   /* serving thread only */
    bool greeted;            /* serving thread only */
    actor_local_owner calls; /* calls in flight on the actor's local slots */
    struct stream_conn *prev, *next;
} stream_conn;

typedef struct {
    stream_conn *conn;
    uint32_t id;
} stream_call;

struct actor_stream_server {
    actor *a;
    int ep, wake_fd;
    int wake_kind; /* EP_WAKE: the eventfd's epoll tag */
    stream_listener *listeners;
    size_t n_listeners;
    stream_conn *conns; /* serving thread only (and close, after the join) */
    size_t n_conns, n_ungreeted;
    int64_t accept_again_ms; /* listeners paused (EMFILE) until then; 0: armed */
    pthread_t thread;
    bool started;
    atomic_bool stop;
};

/* Under c->wmu: what the serving thread waits for on c. A peer whose
 * replies pile up (it stopped reading) is not read either until they
 * drain, so it cannot make us hold more than a bounded backlog. */
static void conn_arm_locked(stream_conn *c)
{
    size_t pending = c->out_len - c->out_off;
    uint32_t events = (pending > ACTOR_STREAM_PAUSE_BYTES ? 0u : (uint32_t)EPOLLIN) |
                      (pending > 0 ? (uint32_t)EPOLLOUT : 0u);
    if (events == c->armed || c->closed)
        return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(c->srv->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->armed = events;
}

/* Under c->wmu: queues bytes behind the backlog, asking the serving thread
 * to send them once the socket has room. -1 when the backlog would pass
 * its bound (the peer stopped reading). */
static int backlog_add_locked(stream_conn *c, const struct iovec *iov, int n, size_t skip)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    if (c->out_len - c->out_off + total - skip > ACTOR_STREAM_MAX_BACKLOG ||
        actor_stream_backlog_add(&c->out, &c->out_len, &c->out_off, &c->out_cap, iov, n, skip) != 0)
        return -1;
    conn_arm_locked(c);
    return 0;
}

/* Sends one reply frame (status byte + body) for call id on c, from any
 * thread. A connection that cannot take it is shut down; its serving
 * thread then closes it. */
static void conn_write(stream_conn *c, uint32_t id, uint8_t status, const void *body, size_t len)
{
    unsigned char hdr[ACTOR_STREAM_HDR + 1];
    actor_stream_put32(hdr, (uint32_t)len + 1);
    actor_stream_put32(hdr + 4, id);
    hdr[8] = status;
    struct iovec iov[2] = {{hdr, sizeof hdr}, {(void *)body, len}};
    pthread_mutex_lock(&c->wmu);
    if (c->closed) {
        pthread_mutex_unlock(&c->wmu);
        return;
    }
    size_t sent = 0, total = sizeof hdr + len;
    if (c->out_len == c->out_off) { /* nothing waits: straight to the socket */
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len > 0 ? 2 : 1};
        for (;;) {
            ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0) {
                sent = (size_t)w;
                break;
            }
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                sent = SIZE_MAX; /* broken: the reader will see it too */
            break;
        }
    }
    if (sent != SIZE_MAX && sent < total && backlog_add_locked(c, iov, 2, sent) != 0)
        sent = SIZE_MAX;
    if (sent == SIZE_MAX)
        shutdown(c->fd, SHUT_RDWR);
    pthread_mutex_unlock(&c->wmu);
}

/* The answer to a call, on whichever thread answers (actor_reply_fn). */
static void call_answered(void *arg, int code, nng_msg *reply, const char *errmsg)
{
    stream_call *sc = arg;
    if (code == 0)
        conn_write(sc->conn, sc->id, 0, reply != NULL ? nng_msg_body(reply) : NULL,
                   reply != NULL ? nng_msg_len(reply) : 0);
    else
        conn_write(sc->conn, sc->id, actor_frame_status(code), errmsg,
                   errmsg != NULL ? strlen(errmsg) : 0);
    nng_msg_free(reply);
    free(sc);
}

static void conn_error(stream_conn *c, uint32_t id, int code, const char *text)
{
    conn_write(c, id, actor_frame_status(code), text, strlen(text));
}

/* One request frame: kind byte + the sender's bytes. */
static void conn_frame(void *arg, uint32_t id, const unsigned char *body, size_t len)
{
    stream_conn *c = arg;
    actor *a = c->srv->a;
    uint8_t kind = body[0];
    if (kind != ACTOR_FRAME_CALL && kind != ACTOR_FRAME_SEND) {
        conn_error(c, id, DP_EPROTO, "not an actor request frame");
        return;
    }
    if (kind == ACTOR_FRAME_SEND && a->calls_only) {
        conn_error(c, id, DP_EPROTO, "one-way messages are not accepted here");
        return;
    }
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, len - 1) != 0) {
        conn_error(c, id, DP_ENOMEM, "out of memory");
        return;
    }
    memcpy(nng_msg_body(m), body + 1, len - 1);
    dp_err err = {0};
    if (kind == ACTOR_FRAME_SEND) {
        int rc = actor_mailbox_push(a, m, &err);
        if (rc == DP_OK)
            conn_write(c, id, 0, NULL, 0);
        else
            conn_error(c, id, rc, err.msg);
        return;
    }
    stream_call *sc = malloc(sizeof *sc);
    if (sc == NULL) {
        nng_msg_free(m);
        conn_error(c, id, DP_ENOMEM, "out of memory");
        return;
    }
    *sc = (stream_call){c, id};
    uint32_t receipt_slot = ACTOR_ONE_WAY;
    int rc = actor_local_call_to(a, &c->calls, m, call_answered, sc, &receipt_slot, &err);
    if (rc != DP_OK) {
        free(sc);
        conn_error(c, id, rc, err.msg);
    } else if (receipt_slot != ACTOR_ONE_WAY) {
        actor_run_on_receipt(a, m, receipt_slot); /* the gateway's routing, on this thread */
    }
}

/* Checks the greeting, then hands out whole frames; -1 when the connection
 * must end. */
static int conn_parse(stream_conn *c)
{
    if (!c->greeted) {
        if (c->in.len < ACTOR_STREAM_HELLO_LEN)
            return 0;
        if (memcmp(c->in.in, ACTOR_STREAM_HELLO, ACTOR_STREAM_HELLO_LEN) != 0 ||
            actor_stream_write_all(c->fd, ACTOR_STREAM_HELLO, ACTOR_STREAM_HELLO_LEN, 1000) != 0)
            return -1;
        c->greeted = true;
        c->srv->n_ungreeted--;
        actor_stream_input_drop(&c->in, ACTOR_STREAM_HELLO_LEN);
    }
    return actor_stream_input_frames(&c->in, c->srv->a->max_msg_bytes + 1, conn_frame, c);
}

/* Reads what is there (up to a bound, so one busy peer does not starve the
 * others); -1 when the connection ended. */
static int conn_read(stream_conn *c)
{
    size_t body_limit = c->srv->a->max_msg_bytes + 1;
    for (size_t got = 0; got < 4 * STREAM_READ_CHUNK;) {
        if (actor_stream_input_room(&c->in, c->greeted, body_limit, STREAM_READ_CHUNK) != 0)
            return -1;
        size_t room = c->in.cap - c->in.len;
        ssize_t r = recv(c->fd, c->in.in + c->in.len, room, MSG_DONTWAIT);
        if (r == 0)
            return -1;
        if (r < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        c->in.len += (size_t)r;
        got += (size_t)r;
        if (conn_parse(c) != 0)
            return -1;
        actor_stream_input_trim(&c->in, 4 * STREAM_READ_CHUNK);
        /* A short read drained the socket: epoll (level-triggered) reports
         * what comes next, so asking again would only fetch EAGAIN, a
         * syscall per message. */
        if ((size_t)r < room)
            break;
    }
    return 0;
}

/* The socket has room again: sends the backlog. */
static void conn_flush(stream_conn *c)
{
    pthread_mutex_lock(&c->wmu);
    while (!c->closed && c->out_off < c->out_len) {
        ssize_t w =
            send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            c->out_off += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else {
            if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                shutdown(c->fd, SHUT_RDWR);
            break;
        }
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    conn_arm_locked(c);
    pthread_mutex_unlock(&c->wmu);
}

/* Ends c: see the file comment. Serving thread, or close after the join. */
static void conn_close(actor_stream_server *srv, stream_conn *c)
{
    pthread_mutex_lock(&c->wmu);
    c->closed = true;
    epoll_ctl(srv->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    pthread_mutex_unlock(&c->wmu);
    pthread_mutex_lock(&c->calls.mu);
    c->calls.closing = true; /* no call starts on it any more */
    pthread_mutex_unlock(&c->calls.mu);
    actor_local_cancel_all(&c->calls, actor_urls_get(&srv->a->urls, 0));
    pthread_mutex_lock(&c->calls.mu);
    while (c->calls.callbacks > 0)
        pthread_cond_wait(&c->calls.idle, &c->calls.mu);
    pthread_mutex_unlock(&c->calls.mu);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    srv->n_conns--;
    if (!c->greeted)
        srv->n_ungreeted--;
    pthread_cond_destroy(&c->calls.idle);
    pthread_mutex_destroy(&c->calls.mu);
    pthread_mutex_destroy(&c->wmu);
    actor_stream_input_free(&c->in);
    free(c->out);
    free(c);
}

static void accept_all(actor_stream_server *srv, stream_listener *l)
{
    for (;;) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
            /* The listener stays readable while the connection waits:
             * level-triggered, it would spin. Pause every listener a while. */
            for (size_t i = 0; i < srv->n_listeners; i++) {
                struct epoll_event ev = {.events = 0, .data.ptr = &srv->listeners[i]};
                epoll_ctl(srv->ep, EPOLL_CTL_MOD, srv->listeners[i].fd, &ev);
            }
            srv->accept_again_ms = dp_now_ms() + STREAM_ACCEPT_PAUSE_MS;
            return;
        }
        if (fd < 0)
            return; /* EAGAIN, or a peer gone already */
        actor *a = srv->a;
        stream_conn *c = NULL;
        /* The cap: a peer beyond it is closed before it can send, so
         * unauthenticated clients cannot hold unbounded buffers. */
        if ((a->max_conns != 0 && srv->n_conns >= a->max_conns) ||
            (c = calloc(1, sizeof *c)) == NULL) {
            pthread_mutex_lock(&a->conns_mu);
            a->conns_refused++;
            pthread_mutex_unlock(&a->conns_mu);
            close(fd);
            continue;
        }
        int one = 1;
        if (l->ipc_path == NULL)
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->kind = EP_CONN;
        c->srv = srv;
        c->fd = fd;
        c->armed = EPOLLIN;
        c->born_ms = dp_now_ms();
        pthread_mutex_init(&c->wmu, NULL);
        pthread_mutex_init(&c->calls.mu, NULL);
        pthread_cond_init(&c->calls.idle, NULL);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(srv->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            pthread_cond_destroy(&c->calls.idle);
            pthread_mutex_destroy(&c->calls.mu);
            pthread_mutex_destroy(&c->wmu);
            free(c);
            close(fd);
            continue;
        }
        c->next = srv->conns;
        if (srv->conns != NULL)
            srv->conns->prev = c;
        srv->conns = c;
        srv->n_conns++;
        srv->n_ungreeted++;
    }
}

static void *serve_main(void *arg)
{
    actor_stream_server *srv = arg;
    char tname[16];
    snprintf(tname, sizeof tname, "s:%s", srv->a->name);
    pthread_setname_np(pthread_self(), tname);
    struct epoll_event evs[STREAM_EVENTS];
    while (!atomic_load(&srv->stop)) {
        /* Timers only while something waits on one: idle, this sleeps. */
        int64_t now = dp_now_ms();
        if (srv->accept_again_ms != 0 && now >= srv->accept_again_ms) {
            srv->accept_again_ms = 0;
            for (size_t i = 0; i < srv->n_listeners; i++) {
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &srv->listeners[i]};
                epoll_ctl(srv->ep, EPOLL_CTL_MOD, srv->listeners[i].fd, &ev);
            }
        }
        if (srv->n_ungreeted > 0)
            for (stream_conn *c = srv->conns, *next; c != NULL; c = next) {
                next = c->next;
                if (!c->greeted && now - c->born_ms >= STREAM_GREET_MS)
                    conn_close(srv, c);
            }
        int timeout = srv->n_ungreeted > 0 ? 1000 : -1;
        if (srv->accept_again_ms != 0)
            timeout = (int)(srv->accept_again_ms - now);
        int n = epoll_wait(srv->ep, evs, STREAM_EVENTS, timeout);
        for (int i = 0; i < n && !atomic_load(&srv->stop); i++) {
            int kind = *(int *)evs[i].data.ptr;
            if (kind == EP_LISTENER) {
                accept_all(srv, evs[i].data.ptr);
            } else if (kind == EP_CONN) {
                stream_conn *c = evs[i].data.ptr;
                if (evs[i].events & EPOLLOUT)
                    conn_flush(c);
                if ((evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && conn_read(c) != 0)
                    conn_close(srv, c);
            }
        }
    }
    return NULL;
}

int actor_stream_listen(actor_stream_server **srvp, actor *a, const char *url, char **resolved,
                        dp_err *err)
{
    actor_stream_server *srv = *srvp;
    if (srv == NULL) {
        if ((srv = calloc(1, sizeof *srv)) == NULL)
            return dp_err_set(err, DP_ENOMEM, "actor %s: out of memory", a->name);
        srv->a = a;
        srv->wake_kind = EP_WAKE;
        srv->ep = epoll_create1(EPOLL_CLOEXEC);
        srv->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &srv->wake_kind};
        if (srv->ep < 0 || srv->wake_fd < 0 ||
            epoll_ctl(srv->ep, EPOLL_CTL_ADD, srv->wake_fd, &ev) != 0) {
            int saved = errno;
            if (srv->ep >= 0)
                close(srv->ep);
            if (srv->wake_fd >= 0)
                close(srv->wake_fd);
            free(srv);
            return dp_err_set(err, DP_EIO, "actor %s: epoll: %s", a->name, strerror(saved));
        }
        *srvp = srv;
    }
    stream_listener *v = realloc(srv->listeners, (srv->n_listeners + 1) * sizeof *v);
    if (v == NULL)
        return dp_err_set(err, DP_ENOMEM, "actor %s: out of memory", a->name);
    srv->listeners = v;
    int fd = actor_stream_listen_fd(url, resolved, err);
    if (fd < 0)
        return err != NULL && err->code != 0 ? err->code : DP_EIO;
    stream_listener *l = &srv->listeners[srv->n_listeners];
    *l = (stream_listener){EP_LISTENER, fd, NULL};
    if (strncmp(url, "ipc://", 6) == 0 && (l->ipc_path = strdup(url + 6)) == NULL) {
        unlink(url + 6);
        close(fd);
        free(*resolved);
        *resolved = NULL;
        return dp_err_set(err, DP_ENOMEM, "actor %s: out of memory", a->name);
    }
    srv->n_listeners++;
    return 0;
}

int actor_stream_start(actor_stream_server *srv, dp_err *err)
{
    if (srv == NULL || srv->started)
        return 0;
    /* The listeners' array no longer moves: epoll may point into it. */
    for (size_t i = 0; i < srv->n_listeners; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &srv->listeners[i]};
        if (epoll_ctl(srv->ep, EPOLL_CTL_ADD, srv->listeners[i].fd, &ev) != 0)
            return dp_err_set(err, DP_EIO, "actor %s: epoll: %s", srv->a->name, strerror(errno));
    }
    int rv = pthread_create(&srv->thread, NULL, serve_main, srv);
    if (rv != 0)
        return dp_err_set(err, DP_EIO, "actor %s: thread: %s", srv->a->name, strerror(rv));
    srv->started = true;
    return 0;
}

void actor_stream_close(actor_stream_server **srvp, int linger_ms)
{
    actor_stream_server *srv = *srvp;
    if (srv == NULL)
        return;
    *srvp = NULL;
    if (srv->started) {
        atomic_store(&srv->stop, true);
        uint64_t one = 1;
        ssize_t w = write(srv->wake_fd, &one, sizeof one);
        (void)w;
        pthread_join(srv->thread, NULL);
    }
    for (size_t i = 0; i < srv->n_listeners; i++) {
        /* The file first: a process starting on this path meanwhile must
         * not lose the socket it just made. */
        if (srv->listeners[i].ipc_path != NULL)
            unlink(srv->listeners[i].ipc_path);
        close(srv->listeners[i].fd);
        free(srv->listeners[i].ipc_path);
    }
    /* Replies still waiting (the stop sequence's DP_ECLOSED answers,
     * mostly) get until one shared deadline to leave; then the write side
     * closes and what the peer sent is read away, so that the close does
     * not reset the connection and drop what was sent. */
    int64_t deadline = dp_now_ms() + (linger_ms > 0 ? linger_ms : 1);
    for (stream_conn *c = srv->conns; c != NULL; c = c->next) {
        pthread_mutex_lock(&c->wmu);
        int64_t left = deadline - dp_now_ms();
        if (c->out_off < c->out_len && left > 0 &&
            actor_stream_write_all(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                                   (int)left) == 0)
            c->out_off = c->out_len;
        shutdown(c->fd, SHUT_WR);
        unsigned char sink[4096];
        for (int k = 0; k < 64 && recv(c->fd, sink, sizeof sink, MSG_DONTWAIT) > 0; k++)
            ;
        pthread_mutex_unlock(&c->wmu);
    }
    while (srv->conns != NULL)
        conn_close(srv, srv->conns);
    free(srv->listeners);
    close(srv->wake_fd);
    close(srv->ep);
    free(srv);
}
