/* The calling side of the stream transport (actor_stream.h).
 *
 * A link has one I/O thread for its whole life. A caller never blocks on
 * the network: under mu it registers its call (id, deadline) and sends the
 * frame straight from its buffer when the socket has room; what does not
 * fit, or everything while there is no connection, waits in the link's
 * backlog, which the I/O thread sends once it can (connecting first, in
 * the background, as nng's dialer did). The I/O thread hands each answer
 * to its call's callback and ends calls whose deadline passed.
 *
 * A call belongs to the pending table until someone takes it out under mu
 * (its answer, its deadline, the end of its connection or of a connection
 * attempt, the shutdown), and only that one calls its callback: exactly
 * once, always on the I/O thread, never under a lock. When a connection
 * ends, the calls pending on it end with DP_EUNAVAIL and the backlog is
 * dropped in the same locked step, so a call is never sent on a later
 * connection than the one it was queued for. Nothing is resent.
 *
 * Ownership: the link owns its socket, thread, backlog and calls; a reply
 * is handed to its callback, which owns it. */
#include "actors/actor_stream.h"

#include "actors/actor_frame.h"
#include "common/clock.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define LINK_BUCKETS 256u
#define LINK_CONNECT_MS 5000

typedef struct link_call {
    uint32_t id;
    actor_reply_fn cb;
    void *arg;
    int64_t deadline; /* dp_now_ms; 0: none */
    struct link_call *next;
} link_call;

struct actor_stream_link {
    char *url;
    pthread_mutex_t mu; /* guards every field below but the I/O thread's own */
    int fd;             /* -1: not connected; closed by the I/O thread only, under mu */
    bool want_connect;  /* calls wait for a connection the I/O thread makes */
    bool closing;
    link_call *pending[LINK_BUCKETS];
    size_t n_pending;
    uint32_t next_id;
    int64_t next_deadline; /* no pending deadline before this (0: none) */
    unsigned char *out;    /* backlog: unsent frame bytes, out_off .. out_len */
    size_t out_len, out_off, out_cap;
    int wake_fd; /* new work for the I/O thread: a backlog, a deadline, the end */
    pthread_t thread;
    bool thread_started;
    actor_stream_input in; /* the I/O thread's */
};

/* Under mu: whether a call with id is pending. */
static bool pending_locked(const actor_stream_link *l, uint32_t id)
{
    for (const link_call *c = l->pending[id % LINK_BUCKETS]; c != NULL; c = c->next)
        if (c->id == id)
            return true;
    return false;
}

/* Under mu: removes and returns the call with id, or NULL. */
static link_call *take_locked(actor_stream_link *l, uint32_t id)
{
    for (link_call **p = &l->pending[id % LINK_BUCKETS]; *p != NULL; p = &(*p)->next)
        if ((*p)->id == id) {
            link_call *c = *p;
            *p = c->next;
            l->n_pending--;
            return c;
        }
    return NULL;
}

/* Under mu: removes the calls that are due (all of them when every is
 * set) into a list chained by next, and recomputes next_deadline. */
static link_call *take_due_locked(actor_stream_link *l, int64_t now, bool every)
{
    link_call *due = NULL;
    int64_t next = 0;
    for (size_t b = 0; b < LINK_BUCKETS; b++)
        for (link_call **p = &l->pending[b]; *p != NULL;) {
            link_call *c = *p;
            if (every || (c->deadline != 0 && c->deadline <= now)) {
                *p = c->next;
                l->n_pending--;
                c->next = due;
                due = c;
                continue;
            }
            if (c->deadline != 0 && (next == 0 || c->deadline < next))
                next = c->deadline;
            p = &c->next;
        }
    l->next_deadline = next;
    return due;
}

/* Without mu: hands the outcome to the callback and frees the call. */
static void finish(link_call *c, int code, nng_msg *reply, const char *text)
{
    c->cb(c->arg, code, code == 0 ? reply : NULL, code != 0 ? text : NULL);
    if (code != 0)
        nng_msg_free(reply);
    free(c);
}

/* Ends every call of list with code; text says why (whole, or after
 * "actor at URL: " when it does not name the URL itself). */
