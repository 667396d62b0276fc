/* The runtime's own stream transport (actors/actor_stream.h) where it
 * differs from nng: a connection that breaks ends its calls with
 * DP_EUNAVAIL and the next call connects again; a callback may call again
 * on its own client; a caller never waits for a connection; a peer that
 * never greets is cut. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "actors/actor.h"
#include "tests/support/stream_raw.h"
#include "echo.h"

static actor *spawn_on(const char *url, echo_state *st)
{
    const char *urls[] = {url};
    actor_opts o = echo_opts("stream", st, 0);
    o.listen_urls = urls;
    o.n_listen_urls = 1;
    dp_err err;
    actor *a = actor_spawn(&o, &err);
    if (a == NULL)
        fail_msg("spawn on %s: %s", url, err.msg);
    return a;
}

typedef struct {
    atomic_int done, again_done;
    int code, again_code;
    actor_client *c; /* for the callback's call */
} async_log;

static void again_cb(void *arg, int code, nng_msg *reply, const char *errmsg)
{
    async_log *log = arg;
    (void)errmsg;
    nng_msg_free(reply);
    log->again_code = code;
    atomic_store(&log->again_done, 1);
}

/* The first call's callback starts a second call on the same client, from
 * the link's own thread. */
static void first_cb(void *arg, int code, nng_msg *reply, const char *errmsg)
{
    async_log *log = arg;
    (void)errmsg;
    nng_msg_free(reply);
    log->code = code;
    dp_err err;
    if (actor_client_call_async(log->c, echo_msg("ping"), 2000, again_cb, log, &err) != 0) {
        log->again_code = err.code;
        atomic_store(&log->again_done, 1);
    }
    atomic_store(&log->done, 1);
}

static void wait_flag(atomic_int *flag, const char *what)
{
    uint64_t deadline = echo_now_ms() + 20000; /* answers come in ms; slack for load */
    while (!atomic_load(flag) && echo_now_ms() < deadline)
        usleep(1000);
    if (!atomic_load(flag))
        fail_msg("%s never happened", what);
}

static void test_reconnect_after_restart(void **unused)
{
    (void)unused;
    echo_state *st = calloc(1, sizeof *st);
    assert_non_null(st);
    actor *a = spawn_on("tcp://127.0.0.1:0", st);
    char url[64];
    snprintf(url, sizeof url, "%s", actor_url(a, 1));
    dp_err err;
    actor_client *c = actor_client_open(url, &err);
    assert_non_null(c);
    nng_msg *reply = NULL;
    assert_int_equal(actor_client_call(c, echo_msg("ping"), &reply, 5000, &err), 0);
    nng_msg_free(reply);

    /* A call held by the actor when it stops, whose callback calls again
     * on the same client: both end, neither hangs the client. */
    async_log log = {.c = c};
    assert_int_equal(actor_client_call_async(c, echo_msg("hold"), 10000, first_cb, &log, &err), 0);
    while (atomic_load(&st->n_held_pub) == 0)
        usleep(1000);
    actor_destroy(a);
    wait_flag(&log.done, "the held call's end");
    assert_true(log.code == DP_ECLOSED || log.code == DP_EUNAVAIL);
    wait_flag(&log.again_done, "the callback's own call's end");
    assert_int_not_equal(log.again_code, 0); /* nobody listens now */

    /* Nobody listens: a call fails, it does not wait for its timeout. */
    uint64_t t0 = echo_now_ms();
    assert_int_equal(actor_client_call(c, echo_msg("ping"), &reply, 10000, &err), DP_EUNAVAIL);
    assert_true(echo_now_ms() - t0 < 8000); /* refused at once; slack for load */

    /* Back on the same port: the next call connects again. */
    memset(st, 0, sizeof *st);
    actor *b = spawn_on(url, st);
    assert_int_equal(actor_client_call(c, echo_msg("ping"), &reply, 5000, &err), 0);
    assert_true(echo_msg_is(reply, "ping"));
    nng_msg_free(reply);
    actor_client_close(c);
    actor_destroy(b);
    free(st);
}

static void never_cb(void *arg, int code, nng_msg *reply, const char *errmsg)
{
    async_log *log = arg;
    (void)errmsg;
    nng_msg_free(reply);
    log->code = code;
    atomic_store(&log->done, 1);
}

