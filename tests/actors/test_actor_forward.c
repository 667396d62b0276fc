/* Forwarding without a thread per request: a gateway actor defers each
 * request, forwards it to a leaser actor with actor_client_call_async, and
 * the completion callback answers the deferred request with actor_reply.
 * The leaser itself holds the requests (long-poll) until told to release. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actors/actor.h"
#include "echo.h"
#include "util.h"

typedef struct gateway {
    const char *upstream_url; /* borrowed */
    actor_client *upstream;   /* opened in on_start, closed in on_stop */
    atomic_int forwarded;
} gateway;

typedef struct pending {
    actor *gw;
    actor_req_id id;
} pending;

static void forwarded_cb(void *arg, int code, nng_msg *reply, const char *errmsg)
{
    pending *p = arg;
    dp_err err;
    int rc = code == 0 ? actor_reply(p->gw, p->id, reply, &err)
                       : actor_reply_error(p->gw, p->id, code, errmsg, &err);
    if (rc != 0) {
        fprintf(stderr, "forward reply: %s\n", err.msg);
    }
    free(p);
}

static int gw_start(void *state, actor_ctx *ctx, dp_err *err)
{
    gateway *g = state;
    g->upstream = actor_client_open(g->upstream_url, err);
    return g->upstream == NULL ? err->code : 0;
}

static void gw_stop(void *state, actor_ctx *ctx)
{
    gateway *g = state;
    actor_client_close(g->upstream); /* waits for callbacks in flight */
    g->upstream = NULL;
}

static int gw_handle(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    gateway *g = state;
    if (reply == NULL) {
        nng_msg_free(msg);
        return 0;
    }
    pending *p = malloc(sizeof *p);
    if (p == NULL) {
        nng_msg_free(msg);
        return actor_ctx_error(ctx, DP_ENOMEM, "gateway: out of memory");
    }
    p->gw = actor_ctx_actor(ctx);
    p->id = actor_ctx_request(ctx);
    dp_err err;
    /* Counted before the call: its reply may reach the caller before this
     * handler returns. */
    atomic_fetch_add(&g->forwarded, 1);
    int rc = actor_client_call_async(g->upstream, msg, 10000, forwarded_cb, p, &err);
    if (rc != 0) {
        atomic_fetch_sub(&g->forwarded, 1);
        free(p);
        return actor_ctx_error(ctx, rc, "gateway: %s", err.msg);
    }
    return ACTOR_DEFER;
}

static void test_forward_deferred(void **unused)
{
    enum { N = 500 };
    echo_state *st = calloc(1, sizeof *st);
    assert_non_null(st);
    actor_opts lo = echo_opts("leaser", st, N + 16);
    dp_err err;
    actor *leaser = actor_spawn(&lo, &err);
    assert_non_null(leaser);

    gateway g = {.upstream_url = actor_url(leaser, 0)};
    actor_opts go = {.name = "gateway",
                     .state = &g,
                     .handler = gw_handle,
                     .on_start = gw_start,
                     .on_stop = gw_stop,
                     .mailbox = N + 16};
    actor *gw = actor_spawn(&go, &err);
    assert_non_null(gw);

    actor_client *c = actor_client_open(actor_url(gw, 0), &err);
    assert_non_null(c);
    int base = util_thread_count();
    actor_future **f = calloc(N, sizeof *f);
    assert_non_null(f);
    for (int i = 0; i < N; i++) {
        f[i] = actor_client_call_start(c, echo_msg("hold"), 10000, &err);
        assert_non_null(f[i]);
    }
    uint64_t deadline = echo_now_ms() + 10000;
    while (atomic_load(&st->n_held_pub) < N && echo_now_ms() < deadline) {
        usleep(1000);
    }
    assert_int_equal(atomic_load(&st->n_held_pub), N);
    assert_int_equal(actor_deferred_count(gw), N);
    assert_int_equal(actor_deferred_count(leaser), N);
    assert_true(util_thread_count() <= base + 2);

    nng_msg *reply = NULL;
    assert_int_equal(actor_call(leaser, echo_msg("release"), &reply, 5000, &err), 0);
    nng_msg_free(reply);
    char *seen = calloc(N, 1);
    assert_non_null(seen);
    for (int i = 0; i < N; i++) {
        if (actor_future_wait(f[i], &reply, &err) != 0) {
            fail_msg("forwarded %d: %s", i, err.msg);
        }
        int idx = -1;
        char text[32] = {0};
        memcpy(text, nng_msg_body(reply), nng_msg_len(reply) < 31 ? nng_msg_len(reply) : 31);
        nng_msg_free(reply);
        assert_int_equal(sscanf(text, "released:%d", &idx), 1);
        assert_true(idx >= 0 && idx < N && !seen[idx]);
        seen[idx] = 1;
    }
    assert_int_equal(actor_deferred_count(gw), 0);

    /* Errors travel back through the gateway unchanged. */
    assert_int_equal(actor_client_call(c, echo_msg("fail"), &reply, 5000, &err), DP_ECONFLICT);
    assert_non_null(strstr(err.msg, "fail requested"));
    /* The gateway counts a forward after its callback answered: let it. */
    for (int i = 0; i < 1000 && atomic_load(&g.forwarded) < N + 1; i++)
        usleep(1000);
    assert_int_equal(atomic_load(&g.forwarded), N + 1);

    actor_client_close(c);
    actor_destroy(gw);
    actor_destroy(leaser);
    free(seen);
    free(f);
    free(st);
}

/* Closing a client with async calls in flight: every callback runs once
 * (DP_ECLOSED), before close returns. */
static atomic_int closed_cbs;

static void count_cb(void *arg, int code, nng_msg *reply, const char *errmsg)
{
    if (getenv("DEBUG_CB")) {
        fprintf(stderr, "cb code %d msg %s\n", code, errmsg ? errmsg : "-");
    }
    if (code == DP_ECLOSED && reply == NULL && errmsg != NULL) {
        atomic_fetch_add(&closed_cbs, 1);
    }
    nng_msg_free(reply);
}

static void test_async_close_in_flight(void **unused)
{
    echo_state *st = calloc(1, sizeof *st);
    assert_non_null(st);
    actor_opts o = echo_opts("holder", st, 64);
    dp_err err;
    actor *a = actor_spawn(&o, &err);
    assert_non_null(a);
    for (int round = 1; round <= 10; round++) {
        actor_client *c = actor_client_open(actor_url(a, 0), &err);
        assert_non_null(c);
        for (int i = 0; i < 20; i++) {
            assert_int_equal(
                actor_client_call_async(c, echo_msg("hold"), 10000, count_cb, NULL, &err), 0);
        }
        uint64_t deadline = echo_now_ms() + 5000;
        while (atomic_load(&st->n_held_pub) < 20 && echo_now_ms() < deadline) {
            usleep(1000);
        }
        assert_int_equal(atomic_load(&st->n_held_pub), 20);
        actor_client_close(c);
        assert_int_equal(atomic_load(&closed_cbs), 20 * round);
        /* Answer the orphans (their caller is gone) to free the slots. */
        nng_msg *reply = NULL;
        assert_int_equal(actor_call(a, echo_msg("release"), &reply, 5000, &err), 0);
        assert_true(echo_msg_is(reply, "ok:20"));
        nng_msg_free(reply);
    }
    actor_destroy(a);
    free(st);
}

static int group_teardown(void **unused)
{
    nng_fini();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_deferred),
        cmocka_unit_test(test_async_close_in_flight),
    };
    return cmocka_run_group_tests_name("actors-forward", tests, NULL, group_teardown);
}