static void finish_all(actor_stream_link *l, link_call *list, int code, const char *what)
{
    char text[400];
    if (strstr(what, l->url) != NULL)
        snprintf(text, sizeof text, "%s", what);
    else
        snprintf(text, sizeof text, "actor at %s: %s", l->url, what);
    while (list != NULL) {
        link_call *next = list->next;
        finish(list, code, NULL, text);
        list = next;
    }
}

/* Under mu (let go around the callbacks, so the caller re-reads state):
 * the connection, or the attempt to make one, is over; every pending call
 * ends with code, and the backlog (bytes for that connection) goes. */
static void drop_connection_locked(actor_stream_link *l, int code, const char *what)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    l->out_len = l->out_off = 0;
    l->in.len = 0;
    link_call *all = take_due_locked(l, 0, true);
    pthread_mutex_unlock(&l->mu);
    finish_all(l, all, code, what);
    pthread_mutex_lock(&l->mu);
}

/* Under mu: appends bytes (skipping the first `skip`) to the backlog. */
static int backlog_add_locked(actor_stream_link *l, const struct iovec *iov, int n, size_t skip)
{
    return actor_stream_backlog_add(&l->out, &l->out_len, &l->out_off, &l->out_cap, iov, n, skip);
}

/* Under mu, on the I/O thread: sends what the backlog holds and the socket
 * takes. -1 when the connection broke. */
static int flush_locked(actor_stream_link *l)
{
    while (l->out_off < l->out_len) {
        ssize_t w =
            send(l->fd, l->out + l->out_off, l->out_len - l->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0)
            l->out_off += (size_t)w;
        else if (w < 0 && errno == EINTR)
            continue;
        else
            return w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    }
    l->out_off = l->out_len = 0;
    return 0;
}

/* One answer frame: status byte + body. On the I/O thread, without mu. */
static void on_reply(void *arg, uint32_t id, const unsigned char *body, size_t len)
{
    actor_stream_link *l = arg;
    pthread_mutex_lock(&l->mu);
    link_call *c = take_locked(l, id);
    pthread_mutex_unlock(&l->mu);
    if (c == NULL)
        return; /* it timed out meanwhile: a late answer is dropped */
    int code = actor_frame_code(body[0]);
    if (code == 0) {
        nng_msg *m = NULL;
        if (nng_msg_alloc(&m, len - 1) != 0) {
            finish(c, DP_ENOMEM, NULL, "out of memory for a reply");
            return;
        }
        memcpy(nng_msg_body(m), body + 1, len - 1);
        finish(c, 0, m, NULL);
        return;
    }
    char text[320];
    if (code > 0)
        snprintf(text, sizeof text, "actor at %s: bad reply status %u", l->url, body[0]);
    else
        snprintf(text, sizeof text, "actor at %s: %.*s", l->url,
                 (int)(len - 1 > 300 ? 300 : len - 1), (const char *)body + 1);
    finish(c, code > 0 ? DP_EPROTO : code, NULL, text);
}

/* Reads what is there and hands out whole answers; on the I/O thread,
 * without mu (fd stays open: only this thread closes it). -1 when the
 * connection ended or broke the protocol. */
