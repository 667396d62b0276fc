#include "runner/runner_link.h"
#include "runner/runner_link_impl.h"

#include "common/config.h"
#include "common/sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Failover across a list of dispatcher URLs. All of a runner's links follow
 * one process-wide choice (link_choice: index into the list) so the session,
 * the feeder and the executors move together: a runner talks to one replica
 * at a time. Any link that finds the chosen replica gone (a transport error,
 * a call that timed out, or a probe that cannot connect) moves the choice on
 * by one, compare-and-swap from the choice it used, so links failing at once
 * move it once. A link opened for an older choice is closed and reopened on
 * its next call; a call waiting on a replica found gone is abandoned
 * (DP_EUNAVAIL) and the caller retries as after any transport failure
 * (leases carry a request id, completes are keyed by attempt, so a retry on
 * the other replica strands and doubles nothing). With one URL the call is
 * exactly the plain blocking call. */
static _Atomic unsigned link_choice;

#define LINK_TRACK_MAX 512 /* open links: session + feeder + up to 256 executors */
static pthread_mutex_t link_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    actor_client *c;
    unsigned choice;
} link_track[LINK_TRACK_MAX];

static void track_set(actor_client *c, unsigned choice)
{
    pthread_mutex_lock(&link_mu);
    for (size_t i = 0; i < LINK_TRACK_MAX; i++)
        if (link_track[i].c == NULL || link_track[i].c == c) {
            link_track[i].c = c;
            link_track[i].choice = choice;
            break;
        }
    pthread_mutex_unlock(&link_mu);
}

static unsigned track_get(actor_client *c)
{
    unsigned v = UINT32_MAX;
    pthread_mutex_lock(&link_mu);
    for (size_t i = 0; i < LINK_TRACK_MAX; i++)
        if (link_track[i].c == c) {
            v = link_track[i].choice;
            break;
        }
    pthread_mutex_unlock(&link_mu);
    return v;
}

static void link_drop(actor_client **link)
{
    pthread_mutex_lock(&link_mu);
    for (size_t i = 0; i < LINK_TRACK_MAX; i++)
        if (link_track[i].c == *link)
            link_track[i].c = NULL;
    pthread_mutex_unlock(&link_mu);
    actor_client_close(*link);
    *link = NULL;
}

/* The i-th URL of a comma-separated list into out; the number of URLs. */
static size_t url_at(const char *list, size_t i, char *out, size_t cap)
{
    size_t n = 0;
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (n == i && out != NULL)
            snprintf(out, cap, "%.*s", (int)len, p);
        n++;
        if (comma == NULL)
            return n;
        p = comma + 1;
    }
}

void runner_link_current(const char *list, char *out, size_t cap)
{
    size_t n = url_at(list, 0, NULL, 0);
    url_at(list, atomic_load(&link_choice) % n, out, cap);
}

int runner_link_check_urls(const char *what, const char *list, const char *schemes, dp_err *err)
{
    size_t n = url_at(list, 0, NULL, 0);
    if (n > RUNNER_LINK_MAX_URLS)
        return dp_err_set(err, DP_EINVAL, "%s: %zu URLs, at most %d", what, n,
                          RUNNER_LINK_MAX_URLS);
    if (strlen(list) >= RUNNER_LINK_LIST_MAX)
        return dp_err_set(err, DP_EINVAL, "%s: longer than %d characters", what,
                          RUNNER_LINK_LIST_MAX - 1);
    for (size_t i = 0; i < n; i++) {
        char u[RUNNER_LINK_LIST_MAX];
        url_at(list, i, u, sizeof u);
        if (u[0] == '\0')
            return dp_err_set(err, DP_EINVAL, "%s: URL %zu of the list is empty", what, i + 1);
        int rc = dp_config_check_url(what, u, schemes, err);
        if (rc != DP_OK)
            return rc;
    }
    return DP_OK;
}

/* Moves the shared choice past `from` (once, however many links saw it). */
static void choice_advance(unsigned from)
{
    unsigned expected = from;
    atomic_compare_exchange_strong(&link_choice, &expected, from + 1);
}

/* 1 when something listens at url (tcp / tls+tcp / ipc) within 500 ms: a
 * killed replica refuses at once. A stopped one still accepts (the kernel
 * answers), which only the call's own timeout finds. Other schemes: 1. */
