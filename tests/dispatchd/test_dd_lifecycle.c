/* dispatchd end to end over real sockets, with real Redis and PostgreSQL: a
 * scripted runner (register, heartbeat, lease, complete) and an admin client
 * (submit, status). Proves the refusals (bad registration token, wrong
 * runner token, wrong owner, unknown job), that a repeated complete is
 * acknowledged without touching PostgreSQL again, that a parked lease is
 * answered by the submit's wake (and shown leased by a status read right
 * after), that a leased spec is the spec submitted (the leaser hands out the
 * stored bytes; an older dispatchd's JSON form is decoded), and measures
 * completes/s. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/dispatchd/dd_harness.h"

#include "common/job_json.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static dd_daemon dd;
static actor_client *runner_c, *admin_c;

static int setup(void **state)
{
    (void)state;
    dd_init(&dd, NULL, NULL);
    /* The scripted runners heartbeat rarely or never, and nothing here is
     * about reaping: a 1 h alive TTL keeps them registered however slow a
     * loaded machine makes the test (the 15 s default was within reach). */
    dd_env(&dd, "DISPATCH_ALIVE_TTL_MS=3600000");
    dd_start(&dd);
    runner_c = dd_client(dd.runner_url);
    admin_c = dd_client(dd.admin_url);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    actor_client_close(runner_c);
    actor_client_close(admin_c);
    int code = dd_stop(&dd);
    dd_fini(&dd);
    /* SIGTERM must end it cleanly (and, under ASan, without leaks). */
    if (code != 0)
        fail_msg("dispatchd exited with %d on SIGTERM", code);
    return 0;
}

static void expect_error(const dp_msg *r, const char *code)
{
    if (r->type != DP_MSG_ERROR)
        fail_msg("expected error '%s', got %s", code, dp_msg_type_name(r->type));
    assert_string_equal(r->error.code, code);
    assert_non_null(r->error.message);
}

static void test_bad_registration_token(void **state)
{
    (void)state;
    dp_msg m = {.type = DP_MSG_REGISTER, .id = 3}, r;
    m.reg.registration_token = "not-the-registration-token";
    m.reg.name = "intruder";
    m.reg.capacity = 1;
    assert_int_equal(dd_rpc(runner_c, &m, &r, 5000), DP_OK);
    expect_error(&r, DP_MSG_ERR_UNAUTHORIZED);
    assert_int_equal(r.id, 3);
    dp_msg_free(&r);
}

static void test_wrong_runner_token(void **state)
{
    (void)state;
    char id[DP_ID_MAX], token[65];
    dd_register(runner_c, "r-wrong-token", id, token);
    const char *bad = "0000000000000000000000000000000000000000000000000000000000000000";
    dp_msg h = {.type = DP_MSG_HEARTBEAT, .id = 4}, r;
    h.heartbeat.runner_id = id;
    h.heartbeat.runner_token = (char *)bad;
    assert_int_equal(dd_rpc(runner_c, &h, &r, 5000), DP_OK);
    /* The heartbeat says "register again"; it never acks a bad token. */
    assert_int_equal(r.type, DP_MSG_ERROR);
    dp_msg_free(&r);
    h.heartbeat.runner_token = token;
    assert_int_equal(dd_rpc(runner_c, &h, &r, 5000), DP_OK);
    assert_int_equal(r.type, DP_MSG_ACK);
    dp_msg_free(&r);

    dp_msg l = {.type = DP_MSG_LEASE, .id = 5};
    l.lease.runner_id = id;
    l.lease.runner_token = (char *)bad;
    l.lease.max_jobs = 1;
    assert_int_equal(dd_rpc(runner_c, &l, &r, 5000), DP_OK);
    expect_error(&r, DP_MSG_ERR_UNAUTHORIZED);
    dp_msg_free(&r);
    assert_int_equal(dd_complete(runner_c, id, bad, "j-nope", 1, 0), DP_MSG_ERROR);
}

