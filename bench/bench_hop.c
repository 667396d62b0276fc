/* bench_hop: what one in-process hop costs, per message: wall time, CPU
 * (the whole process, all threads) and context switches (voluntary +
 * involuntary, the whole process), for
 *   actor_send    - the runtime's one-way send (req/rep with a context per
 *                   mailbox slot; the sender waits for the slot's ack)
 *   actor_call    - the runtime's request/reply
 *   actor_pingpong - two actors that send one message back and forth by
 *                   URL, each handler forwarding it (a runner's job feeder
 *                   and an executor): every hop wakes a sleeping thread
 *   reqrep_ctx    - bare nng req/rep over inproc, rep side on an aio context
 *   actor_call_tcp, actor_call_async_tcp - the runtime's own stream
 *                   transport (actors/actor_stream.h) over loopback TCP:
 *                   what the runner wire costs now
 *   reqrep_tcp    - the same over tcp on loopback (the runner <-> dispatchd
 *                   wire's shape: both ends in this process, so the CPU is
 *                   both ends')
 *   tcp_raw       - no nng: a length-prefixed echo over a loopback TCP
 *                   connection, one blocking thread each side (the floor for
 *                   that wire)
 *   pair_rtt      - nng pair1 over inproc, ping-pong
 *   pair_stream   - nng pair1 over inproc, one-way, the sender never waits
 *   pushpull      - nng push/pull over inproc, one-way
 *   condvar_queue - no nng: a mutex + condition variable queue between two
 *                   threads, one-way (the floor for a hand-off that keeps
 *                   one owner per state)
 * Message bodies are BYTES long (default 64): the cost is per message, not
 * per byte, which is why batches amortise it.
 * usage: bench_hop [N [BYTES]] (default 50000 messages of 64 bytes each). One JSON object per
 * mode on stdout. Built, never run as a test. */
#include "actors/actor.h"

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static size_t body_bytes = 64;

typedef struct {
    double wall, cpu;
    long cs;
} sample;

static sample snap(void)
{
    struct timespec ts;
    struct rusage ru;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    getrusage(RUSAGE_SELF, &ru);
    return (sample){(double)ts.tv_sec + (double)ts.tv_nsec / 1e9,
                    (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                        (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
                    ru.ru_nvcsw + ru.ru_nivcsw};
}

static void report(const char *mode, size_t n, sample a, sample b)
{
    printf("{\"mode\": \"%s\", \"messages\": %zu, \"bytes\": %zu, \"wall_us_per_msg\": %.2f, "
           "\"cpu_us_per_msg\": %.2f, \"ctx_switches_per_msg\": %.2f}\n",
           mode, n, body_bytes, (b.wall - a.wall) * 1e6 / (double)n,
           (b.cpu - a.cpu) * 1e6 / (double)n, (double)(b.cs - a.cs) / (double)n);
    fflush(stdout);
}

static nng_msg *small_msg(void)
{
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, body_bytes) != 0)
        abort();
    memset(nng_msg_body(m), 'x', body_bytes);
    return m;
}

/* ---- a plain locked queue ---- */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    nng_msg *items[1024];
    size_t head, len, total, n;
    int waiting;
} cv_queue;

static void *cv_rx(void *p)
{
    cv_queue *q = p;
    pthread_mutex_lock(&q->mu);
    while (q->total < q->n) {
        while (q->len == 0) {
            q->waiting = 1;
            pthread_cond_wait(&q->cv, &q->mu);
            q->waiting = 0;
        }
        nng_msg *m = q->items[q->head];
        q->head = (q->head + 1) % 1024;
        q->len--;
        q->total++;
        pthread_mutex_unlock(&q->mu);
        nng_msg_free(m);
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static int bench_condvar(size_t n)
{
    cv_queue q = {.n = n};
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.cv, NULL);
    pthread_t th;
    pthread_create(&th, NULL, cv_rx, &q);
    sample s0 = snap();
    for (size_t i = 0; i < n; i++) {
        nng_msg *m = small_msg();
        pthread_mutex_lock(&q.mu);
        while (q.len == 1024) { /* full: back-pressure (never in practice here) */
            pthread_mutex_unlock(&q.mu);
            sched_yield();
            pthread_mutex_lock(&q.mu);
        }
        q.items[(q.head + q.len) % 1024] = m;
        q.len++;
        if (q.waiting)
            pthread_cond_signal(&q.cv);
        pthread_mutex_unlock(&q.mu);
    }
    pthread_join(th, NULL);
    report("condvar_queue", n, s0, snap());
    pthread_mutex_destroy(&q.mu);
    pthread_cond_destroy(&q.cv);
    return 0;
}

/* ---- the actor runtime ---- */
static atomic_size_t handled;

static int count_handler(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    (void)state;
    (void)ctx;
    atomic_fetch_add(&handled, 1);
    if (reply != NULL) {
        *reply = msg; /* echo */
        return 0;
    }
    nng_msg_free(msg);
    return 0;
}

/* An async call answered by callback, one at a time: the HTTP API's hop
 * to its gateway (actors/actor_local.c skips nng for it). */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} call_wait;