static int probe_alive(const char *url)
{
    int fd = -1, ok = 1;
    if (strncmp(url, "ipc://", 6) == 0) {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        if (strlen(url + 6) >= sizeof a.sun_path)
            return 1; /* not a path we can probe: the call reports it */
        memcpy(a.sun_path, url + 6, strlen(url + 6) + 1);
        if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
            return 1;
        ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        return ok;
    }
    const char *hp = strstr(url, "://");
    if (hp == NULL || (strncmp(url, "tcp://", 6) != 0 && strncmp(url, "tls+tcp://", 10) != 0))
        return 1;
    char host[256], *port;
    snprintf(host, sizeof host, "%s", hp + 3);
    if ((port = strrchr(host, ':')) == NULL)
        return 1;
    *port++ = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL)
        return 1; /* not ours to judge: the call reports it */
    if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) >= 0) {
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            if (errno != EINPROGRESS) {
                ok = 0;
            } else {
                struct pollfd pfd = {fd, POLLOUT, 0};
                int soerr = 0;
                socklen_t sl = sizeof soerr;
                ok = poll(&pfd, 1, 500) == 1 &&
                     getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0;
            }
        }
        close(fd);
    }
    freeaddrinfo(ai);
    return ok;
}

/* One async call's result, handed from the nng callback to the waiting
 * caller. Lives on the caller's stack: the caller either sees done or
 * closes the client, which returns only after the callback ran. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, code;
    nng_msg *reply;
    char msg[256];
} link_wait;

static void link_wait_cb(void *arg, int code, nng_msg *reply, const char *errmsg)
{
    link_wait *w = arg;
    pthread_mutex_lock(&w->mu);
    w->code = code;
    w->reply = reply;
    if (errmsg != NULL)
        snprintf(w->msg, sizeof w->msg, "%s", errmsg);
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* The call on a link to one of several replicas: waits in steps, probing
 * the replica about once a second, and gives up early only when nobody
 * listens there any more. A call to a live replica that is merely no longer
 * chosen runs to its end: abandoning a held lease there would leave a
 * waiter that may later lease jobs under a request id the runner has moved
 * past, and nobody would receive them. */
