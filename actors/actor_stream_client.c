/* The calling side of the stream transport (actor_stream.h).
 *
 * A link is one connection at a time. The thread that makes a call writes
 * its frame (under wmu, so frames never interleave); one reading thread per
 * connection hands each answer to its call's callback and ends calls whose
 * deadline passed. A call belongs to the pending table until someone takes
 * it out under mu: the answer, the deadline, the connection's end, the
 * writer that found no connection, or the shutdown. Whoever takes it calls
 * its callback, so each callback runs exactly once.
 *
 * A broken connection ends its calls with DP_EUNAVAIL and its reading
 * thread; the next call connects again (synchronously, within its own
 * timeout, at most ACTOR_STREAM_CONNECT_MS).
 *
 * Ownership: the link owns its socket, thread and calls; a call's reply is
 * handed to its callback, which owns it. */
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
#define ACTOR_STREAM_CONNECT_MS 5000

typedef struct link_call {
    uint32_t id;
    actor_reply_fn cb;
    void *arg;
    int64_t deadline; /* dp_now_ms; 0: none */
    struct link_call *next;
} link_call;

struct actor_stream_link {
    char *url;
    pthread_mutex_t mu; /* guards everything below but the socket's use */
    pthread_cond_t cv;  /* connecting ended; callbacks reached 0 */
    link_call *pending[LINK_BUCKETS];
    size_t n_pending;
    uint32_t next_id;
    int64_t next_deadline; /* no pending deadline before this (0: none) */
    size_t callbacks;      /* calls started whose callback has not returned */
    bool closing, connecting;
    pthread_t reader;
    bool reader_joinable;
    int wake_fd; /* an earlier deadline, or the shutdown: wakes the reader */

    pthread_mutex_t wmu; /* guards fd: writers, and the reader ending it */
    int fd;              /* -1: not connected */
};

static void call_done(actor_stream_link *l)
{
    pthread_mutex_lock(&l->mu);
    if (--l->callbacks == 0)
        pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
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
 * set) into a list (chained by next). */
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

static void finish(actor_stream_link *l, link_call *c, int code, nng_msg *reply, const char *text)
{
    c->cb(c->arg, code, code == 0 ? reply : NULL, code != 0 ? text : NULL);
    if (code != 0)
        nng_msg_free(reply);
    free(c);
    call_done(l);
}

static void finish_all(actor_stream_link *l, link_call *list, int code, const char *text)
{
    while (list != NULL) {
        link_call *next = list->next;
        finish(l, list, code, NULL, text);
        list = next;
    }
}

/* One answer frame: status byte + body. */
static void on_reply(actor_stream_link *l, uint32_t id, const unsigned char *body, size_t len)
{
    pthread_mutex_lock(&l->mu);
    link_call *c = take_locked(l, id);
    pthread_mutex_unlock(&l->mu);
    if (c == NULL)
        return; /* it timed out meanwhile: a late answer is dropped */
    int code = actor_frame_code(body[0]);
    char text[320];
    nng_msg *m = NULL;
    if (code == 0) {
        if (nng_msg_alloc(&m, len - 1) != 0) {
            finish(l, c, DP_ENOMEM, NULL, "out of memory for a reply");
            return;
        }
        memcpy(nng_msg_body(m), body + 1, len - 1);
        finish(l, c, 0, m, NULL);
        return;
    }
    if (code > 0)
        snprintf(text, sizeof text, "actor at %s: bad reply status %u", l->url, body[0]);
    else
        snprintf(text, sizeof text, "actor at %s: %.*s", l->url,
                 (int)(len - 1 > 300 ? 300 : len - 1), (const char *)body + 1);
    finish(l, c, code > 0 ? DP_EPROTO : code, NULL, text);
}

