/* The attempt fence, reproduced with the real Redis and PostgreSQL in the
 * order the reporter runs them: the owner check passes in Redis, then the
 * runner is reaped and the job leased again (attempt 2) and its lease mark
 * reaches PostgreSQL, and only then does the stale attempt's result reach
 * PostgreSQL. It must be refused (STORE_STALE_ATTEMPT, the job stays
 * leased), and the current attempt's result must land once.
 * Also: PostgreSQL failing in the middle of a result batch (a trigger
 * raises on the third job's test rows, after the first two were written
 * by the same statement) leaves nothing of the batch behind, and the
 * repeated batch lands every result once.
 * And lease marks that ride in a result batch's transaction
 * (store_record_results_marked): written before the results, so the fence
 * sees a newer attempt marked in the same round trip; on failure neither. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dispatch/redis/rq_owner.h"
#include "dispatch/store/store.h"
#include "tests/dispatch/rq_test_util.h"
#include "tests/store/pg_fixture.h"
#include "tests/store/store_testutil.h"

#define TTL_MS 300 /* runner alive TTL: the test sleeps past it to reap */

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static uint32_t lease_one(rq_conn *c, const char *runner)
{
    rq_lease l[1];
    size_t n = 0;
    dp_err err = {0};
    if (rq_lease_claim(c, runner, 1, NULL, l, &n, &err) != DP_OK)
        fail_msg("lease: %s", err.msg);
    assert_int_equal(n, 1);
    assert_string_equal(l[0].job_id, "f-0");
    uint32_t attempt = l[0].attempt;
    rq_leases_free(l, n);
    return attempt;
}

/* A fresh database (dropped by the test) and the store on it. */
static store_db *open_fresh(pgfix_db *db)
{
    char msg[256];
    if (pgfix_create(db, NULL, msg, sizeof msg) != 0)
        fail_msg("%s", msg);
    dp_err err = {0};
    store_db *s = store_open(db->dsn, &err);
    if (s == NULL) {
        pgfix_drop(db);
        fail_msg("store_open: %s", err.msg);
    }
    return s;
}

static void test_stale_attempt_refused_after_owner_check(void **state)
{
    (void)state;
    pgfix_db db = {0};
    store_db *s = open_fresh(&db);
    dp_err err = {0};
    char prefix[64];
    t_unique_prefix(prefix);
    rq_options opt;
    rq_options_default(&opt);
    opt.alive_ttl_ms = TTL_MS;
    rq_conn *c = t_connect(t_redis_url(), prefix, &opt);

    /* the job in both stores, leased to runner A (attempt 1) */
    tu_insert_jobs(s, "f", 1);
    t_enqueue(c, "f", 1, 3);
    char a[DP_ID_MAX], b[DP_ID_MAX];
    t_register(c, "a", 1, a, NULL);
    assert_int_equal(lease_one(c, a), 1);
    store_lease la = {"f-0", 1, a, 0};
    assert_int_equal(store_mark_leased(s, &la, 1, NULL, &err), DP_OK);

    /* the reporter's owner check for A's result passes ... */
    rq_owner_item own = {.job_id = "f-0", .runner_id = a, .attempt = 1, .result = -1};
    assert_int_equal(rq_owner_check(c, &own, 1, &err), DP_OK);
    assert_int_equal(own.result, DP_OK);

    /* ... then A is reaped, B leases the job (attempt 2) and its lease mark lands */
    sleep_ms(TTL_MS + 100);
    t_register(c, "b", 1, b, NULL);
    rq_reap_report rep = {0};
    assert_int_equal(rq_reap_runner(c, a, &rep, &err), DP_OK);
    assert_int_equal(rep.jobs_requeued, 1);
    assert_int_equal(lease_one(c, b), 2);
    store_lease lb = {"f-0", 2, b, 0};
    assert_int_equal(store_mark_leased(s, &lb, 1, NULL, &err), DP_OK);

    /* A's result now reaches PostgreSQL: refused */
    dp_job_result stale, cur;
    tu_make_result(&stale, "f-0", 1, 2);
    tu_make_result(&cur, "f-0", 2, 1);
    /* array-literal metacharacters travel intact */
    free(cur.message);
    cur.message = strdup("say \"hi\" \\ {a,b} NULL");
    store_result_in in = {&stale, a, NULL, 0};
    store_outcome out = 99;
    assert_int_equal(store_record_results(s, &in, 1, &out, &err), DP_OK);
    assert_int_equal(out, STORE_STALE_ATTEMPT);
    assert_string_equal(store_outcome_name(out), "stale_attempt");
    dp_job_view v;
    assert_int_equal(store_get_job(s, "f-0", &v, &err), DP_OK);
    assert_int_equal(v.state, DP_JOB_LEASED);
    assert_int_equal(v.attempts, 2);
    dp_job_view_free(&v);
    char *n_tests = pgfix_query1(db.dsn, "SELECT count(*) FROM test_results");
    assert_string_equal(n_tests, "0");
    free(n_tests);

    /* B's result (with A's stale one in the same batch) lands once */
    store_result_in both[] = {{&stale, a, NULL, 0}, {&cur, b, NULL, 0}};
    store_outcome outs[2];
    assert_int_equal(store_record_results(s, both, 2, outs, &err), DP_OK);
    assert_int_equal(outs[0], STORE_STALE_ATTEMPT);
    assert_int_equal(outs[1], STORE_RECORDED);
    assert_int_equal(store_get_job(s, "f-0", &v, &err), DP_OK);
    assert_int_equal(v.state, DP_JOB_COMPLETED);
    assert_int_equal(v.attempts, 2);
    assert_string_equal(v.runner_id, b);
    assert_int_equal(v.n_tests, 1);
    assert_string_equal(v.message, "say \"hi\" \\ {a,b} NULL");
    dp_job_view_free(&v);
    char *n_done = pgfix_query1(
        db.dsn, "SELECT count(*) FROM job_history WHERE job_id = 'f-0' AND state = 'completed'");
    assert_string_equal(n_done, "1");
    free(n_done);

    dp_job_result_free(&stale);
    dp_job_result_free(&cur);
    rq_close(c);
    store_close(s);
    pgfix_drop(&db);
}

