/* The bounds the reporter's group commit relies on (RQ_RESULT_HOLD_MS holds
 * its jobs in Redis until it is decided): a statement held by a lock is
 * cancelled by PostgreSQL after the connection's statement_timeout, also
 * after the connection was reset (the timeout is set again), and nothing
 * is sent after the send deadline: the result lands once it is sent in
 * time, never after. Real PostgreSQL (DISPATCH_PG_DSN). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/job.h"
#include "tests/store/store_testutil.h"

/* The statement timeout under test. A held statement must end near it:
 * at least TIMEOUT_MS after it was sent, and well before 10 x that (slack
 * for a loaded 2-core machine and a sanitized build). */
#define TIMEOUT_MS 300

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int record_one(store_db *s, const char *job, store_outcome *out, dp_err *err)
{
    dp_job_result res;
    tu_make_result(&res, job, 1, 2);
    store_result_in in = {&res, "r-1", NULL, 0};
    int rc = store_record_results(s, &in, 1, out, err);
    dp_job_result_free(&res);
    return rc;
}

/* Another connection's lock that a result statement waits for. */
static PGconn *lock_test_results(const char *dsn)
{
    PGconn *c = PQconnectdb(dsn);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, "BEGIN; LOCK TABLE test_results IN SHARE MODE");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("lock: %s", PQerrorMessage(c));
    PQclear(r);
    return c;
}

static void unlock(PGconn *c)
{
    PQclear(PQexec(c, "ROLLBACK"));
    PQfinish(c);
}

static void expect_cancelled_near_timeout(store_db *s, const char *dsn, const char *job)
{
    PGconn *lock = lock_test_results(dsn);
    store_outcome out = STORE_RECORDED;
    dp_err err = {0};
    int64_t t0 = mono_ms();
    int rc = record_one(s, job, &out, &err);
    int64_t took = mono_ms() - t0;
    unlock(lock);
    printf("held statement ended after %lld ms: %s\n", (long long)took, err.msg);
    assert_int_equal(rc, DP_EIO);
    assert_non_null(strstr(err.msg, "statement timeout"));
    assert_true(took >= TIMEOUT_MS - 5); /* the server's timer, our clock: a few ms apart */
    assert_true(took < 10 * TIMEOUT_MS);
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM test_results WHERE job_id = '%s'", job);
    char *v = pgfix_query1(dsn, sql);
    assert_string_equal(v, "0");
    free(v);
}

static void test_statement_timeout_cancels_a_held_commit(void **state)
{
    tu_store_fixture *f = *state;
    tu_insert_jobs(f->s, "lim", 2);
    dp_err err = {0};
    assert_int_equal(store_set_statement_timeout(f->s, TIMEOUT_MS, &err), DP_OK);
    expect_cancelled_near_timeout(f->s, f->db.dsn, "lim-0");
    /* after the connection is reset the timeout is set again */
    char *v = pgfix_query1(f->db.dsn, "SELECT count(pg_terminate_backend(pid)) FROM "
                                      "pg_stat_activity WHERE application_name = 'dispatchd' "
                                      "AND datname = current_database()");
    assert_string_equal(v, "1");
    free(v);
    store_outcome out;
    assert_int_equal(record_one(f->s, "lim-1", &out, &err), DP_OK); /* reconnects inside */
    assert_int_equal(out, STORE_RECORDED);
    expect_cancelled_near_timeout(f->s, f->db.dsn, "lim-0");
    /* unheld, it lands */
    assert_int_equal(record_one(f->s, "lim-0", &out, &err), DP_OK);
    assert_int_equal(out, STORE_RECORDED);
}

static void test_nothing_sent_after_the_deadline(void **state)
{
    tu_store_fixture *f = *state;
    tu_insert_jobs(f->s, "dl", 1);
    dp_err err = {0};
    store_outcome out = STORE_RECORDED;
    store_set_send_deadline(f->s, mono_ms() - 1);
    assert_int_equal(record_one(f->s, "dl-0", &out, &err), DP_EUNAVAIL);
    assert_non_null(strstr(err.msg, "not sent"));
    char *v = pgfix_query1(f->db.dsn, "SELECT state FROM jobs WHERE id = 'dl-0'");
    assert_string_equal(v, "queued");
    free(v);
    /* a deadline ahead, then none: both send */
    store_set_send_deadline(f->s, mono_ms() + 60000);
    assert_int_equal(record_one(f->s, "dl-0", &out, &err), DP_OK);
    assert_int_equal(out, STORE_RECORDED);
    store_set_send_deadline(f->s, 0);
    assert_int_equal(record_one(f->s, "dl-0", &out, &err), DP_OK);
    assert_int_equal(out, STORE_DUPLICATE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_statement_timeout_cancels_a_held_commit,
                                        tu_store_setup, tu_store_teardown),
        cmocka_unit_test_setup_teardown(test_nothing_sent_after_the_deadline, tu_store_setup,
                                        tu_store_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