static void test_full_lifecycle(void **state)
{
    (void)state;
    char a_id[DP_ID_MAX], a_tok[65], b_id[DP_ID_MAX], b_tok[65];
    dd_register(runner_c, "runner-a", a_id, a_tok);
    dd_register(runner_c, "runner-b", b_id, b_tok);
    char ids[4][DP_ID_MAX];
    uint32_t att[4];
    size_t n = 0;
    assert_int_equal(dd_lease(runner_c, a_id, a_tok, 4, 0, ids, att, &n), DP_MSG_NONE);

    char job[1][DP_ID_MAX];
    dd_submit(admin_c, 1, job);
    dp_job_view v;
    assert_int_equal(dd_status(admin_c, job[0], &v), DP_MSG_JOB);
    assert_int_equal(v.state, DP_JOB_QUEUED);
    dp_job_view_free(&v);

    assert_int_equal(dd_lease(runner_c, a_id, a_tok, 4, 1000, ids, att, &n), DP_MSG_LEASED);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], job[0]);
    assert_int_equal(att[0], 1);

    /* Another runner, a wrong attempt, an unknown job: refused. */
    assert_int_equal(dd_complete(runner_c, b_id, b_tok, job[0], 1, 0), DP_MSG_CONFLICT);
    assert_int_equal(dd_complete(runner_c, a_id, a_tok, job[0], 2, 0), DP_MSG_CONFLICT);
    assert_int_equal(dd_complete(runner_c, a_id, a_tok, "j-00000000000000000000000000000000", 1, 0),
                     DP_MSG_NOT_FOUND);
    assert_int_equal(dd_status(admin_c, job[0], &v), DP_MSG_JOB);
    assert_int_equal(v.state, DP_JOB_LEASED);
    assert_string_equal(v.runner_id, a_id);
    dp_job_view_free(&v);

    assert_int_equal(dd_complete(runner_c, a_id, a_tok, job[0], 1, 0), DP_MSG_ACK);
    assert_int_equal(dd_status(admin_c, job[0], &v), DP_MSG_JOB);
    assert_int_equal(v.state, DP_JOB_COMPLETED);
    assert_int_equal(v.verdict, DP_VERDICT_AC);
    assert_int_equal(v.attempts, 1);
    assert_int_equal(v.n_tests, 2);
    assert_non_null(v.log_url);
    assert_non_null(v.finished_at);
    char *finished = strdup(v.finished_at);
    dp_job_view_free(&v);

    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM test_results WHERE job_id = '%s'", job[0]);
    assert_int_equal(dd_sql_long(&dd, sql), 2);
    /* Events are written on the reporter's next tick (2 ms): wait for the
     * row, up to 10 s of slack for a loaded machine. */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM job_history WHERE job_id = '%s' AND state = 'completed'",
             job[0]);
    for (int64_t t0 = dd_now_us(); dd_sql_long(&dd, sql) == 0 && dd_now_us() - t0 < 10000000;)
        dd_sleep_ms(20);
    assert_int_equal(dd_sql_long(&dd, sql), 1);

    /* The runner did not hear the ack and says it again: ack, nothing new.
     * (50 ms is 25 reporter ticks for a wrong second event to show up; on a
     * loaded machine it may be too short to catch one, never a false
     * failure.) */
    assert_int_equal(dd_complete(runner_c, a_id, a_tok, job[0], 1, 0), DP_MSG_ACK);
    dd_sleep_ms(50);
    assert_int_equal(dd_sql_long(&dd, sql), 1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM test_results WHERE job_id = '%s'", job[0]);
    assert_int_equal(dd_sql_long(&dd, sql), 2);
    assert_int_equal(dd_status(admin_c, job[0], &v), DP_MSG_JOB);
    assert_int_equal(v.state, DP_JOB_COMPLETED);
    assert_string_equal(v.finished_at, finished);
    dp_job_view_free(&v);
    free(finished);
    /* And the other runner still cannot overwrite it. */
    assert_int_equal(dd_complete(runner_c, b_id, b_tok, job[0], 1, 0), DP_MSG_CONFLICT);
}