static void test_failure_mid_batch_leaves_nothing(void **state)
{
    (void)state;
    pgfix_db db = {0};
    store_db *s = open_fresh(&db);
    dp_err err = {0};
    tu_insert_jobs(s, "m", 4);
    store_lease l[4];
    dp_job_result r[4];
    store_result_in in[4];
    char ids[4][16];
    for (int i = 0; i < 4; i++) {
        snprintf(ids[i], sizeof ids[i], "m-%d", i);
        l[i] = (store_lease){ids[i], 1, "runner-1", 0};
        tu_make_result(&r[i], ids[i], 1, 2);
        in[i] = (store_result_in){&r[i], "runner-1", NULL, 0};
    }
    assert_int_equal(store_mark_leased(s, l, 4, NULL, &err), DP_OK);
    char *ok = pgfix_query1(
        db.dsn, "CREATE FUNCTION fail_m2() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                "  IF NEW.job_id = 'm-2' THEN RAISE EXCEPTION 'injected failure on m-2'; END IF;"
                "  RETURN NEW; END $$;"
                "CREATE TRIGGER fail_m2 BEFORE INSERT ON test_results FOR EACH ROW"
                "  EXECUTE FUNCTION fail_m2()");
    assert_non_null(ok);
    free(ok);
    store_outcome out[4];
    int rc = store_record_results(s, in, 4, out, &err);
    assert_int_not_equal(rc, DP_OK);
    assert_non_null(strstr(err.msg, "injected failure"));
    const char *none[] = {"SELECT count(*) FROM jobs WHERE state = 'completed'",
                          "SELECT count(*) FROM test_results",
                          "SELECT count(*) FROM job_history WHERE state = 'completed'"};
    for (int k = 0; k < 3; k++) {
        char *v = pgfix_query1(db.dsn, none[k]);
        assert_string_equal(v, "0");
        free(v);
    }
    ok = pgfix_query1(db.dsn, "DROP TRIGGER fail_m2 ON test_results");
    free(ok);
    assert_int_equal(store_record_results(s, in, 4, out, &err), DP_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(out[i], STORE_RECORDED);
    assert_int_equal(store_record_results(s, in, 4, out, &err), DP_OK); /* repeated */
    for (int i = 0; i < 4; i++)
        assert_int_equal(out[i], STORE_DUPLICATE);
    const char *once[][2] = {{"SELECT count(*) FROM jobs WHERE state = 'completed'", "4"},
                             {"SELECT count(*) FROM test_results", "8"},
                             {"SELECT count(*) FROM job_history WHERE state = 'completed'", "4"}};
    for (int k = 0; k < 3; k++) {
        char *v = pgfix_query1(db.dsn, once[k][0]);
        assert_string_equal(v, once[k][1]);
        free(v);
    }
    for (int i = 0; i < 4; i++)
        dp_job_result_free(&r[i]);
    store_close(s);
    pgfix_drop(&db);
}

static char *q1(const pgfix_db *db, const char *sql)
{
    char *v = pgfix_query1(db->dsn, sql);
    if (v == NULL)
        fail_msg("query failed: %s", sql);
    return v;
}

static void expect_q(const pgfix_db *db, const char *sql, const char *want)
{
    char *v = q1(db, sql);
    if (strcmp(v, want) != 0)
        fail_msg("%s: got %s, want %s", sql, v, want);
    free(v);
}

static void test_marks_ride_with_results(void **state)
{
    (void)state;
    pgfix_db db = {0};
    store_db *s = open_fresh(&db);
    dp_err err = {0};
    tu_insert_jobs(s, "p", 4);
    store_lease l[4];
    dp_job_result r[4];
    store_result_in in[4];
    store_outcome out[4];
    char ids[4][16];
    for (int i = 0; i < 4; i++) {
        snprintf(ids[i], sizeof ids[i], "p-%d", i);
        l[i] = (store_lease){ids[i], 1, "runner-1", 0};
        tu_make_result(&r[i], ids[i], 1, 1);
        in[i] = (store_result_in){&r[i], "runner-1", NULL, 0};
    }
    /* four marks and two results, two of them the same jobs: one transaction */
    assert_int_equal(store_record_results_marked(s, l, 4, in, 2, out, NULL, &err), DP_OK);
    assert_int_equal(out[0], STORE_RECORDED);
    assert_int_equal(out[1], STORE_RECORDED);
    expect_q(&db,
             "SELECT string_agg(id || ':' || state || ':' || attempts, ' ' ORDER BY id) FROM jobs",
             "p-0:completed:1 p-1:completed:1 p-2:leased:1 p-3:leased:1");
    expect_q(&db,
             "SELECT string_agg(state, ',' ORDER BY seq) FROM job_history WHERE job_id = 'p-0'",
             "queued,leased,completed");

    /* attempt 2 of p-2 marked in the same round trip as attempt 1's result:
     * the mark goes first, so the stale result is refused */
    store_lease l2 = {"p-2", 2, "runner-2", 0};
    assert_int_equal(store_record_results_marked(s, &l2, 1, &in[2], 1, out, NULL, &err), DP_OK);
    assert_int_equal(out[0], STORE_STALE_ATTEMPT);
    expect_q(&db, "SELECT state || ':' || attempts || ':' || runner_id FROM jobs WHERE id = 'p-2'",
             "leased:2:runner-2");

    /* the result statement fails: the mark of the same round trip is gone too */
    char *ok = q1(&db, "CREATE FUNCTION fail_p3() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                       "  IF NEW.job_id = 'p-3' THEN RAISE EXCEPTION 'injected failure on p-3';"
                       "  END IF; RETURN NEW; END $$;"
                       "CREATE TRIGGER fail_p3 BEFORE INSERT ON test_results FOR EACH ROW"
                       "  EXECUTE FUNCTION fail_p3()");
    free(ok);
    store_lease l3 = {"p-3", 2, "runner-3", 0};
    dp_job_result r3;
    tu_make_result(&r3, "p-3", 2, 1);
    store_result_in in3 = {&r3, "runner-3", NULL, 0};
    assert_int_not_equal(store_record_results_marked(s, &l3, 1, &in3, 1, out, NULL, &err), DP_OK);
    assert_non_null(strstr(err.msg, "injected failure"));
    expect_q(&db, "SELECT state || ':' || attempts FROM jobs WHERE id = 'p-3'", "leased:1");
    expect_q(&db, "SELECT count(*) FROM job_history WHERE job_id = 'p-3' AND attempt = 2", "0");
    /* the connection is usable after the aborted pipeline; no results: the marks alone */
    assert_int_equal(store_record_results_marked(s, &l3, 1, NULL, 0, out, NULL, &err), DP_OK);
    expect_q(&db, "SELECT state || ':' || attempts FROM jobs WHERE id = 'p-3'", "leased:2");
    ok = q1(&db, "DROP TRIGGER fail_p3 ON test_results");
    free(ok);
    assert_int_equal(store_record_results_marked(s, &l3, 1, &in3, 1, out, NULL, &err), DP_OK);
    assert_int_equal(out[0], STORE_RECORDED);
    expect_q(&db, "SELECT count(*) FROM job_history WHERE job_id = 'p-3' AND state = 'leased'",
             "2");
    dp_job_result_free(&r3);
    for (int i = 0; i < 4; i++)
        dp_job_result_free(&r[i]);
    store_close(s);
    pgfix_drop(&db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stale_attempt_refused_after_owner_check),
        cmocka_unit_test(test_failure_mid_batch_leaves_nothing),
        cmocka_unit_test(test_marks_ride_with_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
