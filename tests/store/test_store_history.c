/* History rows of intermediate states (`leased`, `failed`, `requeued`,
 * `cancelled`) are written by the statements that change the state, exactly
 * once per transition: the same lease told twice (a lease retried with its
 * request id answers the same jobs again; a statement run again after a
 * reconnect) leaves one `leased` row per (job, attempt). Real PostgreSQL
 * (DISPATCH_PG_DSN), a fresh database per test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <libpq-fe.h>
#include <unistd.h>

#include "dispatch/store/store.h"
#include "tests/store/pg_fixture.h"
#include "tests/store/store_testutil.h"

typedef tu_store_fixture fixture;

static long rows(fixture *f, const char *job, const char *st, int attempt)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM job_history WHERE job_id = '%s' AND state = '%s'"
             " AND attempt = %d",
             job, st, attempt);
    char *v = pgfix_query1(f->db.dsn, sql);
    assert_non_null(v);
    long n = atol(v);
    free(v);
    return n;
}

static void test_lease_told_twice_one_row(void **state)
{
    fixture *f = *state;
    dp_err err = {0};
    size_t changed = 9;
    tu_insert_jobs(f->s, "h", 2);
    store_lease l[2] = {{"h-0", 1, "runner-1", 0}, {"h-1", 1, "runner-1", 0}};
    assert_int_equal(store_mark_leased(f->s, l, 2, &changed, &err), DP_OK);
    assert_int_equal(changed, 2);
    /* the same leases again (a retried lease request, or the batch repeated
     * after a reconnect): no change, no second row */
    assert_int_equal(store_mark_leased(f->s, l, 2, &changed, &err), DP_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(store_mark_leased(f->s, &l[0], 1, &changed, &err), DP_OK);
    assert_int_equal(rows(f, "h-0", "leased", 1), 1);
    assert_int_equal(rows(f, "h-1", "leased", 1), 1);
    /* the next attempt is a new row */
    store_lease next = {"h-0", 2, "runner-2", 0};
    assert_int_equal(store_mark_leased(f->s, &next, 1, &changed, &err), DP_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(rows(f, "h-0", "leased", 2), 1);
}

static char *one(fixture *f, const char *sql)
{
    char *v = pgfix_query1(f->db.dsn, sql);
    assert_non_null(v);
    return v;
}

/* A lease folded into its result (store_result_in.leased_us, no mark
 * written): started_at is the lease's time, and job_history shows one
 * `leased` row for the recorded attempt, made from the job row, ordered
 * before the `completed` row. A mark written after all (a lease told twice)
 * keeps its own started_at and row: still one. The mark's own started_at
 * and history ts are its at_us as well. */
static void test_folded_lease_rows(void **state)
{
    fixture *f = *state;
    dp_err err = {0};
    tu_insert_jobs(f->s, "g", 3);
    const int64_t t0 = 1700000000123456; /* 2023-11-14 22:13:20.123456 UTC */
    dp_job_result r[3];
    store_result_in in[3];
    for (int i = 0; i < 3; i++) {
        char id[8];
        snprintf(id, sizeof id, "g-%d", i);
        tu_make_result(&r[i], id, 1, 1);
        in[i] = (store_result_in){&r[i], "runner-1", NULL, 0};
    }
    /* g-0 folded; g-1 marked first (at t0 + 1 s), then folded again; g-2
     * neither (a result whose lease never reached the reporter) */
    in[0].leased_us = t0;
    in[1].leased_us = t0 + 5000000;
    store_lease mark = {"g-1", 1, "runner-1", t0 + 1000000};
    store_outcome out[3];
    assert_int_equal(store_mark_leased(f->s, &mark, 1, NULL, &err), DP_OK);
    assert_int_equal(store_record_results(f->s, in, 3, out, &err), DP_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(out[i], STORE_RECORDED);
    char *v =
        one(f, "SELECT string_agg(id || '=' || coalesce(to_char(started_at AT TIME ZONE 'UTC',"
               " 'HH24:MI:SS.US'), '-'), ' ' ORDER BY id) FROM jobs");
    assert_string_equal(v, "g-0=22:13:20.123456 g-1=22:13:21.123456 g-2=-");
    free(v);
    for (int i = 0; i < 3; i++) {
        char id[8];
        snprintf(id, sizeof id, "g-%d", i);
        assert_int_equal(rows(f, id, "leased", 1), 1);
        assert_int_equal(rows(f, id, "completed", 1), 1);
    }
    /* only g-1's row is written; history reads queued, leased, completed */
    v = one(f, "SELECT count(*) FROM job_events WHERE state = 'leased'");
    assert_string_equal(v, "1");
    free(v);
    v = one(f, "SELECT string_agg(state, ',' ORDER BY seq, ts) FROM job_history"
               " WHERE job_id = 'g-0'");
    assert_string_equal(v, "queued,leased,completed");
    free(v);
    v = one(f, "SELECT to_char(ts AT TIME ZONE 'UTC', 'HH24:MI:SS.US') FROM job_history"
               " WHERE job_id = 'g-1' AND state = 'leased'");
    assert_string_equal(v, "22:13:21.123456");
    free(v);
    for (int i = 0; i < 3; i++)
        dp_job_result_free(&r[i]);
}

static void test_failed_requeued_cancelled_rows(void **state)
{
    fixture *f = *state;
    dp_err err = {0};
    size_t changed = 9;
    tu_insert_jobs(f->s, "t", 3);
    store_lease l = {"t-0", 1, "runner-1", 0};
    assert_int_equal(store_mark_leased(f->s, &l, 1, NULL, &err), DP_OK);
    /* a runner-side failure with attempts left: queued again, one row */
    assert_int_equal(
        store_requeue_retry(f->s, "t-0", 1, "runner-1", "fetch timed out", &changed, &err), DP_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(
        store_requeue_retry(f->s, "t-0", 1, "runner-1", "fetch timed out", &changed, &err), DP_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(rows(f, "t-0", "requeued", 1), 1);
    char *st =
        pgfix_query1(f->db.dsn, "SELECT state || ':' || attempts FROM jobs WHERE id = 't-0'");
    assert_string_equal(st, "queued:1");
    free(st);
    /* leased again (attempt 2), then failed for good: one `failed` row */
    store_lease l2 = {"t-0", 2, "runner-2", 0};
    assert_int_equal(store_mark_leased(f->s, &l2, 1, &changed, &err), DP_OK);
    assert_int_equal(changed, 1);
    store_failure fl = {"t-0", 2, "2 attempts failed"};
    assert_int_equal(store_mark_failed(f->s, &fl, 1, &changed, &err), DP_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(store_mark_failed(f->s, &fl, 1, &changed, &err), DP_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(rows(f, "t-0", "failed", 2), 1);
    /* a dead job (reclaimed too often) straight from queued */
    store_failure dead = {"t-1", 3, "runner lost 3 times"};
    assert_int_equal(store_mark_failed(f->s, &dead, 1, NULL, &err), DP_OK);
    assert_int_equal(rows(f, "t-1", "failed", 3), 1);
    /* cancel and an operator's requeue */
    assert_int_equal(store_mark_cancelled(f->s, "t-2", "cancelled by an operator", &err), DP_OK);
    assert_int_equal(rows(f, "t-2", "cancelled", 0), 1);
    assert_int_equal(store_requeue(f->s, "t-2", 0, &err), DP_OK);
    assert_int_equal(rows(f, "t-2", "requeued", 0), 1);
    /* every row names its job's history in order */
    char *seq = pgfix_query1(f->db.dsn, "SELECT string_agg(state || attempt, ',' ORDER BY seq)"
                                        " FROM job_history WHERE job_id = 't-0'");
    assert_string_equal(seq, "queued0,leased1,requeued1,leased2,failed2");
    free(seq);
}

/* Jobs a reclaim requeued: queued again with one `requeued` row each, once
 * however many replicas' reporters are told. */
static void test_reclaimed_rows(void **state)
{
    fixture *f = *state;
    dp_err err = {0};
    size_t changed = 9;
    tu_insert_jobs(f->s, "c", 2);
    store_lease l[2] = {{"c-0", 1, "runner-x", 0}, {"c-1", 1, "runner-x", 0}};
    assert_int_equal(store_mark_leased(f->s, l, 2, NULL, &err), DP_OK);
    store_event ev[3] = {
        {.job_id = "c-0", .attempt = 1, .runner_id = "runner-x", .message = "runner lost"},
        {.job_id = "c-1", .attempt = 1, .runner_id = "runner-x", .message = "runner lost"},
        {.job_id = "nope", .attempt = 1, .runner_id = "runner-x", .message = "runner lost"},
    };
    assert_int_equal(store_mark_requeued(f->s, ev, 3, &changed, &err), DP_OK);
    assert_int_equal(changed, 2);
    assert_int_equal(store_mark_requeued(f->s, ev, 2, &changed, &err), DP_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(rows(f, "c-0", "requeued", 1), 1);
    char *st = pgfix_query1(f->db.dsn, "SELECT string_agg(state, ',' ORDER BY id) FROM jobs"
                                       " WHERE id IN ('c-0', 'c-1')");
    assert_string_equal(st, "queued,queued");
    free(st);
    /* leased again: attempt 2 */
    store_lease l2 = {"c-0", 2, "runner-y", 0};
    assert_int_equal(store_mark_leased(f->s, &l2, 1, &changed, &err), DP_OK);
    assert_int_equal(changed, 1);
}

static long query_long(fixture *f, const char *sql)
{
    return tu_query_long(f->db.dsn, sql);
}

/* Migration 7: lease marks and requeues change no column an index of jobs
 * reads (the open-job indexes test finished_at, not state), so PostgreSQL
 * updates those rows in place (HOT) instead of writing every index again;
 * and a statement that makes a job terminal without finished_at, or open
 * again without clearing it, is refused by the CHECK that keeps the two in
 * step. */
static void test_open_jobs_hot(void **state)
{
    fixture *f = *state;
    dp_err err = {0};
    enum { N = 20 };
    tu_insert_jobs(f->s, "o", N);
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof id, "o-%d", i);
        store_lease l = {id, 1, "runner-h", 0};
        assert_int_equal(store_mark_leased(f->s, &l, 1, NULL, &err), DP_OK);
    }
    assert_int_equal(query_long(f, "SELECT count(*) FROM pg_indexes WHERE tablename = 'jobs'"
                                   " AND indexdef LIKE '%state%'"),
                     0);
    /* The store's session reports its table counts within about 1 s of
     * going idle (PostgreSQL 15: at most once a second); 10 s of slack. */
    long upd = 0, hot = 0;
    for (int k = 0; k < 100 && upd < N; k++) {
        upd = query_long(f, "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'jobs'");
        hot = query_long(f, "SELECT n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'jobs'");
        if (upd < N)
            usleep(100 * 1000);
    }
    printf("jobs updated %ld, of them HOT %ld\n", upd, hot);
    assert_true(upd >= N);
    /* Not all: a HOT update also needs room for the new version on the
     * row's page, and the old versions are pruned only once no snapshot
     * sees them (other tests share this server: 7 of 20 in a loaded fresh
     * run, 20 of 20 alone). Without migration 7 none can be: the state is
     * read by index predicates. */
    assert_true(hot > 0);
    assert_null(pgfix_query1(f->db.dsn, "UPDATE jobs SET state = 'completed' WHERE id = 'o-0'"));
    assert_null(pgfix_query1(f->db.dsn, "UPDATE jobs SET finished_at = now() WHERE id = 'o-1'"));
}

/* Migration 8: a lease mark finds room for its new version on the job's page
 * even while another session's snapshot keeps the queued versions from being
 * pruned (under load some session always does), so it stays HOT. Measured
 * before: 25 of 100 with fillfactor 80 (the rest wrote an entry into every
 * index of jobs), 100 of 100 with 50. */
static void test_lease_marks_hot_beside_a_snapshot(void **state)
{
    fixture *f = *state;
    dp_err err = {0};
    enum { N = 100 };
    PGconn *hold = PQconnectdb(f->db.dsn);
    PGresult *r = PQexec(hold, "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM jobs");
    int held = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    tu_insert_jobs(f->s, "p", N);
    int leased = 0;
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof id, "p-%d", i);
        store_lease l = {id, 1, "runner-h", 0};
        leased += store_mark_leased(f->s, &l, 1, NULL, &err) == DP_OK;
    }
    /* table counts reach the view within about 1 s of the session going
     * idle (as in test_open_jobs_hot); 10 s of slack */
    long upd = 0, hot = 0;
    for (int k = 0; k < 100 && upd < N; k++) {
        upd = query_long(f, "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'jobs'");
        hot = query_long(f, "SELECT n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'jobs'");
        if (upd < N)
            usleep(100 * 1000);
    }
    PQfinish(hold); /* before any assert: teardown drops the database */
    printf("lease marks %ld, of them HOT %ld, beside a held snapshot\n", upd, hot);
    assert_true(held);
    assert_int_equal(leased, N);
    assert_true(upd >= N);
    assert_true(hot >= N * 9 / 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lease_told_twice_one_row, tu_store_setup,
                                        tu_store_teardown),
        cmocka_unit_test_setup_teardown(test_folded_lease_rows, tu_store_setup, tu_store_teardown),
        cmocka_unit_test_setup_teardown(test_failed_requeued_cancelled_rows, tu_store_setup,
                                        tu_store_teardown),
        cmocka_unit_test_setup_teardown(test_reclaimed_rows, tu_store_setup, tu_store_teardown),
        cmocka_unit_test_setup_teardown(test_open_jobs_hot, tu_store_setup, tu_store_teardown),
        cmocka_unit_test_setup_teardown(test_lease_marks_hot_beside_a_snapshot, tu_store_setup,
                                        tu_store_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