static void call_done(void *arg, int code, nng_msg *reply, const char *errmsg)
{
    call_wait *w = arg;
    (void)errmsg;
    if (code != 0)
        abort();
    nng_msg_free(reply);
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Until call_done has run on w, then clears it for the next wait. */
static void call_wait_done(call_wait *w)
{
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        pthread_cond_wait(&w->cv, &w->mu);
    w->done = 0;
    pthread_mutex_unlock(&w->mu);
}

static int bench_call_async(const char *mode, const char *url, size_t n)
{
    dp_err err;
    actor_client *c = actor_client_open(url, &err);
    if (c == NULL)
        return -1;
    call_wait w = {.done = 0};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    sample s0 = snap();
    for (size_t i = 0; i < n; i++) {
        if (actor_client_call_async(c, small_msg(), 5000, call_done, &w, &err) != 0)
            return -1;
        call_wait_done(&w);
    }
    report(mode, n, s0, snap());
    actor_client_close(c);
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    return 0;
}

/* Ping-pong: the message's remaining hops are counted here; the handler
 * forwards it to the other actor (by URL, through the registry, as the
 * job feeder and its executors do) until none are left. */
static atomic_size_t pp_left;
static char pp_url[2][128];
static call_wait pp_end = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

static int pingpong_handler(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    (void)ctx;
    (void)reply;
    int self = *(const int *)state;
    dp_err err;
    if (atomic_fetch_sub(&pp_left, 1) > 1) {
        if (actor_send_local(pp_url[!self], msg, &err) != 0)
            abort();
        return 0;
    }
    nng_msg_free(msg);
    call_done(&pp_end, 0, NULL, NULL);
    return 0;
}

static int bench_pingpong(size_t n)
{
    static int ids[2] = {0, 1};
    actor *a[2];
    dp_err err;
    for (int i = 0; i < 2; i++) {
        actor_opts o = {.name = i ? "pong" : "ping",
                        .handler = pingpong_handler,
                        .state = &ids[i],
                        .mailbox = 16};
        if ((a[i] = actor_spawn(&o, &err)) == NULL) {
            fprintf(stderr, "bench_hop: %s\n", err.msg);
            return -1;
        }
        snprintf(pp_url[i], sizeof pp_url[i], "%s", actor_url(a[i], 0));
    }
    atomic_store(&pp_left, n);
    sample s0 = snap();
    if (actor_send(a[0], small_msg(), 5000, &err) != 0)
        return -1;
    call_wait_done(&pp_end);
    report("actor_pingpong", n, s0, snap());
    actor_destroy(a[0]);
    actor_destroy(a[1]);
    return 0;
}

static int bench_actor(size_t n)
{
    dp_err err;
    actor_opts o = {.name = "hop", .handler = count_handler, .mailbox = 256};
    actor *a = actor_spawn(&o, &err);
    if (a == NULL) {
        fprintf(stderr, "bench_hop: %s\n", err.msg);
        return -1;
    }
    sample s0 = snap();
    for (size_t i = 0; i < n; i++) {
        int rc;
        while ((rc = actor_send(a, small_msg(), 5000, &err)) == DP_EFULL)
            sched_yield(); /* the mailbox pushes back: the sender outran the actor */
        if (rc != 0)
            return -1;
    }
    while (atomic_load(&handled) < n)
        ;
    report("actor_send", n, s0, snap());
    s0 = snap();
    for (size_t i = 0; i < n; i++) {
        nng_msg *r = NULL;
        if (actor_call(a, small_msg(), &r, 5000, &err) != 0)
            return -1;
        nng_msg_free(r);
    }
    report("actor_call", n, s0, snap());
    if (bench_call_async("actor_call_async", actor_url(a, 0), n) != 0)
        return -1;
    actor_destroy(a);
    return 0;
}

/* The runtime's own stream transport over loopback TCP (actors/
 * actor_stream.h), as a runner calls dispatchd: blocking calls, then
 * async calls answered by callback. Both ends in this process. */
static int bench_actor_tcp(size_t n)
{
    dp_err err;
    const char *urls[] = {"tcp://127.0.0.1:0"};
    actor_opts o = {.name = "hop-tcp",
                    .handler = count_handler,
                    .mailbox = 256,
                    .listen_urls = urls,
                    .n_listen_urls = 1};
    actor *a = actor_spawn(&o, &err);
    actor_client *c = a != NULL ? actor_client_open(actor_url(a, 1), &err) : NULL;
    if (c == NULL) {
        fprintf(stderr, "bench_hop: %s\n", err.msg);
        return -1;
    }
    sample s0 = snap();
    for (size_t i = 0; i < n; i++) {
        nng_msg *r = NULL;
        if (actor_client_call(c, small_msg(), &r, 5000, &err) != 0)
            return -1;
        nng_msg_free(r);
    }
    report("actor_call_tcp", n, s0, snap());
    actor_client_close(c);
    if (bench_call_async("actor_call_async_tcp", actor_url(a, 1), n) != 0)
        return -1;
    actor_destroy(a);
    return 0;
}

/* ---- bare req/rep: the rep side answers from an aio callback ---- */
typedef struct {
    nng_ctx ctx;
    nng_aio *aio;
    int sending;
} rep_slot;

static void rep_cb(void *arg)
{
    rep_slot *s = arg;
    if (nng_aio_result(s->aio) != 0)
        return;
    if (s->sending) {
        s->sending = 0;
        nng_ctx_recv(s->ctx, s->aio);
        return;
    }
    nng_msg *m = nng_aio_get_msg(s->aio);
    nng_aio_set_msg(s->aio, m);
    s->sending = 1;
    nng_ctx_send(s->ctx, s->aio);
}

static int bench_reqrep(const char *mode, const char *listen_url, size_t n)
{
    nng_socket rep, req;
    nng_listener l;
    rep_slot slot = {0};
    if (nng_rep0_open(&rep) != 0 || nng_listen(rep, listen_url, &l, 0) != 0 ||
        nng_ctx_open(&slot.ctx, rep) != 0 || nng_aio_alloc(&slot.aio, rep_cb, &slot) != 0)
        return -1;
    nng_ctx_recv(slot.ctx, slot.aio);
    char url[128];
    snprintf(url, sizeof url, "%s", listen_url);
    nng_sockaddr sa;
    if (strncmp(listen_url, "tcp://", 6) == 0) { /* the port the listener got */
        if (nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa) != 0)
            return -1;
        snprintf(url, sizeof url, "tcp://127.0.0.1:%u", (unsigned)ntohs(sa.s_in.sa_port));
    }
    if (nng_req0_open(&req) != 0 || nng_dial(req, url, NULL, 0) != 0)
        return -1;
    sample s0 = snap();
    for (size_t i = 0; i < n; i++) {
        nng_msg *r = NULL;
        if (nng_sendmsg(req, small_msg(), 0) != 0 || nng_recvmsg(req, &r, 0) != 0)
            return -1;
        nng_msg_free(r);
    }
    report(mode, n, s0, snap());
    nng_close(req);
    nng_aio_stop(slot.aio);
    nng_aio_free(slot.aio);
    nng_close(rep);
    return 0;
}

