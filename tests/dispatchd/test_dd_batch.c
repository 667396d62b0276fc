/* One reporter batch holding an ack, a conflict (a reclaimed job), a
 * not_found and a retryable SE: four completes sent at the same instant
 * from four connections (the reporter flushes when its mailbox runs empty,
 * so they queue up behind each other and share a batch whenever they
 * arrive together). Each must be answered, and land, exactly as it would
 * alone; whatever batching happened, the outcome may not depend on it.
 * And a submit of three chunks (SUBMIT_CHUNK, 1000; inserted two at a time
 * on two connections) whose second chunk PostgreSQL refuses: the first and
 * the third (in flight when the second failed) are recorded, enqueued and
 * answered with job ids; every item of the second gets an error and is in
 * neither store. */
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
    snprintf(sql, sizeof sql, "SELECT count(*) FROM job_history WHERE state = 'completed'");
    assert_int_equal(dd_sql_long(&dd, sql), 1);
    assert_int_equal(dd_sql_long(&dd, "SELECT count(*) FROM test_results"), 2);
    assert_int_equal(dd_sql_long(&dd, "SELECT count(*) FROM jobs WHERE state = 'completed'"), 1);

    actor_client_close(rc);
    actor_client_close(admin);
    int code = dd_stop(&dd);
    dd_fini(&dd);
    assert_int_equal(code, 0);
}

#define BIG_SUBMIT 2500

static void test_submit_fails_after_first_chunk(void **state)
{
    (void)state;
    dd_daemon dd;
    dd_init(&dd, NULL, NULL);
    dd_start(&dd);
    actor_client *admin = dd_client(dd.admin_url);
    /* one job of the second chunk is refused, so is its whole statement */
    dd_sql_long(&dd, "CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                     "  IF NEW.submission_id = 'refuse-me' THEN"
                     "    RAISE EXCEPTION 'injected: this job is refused'; END IF;"
                     "  RETURN NEW; END $$");
    dd_sql_long(&dd, "CREATE TRIGGER refuse_one BEFORE INSERT ON jobs FOR EACH ROW"
                     "  EXECUTE FUNCTION refuse_one()");
    dp_msg m = {.type = DP_MSG_SUBMIT, .id = 9}, r;
    m.submit.n_specs = BIG_SUBMIT;
    m.submit.specs = calloc(BIG_SUBMIT, sizeof *m.submit.specs);
    for (size_t i = 0; i < BIG_SUBMIT; i++) {
        m.submit.specs[i].profile = "c";
        m.submit.specs[i].archive = "file:///tmp/sub.zip";
    }
    m.submit.specs[7].archive = "ftp://nowhere/x.zip"; /* a bad item: its own error */
    m.submit.specs[1500].submission_id = "refuse-me";  /* in the second chunk */
    assert_int_equal(dd_rpc(admin, &m, &r, 30000), DP_OK);
    free(m.submit.specs); /* borrowed strings: not dp_msg_free */
    assert_int_equal(r.type, DP_MSG_SUBMITTED);
    assert_int_equal(r.submitted.n_items, BIG_SUBMIT);
    size_t accepted = 0;
    for (size_t i = 0; i < BIG_SUBMIT; i++) {
        const dp_submit_item *it = &r.submitted.items[i];
        if (i == 7) {
            assert_null(it->job_id);
            assert_non_null(strstr(it->error, "archive"));
        } else if (i <= 1000 || i > 2000) { /* chunks 1 (items 0..1000 but 7) and 3 */
            if (it->job_id == NULL)
                fail_msg("item %zu refused: %s", i, it->error);
            accepted++;
        } else { /* chunk 2: valid specs 1000..1999 */
            assert_null(it->job_id);
            assert_non_null(strstr(it->error, "PostgreSQL"));
        }
    }
    assert_int_equal(accepted, 1499);
    dp_msg_free(&r);
    assert_int_equal(dd_sql_long(&dd, "SELECT count(*) FROM jobs"), 1499);
    assert_int_equal(dd_sql_long(&dd, "SELECT count(*) FROM job_history WHERE state = 'queued'"),
                     1499);
    dp_msg qm = {.type = DP_MSG_QUEUE, .id = 41}, qr;
    assert_int_equal(dd_rpc(admin, &qm, &qr, 5000), DP_OK);
    assert_int_equal(qr.type, DP_MSG_QUEUE_STATS);
    assert_int_equal(qr.queue_stats.pending, 1499);
    dp_msg_free(&qr);
    actor_client_close(admin);
    assert_int_equal(dd_stop(&dd), 0);
    dd_fini(&dd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_answered_item_by_item),
        cmocka_unit_test(test_submit_fails_after_first_chunk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
