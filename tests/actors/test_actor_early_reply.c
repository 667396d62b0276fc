/* A deferred request answered by another thread before its handler has
 * returned ACTOR_DEFER (the dispatcher's gateway forwards a request and the
 * domain actor may answer at once): the reply must reach the caller, once;
 * with the handler on the actor thread and on receipt (calls_on_receipt,
 * as the gateways run). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actors/actor.h"

typedef struct {
    actor *self;
    int pipe_w; /* request ids go to the replier thread */
} early_state;

static int early_handler(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    early_state *s = state;
    (void)reply;
    nng_msg_free(msg);
    actor_req_id id = actor_ctx_request(ctx);
    ssize_t w = write(s->pipe_w, &id, sizeof id);
    (void)w;
    struct timespec ts = {0, 2000000}; /* the replier answers while we are still here */
    nanosleep(&ts, NULL);
    return ACTOR_DEFER;
}

typedef struct {
    actor **target;
    int pipe_r;
} replier_arg;

static void *replier(void *p)
{
    replier_arg *r = p;
    actor_req_id id;
    while (read(r->pipe_r, &id, sizeof id) == (ssize_t)sizeof id) {
        nng_msg *m = NULL;
        nng_msg_alloc(&m, 0);
        nng_msg_append(m, "early", 5);
        actor_reply(*r->target, id, m, NULL);
    }
    return NULL;
}

static void early_reply_delivered(int on_receipt)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    early_state st = {NULL, fds[1]};
    actor *a = NULL;
    replier_arg ra = {&a, fds[0]};
    actor_opts o = {.name = "early",
                    .state = &st,
                    .handler = early_handler,
                    .mailbox = 8,
                    .calls_on_receipt = on_receipt};
    dp_err err;
    a = actor_spawn(&o, &err);
    assert_non_null(a);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, replier, &ra), 0);
    for (int i = 0; i < 100; i++) {
        nng_msg *req = NULL, *rep = NULL;
        assert_int_equal(nng_msg_alloc(&req, 0), 0);
        assert_int_equal(actor_call(a, req, &rep, 2000, &err), 0);
        assert_int_equal(nng_msg_len(rep), 5);
        assert_memory_equal(nng_msg_body(rep), "early", 5);
        nng_msg_free(rep);
    }
    assert_int_equal(actor_deferred_count(a), 0);
    /* The last handlers may still be in their nanosleep after their reply
     * went out (on receipt the next call does not wait for them): every
     * one of them returns, once. */
    actor_stats stats;
    for (int i = 0; i < 500; i++) {
        actor_get_stats(a, &stats);
        if (stats.handled >= 100)
            break;
        usleep(2000);
    }
    assert_int_equal(stats.handled, 100);
    close(fds[1]);
    pthread_join(t, NULL);
    close(fds[0]);
    actor_destroy(a);
}

static void test_early_reply_delivered(void **unused)
{
    (void)unused;
    early_reply_delivered(0);
}

static void test_early_reply_delivered_on_receipt(void **unused)
{
    (void)unused;
    early_reply_delivered(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_early_reply_delivered),
                                       cmocka_unit_test(test_early_reply_delivered_on_receipt)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
