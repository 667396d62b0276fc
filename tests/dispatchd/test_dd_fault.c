/* dispatchd under faults: a runner that stops heartbeating (reaper, attempt
 * 2, then failed SE after max_attempts), dispatchd killed mid-flight and
 * restarted, Redis flushed mid-flight (FLUSHALL on a private redis-server),
 * a submit while Redis is away.
 * After each, every accepted job reaches a terminal state exactly once:
 * PostgreSQL has one terminal row per job, one 'completed' event and one
 * set of test results. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/dispatchd/dd_harness.h"
#include "tests/support/redis_server.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fast reaping. A runner the test keeps alive heartbeats at most one lease
 * wait (100-200 ms) plus a few round trips apart: the 1 s TTL is the slack
 * for a loaded 2-core machine (400 ms was not always enough under ASan). */
#define FAST_ENV(d)                                                                                \
    do {                                                                                           \
        dd_env(d, "DISPATCH_HEARTBEAT_MS=100");                                                    \
        dd_env(d, "DISPATCH_ALIVE_TTL_MS=1000");                                                   \
        dd_env(d, "DISPATCH_SWEEP_MS=50");                                                         \
    } while (0)

static void heartbeat(actor_client *c, const char *id, const char *tok)
{
    dp_msg h = {.type = DP_MSG_HEARTBEAT, .id = 1}, r;
    h.heartbeat.runner_id = (char *)id;
    h.heartbeat.runner_token = (char *)tok;
    h.heartbeat.free_slots = 4;
    assert_int_equal(dd_rpc(c, &h, &r, 5000), DP_OK);
    dp_msg_free(&r);
}

static void test_reaper_reclaims_then_fails(void **state)
{
    (void)state;
    dd_daemon d;
    dd_init(&d, NULL, NULL);
    FAST_ENV(&d);
    dd_env(&d, "DISPATCH_MAX_ATTEMPTS=2");
    dd_start(&d);
    actor_client *rc = dd_client(d.runner_url), *ac = dd_client(d.admin_url);
    char a_id[DP_ID_MAX], a_tok[65], b_id[DP_ID_MAX], b_tok[65];
    char job[1][DP_ID_MAX], ids[1][DP_ID_MAX];
    uint32_t att[1];
    size_t n = 0;
    dd_submit(ac, 1, job);
    /* A leases right after registering (it must not be reaped before), B
     * registers then and starts heartbeating at once. */
    dd_register(rc, "dies-first", a_id, a_tok);
    assert_int_equal(dd_lease(rc, a_id, a_tok, 1, 1000, ids, att, &n), DP_MSG_LEASED);
    assert_int_equal(att[0], 1);
    dd_register(rc, "dies-second", b_id, b_tok);
    /* A goes silent; B keeps heartbeating and asks for work. */
    int64_t t0 = dd_now_us();
    n = 0;
    /* reclaimed after the 1 s TTL and a 50 ms sweep; 10 s of slack for load */
    while (n == 0 && dd_now_us() - t0 < 10000000) {
        heartbeat(rc, b_id, b_tok);
        dd_lease(rc, b_id, b_tok, 1, 100, ids, att, &n);
    }
    if (n == 0)
        fail_msg("the silent runner's job was not reclaimed within 10 s");
    printf("reclaimed after %.0f ms (alive ttl 1000 ms)\n", (double)(dd_now_us() - t0) / 1000);
    assert_string_equal(ids[0], job[0]);
    assert_int_equal(att[0], 2);
    /* The reaped runner's late complete is refused. */
    assert_true(dd_complete(rc, a_id, a_tok, job[0], 1, 0) != DP_MSG_ACK);
    /* B goes silent too: attempts exhausted, failed with SE and a reason. */
    dp_job_view v = {0};
    t0 = dd_now_us();
    for (;;) {
        assert_int_equal(dd_status(ac, job[0], &v), DP_MSG_JOB);
        if (v.state == DP_JOB_FAILED || dd_now_us() - t0 > 10000000) /* 1 s TTL; slack */
            break;
        dp_job_view_free(&v);
        dd_sleep_ms(50);
    }
    assert_int_equal(v.state, DP_JOB_FAILED);
    assert_int_equal(v.verdict, DP_VERDICT_SE);
    assert_non_null(v.message);
    printf("failed after 2 attempts: %s\n", v.message);
    dp_job_view_free(&v);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM job_history WHERE job_id = '%s' AND state = 'failed'", job[0]);
    dd_sleep_ms(50);
    assert_int_equal(dd_sql_long(&d, sql), 1);
    /* the reclaim of attempt 1 left its `requeued` row (with the state change) */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM job_history WHERE job_id = '%s' AND state = 'requeued'"
             " AND attempt = 1 AND runner_id = '%s'",
             job[0], a_id);
    assert_int_equal(dd_sql_long(&d, sql), 1);
    actor_client_close(rc);
    actor_client_close(ac);
    assert_int_equal(dd_stop(&d), 0);
    dd_fini(&d);
}

