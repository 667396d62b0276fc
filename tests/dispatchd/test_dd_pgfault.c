/* dispatchd while its PostgreSQL restarts mid-flight (a private instance:
 * initdb in /tmp, as the postgres user when root, stopped by pid in
 * teardown). Completes and submits that hit the outage are refused with an
 * error (never acked unrecorded); the runner repeats them and every job
 * ends completed exactly once. */
#include "tests/support/pg_server.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <glob.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/dispatchd/dd_harness.h"

static void test_pg_restart_mid_flight(void **state)
{
    (void)state;
    dd_daemon d;
    dd_init(&d, NULL, pg_private.dsn);
    /* The scripted runners heartbeat rarely or never, and nothing here is
     * about reaping: a 1 h alive TTL keeps them registered however slow a
     * loaded machine makes the test (the 15 s default was within reach). */
    dd_env(&d, "DISPATCH_ALIVE_TTL_MS=3600000");
    dd_start(&d);
    actor_client *rc = dd_client(d.runner_url), *ac = dd_client(d.admin_url);
    char id[DP_ID_MAX], tok[65];
    dd_register(rc, "pg-restart", id, tok);
    enum { N = 200 };
    static char jobs[N][DP_ID_MAX];
    dd_submit(ac, N, jobs);
    char ids[64][DP_ID_MAX];
    uint32_t att[64];
    size_t k = 0;
    assert_int_equal(dd_lease(rc, id, tok, 64, 1000, ids, att, &k), DP_MSG_LEASED);
    for (size_t i = 0; i < k / 2; i++)
        assert_int_equal(dd_complete(rc, id, tok, ids[i], att[i], 0), DP_MSG_ACK);
    assert_int_equal(pg_server_stop(&pg_private, "fast"), 0);
    /* While it is down: completes are refused, not acknowledged. */
    size_t refused = 0;
    for (size_t i = k / 2; i < k; i++)
        refused += dd_complete(rc, id, tok, ids[i], att[i], 0) != DP_MSG_ACK;
    printf("PostgreSQL down: %zu of %zu completes refused\n", refused, k - k / 2);
    assert_int_equal(refused, k - k / 2);
    assert_int_equal(pg_server_start(&pg_private), 0);
    int64_t t0 = dd_now_us();
    size_t done = k / 2;
    while (done < k) { /* the runner repeats until acknowledged */
        if (dd_complete(rc, id, tok, ids[done], att[done], 0) == DP_MSG_ACK)
            done++;
        else
            dd_sleep_ms(100);
        if (dd_now_us() - t0 > 30000000)
            fail_msg("completes not accepted within 30 s of PostgreSQL's return");
    }
    printf("completes accepted again %.0f ms after PostgreSQL restarted\n",
           (double)(dd_now_us() - t0) / 1000);
    while (dd_sql_long(&d, "SELECT count(*) FROM jobs WHERE state = 'completed'") < N) {
        if (dd_now_us() - t0 > 60000000)
            fail_msg("not every job completed within 60 s");
        dp_msg h = {.type = DP_MSG_HEARTBEAT, .id = 1}, r;
        h.heartbeat.runner_id = id;
        h.heartbeat.runner_token = tok;
        assert_int_equal(dd_rpc(rc, &h, &r, 5000), DP_OK);
        dp_msg_free(&r);
        dd_lease(rc, id, tok, 64, 200, ids, att, &k);
        for (size_t i = 0; i < k; i++)
            dd_complete(rc, id, tok, ids[i], att[i], 0);
    }
    assert_int_equal(dd_sql_long(&d, "SELECT count(*) FROM jobs WHERE state = 'completed'"), N);
    assert_int_equal(dd_sql_long(&d, "SELECT count(*) FROM test_results"), 2 * N);
    assert_int_equal(dd_sql_long(&d, "SELECT count(*) FROM (SELECT job_id FROM job_history WHERE "
                                     "state = 'completed' GROUP BY job_id HAVING count(*) <> 1) x"),
                     0);
    assert_int_equal(dd_sql_long(&d, "SELECT count(DISTINCT job_id) FROM job_history WHERE "
                                     "state = 'completed'"),
                     N);
    actor_client_close(rc);
    actor_client_close(ac);
    assert_int_equal(dd_stop(&d), 0);
    dd_fini(&d);
}

