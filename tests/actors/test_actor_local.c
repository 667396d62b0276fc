/* Calls to an actor of this process skip nng (actors/actor_local.c): the
 * answer reaches the callback on the answering thread, and every way a
 * call can end (answer, error, deadline, full mailbox, oversized request,
 * the actor stopping, the client closing) calls it exactly once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actors/actor.h"
#include "echo.h"

typedef struct outcome {
    atomic_int calls; /* callbacks so far */
    int code;
    char text[256];  /* the reply body, or the error text */
    char thread[16]; /* the name of the thread the callback ran on */
    uint64_t at_ms;
} outcome;

static void record_cb(void *arg, int code, nng_msg *reply, const char *errmsg)
{
    outcome *o = arg;
    o->code = code;
    o->at_ms = echo_now_ms();
    pthread_getname_np(pthread_self(), o->thread, sizeof o->thread);
    if (code == 0) {
        size_t n =
            nng_msg_len(reply) < sizeof o->text - 1 ? nng_msg_len(reply) : sizeof o->text - 1;
        memcpy(o->text, nng_msg_body(reply), n);
        o->text[n] = '\0';
    } else {
        assert_null(reply);
        snprintf(o->text, sizeof o->text, "%s", errmsg != NULL ? errmsg : "");
    }
    nng_msg_free(reply);
    atomic_fetch_add(&o->calls, 1);
}

static void wait_calls(outcome *o, int n)
{
    uint64_t deadline = echo_now_ms() + 10000;
    while (atomic_load(&o->calls) < n && echo_now_ms() < deadline)
        usleep(1000);
    assert_int_equal(atomic_load(&o->calls), n);
}

static void wait_held(echo_state *st, size_t n)
{
    uint64_t deadline = echo_now_ms() + 10000;
    while (atomic_load(&st->n_held_pub) < n && echo_now_ms() < deadline)
        usleep(1000);
    assert_int_equal(atomic_load(&st->n_held_pub), n);
}

/* An echo actor and a client on its inproc URL (so calls are local). */
static actor *spawn_local(const char *name, echo_state *st, size_t mailbox, size_t max_msg_bytes,
                          actor_client **c)
{
    actor_opts opts = echo_opts(name, st, mailbox);
    opts.max_msg_bytes = max_msg_bytes;
    dp_err err;
    actor *a = actor_spawn(&opts, &err);
    assert_non_null(a);
    *c = actor_client_open(actor_url(a, 0), &err);
    assert_non_null(*c);
    return a;
}

/* The answer comes on the actor's own thread (no nng thread between), the
 * error reply keeps its code and text. */
static void test_answer_on_the_actors_thread(void **unused)
{
    (void)unused;
    echo_state st = {0};
    actor_client *c = NULL;
    actor *a = spawn_local("local", &st, 16, 0, &c);
    dp_err err;
    outcome ok = {0}, fail = {0};
    assert_int_equal(actor_client_call_async(c, echo_msg("ping-1"), 5000, record_cb, &ok, &err), 0);
    assert_int_equal(actor_client_call_async(c, echo_msg("fail"), 5000, record_cb, &fail, &err), 0);
    wait_calls(&ok, 1);
    wait_calls(&fail, 1);
    assert_int_equal(ok.code, 0);
    assert_string_equal(ok.text, "ping-1");
    assert_string_equal(ok.thread, "a:local"); /* through nng it was an nng thread */
    assert_int_equal(fail.code, DP_ECONFLICT);
    assert_non_null(strstr(fail.text, "fail requested"));
    actor_client_close(c);
    actor_destroy(a);
}

/* A held call past its deadline ends with DP_ETIMEOUT; the handler's later
 * answer is dropped (no second callback) and its slot is free again. */
static void test_deadline(void **unused)
{
    (void)unused;
    echo_state st = {0};
    actor_client *c = NULL;
    actor *a = spawn_local("local-deadline", &st, 4, 0, &c);
    dp_err err;
    outcome held = {0};
    uint64_t t0 = echo_now_ms();
    assert_int_equal(actor_client_call_async(c, echo_msg("hold"), 200, record_cb, &held, &err), 0);
    wait_calls(&held, 1);
    assert_int_equal(held.code, DP_ETIMEOUT);
    /* not before its 200 ms; the upper bound only guards against a
     * deadline never checked (10 s: a loaded machine may delay the wake) */
    assert_true(held.at_ms - t0 >= 200);
    assert_true(held.at_ms - t0 < 10000);
    nng_msg *reply = NULL;
    assert_int_equal(actor_call(a, echo_msg("release"), &reply, 5000, &err), 0);
    assert_true(echo_msg_is(reply, "ok:1"));
    nng_msg_free(reply);
    outcome after = {0};
    assert_int_equal(actor_client_call_async(c, echo_msg("ping-2"), 5000, record_cb, &after, &err),
                     0);
    wait_calls(&after, 1);
    assert_string_equal(after.text, "ping-2");
    assert_int_equal(atomic_load(&held.calls), 1);
    actor_client_close(c);
    actor_destroy(a);
}