/* A spec with most kinds of field set (labels left out: they route a job
 * to runners that offer them); strings borrowed, tests static. */
static dp_job_spec rich_spec(void)
{
    static dp_test_case tc[2] = {
        {.name = "first",
         .stdin_data = "3 4\n\xc3\xa9",
         .expected_stdout = "7\n",
         .timeout_ms = 1500,
         .compare = DP_COMPARE_EXACT,
         .score = 40},
        {.name = "second",
         .stdin_data = "",
         .expected_stdout = "0.3333\n",
         .timeout_ms = 900,
         .compare = DP_COMPARE_FLOAT,
         .abs_tol = 1e-3,
         .rel_tol = 1e-6,
         .score = 60},
    };
    return (dp_job_spec){
        .profile = "c",
        .archive = "file:///tmp/sub.zip",
        .archive_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        .submission_id = "sub-77",
        .tests = tc,
        .n_tests = 2,
        .limits = {.time_ms = 1234,
                   .wall_ms = 4321,
                   .memory_kb = 65536,
                   .processes = 7,
                   .output_kb = 512},
        .max_attempts = 5,
        .abs_tol = 1e-4,
        .rel_tol = 0.25,
        .priority = DP_PRIORITY_HIGH,
    };
}

/* One job leased by a lease on its own, whose spec must be `want` with the
 * job's id. */
static void lease_expect_spec(const char *id, const char *tok, const char *job_id,
                              const dp_job_spec *want)
{
    dp_msg l = {.type = DP_MSG_LEASE, .id = 31}, r;
    l.lease = (dp_msg_lease){(char *)id, (char *)tok, 1, 1000, NULL};
    assert_int_equal(dd_rpc(runner_c, &l, &r, 10000), DP_OK);
    if (r.type != DP_MSG_LEASED || r.leased.n_jobs != 1)
        fail_msg("lease answered %s", dp_msg_type_name(r.type));
    assert_string_equal(r.leased.jobs[0].job_id, job_id);
    dp_job_spec expect = *want;
    expect.job_id = (char *)job_id;
    dp_msg got = {.type = DP_MSG_SUBMIT, .submit = {&r.leased.jobs[0].spec, 1}};
    dp_msg exp = {.type = DP_MSG_SUBMIT, .submit = {&expect, 1}};
    if (!dp_msg_equal(&got, &exp)) {
        json_t *a = dp_job_spec_to_json(&r.leased.jobs[0].spec), *b = dp_job_spec_to_json(&expect);
        char *as = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
        char *bs = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
        fail_msg("leased spec\n%s\ndiffers from the one submitted\n%s", as, bs);
    }
    dp_msg_free(&r);
    assert_int_equal(dd_complete(runner_c, id, tok, job_id, 1, 0), DP_MSG_ACK);
}

/* Submits spec; its job id into job_id. */
static void submit_spec(const dp_job_spec *spec, char *job_id)
{
    dp_msg m = {.type = DP_MSG_SUBMIT, .id = 30}, r;
    m.submit.specs = (dp_job_spec *)spec;
    m.submit.n_specs = 1;
    assert_int_equal(dd_rpc(admin_c, &m, &r, 10000), DP_OK);
    if (r.type != DP_MSG_SUBMITTED || r.submitted.items[0].job_id == NULL)
        fail_msg("submit refused: %s",
                 r.type == DP_MSG_SUBMITTED ? r.submitted.items[0].error : "not submitted");
    snprintf(job_id, DP_ID_MAX, "%s", r.submitted.items[0].job_id);
    dp_msg_free(&r);
}

/* The leaser hands out a spec's stored bytes as they are (no decode and
 * encode per job): what the runner gets is what was submitted, field for
 * field. A spec stored as JSON (by an older dispatchd) is decoded and
 * handed out the same. The spec is submitted with the runner's lease not
 * yet asked, so it waits in Redis in its stored form. */