/* A lease told while PostgreSQL is down, then its runner lost and the job
 * reclaimed, still while it is down: the lease mark (held by the reporter
 * for its result, then kept as unwritten) must reach PostgreSQL before the
 * reclaim's requeue, or the requeue finds no leased attempt and the job's
 * first attempt is not counted (a review found the mark dropped, and the
 * buffer holding it read after a reallocation). Once PostgreSQL is back the
 * history reads queued, leased(1), requeued(1), leased(2), completed(2). */
static void test_marks_kept_ahead_of_a_reclaim(void **state)
{
    (void)state;
    dd_daemon d;
    dd_init(&d, NULL, pg_private.dsn);
    /* the lost runner is reaped within seconds; 4 s outlasts stopping
     * PostgreSQL, during which the other does not heartbeat */
    dd_env(&d, "DISPATCH_HEARTBEAT_MS=200");
    dd_env(&d, "DISPATCH_ALIVE_TTL_MS=4000");
    dd_env(&d, "DISPATCH_SWEEP_MS=100");
    dd_start(&d);
    actor_client *rc = dd_client(d.runner_url), *ac = dd_client(d.admin_url);
    char lost_id[DP_ID_MAX], lost_tok[65], next_id[DP_ID_MAX], next_tok[65];
    dd_register(rc, "lost", lost_id, lost_tok);
    dd_register(rc, "next", next_id, next_tok);
    char x[1][DP_ID_MAX], ids[1][DP_ID_MAX];
    uint32_t att[1];
    size_t n = 0;
    dd_submit(ac, 1, x);
    assert_int_equal(pg_server_stop(&pg_private, "fast"), 0);
    assert_int_equal(dd_lease(rc, lost_id, lost_tok, 1, 1000, ids, att, &n), DP_MSG_LEASED);
    assert_int_equal(att[0], 1);
    /* "lost" never heartbeats again; "next" does, and asks, until the job
     * is back (the queue's counts come from PostgreSQL: not now) */
    int64_t until = dd_now_us() + 30000000;
    for (;;) {
        dd_heartbeat(rc, next_id, next_tok);
        if (dd_lease(rc, next_id, next_tok, 1, 300, ids, att, &n) == DP_MSG_LEASED && n == 1)
            break;
        if (dd_now_us() > until)
            fail_msg("the lost runner's job was not leased again within 30 s");
    }
    assert_string_equal(ids[0], x[0]);
    assert_int_equal(att[0], 2);
    dd_sleep_ms(500); /* the reclaim's requeue reaches the reporter (ms) while PostgreSQL is down */
    assert_int_equal(pg_server_start(&pg_private), 0);
    until = dd_now_us() + 30000000;
    while (dd_complete(rc, next_id, next_tok, x[0], 2, 0) != DP_MSG_ACK) {
        if (dd_now_us() > until)
            fail_msg("the result was not accepted within 30 s of PostgreSQL's return");
        dd_heartbeat(rc, next_id, next_tok);
        dd_sleep_ms(100);
    }
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT array_to_string(array_agg(state || attempt ORDER BY seq, ts), ',')"
             " = 'queued0,leased1,requeued1,leased2,completed2' FROM job_history"
             " WHERE job_id = '%s'",
             x[0]);
    char *v = NULL;
    until = dd_now_us() + 30000000;
    for (;;) {
        v = pgfix_query1(d.db.dsn, sql);
        if (v != NULL && strcmp(v, "t") == 0)
            break;
        free(v);
        if (dd_now_us() > until) {
            snprintf(sql, sizeof sql,
                     "SELECT array_to_string(array_agg(coalesce(seq::text,'-') || ':' || state || "
                     "attempt || '@' || ts::text ORDER BY seq, ts), ' | ')"
                     " FROM job_history WHERE job_id = '%s'",
                     x[0]);
            v = pgfix_query1(d.db.dsn, sql);
            fail_msg("history of the reclaimed job: %s", v != NULL ? v : "(none)");
        }
        dd_sleep_ms(100);
    }
    free(v);
    assert_int_equal(dd_sql_long(&d, "SELECT attempts FROM jobs"), 2);
    actor_client_close(rc);
    actor_client_close(ac);
    assert_int_equal(dd_stop(&d), 0);
    dd_fini(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_restart_mid_flight),
        cmocka_unit_test(test_marks_kept_ahead_of_a_reclaim),
    };
    return cmocka_run_group_tests(tests, pg_private_setup, pg_private_teardown);
}