/* Exactly-once check on the daemon's database for n jobs with 2 tests. */
static void assert_exactly_once(dd_daemon *d, long n)
{
    assert_int_equal(dd_sql_long(d, "SELECT count(*) FROM jobs"), n);
    assert_int_equal(dd_sql_long(d, "SELECT count(*) FROM jobs WHERE state = 'completed' AND "
                                    "verdict = 'AC'"),
                     n);
    /* Never two 'completed' events for a job; the results of one attempt only. */
    assert_int_equal(dd_sql_long(d, "SELECT count(*) FROM (SELECT job_id FROM job_history WHERE "
                                    "state = 'completed' GROUP BY job_id HAVING count(*) <> 1) x"),
                     0);
    /* ...and exactly one each, even across a crash: the history row is
     * written in the result's own statement. */
    assert_int_equal(dd_sql_long(d, "SELECT count(DISTINCT job_id) FROM job_history WHERE "
                                    "state = 'completed'"),
                     n);
    assert_int_equal(dd_sql_long(d, "SELECT count(*) FROM test_results"), 2 * n);
    assert_int_equal(dd_sql_long(d, "SELECT count(*) FROM test_results t JOIN jobs j ON "
                                    "j.id = t.job_id AND j.result_attempt = t.attempt"),
                     2 * n);
}

/* Leases and completes until every job is completed in PostgreSQL; the
 * runner re-registers when the dispatcher forgot it. Retries on errors and
 * timeouts the way a runner does. */
static void drain_all(dd_daemon *d, actor_client **rc, char *id, char *tok, long n)
{
    int64_t t0 = dd_now_us();
    while (dd_sql_long(d, "SELECT count(*) FROM jobs WHERE state = 'completed'") < n) {
        if (dd_now_us() - t0 > 30000000)
            fail_msg("not every job completed within 30 s");
        char ids[64][DP_ID_MAX];
        uint32_t att[64];
        size_t k = 0;
        heartbeat(*rc, id, tok);
        dp_msg_type t = dd_lease(*rc, id, tok, 64, 200, ids, att, &k);
        if (t == DP_MSG_ERROR) { /* forgotten (flush) or reaped: register again */
            dd_register(*rc, "re-registered", id, tok);
            continue;
        }
        for (size_t i = 0; i < k; i++) {
            /* A runner heartbeats while it works: 64 completes on a loaded
             * machine can outlast the 400 ms alive TTL, and a reaped runner's
             * jobs would run out of attempts instead of completing. */
            heartbeat(*rc, id, tok);
            dp_msg_type ct = dd_complete(*rc, id, tok, ids[i], att[i], 0);
            if (ct == DP_MSG_ERROR)
                dd_sleep_ms(50); /* unavailable: it comes back with the next lease */
        }
    }
}