static void test_leased_spec_as_submitted(void **state)
{
    (void)state;
    char id[DP_ID_MAX], tok[65], job[DP_ID_MAX];
    dd_register(runner_c, "runner-spec", id, tok);
    dp_job_spec spec = rich_spec();
    submit_spec(&spec, job);
    lease_expect_spec(id, tok, job, &spec);

    /* The same spec stored the old way: its `spec` field rewritten as JSON. */
    submit_spec(&spec, job);
    dp_job_spec stored = spec;
    stored.job_id = job;
    json_t *j = dp_job_spec_to_json(&stored);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    char host[64] = "";
    int port = 0;
    if (sscanf(dd.redis_url, "redis://%63[^:]:%d", host, &port) != 2)
        fail_msg("cannot parse the Redis URL %s", dd.redis_url);
    redisContext *c = redisConnect(host, port);
    if (c == NULL || c->err)
        fail_msg("redis connect %s", dd.redis_url);
    redisReply *rr = redisCommand(c, "HSET %sjob:%s spec %s", dd.prefix, job, text);
    if (rr == NULL || rr->type != REDIS_REPLY_INTEGER)
        fail_msg("HSET of the job's spec failed");
    freeReplyObject(rr);
    redisFree(c);
    free(text);
    lease_expect_spec(id, tok, job, &spec);
}

/* Rounds of: a lease parked on an empty queue, then a submit; returns the
 * slowest submit -> lease in ms (mean printed under `what`). Fails when the
 * parked lease is answered with anything but the submitted job. */
static double wakeup_rounds(actor_client *rc, actor_client *ac, const char *what)
{
    char id[DP_ID_MAX], tok[65];
    dd_register(rc, "runner-latency", id, tok);
    double worst = 0, sum = 0;
    const int rounds = 10;
    for (int i = 0; i < rounds; i++) {
        dp_msg l = {.type = DP_MSG_LEASE, .id = 100 + (uint64_t)i};
        l.lease.runner_id = id;
        l.lease.runner_token = tok;
        l.lease.max_jobs = 1;
        l.lease.wait_ms = 5000;
        nng_msg *req = NULL, *rep = NULL;
        dp_err err = {0};
        assert_int_equal(dp_msg_encode(&l, &req, &err), DP_OK);
        actor_future *f = actor_client_call_start(rc, req, 10000, &err);
        assert_non_null(f);
        dd_sleep_ms(100); /* let it park (not parked yet under load: it finds the job at once) */
        char job[1][DP_ID_MAX];
        int64_t t0 = dd_now_us();
        dd_submit(ac, 1, job);
        assert_int_equal(actor_future_wait(f, &rep, &err), DP_OK);
        double ms = (double)(dd_now_us() - t0) / 1000.0;
        dp_msg r;
        assert_int_equal(dp_msg_decode_nng(rep, &r, &err), DP_OK);
        nng_msg_free(rep);
        if (r.type != DP_MSG_LEASED)
            fail_msg("%s: parked lease answered %s", what, dp_msg_type_name(r.type));
        assert_int_equal(r.id, 100 + (uint64_t)i);
        assert_string_equal(r.leased.jobs[0].job_id, job[0]);
        dp_msg_free(&r);
        /* idle: the reporter heard of the lease before the runner did */
        dp_job_view v;
        assert_int_equal(dd_status(ac, job[0], &v), DP_MSG_JOB);
        if (v.state != DP_JOB_LEASED)
            fail_msg("%s: round %d: status right after the lease says %s", what, i,
                     dp_job_state_name(v.state));
        dp_job_view_free(&v);
        assert_int_equal(dd_complete(rc, id, tok, job[0], 1, 0), DP_MSG_ACK);
        worst = ms > worst ? ms : worst;
        sum += ms;
    }
    printf("%s: submit->lease (parked, incl. submit round trip): mean %.2f ms, max %.2f ms\n", what,
           sum / rounds, worst);
    return worst;
}