/* ---- pair and push/pull: a receiving thread ---- */
typedef struct {
    nng_socket s;
    size_t n;
    int echo;
} rx_arg;

static void *rx_main(void *p)
{
    rx_arg *a = p;
    for (size_t i = 0; i < a->n; i++) {
        nng_msg *m = NULL;
        if (nng_recvmsg(a->s, &m, 0) != 0)
            return NULL;
        if (a->echo)
            nng_sendmsg(a->s, m, 0);
        else
            nng_msg_free(m);
    }
    return NULL;
}

static int bench_stream(const char *mode, size_t n)
{
    int pair = strncmp(mode, "pair", 4) == 0, echo = strcmp(mode, "pair_rtt") == 0;
    nng_socket rx, tx;
    char url[64];
    snprintf(url, sizeof url, "inproc://hop-%s", mode);
    int rv = pair ? nng_pair1_open(&rx) : nng_pull0_open(&rx);
    if (rv != 0 || nng_listen(rx, url, NULL, 0) != 0)
        return -1;
    rv = pair ? nng_pair1_open(&tx) : nng_push0_open(&tx);
    if (rv != 0 || nng_dial(tx, url, NULL, 0) != 0)
        return -1;
    rx_arg a = {rx, n, echo};
    pthread_t th;
    pthread_create(&th, NULL, rx_main, &a);
    sample s0 = snap();
    for (size_t i = 0; i < n; i++) {
        if (nng_sendmsg(tx, small_msg(), 0) != 0)
            return -1;
        if (echo) {
            nng_msg *r = NULL;
            if (nng_recvmsg(tx, &r, 0) != 0)
                return -1;
            nng_msg_free(r);
        }
    }
    pthread_join(th, NULL);
    report(mode, n, s0, snap());
    nng_close(tx);
    nng_close(rx);
    return 0;
}