/* Reads and dispatches until the connection ends: -1 then. */
static int read_some(actor_stream_link *l, int fd, unsigned char **buf, size_t *len, size_t *cap)
{
    size_t limit = ACTOR_DEFAULT_MAX_MSG_BYTES + 1;
    size_t want = *len + (64u << 10);
    if (*len >= ACTOR_STREAM_HDR) {
        size_t frame = ACTOR_STREAM_HDR + actor_stream_get32(*buf);
        if (frame <= limit + ACTOR_STREAM_HDR && frame > want)
            want = frame;
    }
    if (want > *cap) {
        unsigned char *p = realloc(*buf, want);
        if (p == NULL)
            return -1;
        *buf = p;
        *cap = want;
    }
    ssize_t r = recv(fd, *buf + *len, *cap - *len, MSG_DONTWAIT);
    if (r == 0)
        return -1;
    if (r < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    *len += (size_t)r;
    size_t off = 0;
    while (*len - off >= ACTOR_STREAM_HDR) {
        uint32_t n = actor_stream_get32(*buf + off);
        if (n == 0 || n > limit)
            return -1;
        if (*len - off - ACTOR_STREAM_HDR < n)
            break;
        on_reply(l, actor_stream_get32(*buf + off + 4), *buf + off + ACTOR_STREAM_HDR, n);
        off += ACTOR_STREAM_HDR + n;
    }
    memmove(*buf, *buf + off, *len - off);
    *len -= off;
    return 0;
}

static void *reader_main(void *arg)
{
    actor_stream_link *l = arg;
    pthread_setname_np(pthread_self(), "actor-link");
    pthread_mutex_lock(&l->wmu);
    int fd = l->fd;
    pthread_mutex_unlock(&l->wmu);
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        bool closing = l->closing;
        int64_t next = l->next_deadline, now = dp_now_ms();
        link_call *due = next != 0 && next <= now ? take_due_locked(l, now, false) : NULL;
        next = l->next_deadline;
        pthread_mutex_unlock(&l->mu);
        if (due != NULL) {
            char text[300];
            snprintf(text, sizeof text, "actor at %s: no reply in time", l->url);
            finish_all(l, due, DP_ETIMEOUT, text);
            continue;
        }
        if (closing)
            break;
        struct pollfd p[2] = {{fd, POLLIN, 0}, {l->wake_fd, POLLIN, 0}};
        int ms = next == 0 ? -1 : (int)(next - now > 60000 ? 60000 : next - now);
        int rv = poll(p, 2, ms);
        if (rv < 0 && errno != EINTR)
            break;
        if (rv > 0 && (p[1].revents & POLLIN)) {
            uint64_t v;
            ssize_t r = read(l->wake_fd, &v, sizeof v);
            (void)r;
        }
        if (rv > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
            read_some(l, fd, &buf, &len, &cap) != 0)
            break;
    }
    free(buf);
    /* The connection is over: no writer uses fd after this, and every call
     * still pending was written to it. */
    pthread_mutex_lock(&l->wmu);
    close(fd);
    l->fd = -1;
    pthread_mutex_unlock(&l->wmu);
    pthread_mutex_lock(&l->mu);
    bool closing = l->closing;
    link_call *all = take_due_locked(l, 0, true);
    pthread_mutex_unlock(&l->mu);
    char text[300];
    snprintf(text, sizeof text, "actor at %s: %s", l->url,
             closing ? "client closed" : "the connection was lost");
    finish_all(l, all, closing ? DP_ECLOSED : DP_EUNAVAIL, text);
    return NULL;
}

/* Makes sure a connection is up (connecting if needed, one thread at a
 * time): 0, or err. */
static int ensure_connected(actor_stream_link *l, int timeout_ms, dp_err *err)
{
    pthread_mutex_lock(&l->wmu);
    bool up = l->fd >= 0;
    pthread_mutex_unlock(&l->wmu);
    if (up)
        return 0;
    pthread_mutex_lock(&l->mu);
    while (l->connecting && !l->closing)
        pthread_cond_wait(&l->cv, &l->mu);
    if (l->closing) {
        pthread_mutex_unlock(&l->mu);
        return dp_err_set(err, DP_ECLOSED, "actor at %s: client closed", l->url);
    }
    pthread_mutex_lock(&l->wmu);
    up = l->fd >= 0;
    pthread_mutex_unlock(&l->wmu);
    if (up) {
        pthread_mutex_unlock(&l->mu);
        return 0;
    }
    l->connecting = true;
    bool join = l->reader_joinable;
    l->reader_joinable = false;
    pthread_mutex_unlock(&l->mu);
    if (join && pthread_equal(l->reader, pthread_self()))
        pthread_detach(l->reader); /* a callback of the ended connection calls again */
    else if (join)                 /* it is ending: fd is -1 only then */
        pthread_join(l->reader, NULL);
    int ms = timeout_ms > 0 && timeout_ms < ACTOR_STREAM_CONNECT_MS ? timeout_ms
                                                                    : ACTOR_STREAM_CONNECT_MS;
    int fd = actor_stream_connect(l->url, ms, err);
    int rc = fd >= 0 ? 0 : (err != NULL && err->code != 0 ? err->code : DP_EUNAVAIL);
    pthread_mutex_lock(&l->mu);
    if (fd >= 0) {
        pthread_mutex_lock(&l->wmu);
        l->fd = fd;
        pthread_mutex_unlock(&l->wmu);
        int prc = pthread_create(&l->reader, NULL, reader_main, l);
        if (prc != 0) {
            pthread_mutex_lock(&l->wmu);
            close(fd);
            l->fd = -1;
            pthread_mutex_unlock(&l->wmu);
            rc = dp_err_set(err, DP_EIO, "actor at %s: thread: %s", l->url, strerror(prc));
        } else {
            l->reader_joinable = true;
        }
    }
    l->connecting = false;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

actor_stream_link *actor_stream_link_open(const char *url, dp_err *err)
{
    actor_stream_link *l = calloc(1, sizeof *l);
    if (l == NULL || (l->url = strdup(url)) == NULL) {
        free(l);
        dp_err_set(err, DP_ENOMEM, "actor_client_open: out of memory");
        return NULL;
    }
    l->fd = -1;
    l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->wmu, NULL);
    pthread_cond_init(&l->cv, NULL);
    if (l->wake_fd < 0) {
        dp_err_set(err, DP_EIO, "actor_client_open: eventfd: %s", strerror(errno));
        actor_stream_link_free(l);
        return NULL;
    }
    if (ensure_connected(l, ACTOR_STREAM_CONNECT_MS, err) != 0) {
        actor_stream_link_free(l);
        return NULL;
    }
    return l;
}