/* A listener that never accepts, its backlog full: a connect to it hangs
 * until its timeout. A caller must not wait for that. */
static void test_caller_never_waits_for_connect(void **unused)
{
    (void)unused;
    echo_state *st = calloc(1, sizeof *st);
    assert_non_null(st);
    actor *a = spawn_on("tcp://127.0.0.1:0", st);
    char url[64];
    snprintf(url, sizeof url, "%s", actor_url(a, 1));
    int port = atoi(strrchr(url, ':') + 1);
    dp_err err;
    actor_client *c = actor_client_open(url, &err);
    assert_non_null(c);
    actor_destroy(a);

    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(ls, 0), 0);
    int fill[4];
    for (int i = 0; i < 4; i++) { /* the backlog takes one or two; the rest wait */
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        (void)connect(fill[i], (struct sockaddr *)&sa, sizeof sa);
    }
    usleep(100000);

    async_log log = {.c = c};
    uint64_t t0 = echo_now_ms();
    assert_int_equal(actor_client_call_async(c, echo_msg("ping"), 1500, never_cb, &log, &err), 0);
    /* Returns without connecting (which cannot succeed here); 1 s of slack
     * for a loaded machine, far below the connect's own 1.5 s bound. */
    assert_true(echo_now_ms() - t0 < 1000);
    wait_flag(&log.done, "the call's end");
    assert_true(log.code == DP_ETIMEOUT || log.code == DP_EUNAVAIL);
    actor_client_close(c);
    for (int i = 0; i < 4; i++)
        close(fill[i]);
    close(ls);
    free(st);
}

/* A message larger than one call may carry is refused at once as what it
 * is (DP_EINVAL naming its size), not as a full connection: a submit of
 * 20 MB once failed with "0 bytes wait to be sent already". The client
 * goes on working. */
static void test_oversized_call_says_so(void **unused)
{
    (void)unused;
    echo_state *st = calloc(1, sizeof *st);
    assert_non_null(st);
    char url[96];
    snprintf(url, sizeof url, "ipc:///tmp/dp-test-stream-big-%ld.sock", (long)getpid());
    actor *a = spawn_on(url, st);
    dp_err err;
    actor_client *c = actor_client_open(actor_url(a, 1), &err);
    assert_non_null(c);
    nng_msg *big;
    size_t n = 20u << 20;
    assert_int_equal(nng_msg_alloc(&big, n), 0);
    memset(nng_msg_body(big), 'x', n);
    nng_msg *reply = NULL;
    assert_int_equal(actor_client_call(c, big, &reply, 2000, &err), DP_EINVAL);
    assert_null(reply);
    if (strstr(err.msg, "a message of 2097152") == NULL || strstr(err.msg, "smaller parts") == NULL)
        fail_msg("unclear error: %s", err.msg);
    /* the client still works */
    assert_int_equal(actor_client_call(c, echo_msg("ping"), &reply, 5000, &err), DP_OK);
    nng_msg_free(reply);
    actor_client_close(c);
    actor_destroy(a);
    free(st);
}

/* A peer that connects and never greets holds a connection only for the
 * greeting's time (10 s, as nng's handshake). */
static void test_silent_peer_is_cut(void **unused)
{
    (void)unused;
    echo_state *st = calloc(1, sizeof *st);
    assert_non_null(st);
    actor *a = spawn_on("tcp://127.0.0.1:0", st);
    char why[256];
    /* 25 s receive timeout: the cut comes at 10-11 s; slack for load. */
    int fd = stream_raw_connect(actor_url(a, 1), "", 0, 0, 25000, why, sizeof why);
    if (fd < 0)
        fail_msg("%s", why);
    uint64_t t0 = echo_now_ms();
    if (stream_raw_expect_cut(fd, "ten silent seconds", why, sizeof why) != 0)
        fail_msg("%s", why);
    assert_true(echo_now_ms() - t0 >= 9000); /* not before its time (1 s timer slack) */
    close(fd);
    actor_destroy(a);
    free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reconnect_after_restart),
        cmocka_unit_test(test_caller_never_waits_for_connect),
        cmocka_unit_test(test_silent_peer_is_cut),
        cmocka_unit_test(test_oversized_call_says_so),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
