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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_restart_mid_flight),
    };
    return cmocka_run_group_tests(tests, pg_private_setup, pg_private_teardown);
}
