/* calls_on_receipt (actor.h): calls from the socket are handled on the
 * thread that received them, several at once; one-way messages stay on the
 * actor thread; a reply may come before the handler returns; on_stop runs
 * only after every such handler has returned. The gateway relies on all
 * four (dispatch/gateway.c); the early reply is test_actor_early_reply.c's,
 * run with and without the option. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actors/actor.h"

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    pthread_t actor_thread; /* from on_start */
    int inside;             /* handlers of calls inside at once */
    int max_inside;
    int on_actor_thread;   /* calls handled on the actor thread */
    int one_way_on_actor;  /* one-way messages handled on the actor thread */
    int one_way_elsewhere; /* ... elsewhere */
    int hold_ms;           /* a call's handler waits this long for a second one */
    atomic_int handlers_done;
    int stop_saw_done; /* handlers_done as on_stop saw it */
} rc_state;

static int rc_start(void *state, actor_ctx *ctx, dp_err *err)
{
    rc_state *s = state;
    (void)ctx;
    (void)err;
    s->actor_thread = pthread_self();
    return 0;
}

static void rc_stop(void *state, actor_ctx *ctx)
{
    rc_state *s = state;
    (void)ctx;
    s->stop_saw_done = atomic_load(&s->handlers_done);
}

/* A call's handler stays until another call's handler is inside too, or
 * hold_ms pass: two callers see max_inside 2 only if calls run at once. */
static int rc_handler(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    rc_state *s = state;
    (void)ctx;
    int on_actor = pthread_equal(pthread_self(), s->actor_thread);
    pthread_mutex_lock(&s->mu);
    if (reply == NULL) {
        s->one_way_on_actor += on_actor;
        s->one_way_elsewhere += !on_actor;
        pthread_mutex_unlock(&s->mu);
        nng_msg_free(msg);
        return 0;
    }
    s->on_actor_thread += on_actor;
    s->inside++;
    if (s->inside > s->max_inside)
        s->max_inside = s->inside;
    pthread_cond_broadcast(&s->cond);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += s->hold_ms / 1000;
    until.tv_nsec += (long)(s->hold_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (s->max_inside < 2 && pthread_cond_timedwait(&s->cond, &s->mu, &until) == 0)
        ;
    s->inside--;
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_add(&s->handlers_done, 1);
    *reply = msg; /* echo */
    return 0;
}

static actor *rc_spawn(rc_state *s, int hold_ms)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->hold_ms = hold_ms;
    actor_opts o = {.name = "receipt",
                    .state = s,
                    .handler = rc_handler,
                    .on_start = rc_start,
                    .on_stop = rc_stop,
                    .mailbox = 8,
                    .calls_on_receipt = 1};
    dp_err err;
    actor *a = actor_spawn(&o, &err);
    assert_non_null(a);
    return a;
}

typedef struct {
    actor *a;
    int rc;
} rc_caller;

static void *rc_call(void *p)
{
    rc_caller *c = p;
    nng_msg *req = NULL, *rep = NULL;
    dp_err err;
    nng_msg_alloc(&req, 0);
    nng_msg_append(req, "hi", 2);
    c->rc = actor_call(c->a, req, &rep, 10000, &err);
    if (c->rc == 0 && (nng_msg_len(rep) != 2 || memcmp(nng_msg_body(rep), "hi", 2) != 0))
        c->rc = -1000;
    nng_msg_free(rep);
    return NULL;
}

static void test_calls_run_at_once_off_the_actor_thread(void **unused)
{
    (void)unused;
    rc_state s;
    /* 5 s: far longer than two calls take to arrive on a loaded machine;
     * with calls handled one at a time the first would wait all of it and
     * max_inside stay 1 */
    actor *a = rc_spawn(&s, 5000);
    rc_caller c[2] = {{a, -1}, {a, -1}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, rc_call, &c[i]), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(c[i].rc, 0);
    }
    assert_int_equal(s.max_inside, 2);
    assert_int_equal(s.on_actor_thread, 0);

    /* One-way messages are still the actor thread's. */
    nng_msg *m = NULL;
    dp_err err;
    assert_int_equal(nng_msg_alloc(&m, 0), 0);
    assert_int_equal(actor_send(a, m, 2000, &err), 0);
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&s.mu);
        int seen = s.one_way_on_actor + s.one_way_elsewhere;
        pthread_mutex_unlock(&s.mu);
        if (seen > 0)
            break;
        usleep(10000);
    }
    assert_int_equal(s.one_way_on_actor, 1);
    assert_int_equal(s.one_way_elsewhere, 0);
    actor_destroy(a);
}

/* Starts one call in a thread of its own and returns once its handler is
 * inside (rc_handler holds it up to hold_ms). */
static void rc_start_held(rc_state *s, rc_caller *c, pthread_t *t)
{
    assert_int_equal(pthread_create(t, NULL, rc_call, c), 0);
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&s->mu);
        int inside = s->inside;
        pthread_mutex_unlock(&s->mu);
        if (inside > 0)
            break;
        usleep(2000);
    }
}

/* on_stop must not run while a handler on receipt still runs (the gateway's
 * on_stop frees what its handler reads). */
static void test_stop_waits_for_running_handlers(void **unused)
{
    (void)unused;
    rc_state s;
    actor *a = rc_spawn(&s, 300); /* one caller: the handler stays 300 ms */
    rc_caller c = {a, -1};
    pthread_t t;
    rc_start_held(&s, &c, &t);
    pthread_mutex_lock(&s.mu);
    assert_int_equal(s.inside, 1);
    pthread_mutex_unlock(&s.mu);
    actor_destroy(a); /* while the handler is inside */
    pthread_join(t, NULL);
    assert_int_equal(s.stop_saw_done, 1);
}

/* actor_receipt_stop returns only after the handler running on receipt has
 * returned, and later calls run on the actor thread (the gateway's close:
 * nothing may forward once the domain actors are being stopped). */
static void test_receipt_stop_waits_then_queues(void **unused)
{
    (void)unused;
    rc_state s;
    actor *a = rc_spawn(&s, 300); /* one caller: the handler stays 300 ms */
    rc_caller c = {a, -1};
    pthread_t t;
    rc_start_held(&s, &c, &t);
    actor_receipt_stop(a);
    assert_int_equal(atomic_load(&s.handlers_done), 1);
    pthread_join(t, NULL);
    assert_int_equal(c.rc, 0);
    s.hold_ms = 0;
    rc_caller c2 = {a, -1};
    rc_call(&c2);
    assert_int_equal(c2.rc, 0);
    assert_int_equal(s.on_actor_thread, 1); /* the second call, queued */
    actor_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calls_run_at_once_off_the_actor_thread),
        cmocka_unit_test(test_stop_waits_for_running_handlers),
        cmocka_unit_test(test_receipt_stop_waits_then_queues),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
