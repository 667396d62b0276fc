/* One reporter batch holding an ack, a conflict (a reclaimed job), a
 * not_found and a retryable SE: four completes sent at the same instant
 * from four connections (the reporter flushes when its mailbox runs empty,
 * so they queue up behind each other and share a batch whenever they
 * arrive together). Each must be answered, and land, exactly as it would
 * alone; whatever batching happened, the outcome may not depend on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/dispatchd/dd_harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TTL_MS 1000 /* runner A goes silent for TTL_MS plus sweep slack to be reaped */

typedef struct {
    const char *url, *runner, *token, *job;
    uint32_t attempt;
    int retry;
    pthread_barrier_t *go;
    dp_msg_type got;
} sender;

static void *send_one(void *p)
{
    sender *s = p;
    actor_client *c = dd_client(s->url);
    pthread_barrier_wait(s->go);
    s->got = dd_complete(c, s->runner, s->token, s->job, s->attempt, s->retry);
    actor_client_close(c);
    return NULL;
}

static void test_batch_answered_item_by_item(void **state)
{
    (void)state;
    dd_daemon dd;
    dd_init(&dd, NULL, NULL);
    dd_env(&dd, "DISPATCH_HEARTBEAT_MS=200");
    dd_env(&dd, "DISPATCH_ALIVE_TTL_MS=1000");
    dd_env(&dd, "DISPATCH_SWEEP_MS=100");
    dd_start(&dd);
    actor_client *rc = dd_client(dd.runner_url), *admin = dd_client(dd.admin_url);
    char a_id[DP_ID_MAX], a_tok[65], b_id[DP_ID_MAX], b_tok[65];
    dd_register(rc, "runner-a", a_id, a_tok);
    dd_register(rc, "runner-b", b_id, b_tok);
    char jobs[3][DP_ID_MAX], ids[4][DP_ID_MAX];
    uint32_t att[4];
    size_t n = 0;
    dd_submit(admin, 3, jobs);
    assert_int_equal(dd_lease(rc, a_id, a_tok, 1, 0, ids, att, &n), DP_MSG_LEASED);
    assert_int_equal(n, 1);
    char reclaimed[DP_ID_MAX];
    snprintf(reclaimed, sizeof reclaimed, "%s", ids[0]);
    assert_int_equal(dd_lease(rc, b_id, b_tok, 2, 0, ids, att, &n), DP_MSG_LEASED);
    assert_int_equal(n, 2);
    /* A goes silent and is reaped; B keeps heartbeating. Slack: 3 x TTL on
     * a loaded machine before we give up. */
    char sql[512];
    dp_job_view v;
    dd_wait_pending(rc, admin, b_id, b_tok, 1, 3 * TTL_MS);

    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 4);
    sender s[4] = {
        {dd.runner_url, b_id, b_tok, ids[0], att[0], 0, &go, 0}, /* ack */
        {dd.runner_url, a_id, a_tok, reclaimed, 1, 0, &go, 0},   /* reclaimed: conflict */
        {dd.runner_url, b_id, b_tok, "j-00000000000000000000000000000000", 1, 0, &go, 0},
        {dd.runner_url, b_id, b_tok, ids[1], att[1], 1, &go, 0}, /* SE, retry elsewhere */
    };
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, send_one, &s[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    assert_int_equal(s[0].got, DP_MSG_ACK);
    /* A was reaped: its token is gone, so it is refused before the owner
     * check (unauthorized) or by it (conflict); either way nothing lands. */
    assert_true(s[1].got == DP_MSG_CONFLICT || s[1].got == DP_MSG_ERROR);
    assert_int_equal(s[2].got, DP_MSG_NOT_FOUND);
    assert_int_equal(s[3].got, DP_MSG_ACK);

    assert_int_equal(dd_status(admin, ids[0], &v), DP_MSG_JOB);
    assert_int_equal(v.state, DP_JOB_COMPLETED);
    assert_int_equal(v.verdict, DP_VERDICT_AC);
    dp_job_view_free(&v);
    assert_int_equal(dd_status(admin, reclaimed, &v), DP_MSG_JOB);
    assert_true(v.state == DP_JOB_QUEUED || v.state == DP_JOB_LEASED);
    assert_int_equal(v.verdict, DP_VERDICT_NONE);
    dp_job_view_free(&v);
    /* the SE went back to pending with its attempt counted: B leases it
     * again (with the reclaimed one) at attempt 2 */
    assert_int_equal(dd_lease(rc, b_id, b_tok, 4, 0, ids, att, &n), DP_MSG_LEASED);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(att[i], 2);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM job_events WHERE state = 'completed'");
    assert_int_equal(dd_sql_long(&dd, sql), 1);
    assert_int_equal(dd_sql_long(&dd, "SELECT count(*) FROM test_results"), 2);
    assert_int_equal(dd_sql_long(&dd, "SELECT count(*) FROM jobs WHERE state = 'completed'"), 1);

    actor_client_close(rc);
    actor_client_close(admin);
    int code = dd_stop(&dd);
    dd_fini(&dd);
    assert_int_equal(code, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_answered_item_by_item),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