static void test_restart_mid_flight(void **state)
{
    (void)state;
    dd_daemon d;
    dd_init(&d, NULL, NULL);
    /* the runner must outlive the restart (a kill and a start that take
     * seconds on a loaded machine): a 1 h alive TTL, nothing to reap here */
    dd_env(&d, "DISPATCH_ALIVE_TTL_MS=3600000");
    dd_start(&d);
    actor_client *rc = dd_client(d.runner_url), *ac = dd_client(d.admin_url);
    char id[DP_ID_MAX], tok[65];
    dd_register(rc, "survivor", id, tok);
    enum { N = 300 };
    static char jobs[N][DP_ID_MAX];
    dd_submit(ac, N, jobs);
    char ids[64][DP_ID_MAX];
    uint32_t att[64];
    size_t k = 0;
    assert_int_equal(dd_lease(rc, id, tok, 64, 1000, ids, att, &k), DP_MSG_LEASED);
    /* Completes in flight while dispatchd is killed. */
    actor_future *f[64];
    for (size_t i = 0; i < k; i++) {
        dp_test_result t[2] = {{.name = "t1", .verdict = DP_VERDICT_AC},
                               {.name = "t2", .verdict = DP_VERDICT_AC}};
        dp_msg m = {.type = DP_MSG_COMPLETE, .id = i + 1};
        m.complete.runner_id = id;
        m.complete.runner_token = tok;
        m.complete.result = (dp_job_result){.job_id = ids[i],
                                            .attempt = att[i],
                                            .verdict = DP_VERDICT_AC,
                                            .score = 100,
                                            .tests = t,
                                            .n_tests = 2};
        nng_msg *req = NULL;
        assert_int_equal(dp_msg_encode(&m, &req, NULL), DP_OK);
        f[i] = actor_client_call_start(rc, req, 3000, NULL);
        assert_non_null(f[i]);
    }
    /* Half of them answered (recorded), then the crash with the rest in flight. */
    size_t acked = 0;
    for (size_t i = 0; i < k / 2; i++) {
        nng_msg *rep = NULL;
        if (actor_future_wait(f[i], &rep, NULL) == DP_OK) {
            acked++;
            nng_msg_free(rep);
        }
    }
    dd_kill(&d);
    for (size_t i = k / 2; i < k; i++) {
        nng_msg *rep = NULL;
        if (actor_future_wait(f[i], &rep, NULL) == DP_OK) {
            acked++;
            nng_msg_free(rep);
        }
    }
    printf("killed with %zu completes in flight, %zu answered\n", k, acked);
    dd_start(&d);
    /* The runner repeats every complete it did not see acknowledged (here:
     * all of them, the repeat of an accepted one must change nothing). */
    for (size_t i = 0; i < k; i++) {
        dp_msg_type t = dd_complete(rc, id, tok, ids[i], att[i], 0);
        if (t != DP_MSG_ACK)
            fail_msg("repeated complete after restart answered %s", dp_msg_type_name(t));
    }
    drain_all(&d, &rc, id, tok, N);
    dd_sleep_ms(100);
    assert_exactly_once(&d, N);
    actor_client_close(rc);
    actor_client_close(ac);
    assert_int_equal(dd_stop(&d), 0);
    dd_fini(&d);
}

static void test_flushall_mid_flight(void **state)
{
    (void)state;
    rs_server rs;
    dp_err err = {0};
    if (rs_start(&rs, 0, &err) != DP_OK)
        fail_msg("private redis: %s", err.msg);
    dd_daemon d;
    dd_init(&d, rs.url, NULL);
    FAST_ENV(&d);
    dd_start(&d);
    actor_client *rc = dd_client(d.runner_url), *ac = dd_client(d.admin_url);
    char id[DP_ID_MAX], tok[65];
    enum { N = 200 };
    static char jobs[N][DP_ID_MAX];
    dd_submit(ac, N, jobs);
    /* Registered after the submit and heartbeating between completes: the
     * runner must not be reaped (1 s TTL) before the flush, however long
     * these round trips take on a loaded machine. */
    dd_register(rc, "flushed", id, tok);
    char ids[64][DP_ID_MAX];
    uint32_t att[64];
    size_t k = 0;
    assert_int_equal(dd_lease(rc, id, tok, 64, 1000, ids, att, &k), DP_MSG_LEASED);
    /* A runner heartbeats while it works: with a 400 ms alive TTL a loaded
     * machine can take longer than that for these completes. */
    for (size_t i = 0; i < k / 2; i++) {
        heartbeat(rc, id, tok);
        assert_int_equal(dd_complete(rc, id, tok, ids[i], att[i], 0), DP_MSG_ACK);
    }
    redisContext *r = redisConnect("127.0.0.1", rs.port);
    assert_non_null(r);
    redisReply *rep = redisCommand(r, "FLUSHALL");
    assert_non_null(rep);
    freeReplyObject(rep);
    redisFree(r);
    /* The other half of the leased jobs is completed after the flush. */
    for (size_t i = k / 2; i < k; i++)
        dd_complete(rc, id, tok, ids[i], att[i], 0);
    drain_all(&d, &rc, id, tok, N);
    dd_sleep_ms(100);
    assert_exactly_once(&d, N);
    actor_client_close(rc);
    actor_client_close(ac);
    assert_int_equal(dd_stop(&d), 0);
    dd_fini(&d);
    rs_stop(&rs);
}

/* Lines of dispatchd's log naming event (as "event"). */
static int log_count(const dd_daemon *d, const char *event)
{
    char path[128], want[96], line[4096];
    snprintf(path, sizeof path, "%s/dispatchd.log", d->dir);
    snprintf(want, sizeof want, "\"%s\"", event);
    FILE *f = fopen(path, "r");
    int n = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        n += strstr(line, want) != NULL;
    if (f != NULL)
        fclose(f);
    return n;
}

/* A submit while Redis is away: the profile a runner offered is known to
 * the reporter since the first submit, so the next one (two chunks of the
 * reporter's 1,000) is recorded in PostgreSQL and accepted without Redis,
 * its enqueue left to the rebuild after one failed try (the second chunk
 * does not wait for Redis again), and every job runs exactly once when
 * Redis is back. A profile never offered cannot be told apart from one
 * offered a moment ago without Redis: refused `unavailable`. (The profile
 * check used to ask Redis on every submit, and refused them all.) */