static void wake_reader(actor_stream_link *l)
{
    uint64_t one = 1;
    ssize_t w = write(l->wake_fd, &one, sizeof one);
    (void)w;
}

int actor_stream_link_call(actor_stream_link *l, nng_msg *body, int timeout_ms, actor_reply_fn cb,
                           void *arg, dp_err *err)
{
    link_call *c = malloc(sizeof *c);
    if (c == NULL) {
        nng_msg_free(body);
        return dp_err_set(err, DP_ENOMEM, "actor call to %s: out of memory", l->url);
    }
    pthread_mutex_lock(&l->mu);
    if (l->closing) {
        pthread_mutex_unlock(&l->mu);
        free(c);
        nng_msg_free(body);
        return dp_err_set(err, DP_ECLOSED, "actor at %s: client closed", l->url);
    }
    l->callbacks++;
    pthread_mutex_unlock(&l->mu);
    dp_err cerr = {0};
    if (ensure_connected(l, timeout_ms, &cerr) != 0) {
        nng_msg_free(body);
        *c = (link_call){.cb = cb, .arg = arg};
        finish(l, c, cerr.code != 0 ? cerr.code : DP_EUNAVAIL, NULL, cerr.msg);
        return 0;
    }
    int64_t now = dp_now_ms();
    *c = (link_call){.cb = cb, .arg = arg, .deadline = timeout_ms > 0 ? now + timeout_ms : 0};
    pthread_mutex_lock(&l->mu);
    do
        c->id = l->next_id++;
    while (c->id == 0);
    c->next = l->pending[c->id % LINK_BUCKETS];
    l->pending[c->id % LINK_BUCKETS] = c;
    l->n_pending++;
    bool earlier = c->deadline != 0 && (l->next_deadline == 0 || c->deadline < l->next_deadline);
    if (earlier)
        l->next_deadline = c->deadline;
    uint32_t id = c->id;
    pthread_mutex_unlock(&l->mu);
    if (earlier)
        wake_reader(l);
    unsigned char hdr[ACTOR_STREAM_HDR];
    actor_stream_put32(hdr, (uint32_t)nng_msg_len(body));
    actor_stream_put32(hdr + 4, id);
    pthread_mutex_lock(&l->wmu);
    bool sent = false;
    if (l->fd >= 0) {
        struct iovec iov[2] = {{hdr, sizeof hdr}, {nng_msg_body(body), nng_msg_len(body)}};
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
        ssize_t w;
        do
            w = sendmsg(l->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (w < 0 && errno == EINTR);
        size_t total = sizeof hdr + nng_msg_len(body), done = w > 0 ? (size_t)w : 0;
        if (w >= 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
            /* The rest, waiting for room (the peer is slow, not gone). */
            sent = done == total;
            if (!sent && done < sizeof hdr)
                sent = actor_stream_write_all(l->fd, hdr + done, sizeof hdr - done,
                                              ACTOR_STREAM_CONNECT_MS) == 0 &&
                       actor_stream_write_all(l->fd, nng_msg_body(body), nng_msg_len(body),
                                              ACTOR_STREAM_CONNECT_MS) == 0;
            else if (!sent)
                sent =
                    actor_stream_write_all(l->fd, (char *)nng_msg_body(body) + (done - sizeof hdr),
                                           total - done, ACTOR_STREAM_CONNECT_MS) == 0;
        }
        if (!sent) /* half a frame may be out: the connection is done for */
            shutdown(l->fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&l->wmu);
    nng_msg_free(body);
    if (!sent) {
        /* The reader ends it (it was pending when the connection went), or
         * it is still ours when there was no connection. */
        pthread_mutex_lock(&l->mu);
        link_call *mine = take_locked(l, id);
        pthread_mutex_unlock(&l->mu);
        if (mine != NULL) {
            char text[300];
            snprintf(text, sizeof text, "actor at %s: the connection was lost", l->url);
            finish(l, mine, DP_EUNAVAIL, NULL, text);
        }
    }
    return 0;
}

void actor_stream_link_shutdown(actor_stream_link *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->mu);
    l->closing = true;
    pthread_cond_broadcast(&l->cv);
    while (l->connecting)
        pthread_cond_wait(&l->cv, &l->mu);
    bool join = l->reader_joinable;
    l->reader_joinable = false;
    pthread_mutex_unlock(&l->mu);
    if (join) {
        wake_reader(l);
        pthread_join(l->reader, NULL);
    }
    pthread_mutex_lock(&l->mu);
    while (l->callbacks > 0)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
}

void actor_stream_link_free(actor_stream_link *l)
{
    if (l == NULL)
        return;
    actor_stream_link_shutdown(l);
    if (l->wake_fd >= 0)
        close(l->wake_fd);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->wmu);
    pthread_mutex_destroy(&l->mu);
    free(l->url);
    free(l);
}