/* A lease parked on an empty queue is answered by the submit's wake, not by
 * the leaser's fallback poke (every 5 s) or the lease's own 5 s deadline:
 * ~8 ms here (mean of 10 rounds, printed). Bound per round: 1 s, slack for a
 * loaded 2-core machine; without the wake, each round waits a uniform 0-5 s
 * for the poke, so 10 rounds all under 1 s would be a 1e-7 fluke. */
static void test_lease_wakeup_latency(void **state)
{
    (void)state;
    double worst = wakeup_rounds(runner_c, admin_c, "wake");
    if (worst >= 1000.0)
        fail_msg("a parked lease took %.1f ms after the submit (bound 1 s)", worst);
}

/* completes/s through gateway -> reporter -> PostgreSQL -> Redis; reported,
 * not asserted. Every job must end completed exactly once. */
static void test_throughput(void **state)
{
    (void)state;
    char id[DP_ID_MAX], tok[65];
    dd_register(runner_c, "runner-throughput", id, tok);
    enum { N = 2000, BATCH = 500, LEASE = 64 };
    static char ids[BATCH][DP_ID_MAX];
    for (int b = 0; b < N / BATCH; b++)
        dd_submit(admin_c, BATCH, ids);
    int64_t t0 = dd_now_us();
    size_t done = 0;
    while (done < N) {
        char got[LEASE][DP_ID_MAX];
        uint32_t att[LEASE];
        size_t n = 0;
        assert_int_equal(dd_lease(runner_c, id, tok, LEASE, 1000, got, att, &n), DP_MSG_LEASED);
        actor_future *f[LEASE];
        for (size_t i = 0; i < n; i++) {
            dp_msg m = {.type = DP_MSG_COMPLETE, .id = i + 1};
            dp_test_result t = {.name = "t1", .verdict = DP_VERDICT_AC};
            m.complete.runner_id = id;
            m.complete.runner_token = tok;
            m.complete.result = (dp_job_result){.job_id = got[i],
                                                .attempt = att[i],
                                                .verdict = DP_VERDICT_AC,
                                                .score = 100,
                                                .tests = &t,
                                                .n_tests = 1};
            nng_msg *req = NULL;
            dp_err err = {0};
            assert_int_equal(dp_msg_encode(&m, &req, &err), DP_OK);
            f[i] = actor_client_call_start(runner_c, req, 20000, &err);
            assert_non_null(f[i]);
        }
        for (size_t i = 0; i < n; i++) {
            nng_msg *rep = NULL;
            dp_err err = {0};
            dp_msg r;
            assert_int_equal(actor_future_wait(f[i], &rep, &err), DP_OK);
            assert_int_equal(dp_msg_decode_nng(rep, &r, &err), DP_OK);
            nng_msg_free(rep);
            if (r.type != DP_MSG_ACK)
                fail_msg("complete answered %s", dp_msg_type_name(r.type));
            dp_msg_free(&r);
        }
        done += n;
    }
    double s = (double)(dd_now_us() - t0) / 1e6;
    printf("throughput: %d jobs leased+completed in %.2f s = %.0f completes/s\n", N, s, N / s);
    assert_int_equal(dd_sql_long(&dd, "SELECT count(*) FROM jobs WHERE state = 'completed' AND "
                                      "runner_id IS NOT NULL AND result_attempt = 1"),
                     dd_sql_long(&dd, "SELECT count(*) FROM jobs WHERE state = 'completed'"));
    assert_int_equal(dd_sql_long(&dd, "SELECT count(*) FROM jobs WHERE state <> 'completed'"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_registration_token),
        cmocka_unit_test(test_wrong_runner_token),
        cmocka_unit_test(test_full_lifecycle),
        cmocka_unit_test(test_leased_spec_as_submitted),
        cmocka_unit_test(test_lease_wakeup_latency),
        cmocka_unit_test(test_throughput),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