static void test_submit_while_redis_is_away(void **state)
{
    (void)state;
    rs_server rs;
    dp_err err = {0};
    if (rs_start(&rs, 1, &err) != DP_OK) /* AOF: the runner's registration survives */
        fail_msg("private redis: %s", err.msg);
    dd_daemon d;
    dd_init(&d, rs.url, NULL);
    dd_env(&d, "DISPATCH_ALIVE_TTL_MS=3600000"); /* Redis is away for a while: nothing to reap */
    dd_start(&d);
    actor_client *rc = dd_client(d.runner_url), *ac = dd_client(d.admin_url);
    char id[DP_ID_MAX], tok[65];
    dd_register_offering(rc, "offers-c", "c", id, tok);
    enum { N = 1001 };
    static char jobs[N + 1][DP_ID_MAX];
    dd_submit(ac, 1, &jobs[0]);
    rs_down(&rs);
    dd_submit(ac, N, &jobs[1]); /* fails the test if refused */
    assert_int_equal(dd_sql_long(&d, "SELECT count(*) FROM jobs"), N + 1);
    assert_int_equal(log_count(&d, "enqueue_deferred"), 1);
    char code[64];
    dd_submit_profile(ac, "never-offered", code, sizeof code);
    assert_string_equal(code, DP_MSG_ERR_UNAVAILABLE);
    if (rs_up(&rs, &err) != DP_OK)
        fail_msg("redis back: %s", err.msg);
    drain_all(&d, &rc, id, tok, N + 1);
    dd_sleep_ms(100);
    assert_exactly_once(&d, N + 1);
    actor_client_close(rc);
    actor_client_close(ac);
    assert_int_equal(dd_stop(&d), 0);
    dd_fini(&d);
    rs_stop(&rs);
}

/* A stall (SIGSTOP) during which an admin client gives up: its connection
 * is accepted after SIGCONT with a peer already gone. In nng 1.5.2 that
 * left the ipc listener greeting but never serving anyone again (#1518);
 * the runtime's own transport serves ipc now, and such a peer only ends its
 * own connection: the admin socket must answer again at once (25 s of
 * slack for a loaded machine). */
static void test_stall_with_a_client_that_gave_up(void **state)
{
    (void)state;
    dd_daemon d;
    dd_init(&d, NULL, NULL);
    /* nng still carries the daemon's inproc calls: what it may leak is its
     * own (tests/actors/nng-1.5.2.supp). */
    char supp[512];
    snprintf(supp, sizeof supp, "LSAN_OPTIONS=suppressions=%s",
             getenv("DD_NNG_SUPP") != NULL ? getenv("DD_NNG_SUPP") : "");
    dd_env(&d, supp);
    dd_start(&d);
    kill(d.pid, SIGSTOP);
    /* A client that connects (the kernel queues it), says hello and leaves
     * before the stalled daemon negotiates: what a timed-out dispatchctl does. */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *path = d.admin_url + 6;
    assert_true(strlen(path) < sizeof sa.sun_path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const unsigned char hello[8] = {'D', 'P', 'A', 'C', 'T', 'O', 'R', '1'};
    assert_int_equal(write(fd, hello, sizeof hello), (ssize_t)sizeof hello);
    close(fd);
    dd_sleep_ms(500);
    kill(d.pid, SIGCONT);
    dp_msg q = {.type = DP_MSG_QUEUE}, rep;
    int64_t t0 = dd_now_us();
    for (;;) {
        dp_err err = {0};
        actor_client *c = actor_client_open(d.admin_url, &err);
        int rc = c != NULL ? dd_rpc(c, &q, &rep, 2000) : DP_EUNAVAIL;
        actor_client_close(c);
        if (rc == DP_OK && rep.type == DP_MSG_QUEUE_STATS) {
            dp_msg_free(&rep);
            break;
        }
        if (rc == DP_OK)
            dp_msg_free(&rep);
        if (dd_now_us() - t0 > 25000000)
            fail_msg("the admin socket never answered again after the stall");
        dd_sleep_ms(200);
    }
    assert_int_equal(dd_stop(&d), 0);
    dd_fini(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reaper_reclaims_then_fails),
        cmocka_unit_test(test_restart_mid_flight),
        cmocka_unit_test(test_flushall_mid_flight),
        cmocka_unit_test(test_submit_while_redis_is_away),
        cmocka_unit_test(test_stall_with_a_client_that_gave_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
