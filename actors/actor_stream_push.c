/* One-way pushes from one sender to every connected subscriber, over the
 * runtime's stream wire (actor_stream.h: the greeting, then frames of a
 * 4-byte length, a 4-byte id, 0 here, and the body). dispatchd's job events
 * reach `dispatchctl watch` this way (dispatch/publisher.c).
 *
 * Why not nng pub/sub: every batch crossed nng's task and poller threads on
 * both sides, two to four thread wake-ups more than one write and one read;
 * at 1,000 jobs/s an event took 0.6 ms (p50) from its stream entry to the
 * watcher (docs/bench.md, twenty-ninth session).
 *
 * The sender writes to each subscriber itself, without blocking; what the
 * socket does not take waits in that subscriber's backlog, which the push
 * thread sends as the socket drains. A subscriber whose backlog would pass
 * the limit misses whole frames (best effort, as nng's pub did), so one that
 * stops reading never holds up the sender. The push thread also accepts and
 * greets subscribers, and drops those that hang up or never greet.
 *
 * Ownership: a push set owns its sockets, backlogs and thread. */
#include "actors/actor_stream.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"

/* A peer that has not greeted by then is closed. */
#define PUSH_GREET_MS 10000

typedef struct {
    int fd;
    bool greeted;
    int64_t born_ms;
    unsigned char hello[ACTOR_STREAM_HELLO_LEN];
    size_t hello_len;
    unsigned char *buf; /* the backlog: bytes off .. len are unsent */
    size_t len, off, cap;
} push_sub;

struct actor_stream_push {
    pthread_mutex_t mu; /* subs (the set: push thread; backlogs: both) */
    push_sub *subs;
    size_t n_subs, cap_subs;
    atomic_size_t n_greeted; /* changed under mu, before a greeting is answered */
    int listen_fd, wake_fd;
    char *ipc_path; /* unlinked on close; NULL for tcp */
    size_t limit;
    actor_stream_push_count_fn on_count;
    void *arg;
    pthread_t thread;
    bool started;
    atomic_bool stop;
};

static size_t unsent(const push_sub *s)
{
    return s->len - s->off;
}

static void wake(actor_stream_push *p)
{
    uint64_t one = 1;
    ssize_t w = write(p->wake_fd, &one, sizeof one);
    (void)w; /* a full counter already wakes the thread */
}

size_t actor_stream_push_count(actor_stream_push *p)
{
    return p != NULL ? atomic_load(&p->n_greeted) : 0;
}

size_t actor_stream_push_send(actor_stream_push *p, const void *body, size_t len)
{
    if (len == 0 || len > UINT32_MAX)
        return 0; /* not a frame: the length would not fit its 4 bytes */
    unsigned char hdr[ACTOR_STREAM_HDR];
    actor_stream_put32(hdr, (uint32_t)len);
    actor_stream_put32(hdr + 4, 0);
    struct iovec iov[2] = {{hdr, sizeof hdr}, {(void *)body, len}};
    size_t frame = sizeof hdr + len, got = 0;
    bool backlogged = false;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->n_subs; i++) {
        push_sub *s = &p->subs[i];
        if (!s->greeted)
            continue;
        size_t skip = 0;
        if (unsent(s) == 0) {
            struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
            ssize_t w = sendmsg(s->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w == (ssize_t)frame) {
                got++;
                continue;
            }
            /* a broken socket is the push thread's to close (it polls it) */
            if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                continue;
            skip = w > 0 ? (size_t)w : 0;
        }
        /* whole frames only: a frame begun on the socket is always finished */
        if (skip == 0 && unsent(s) + frame > p->limit)
            continue;
        if (actor_stream_backlog_add(&s->buf, &s->len, &s->off, &s->cap, iov, 2, skip) != 0) {
            if (skip > 0) /* half a frame out and no room for the rest: end it */
                shutdown(s->fd, SHUT_RDWR);
            continue;
        }
        backlogged = true;
        got++;
    }
    pthread_mutex_unlock(&p->mu);
    if (backlogged)
        wake(p); /* to poll for room */
    return got;
}

/* Under p->mu: closes subscriber i (the last one takes its place). */
static void drop_locked(actor_stream_push *p, size_t i)
{
    push_sub *s = &p->subs[i];
    if (s->greeted)
        atomic_fetch_sub(&p->n_greeted, 1);
    close(s->fd);
    free(s->buf);
    p->subs[i] = p->subs[--p->n_subs];
}

