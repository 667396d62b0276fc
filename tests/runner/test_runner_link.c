/* Unit tests for the runner's asynchronous call (runner/runner_link_async.c)
 * against a real dispatcher-side actor over tcp on loopback: the reply
 * reaches the caller's mailbox as an `answer` holding the bytes as they
 * came, and runner_link_answer_open decodes it once. Bytes that do not
 * decode end the call as a transport failure would, naming what is wrong;
 * a reply saying the replica is stopping moves the runner to the next one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runner/runner_link_impl.h"

/* The fake dispatcher: answers a complete_lease by its request id. */
static int dispatcher_handle(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    (void)state;
    (void)ctx;
    dp_msg req, r = {0};
    dp_err err = {0};
    /* no cmocka asserts off the test's thread: a failure answers an error */
    int rc = dp_msg_decode_nng(msg, &req, &err);
    nng_msg_free(msg);
    if (rc != DP_OK)
        return rc;
    const char *what = req.complete_lease.request_id;
    r.id = req.id;
    if (strcmp(what, "q-garbage") == 0) {
        static const uint8_t junk[] = {0x93, 0x01, 0x02}; /* an array, not an envelope */
        dp_msg_free(&req);
        if (nng_msg_alloc(reply, 0) != 0)
            return DP_ENOMEM;
        return nng_msg_append(*reply, junk, sizeof junk) != 0 ? DP_ENOMEM : 0;
    }
    if (strcmp(what, "q-leaving") == 0) {
        r.type = DP_MSG_NONE;
        r.none.reason = (char *)DP_MSG_REASON_SHUTTING_DOWN;
    } else {
        static dp_leased_job jobs[2];
        memset(jobs, 0, sizeof jobs);
        for (int i = 0; i < 2; i++) {
            jobs[i].job_id = i ? "job-b" : "job-a";
            jobs[i].attempt = 1;
            jobs[i].spec.profile = "shell";
            jobs[i].spec.archive = "https://example.com/a.zip";
        }
        r.type = DP_MSG_COMPLETED_LEASED;
        r.completed_leased.jobs = jobs;
        r.completed_leased.n_jobs = 2;
    }
    rc = dp_msg_encode(&r, reply, &err);
    dp_msg_free(&req);
    return rc;
}

/* The caller: opens each arrival and keeps the last, for the test thread. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int arrived;
    dp_msg_type raw_type; /* as it arrived */
    int open_rc;
    dp_msg answer; /* after runner_link_answer_open */
    runner_link_target target;
} caller_state;