/* A full mailbox and an oversized request are refused at once (the
 * callback is not called); the actor stopping ends held calls with
 * DP_ECLOSED. */
static void test_refused_and_stopped(void **unused)
{
    (void)unused;
    echo_state st = {0};
    actor_client *c = NULL;
    actor *a = spawn_local("local-full", &st, 4, 64, &c);
    dp_err err;
    outcome held[4] = {0}, refused = {0};
    for (int i = 0; i < 4; i++)
        assert_int_equal(
            actor_client_call_async(c, echo_msg("hold"), ACTOR_FOREVER, record_cb, &held[i], &err),
            0);
    wait_held(&st, 4);
    assert_int_equal(actor_client_call_async(c, echo_msg("ping"), 5000, record_cb, &refused, &err),
                     DP_EFULL);
    char big[66];
    memset(big, 'x', 65);
    big[65] = '\0';
    assert_int_equal(actor_client_call_async(c, echo_msg(big), 5000, record_cb, &refused, &err),
                     DP_EINVAL);
    assert_non_null(strstr(err.msg, "above its limit"));
    actor_destroy(a);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(atomic_load(&held[i].calls), 1);
        assert_int_equal(held[i].code, DP_ECLOSED);
    }
    assert_int_equal(atomic_load(&refused.calls), 0);
    actor_client_close(c);
}

/* A deferred call answered from another thread whose callback outlasts the
 * actor's stop (which waits at most 500 ms for replies to leave): nothing
 * touches the freed actor after the callback (ASan would say so). */
typedef struct {
    actor *a;
    actor_req_id id;
    int rc;
} late_reply;

static atomic_int slow_cb_entered;

static void slow_cb(void *arg, int code, nng_msg *reply, const char *errmsg)
{
    atomic_store(&slow_cb_entered, 1);
    usleep(800 * 1000);
    record_cb(arg, code, reply, errmsg);
}

static void *answer_late(void *arg)
{
    late_reply *l = arg;
    dp_err err;
    l->rc = actor_reply(l->a, l->id, echo_msg("late"), &err);
    return NULL;
}

static void test_callback_outlasts_the_actor(void **unused)
{
    (void)unused;
    echo_state st = {0};
    actor_client *c = NULL;
    actor *a = spawn_local("local-late", &st, 4, 0, &c);
    dp_err err;
    outcome held = {0};
    assert_int_equal(actor_client_call_async(c, echo_msg("hold"), 10000, slow_cb, &held, &err), 0);
    wait_held(&st, 1);
    late_reply l = {a, st.held[0], -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, answer_late, &l), 0);
    uint64_t deadline = echo_now_ms() + 10000;
    while (!atomic_load(&slow_cb_entered) && echo_now_ms() < deadline)
        usleep(1000);
    assert_true(atomic_load(&slow_cb_entered)); /* the answering thread is in the callback */
    actor_destroy(a);
    pthread_join(th, NULL);
    assert_int_equal(l.rc, 0);
    assert_int_equal(atomic_load(&held.calls), 1);
    assert_int_equal(held.code, 0);
    assert_string_equal(held.text, "late");
    actor_client_close(c);
}

/* Many threads calling at once: every call answered once, with its own
 * body. */
typedef struct {
    actor_client *c;
    int base;
    outcome out[200];
} caller;

static void *call_many(void *arg)
{
    caller *k = arg;
    dp_err err;
    for (int i = 0; i < 200; i++) {
        char text[32];
        snprintf(text, sizeof text, "ping-%d", k->base + i);
        int rc;
        while ((rc = actor_client_call_async(k->c, echo_msg(text), 10000, record_cb, &k->out[i],
                                             &err)) == DP_EFULL)
            usleep(100); /* back-pressure */
        assert_int_equal(rc, 0);
    }
    return NULL;
}

static void test_concurrent_callers(void **unused)
{
    (void)unused;
    echo_state st = {0};
    actor_client *c = NULL;
    actor *a = spawn_local("local-many", &st, 64, 0, &c);
    static caller k[4];
    pthread_t th[4];
    for (int t = 0; t < 4; t++) {
        memset(&k[t], 0, sizeof k[t]);
        k[t].c = c;
        k[t].base = t * 1000;
        assert_int_equal(pthread_create(&th[t], NULL, call_many, &k[t]), 0);
    }
    for (int t = 0; t < 4; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < 200; i++) {
            wait_calls(&k[t].out[i], 1);
            char want[32];
            snprintf(want, sizeof want, "ping-%d", k[t].base + i);
            assert_int_equal(k[t].out[i].code, 0);
            assert_string_equal(k[t].out[i].text, want);
        }
    actor_client_close(c);
    actor_destroy(a);
}

static int group_teardown(void **unused)
{
    (void)unused;
    nng_fini();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_on_the_actors_thread),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_refused_and_stopped),
        cmocka_unit_test(test_concurrent_callers),
        cmocka_unit_test(test_callback_outlasts_the_actor),
    };
    return cmocka_run_group_tests_name("actors-local", tests, NULL, group_teardown);
}