static void accept_all(actor_stream_push *p)
{
    for (;;) {
        int fd = accept4(p->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
            /* the pending peer stays: without a pause the next poll spins */
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
            return;
        }
        if (fd < 0)
            return;  /* EAGAIN, or an aborted connection: the next poll tells */
        int one = 1; /* frames are small and each is whole: no Nagle wait (tcp) */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_mutex_lock(&p->mu);
        if (p->n_subs == p->cap_subs) {
            size_t cap = p->cap_subs ? 2 * p->cap_subs : 8;
            push_sub *n = realloc(p->subs, cap * sizeof *n);
            if (n == NULL) {
                pthread_mutex_unlock(&p->mu);
                close(fd);
                continue;
            }
            p->subs = n;
            p->cap_subs = cap;
        }
        p->subs[p->n_subs++] = (push_sub){.fd = fd, .born_ms = dp_now_ms()};
        pthread_mutex_unlock(&p->mu);
    }
}

/* Push thread, under p->mu: subscriber s is readable (its greeting, or a
 * hang-up). false when it must go. */
static bool on_readable(actor_stream_push *p, push_sub *s)
{
    unsigned char scratch[256];
    if (!s->greeted) {
        ssize_t r = recv(s->fd, s->hello + s->hello_len, sizeof s->hello - s->hello_len, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            return false;
        s->hello_len += r > 0 ? (size_t)r : 0;
        if (s->hello_len < sizeof s->hello)
            return true;
        if (memcmp(s->hello, ACTOR_STREAM_HELLO, sizeof s->hello) != 0)
            return false;
        /* counted before the peer sees our greeting, and no frame can come
         * between (the sender waits for mu): it misses nothing sent after */
        s->greeted = true;
        atomic_fetch_add(&p->n_greeted, 1);
        return actor_stream_write_all(s->fd, ACTOR_STREAM_HELLO, ACTOR_STREAM_HELLO_LEN, 1000) == 0;
    }
    /* a subscriber sends nothing after its greeting: bytes are ignored */
    ssize_t r = recv(s->fd, scratch, sizeof scratch, 0);
    return !(r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR));
}

/* Push thread, under p->mu: sends what subscriber s's socket takes. false
 * when the socket broke. */
static bool flush_locked(push_sub *s)
{
    while (unsent(s) > 0) {
        ssize_t w = send(s->fd, s->buf + s->off, unsent(s), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0)
            s->off += (size_t)w;
        else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        else if (!(w < 0 && errno == EINTR))
            return false;
    }
    /* emptied: a burst's buffer is not kept for good */
    free(s->buf);
    s->buf = NULL;
    s->len = s->off = s->cap = 0;
    return true;
}

static void *push_main(void *arg)
{
    actor_stream_push *p = arg;
    struct pollfd *pf = NULL;
    size_t cap_pf = 0, last_count = 0;
    while (!atomic_load(&p->stop)) {
        /* only this thread changes the set: it holds while unlocked */
        pthread_mutex_lock(&p->mu);
        size_t n = p->n_subs, ungreeted = 0;
        if (n + 2 > cap_pf) {
            struct pollfd *np = realloc(pf, (n + 2) * sizeof *np);
            if (np == NULL) {
                pthread_mutex_unlock(&p->mu);
                struct timespec ts = {0, 10 * 1000000L};
                nanosleep(&ts, NULL);
                continue;
            }
            pf = np;
            cap_pf = n + 2;
        }
        pf[0] = (struct pollfd){p->wake_fd, POLLIN, 0};
        pf[1] = (struct pollfd){p->listen_fd, POLLIN, 0};
        for (size_t i = 0; i < n; i++) {
            push_sub *s = &p->subs[i];
            ungreeted += !s->greeted;
            pf[2 + i] = (struct pollfd){s->fd, (short)(POLLIN | (unsent(s) > 0 ? POLLOUT : 0)), 0};
        }
        pthread_mutex_unlock(&p->mu);
        if (poll(pf, n + 2, ungreeted > 0 ? 1000 : -1) < 0) {
            if (errno != EINTR) { /* ENOMEM: nothing polled, try again shortly */
                dp_log(DP_LOG_WARN, "push_poll_failed", "error", strerror(errno), (char *)NULL);
                struct timespec ts = {0, 100 * 1000000L};
                nanosleep(&ts, NULL);
            }
            continue;
        }
        if (pf[0].revents & POLLIN) {
            uint64_t v;
            ssize_t r = read(p->wake_fd, &v, sizeof v);
            (void)r;
        }
        int64_t now = dp_now_ms();
        pthread_mutex_lock(&p->mu);
        /* backwards: a dropped subscriber's place takes the last, already seen */
        for (size_t i = n; i-- > 0;) {
            push_sub *s = &p->subs[i];
            short ev = pf[2 + i].revents;
            bool keep = true;
            if (ev & (POLLIN | POLLHUP | POLLERR))
                keep = on_readable(p, s);
            if (keep && s->greeted && (ev & (POLLHUP | POLLERR)))
                keep = false; /* hung up, with bytes still to read */
            if (keep && s->greeted && (ev & POLLOUT))
                keep = flush_locked(s);
            if (keep && !s->greeted && now - s->born_ms >= PUSH_GREET_MS)
                keep = false;
            if (!keep)
                drop_locked(p, i);
        }
        size_t greeted = atomic_load(&p->n_greeted);
        pthread_mutex_unlock(&p->mu);
        if (pf[1].revents & POLLIN)
            accept_all(p);
        if (greeted != last_count && p->on_count != NULL)
            p->on_count(p->arg, greeted);
        last_count = greeted;
    }
    free(pf);
    return NULL;
}