/* ---- raw TCP: a length-prefixed echo, blocking reads and writes ---- */
static int io_all(int fd, void *buf, size_t len, int writing)
{
    char *p = buf;
    while (len > 0) {
        ssize_t r = writing ? write(fd, p, len) : read(fd, p, len);
        if (r <= 0)
            return -1;
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

typedef struct {
    int fd;
    size_t n;
} echo_arg;

static void *echo_main(void *p)
{
    echo_arg *a = p;
    char *buf = malloc(body_bytes);
    for (size_t i = 0; buf != NULL && i < a->n; i++) {
        uint32_t len;
        if (io_all(a->fd, &len, sizeof len, 0) != 0 || len != body_bytes ||
            io_all(a->fd, buf, len, 0) != 0 || io_all(a->fd, &len, sizeof len, 1) != 0 ||
            io_all(a->fd, buf, len, 1) != 0)
            break;
    }
    free(buf);
    return NULL;
}

static int bench_tcp_raw(size_t n)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(ls, 1) != 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &sl) != 0)
        return -1;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof sa) != 0)
        return -1;
    int s = accept(ls, NULL, NULL);
    if (s < 0)
        return -1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    echo_arg a = {s, n};
    pthread_t th;
    pthread_create(&th, NULL, echo_main, &a);
    char *buf = calloc(1, body_bytes);
    uint32_t len = (uint32_t)body_bytes;
    sample s0 = snap();
    for (size_t i = 0; buf != NULL && i < n; i++)
        if (io_all(c, &len, sizeof len, 1) != 0 || io_all(c, buf, body_bytes, 1) != 0 ||
            io_all(c, &len, sizeof len, 0) != 0 || io_all(c, buf, len, 0) != 0)
            return -1;
    sample s1 = snap();
    pthread_join(th, NULL);
    report("tcp_raw", n, s0, s1);
    free(buf);
    close(c);
    close(s);
    close(ls);
    return 0;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 50000;
    body_bytes = argc > 2 ? strtoul(argv[2], NULL, 10) : 64;
    if (n == 0 || body_bytes == 0 || body_bytes > 1u << 20) {
        fprintf(stderr, "usage: bench_hop [N [BYTES 1..1048576]]\n");
        return 64;
    }
    if (bench_actor(n) != 0 || bench_actor_tcp(n) != 0 || bench_pingpong(n) != 0 ||
        bench_reqrep("reqrep_ctx", "inproc://hop-rr", n) != 0 ||
        bench_reqrep("reqrep_tcp", "tcp://127.0.0.1:0", n) != 0 || bench_tcp_raw(n) != 0 ||
        bench_stream("pair_rtt", n) != 0 || bench_stream("pair_stream", n) != 0 ||
        bench_stream("pushpull", n) != 0 || bench_condvar(n) != 0) {
        fprintf(stderr, "bench_hop: a mode failed\n");
        return 70;
    }
    return 0;
}