static int call_watched(actor_client **link, const char *url, unsigned choice, nng_msg *m,
                        nng_msg **rm, int timeout_ms, dp_err *err)
{
    link_wait w = {.code = DP_OK};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    int rc = actor_client_call_async(*link, m, timeout_ms, link_wait_cb, &w, err);
    int64_t waited = 0;
    while (rc == DP_OK) {
        pthread_mutex_lock(&w.mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (!w.done)
            pthread_cond_timedwait(&w.cv, &w.mu, &ts);
        int done = w.done;
        pthread_mutex_unlock(&w.mu);
        if (done)
            break;
        waited += 250;
        if (waited % 1000 == 0 && !probe_alive(url)) {
            /* gone: its held requests died with it; closing ends the call
             * (its callback runs first) */
            link_drop(link);
            choice_advance(choice);
            if (w.reply != NULL)
                nng_msg_free(w.reply);
            w.reply = NULL;
            rc = dp_err_set(err, DP_EUNAVAIL, "dispatcher at %s stopped answering", url);
            break;
        }
    }
    if (rc == DP_OK) {
        rc = w.code;
        *rm = w.reply;
        if (rc != DP_OK)
            dp_err_set(err, rc, "%s", w.msg);
    }
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    return rc;
}

/* A replica's answer that it is stopping (SIGTERM): its held lease answered
 * `none` "shutting down", or any request refused "dispatcher shutting
 * down". Waiting for it to go away would delay the runner by a backoff or
 * a lease wait; the other replicas serve at once. */
static int replica_leaving(const dp_msg *r)
{
    if (r->type == DP_MSG_NONE)
        return r->none.reason != NULL && strcmp(r->none.reason, DP_MSG_REASON_SHUTTING_DOWN) == 0;
    return r->type == DP_MSG_ERROR && r->error.code != NULL && r->error.message != NULL &&
           strcmp(r->error.code, DP_MSG_ERR_UNAVAILABLE) == 0 &&
           strcmp(r->error.message, DP_MSG_SHUTTING_DOWN) == 0;
}

int runner_link_prepare(actor_client **link, const char *url, runner_link_target *t, dp_err *err)
{
    t->n = url_at(url, 0, NULL, 0);
    t->choice = atomic_load(&link_choice);
    url_at(url, t->choice % t->n, t->url, sizeof t->url);
    if (*link != NULL && t->n > 1 && track_get(*link) != t->choice)
        link_drop(link); /* the runner moved to another replica */
    if (*link == NULL) {
        if ((*link = actor_client_open(t->url, err)) == NULL) {
            if (t->n > 1)
                choice_advance(t->choice);
            return DP_EUNAVAIL;
        }
        if (t->n > 1)
            track_set(*link, t->choice);
    }
    return DP_OK;
}

void runner_link_failed(const runner_link_target *t)
{
    if (t->n > 1)
        choice_advance(t->choice);
}

int runner_link_stale(actor_client *link, const char *url)
{
    return link != NULL && url_at(url, 0, NULL, 0) > 1 &&
           track_get(link) != atomic_load(&link_choice);
}

void runner_link_close(actor_client **link)
{
    if (*link != NULL)
        link_drop(link);
}

int runner_link_probe(actor_client **link, const runner_link_target *t)
{
    if (t->n < 2 || *link == NULL || probe_alive(t->url))
        return 1;
    link_drop(link);
    choice_advance(t->choice);
    return 0;
}

uint64_t runner_link_next_id(void)
{
    static _Atomic uint64_t next_id = 1;
    return atomic_fetch_add(&next_id, 1);
}

int runner_link_leaving(const dp_msg *r)
{
    return replica_leaving(r);
}

int runner_link_call(actor_client **link, const char *url, dp_msg *req, dp_msg *reply,
                     int timeout_ms, dp_err *err)
{
    memset(reply, 0, sizeof *reply);
    runner_link_target t;
    if (runner_link_prepare(link, url, &t, err) != DP_OK)
        return DP_EUNAVAIL;
    size_t n = t.n;
    unsigned choice = t.choice;
    const char *one = t.url;
    nng_msg *m = NULL, *rm = NULL;
    req->id = runner_link_next_id();
    int rc = dp_msg_encode(req, &m, err);
    if (rc != DP_OK)
        return rc;
    rc = n > 1 ? call_watched(link, one, choice, m, &rm, timeout_ms, err)
               : actor_client_call(*link, m, &rm, timeout_ms, err);
    if (rc != DP_OK) {
        if (n > 1 && (rc == DP_ETIMEOUT || rc == DP_EUNAVAIL || rc == DP_ECLOSED))
            choice_advance(choice);
        return rc == DP_ETIMEOUT ? DP_ETIMEOUT : DP_EUNAVAIL;
    }
    rc = dp_msg_decode_nng(rm, reply, err);
    nng_msg_free(rm);
    if (rc == DP_OK && n > 1 && replica_leaving(reply))
        choice_advance(choice); /* it is stopping: the next call goes to the next one */
    return rc;
}

int runner_link_sleep(const atomic_int *stopping, uint32_t ms)
{
    while (ms > 0) {
        if (stopping != NULL && atomic_load(stopping))
            return 1;
        uint32_t step = ms < 50 ? ms : 50;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
    return stopping != NULL && atomic_load(stopping);
}

uint32_t runner_link_backoff(uint32_t n, uint32_t base_ms, uint32_t cap_ms)
{
    uint64_t d = base_ms;
    for (uint32_t i = 0; i < n && d < cap_ms; i++)
        d *= 2;
    if (d > cap_ms)
        d = cap_ms;
    uint32_t r = 0;
    dp_random_bytes(&r, sizeof r); /* jitter keeps many runners from retrying in step */
    double jitter = 0.5 + (double)(r % 1000) / 1000.0;
    return (uint32_t)((double)d * jitter);
}

int runner_link_tell(actor *a, const dp_msg *m, dp_err *err)
{
    nng_msg *msg = NULL;
    int rc = dp_msg_encode_internal(m, &msg, err);
    if (rc != DP_OK)
        return rc;
    return actor_send(a, msg, 2000, err);
}

int runner_link_tell_client(actor_client *c, const dp_msg *m, dp_err *err)
{
    nng_msg *msg = NULL;
    int rc = dp_msg_encode_internal(m, &msg, err);
    if (rc != DP_OK)
        return rc;
    return actor_client_send(c, msg, 2000, err);
}

int runner_link_command(actor *a, const dp_msg *m, int timeout_ms, dp_err *err)
{
    nng_msg *msg = NULL, *reply = NULL;
    int rc = dp_msg_encode_internal(m, &msg, err);
    if (rc != DP_OK)
        return rc;
    rc = actor_call(a, msg, &reply, timeout_ms, err);
    if (reply != NULL)
        nng_msg_free(reply);
    return rc;
}

int runner_link_open_peers(const dp_msg_peers *p, actor_client **out, size_t max, size_t *n,
                           dp_err *err)
{
    for (size_t i = 0; i < p->n_urls; i++) {
        if (*n == max)
            return dp_err_set(err, DP_EINVAL, "more than %zu peers", max);
        if ((out[*n] = actor_client_open(p->urls[i], err)) == NULL)
            return err != NULL ? err->code : DP_EUNAVAIL;
        (*n)++;
    }
    return DP_OK;
}

void runner_link_close_peers(actor_client **peers, size_t n)
{
    for (size_t i = 0; i < n; i++)
        actor_client_close(peers[i]);
}

int runner_link_send_peers(actor *to, actor *const *peers, size_t n, dp_err *err)
{
    char **urls = calloc(n ? n : 1, sizeof *urls);
    if (urls == NULL)
        return dp_err_set(err, DP_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        urls[i] = (char *)actor_url(peers[i], 0); /* borrowed: encoding copies */
    dp_msg m = {.type = DP_MSG_PEERS};
    m.peers.urls = urls;
    m.peers.n_urls = n;
    int rc = runner_link_command(to, &m, 20000, err);
    free(urls);
    return rc;
}