actor_stream_push *actor_stream_push_listen(const char *url, size_t limit,
                                            actor_stream_push_count_fn on_count, void *arg,
                                            char **resolved, dp_err *err)
{
    actor_stream_push *p = calloc(1, sizeof *p);
    if (p == NULL) {
        dp_err_set(err, DP_ENOMEM, "events: out of memory");
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    p->limit = limit;
    p->on_count = on_count;
    p->arg = arg;
    p->listen_fd = -1;
    char *bound = NULL;
    if (resolved != NULL)
        *resolved = NULL;
    if ((p->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
        dp_err_set(err, DP_EIO, "%s: eventfd: %s", url, strerror(errno));
    else if ((p->listen_fd = actor_stream_listen_fd(url, &bound, err)) < 0)
        ; /* err set */
    else if (strncmp(url, "ipc://", 6) == 0 && (p->ipc_path = strdup(url + 6)) == NULL)
        dp_err_set(err, DP_ENOMEM, "%s: out of memory", url);
    else if (pthread_create(&p->thread, NULL, push_main, p) != 0)
        dp_err_set(err, DP_ENOMEM, "%s: cannot start the push thread", url);
    else
        p->started = true;
    if (!p->started) {
        free(bound);
        actor_stream_push_close(p);
        return NULL;
    }
    if (resolved != NULL)
        *resolved = bound;
    else
        free(bound);
    return p;
}

void actor_stream_push_close(actor_stream_push *p)
{
    if (p == NULL)
        return;
    atomic_store(&p->stop, true);
    if (p->started) {
        wake(p);
        pthread_join(p->thread, NULL);
    }
    while (p->n_subs > 0)
        drop_locked(p, p->n_subs - 1);
    free(p->subs);
    if (p->listen_fd >= 0)
        close(p->listen_fd);
    if (p->ipc_path != NULL)
        unlink(p->ipc_path);
    free(p->ipc_path);
    if (p->wake_fd >= 0)
        close(p->wake_fd);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

int actor_stream_push_next(int fd, actor_stream_input *in, size_t body_limit,
                           actor_stream_frame_fn fn, void *arg, dp_err *err)
{
    for (;;) {
        size_t before = in->len;
        if (actor_stream_input_frames(in, body_limit, fn, arg) != 0)
            return dp_err_set(err, DP_EPROTO, "a frame above %zu bytes: not a dispatch push",
                              body_limit);
        if (in->len < before)
            return DP_OK; /* whole frames were handed out */
        if (actor_stream_input_room(in, true, body_limit, 64 << 10) != 0)
            return dp_err_set(err, DP_ENOMEM, "out of memory reading a push");
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
            return dp_err_set(err, DP_EIO, "poll: %s", strerror(errno));
        ssize_t r = recv(fd, in->in + in->len, in->cap - in->len, 0);
        if (r == 0)
            return dp_err_set(err, DP_EUNAVAIL, "the sender closed the connection");
        if (r < 0 && errno != EAGAIN && errno != EINTR)
            return dp_err_set(err, DP_EUNAVAIL, "%s", strerror(errno));
        in->len += r > 0 ? (size_t)r : 0;
    }
}