static int caller_handle(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    caller_state *c = state;
    (void)ctx;
    (void)reply;
    dp_msg m;
    int rc = dp_msg_decode_internal(msg, &m, NULL); /* the test sees INVALID on failure */
    nng_msg_free(msg);
    pthread_mutex_lock(&c->mu);
    c->raw_type = m.type;
    c->open_rc = rc == DP_OK ? runner_link_answer_open(&m, &c->target) : rc;
    dp_msg_free(&c->answer);
    c->answer = m;
    c->arrived++;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

typedef struct {
    actor *dispatcher, *spare, *caller;
    caller_state st;
    actor_client *link;
} fixture;

static actor *spawn_dispatcher(const char *name)
{
    static const char *const urls[] = {"tcp://127.0.0.1:0"};
    actor_opts o = {
        .name = name, .handler = dispatcher_handle, .listen_urls = urls, .n_listen_urls = 1};
    dp_err err = {0};
    actor *a = actor_spawn(&o, &err);
    assert_non_null(a);
    return a;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    pthread_mutex_init(&f->st.mu, NULL);
    pthread_cond_init(&f->st.cv, NULL);
    f->dispatcher = spawn_dispatcher("fake-dispatcher");
    f->spare = spawn_dispatcher("fake-spare");
    actor_opts o = {.name = "link-caller", .state = &f->st, .handler = caller_handle};
    dp_err err = {0};
    f->caller = actor_spawn(&o, &err);
    assert_non_null(f->caller);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    runner_link_close(&f->link);
    actor_destroy(f->caller);
    actor_destroy(f->dispatcher);
    actor_destroy(f->spare);
    dp_msg_free(&f->st.answer);
    pthread_cond_destroy(&f->st.cv);
    pthread_mutex_destroy(&f->st.mu);
    free(f);
    return 0;
}

/* Calls url with request id `what` and waits (10 s: loopback, generous for
 * a loaded machine) for the caller to have opened the answer; its id. */
static uint64_t call(fixture *f, const char *url, const char *what)
{
    pthread_mutex_lock(&f->st.mu);
    int before = f->st.arrived;
    pthread_mutex_unlock(&f->st.mu);
    dp_msg req = {.type = DP_MSG_COMPLETE_LEASE};
    req.complete_lease.runner_id = "r-1";
    req.complete_lease.runner_token = "tok";
    req.complete_lease.max_jobs = 2;
    req.complete_lease.request_id = (char *)what;
    dp_err err = {0};
    /* mu held from before the call: the answer cannot be opened (the caller
     * takes mu) before the call's target is in place */
    pthread_mutex_lock(&f->st.mu);
    int rc = runner_link_call_async(&f->link, url, &req, 10000, f->caller, &f->st.target, &err);
    assert_int_equal(rc, DP_OK);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    while (f->st.arrived == before)
        assert_int_equal(pthread_cond_timedwait(&f->st.cv, &f->st.mu, &until), 0);
    pthread_mutex_unlock(&f->st.mu);
    return req.id;
}

static void test_reply_decoded_once_by_the_caller(void **state)
{
    fixture *f = *state;
    uint64_t id = call(f, actor_url(f->dispatcher, 1), "q-good");
    assert_int_equal(f->st.raw_type, DP_MSG_ANSWER); /* undecoded on the way */
    assert_int_equal(f->st.open_rc, DP_OK);
    assert_int_equal(f->st.answer.type, DP_MSG_COMPLETED_LEASED);
    assert_int_equal(f->st.answer.id, id);
    assert_int_equal(f->st.answer.completed_leased.n_jobs, 2);
    assert_string_equal(f->st.answer.completed_leased.jobs[1].job_id, "job-b");
    assert_string_equal(f->st.answer.completed_leased.jobs[0].spec.profile, "shell");
}

static void test_undecodable_reply_is_a_failed_call(void **state)
{
    fixture *f = *state;
    uint64_t id = call(f, actor_url(f->dispatcher, 1), "q-garbage");
    assert_int_equal(f->st.raw_type, DP_MSG_ANSWER);
    assert_int_equal(f->st.open_rc, DP_OK);
    assert_int_equal(f->st.answer.type, DP_MSG_ERROR);
    assert_int_equal(f->st.answer.id, id);
    assert_string_equal(f->st.answer.error.code, DP_MSG_ERR_UNAVAILABLE);
    assert_non_null(strstr(f->st.answer.error.message, "undecodable reply"));
    assert_non_null(strstr(f->st.answer.error.message, actor_url(f->dispatcher, 1)));
}

/* A stopping replica's answer moves every link on to the next URL. */
static void test_leaving_replica_moves_the_choice(void **state)
{
    fixture *f = *state;
    char list[RUNNER_LINK_LIST_MAX], now[RUNNER_LINK_LIST_MAX], next[RUNNER_LINK_LIST_MAX + 2];
    /* the process-wide choice may point at either: start from where it is */
    snprintf(list, sizeof list, "%s,%s", actor_url(f->dispatcher, 1), actor_url(f->spare, 1));
    runner_link_current(list, now, sizeof now);
    snprintf(
        list, sizeof list, "%.200s,%.200s", now,
        actor_url(strcmp(now, actor_url(f->dispatcher, 1)) == 0 ? f->spare : f->dispatcher, 1));
    snprintf(next, sizeof next, "%s", strchr(list, ',') + 1);
    call(f, list, "q-leaving");
    assert_int_equal(f->st.answer.type, DP_MSG_NONE);
    runner_link_current(list, now, sizeof now);
    assert_string_equal(now, next);
    /* the next call goes there, and an ordinary answer moves nothing */
    call(f, list, "q-good");
    assert_int_equal(f->st.answer.type, DP_MSG_COMPLETED_LEASED);
    assert_string_equal(f->st.target.url, next);
    runner_link_current(list, now, sizeof now);
    assert_string_equal(now, next);
}

/* Anything but an `answer` (a transport failure's error) is left alone. */
static void test_other_messages_left_alone(void **state)
{
    (void)state;
    dp_msg m = {.type = DP_MSG_ERROR, .id = 5};
    m.error.code = strdup(DP_MSG_ERR_UNAVAILABLE);
    m.error.message = strdup("dispatcher at tcp://x: timed out");
    assert_int_equal(runner_link_answer_open(&m, NULL), DP_OK);
    assert_int_equal(m.type, DP_MSG_ERROR);
    assert_int_equal(m.id, 5);
    assert_string_equal(m.error.message, "dispatcher at tcp://x: timed out");
    dp_msg_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reply_decoded_once_by_the_caller, setup, teardown),
        cmocka_unit_test_setup_teardown(test_undecodable_reply_is_a_failed_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leaving_replica_moves_the_choice, setup, teardown),
        cmocka_unit_test(test_other_messages_left_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