static int read_some(actor_stream_link *l, int fd)
{
    size_t body_limit = ACTOR_DEFAULT_MAX_MSG_BYTES + 1;
    if (actor_stream_input_room(&l->in, true, body_limit, 64u << 10) != 0)
        return -1;
    ssize_t r = recv(fd, l->in.in + l->in.len, l->in.cap - l->in.len, MSG_DONTWAIT);
    if (r == 0)
        return -1;
    if (r < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    l->in.len += (size_t)r;
    return actor_stream_input_frames(&l->in, body_limit, on_reply, l);
}

static void *io_main(void *arg)
{
    actor_stream_link *l = arg;
    pthread_setname_np(pthread_self(), "actor-link");
    pthread_mutex_lock(&l->mu);
    while (!l->closing) {
        int64_t now = dp_now_ms();
        if (l->next_deadline != 0 && l->next_deadline <= now) {
            link_call *due = take_due_locked(l, now, false);
            pthread_mutex_unlock(&l->mu);
            finish_all(l, due, DP_ETIMEOUT, "no reply in time");
            pthread_mutex_lock(&l->mu);
            continue;
        }
        if (l->fd < 0 && l->want_connect) {
            /* In the background, as nng's dialer: callers keep going. No
             * longer than the first deadline, which this thread keeps. */
            int ms = LINK_CONNECT_MS;
            if (l->next_deadline != 0 && l->next_deadline - now < ms)
                ms = l->next_deadline - now > 0 ? (int)(l->next_deadline - now) : 1;
            pthread_mutex_unlock(&l->mu);
            dp_err err = {0};
            int fd = actor_stream_connect(l->url, ms, &err);
            pthread_mutex_lock(&l->mu);
            l->want_connect = false;
            if (fd >= 0 && !l->closing) {
                l->fd = fd;
                if (flush_locked(l) != 0)
                    drop_connection_locked(l, DP_EUNAVAIL, "the connection was lost");
            } else {
                if (fd >= 0)
                    close(fd);
                drop_connection_locked(l, l->closing ? DP_ECLOSED : DP_EUNAVAIL,
                                       l->closing ? "client closed" : err.msg);
            }
            continue;
        }
        int fd = l->fd;
        int64_t next = l->next_deadline;
        struct pollfd p[2] = {{l->wake_fd, POLLIN, 0},
                              {fd, (short)(POLLIN | (l->out_len > l->out_off ? POLLOUT : 0)), 0}};
        pthread_mutex_unlock(&l->mu);
        int ms = next == 0 ? -1 : (int)(next - now > 60000 ? 60000 : next - now);
        int rv = poll(p, fd >= 0 ? 2 : 1, ms);
        if (rv > 0 && (p[0].revents & POLLIN)) {
            uint64_t v;
            ssize_t r = read(l->wake_fd, &v, sizeof v);
            (void)r;
        }
        bool broken = fd >= 0 && rv > 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
                      read_some(l, fd) != 0;
        pthread_mutex_lock(&l->mu);
        if (!broken && fd >= 0 && l->fd == fd && rv > 0 && (p[1].revents & POLLOUT))
            broken = flush_locked(l) != 0;
        if (broken && l->fd == fd)
            drop_connection_locked(l, DP_EUNAVAIL, "the connection was lost");
    }
    drop_connection_locked(l, DP_ECLOSED, "client closed");
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void wake_io(actor_stream_link *l)
{
    uint64_t one = 1;
    ssize_t w = write(l->wake_fd, &one, sizeof one);
    (void)w;
}

actor_stream_link *actor_stream_link_open(const char *url, dp_err *err)
{
    actor_stream_link *l = calloc(1, sizeof *l);
    if (l == NULL || (l->url = strdup(url)) == NULL) {
        free(l);
        dp_err_set(err, DP_ENOMEM, "actor_client_open: out of memory");
        return NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    /* The first connection is made here, so that nobody listening is an
     * error of the open (as it was with nng's synchronous dial). */
    l->fd = l->wake_fd >= 0 ? actor_stream_connect(url, LINK_CONNECT_MS, err) : -1;
    int rv = l->fd >= 0 ? pthread_create(&l->thread, NULL, io_main, l) : 0;
    if (l->wake_fd < 0)
        dp_err_set(err, DP_EIO, "actor_client_open: eventfd: %s", strerror(errno));
    else if (rv != 0)
        dp_err_set(err, DP_EIO, "actor_client_open: thread: %s", strerror(rv));
    if (l->fd < 0 || rv != 0) {
        if (l->fd >= 0)
            close(l->fd);
        l->fd = -1;
        actor_stream_link_free(l);
        return NULL;
    }
    l->thread_started = true;
    return l;
}

int actor_stream_link_call(actor_stream_link *l, nng_msg *body, int timeout_ms, actor_reply_fn cb,
                           void *arg, dp_err *err)
{
    size_t len = nng_msg_len(body);
    if (len == 0 || len > UINT32_MAX - 1) {
        nng_msg_free(body);
        return dp_err_set(err, DP_EINVAL, "actor call to %s: a body of %zu bytes", l->url, len);
    }
    /* A message no connection can queue is refused as what it is, not as
     * a full connection (which a retry could wait out). */
    if (len > ACTOR_STREAM_MAX_BACKLOG - ACTOR_STREAM_HDR) {
        nng_msg_free(body);
        return dp_err_set(err, DP_EINVAL,
                          "actor call to %s: a message of %zu bytes, over the %u bytes one call "
                          "may carry: send it in smaller parts",
                          l->url, len, ACTOR_STREAM_MAX_BACKLOG - ACTOR_STREAM_HDR);
    }
    link_call *c = malloc(sizeof *c);
    if (c == NULL) {
        nng_msg_free(body);
        return dp_err_set(err, DP_ENOMEM, "actor call to %s: out of memory", l->url);
    }
    *c = (link_call){
        .cb = cb, .arg = arg, .deadline = timeout_ms > 0 ? dp_now_ms() + timeout_ms : 0};
    unsigned char hdr[ACTOR_STREAM_HDR];
    struct iovec iov[2] = {{hdr, sizeof hdr}, {nng_msg_body(body), len}};
    int rc = DP_OK;
    bool wake = false;
    pthread_mutex_lock(&l->mu);
    if (l->closing) {
        rc = dp_err_set(err, DP_ECLOSED, "actor at %s: client closed", l->url);
    } else if (l->out_len - l->out_off + len > ACTOR_STREAM_MAX_BACKLOG) {
        rc = dp_err_set(err, DP_EFULL, "actor at %s: %zu bytes wait to be sent already", l->url,
                        l->out_len - l->out_off);
    } else {
        do
            c->id = l->next_id++;
        while (c->id == 0 || pending_locked(l, c->id)); /* ids wrap: never a pending one */
        actor_stream_put32(hdr, (uint32_t)len);
        actor_stream_put32(hdr + 4, c->id);
        size_t sent = 0;
        if (l->fd >= 0 && l->out_len == l->out_off) {
            struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
            ssize_t w;
            do
                w = sendmsg(l->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
            while (w < 0 && errno == EINTR);
            sent = w > 0 ? (size_t)w : 0; /* a broken socket: the I/O thread sees it too */
        }
        if (sent < sizeof hdr + len) {
            if (backlog_add_locked(l, iov, 2, sent) != 0) {
                /* Out of memory with part of the frame out: the connection
                 * cannot carry anything coherent any more. */
                if (sent > 0)
                    shutdown(l->fd, SHUT_RDWR);
                rc = dp_err_set(err, DP_ENOMEM, "actor call to %s: out of memory", l->url);
            } else {
                wake = true;
                if (l->fd < 0)
                    l->want_connect = true;
            }
        }
        if (rc == DP_OK || sent > 0) { /* a frame partly sent is answered like any */
            c->next = l->pending[c->id % LINK_BUCKETS];
            l->pending[c->id % LINK_BUCKETS] = c;
            l->n_pending++;
            if (c->deadline != 0 && (l->next_deadline == 0 || c->deadline < l->next_deadline)) {
                l->next_deadline = c->deadline;
                wake = true;
            }
            c = NULL;
            rc = DP_OK;
        }
    }
    pthread_mutex_unlock(&l->mu);
    nng_msg_free(body);
    free(c);
    if (wake)
        wake_io(l);
    return rc;
}

void actor_stream_link_shutdown(actor_stream_link *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->mu);
    l->closing = true;
    bool join = l->thread_started;
    l->thread_started = false;
    pthread_mutex_unlock(&l->mu);
    if (join) {
        wake_io(l);
        pthread_join(l->thread, NULL); /* it ended every call still pending */
    }
}

void actor_stream_link_free(actor_stream_link *l)
{
    if (l == NULL)
        return;
    actor_stream_link_shutdown(l);
    if (l->fd >= 0)
        close(l->fd);
    if (l->wake_fd >= 0)
        close(l->wake_fd);
    pthread_mutex_destroy(&l->mu);
    free(l->out);
    actor_stream_input_free(&l->in);
    free(l->url);
    free(l);
}
