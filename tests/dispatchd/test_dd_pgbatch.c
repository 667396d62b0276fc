/* complete_lease batches while PostgreSQL fails, against a real dispatchd,
 * Redis and a private PostgreSQL (initdb in /tmp, stopped by pid in
 * teardown). Each case sends one runner message carrying 64 results (2 test
 * rows each; 300 in the cancelled case) and checks that no result is acked
 * unless PostgreSQL holds it and no retried one left anything behind, and
 * that the resent message is acked once PostgreSQL answers, with every job
 * recorded exactly once (completed at attempt 1, 2 test rows, one
 * `completed` and one `leased` history row, no `requeued` row) and nothing
 * left leased in Redis.
 *
 * The failures inside the group commit's transaction are made exact with a
 * lock the test holds: an uncommitted test_results row with the key of the
 * last result's first test row. The batch statement updates its jobs rows,
 * then blocks inserting the test rows (the data-modifying CTEs run after
 * the main query); the test sees it waiting (pg_stat_activity) with the
 * jobs rows updated by its open transaction (xmax = its xid), then:
 * - stopped:    PostgreSQL stopped (fast) before the message is sent: all
 *               64 retry;
 * - killed:     PostgreSQL killed (immediate stop) mid-transaction, all 64
 *               rows updated: all retry, none left after recovery;
 * - terminated: the reporter's backend terminated (pg_terminate_backend)
 *               mid-transaction: the store reconnects and runs the statement
 *               again, which lands (all 64 acked) once the test lets go;
 * - cancelled:  the statement cancelled (pg_cancel_backend), an error inside
 *               the transaction, not a lost connection; the message holds
 *               300 results, more than one group commit (256): those of the
 *               commits before are acked and recorded, and exactly the rows
 *               the cancelled statement had updated are retried and absent;
 * - stopped, with a lease: the message also leases 64 jobs while PostgreSQL
 *               is down; their lease marks (and `leased` rows) must reach
 *               PostgreSQL once it is back, without another message (they
 *               were dropped before reporter_events.c kept them: this case
 *               failed with 0 of 64 `leased` rows). */
#include "tests/support/pg_server.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/dispatchd/dd_harness.h"

#define BATCH 64
#define BIG 300 /* the cancelled case: more than one group commit (256) holds */
#define CASES 5

typedef struct {
    dd_daemon *d;
    const char *id, *tok;
    char (*jobs)[DP_ID_MAX];
    size_t n;          /* results: one per job */
    uint32_t max_jobs; /* the lease part: 0 for none */
    int rc;
    dp_msg reply; /* owned; freed by the caller */
} batch_call;

/* One complete_lease with a result (AC, 2 tests, attempt 1) for each job,
 * and a lease of c->max_jobs; the answer into c->reply. */
static void send_batch(batch_call *c)
{
    dp_test_result tests[2] = {
        {.name = "t1", .verdict = DP_VERDICT_AC, .time_ms = 3, .stdout_excerpt = "10\n"},
        {.name = "t2", .verdict = DP_VERDICT_AC, .time_ms = 5},
    };
    dp_result_item *res = calloc(c->n, sizeof *res);
    assert_non_null(res);
    for (size_t i = 0; i < c->n; i++) {
        dp_job_result *x = &res[i].result;
        x->job_id = c->jobs[i];
        x->attempt = 1;
        x->verdict = DP_VERDICT_AC;
        x->score = 100;
        x->tests = tests;
        x->n_tests = 2;
    }
    dp_msg m = {.type = DP_MSG_COMPLETE_LEASE, .id = 31};
    m.complete_lease.runner_id = (char *)c->id;
    m.complete_lease.runner_token = (char *)c->tok;
    m.complete_lease.results = res;
    m.complete_lease.n_results = c->n;
    m.complete_lease.max_jobs = c->max_jobs;
    m.complete_lease.request_id = c->max_jobs > 0 ? "pgbatch-lease" : NULL;
    dp_err err = {0};
    actor_client *cl = actor_client_open(c->d->runner_url, &err);
    if (cl == NULL)
        c->rc = DP_EUNAVAIL;
    else {
        /* 30 s: the batch is held by the test's lock for a few seconds at most */
        c->rc = dd_rpc(cl, &m, &c->reply, 30000);
        actor_client_close(cl);
    }
    free(res);
}

static void *batch_thread(void *arg)
{
    send_batch(arg);
    return NULL;
}

/* "'id1','id2',..." of the batch, for SQL (ids are [A-Za-z0-9_.:-]). */
static void id_list(char (*jobs)[DP_ID_MAX], size_t n, char *out, size_t len)
{
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        at += (size_t)snprintf(out + at, len - at, "%s'%s'", i ? "," : "", jobs[i]);
}

static long q(dd_daemon *d, const char *fmt, const char *ids)
{
    static char sql[BIG * (DP_ID_MAX + 3) + 512];
    snprintf(sql, sizeof sql, fmt, ids);
    return dd_sql_long(d, sql);
}

/* The answer is one outcome per result, each ack or retry, acks first (a
 * message of more than one group commit's results: those of the commits
 * that landed), and every ack recorded, no retry. Returns the number acked. */
static size_t check_answer(batch_call *c, const char *ids, int pg_down)
{
    if (c->rc != DP_OK)
        fail_msg("complete_lease: transport %s", dp_code_name(c->rc));
    dp_msg *r = &c->reply;
    if (r->type == DP_MSG_ERROR)
        fail_msg("complete_lease: %s: %s", r->error.code, r->error.message);
    assert_int_equal(r->type, DP_MSG_COMPLETED_LEASED);
    assert_int_equal(r->completed_leased.n_outcomes, c->n);
    size_t ack = 0;
    for (size_t i = 0; i < c->n; i++) {
        const dp_result_outcome *o = &r->completed_leased.outcomes[i];
        assert_string_equal(o->job_id, c->jobs[i]);
        if (strcmp(o->outcome, DP_OUTCOME_ACK) == 0 && ack == i)
            ack++;
        else if (strcmp(o->outcome, DP_OUTCOME_RETRY) != 0)
            fail_msg("result %zu (%zu acked before): outcome %s (%s)", i, ack, o->outcome,
                     o->message ? o->message : "");
    }
    /* an ack only for what PostgreSQL holds (pg_down: it cannot hold any) */
    if (pg_down && ack > 0)
        fail_msg("%zu results acked while PostgreSQL was down", ack);
    static char part[BIG * (DP_ID_MAX + 3)];
    id_list(c->jobs, ack, part, sizeof part);
    if (ack > 0)
        assert_int_equal(
            q(c->d, "SELECT count(*) FROM jobs WHERE state = 'completed' AND id IN (%s)", part),
            ack);
    id_list(c->jobs + ack, c->n - ack, part, sizeof part);
    if (!pg_down && ack < c->n)
        assert_int_equal(
            q(c->d, "SELECT count(*) FROM jobs WHERE state = 'completed' AND id IN (%s)", part), 0);
    (void)ids;
    return ack;
}

/* Nothing of the n jobs in PostgreSQL: still leased at attempt 1. */
static void check_nothing_recorded(dd_daemon *d, const char *ids, long n)
{
    assert_int_equal(
        q(d, "SELECT count(*) FROM jobs WHERE state = 'leased' AND attempts = 1 AND id IN (%s)",
          ids),
        n);
    assert_int_equal(q(d, "SELECT count(*) FROM test_results WHERE job_id IN (%s)", ids), 0);
    assert_int_equal(
        q(d, "SELECT count(*) FROM job_history WHERE state = 'completed' AND job_id IN (%s)", ids),
        0);
}

/* Every job of the batch recorded exactly once, attempts unchanged. */
static void check_recorded_once(dd_daemon *d, const char *ids, long n)
{
    assert_int_equal(q(d,
                       "SELECT count(*) FROM jobs WHERE state = 'completed' AND attempts = 1"
                       " AND result_attempt = 1 AND verdict = 'AC' AND id IN (%s)",
                       ids),
                     n);
    assert_int_equal(
        q(d, "SELECT count(*) FROM test_results WHERE attempt = 1 AND job_id IN (%s)", ids), 2 * n);
    const char *once[] = {"completed", "leased"};
    for (int k = 0; k < 2; k++) {
        char fmt[512];
        snprintf(fmt, sizeof fmt,
                 "SELECT count(*) FROM (SELECT job_id FROM job_history WHERE state = '%s'"
                 " AND job_id IN (%%s) GROUP BY job_id HAVING count(*) = 1) x",
                 once[k]);
        assert_int_equal(q(d, fmt, ids), n);
    }
    assert_int_equal(
        q(d, "SELECT count(*) FROM job_history WHERE state = 'requeued' AND job_id IN (%s)", ids),
        0);
}

static void check_redis_empty(actor_client *admin)
{
    dp_msg m = {.type = DP_MSG_QUEUE, .id = 41}, r;
    assert_int_equal(dd_rpc(admin, &m, &r, 5000), DP_OK);
    assert_int_equal(r.type, DP_MSG_QUEUE_STATS);
    assert_int_equal(r.queue_stats.leased, 0);
    dp_msg_free(&r);
}

/* The runner resends until every result is acked (bound: 30 s, for the
 * store's reconnect backoff of at most 5 s on a loaded machine). */
static void resend_until_acked(batch_call *c, const char *ids)
{
    int64_t t0 = dd_now_us();
    for (;;) {
        send_batch(c);
        size_t ack = check_answer(c, ids, 0);
        dp_msg_free(&c->reply);
        if (ack == c->n)
            break;
        if (dd_now_us() - t0 > 30000000)
            fail_msg("the resent batch was not acked within 30 s");
        dd_sleep_ms(100);
    }
    printf("  acked %.0f ms after the runner began sending it (again)\n",
           (double)(dd_now_us() - t0) / 1000);
}

/* The test's own connection: an open transaction holding an uncommitted
 * test_results row with the key of job's first test row at attempt 1. */
static PGconn *hold_test_row(dd_daemon *d, const char *job)
{
    PGconn *c = PQconnectdb(d->db.dsn);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    char sql[512];
    snprintf(sql, sizeof sql,
             "BEGIN; INSERT INTO test_results (job_id, attempt, idx, name) VALUES ('%s', 1, 0,"
             " 'held by the test')",
             job);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("hold: %s", PQerrorMessage(c));
    PQclear(r);
    return c;
}

static void let_go(PGconn *c)
{
    PGresult *r = PQexec(c, "ROLLBACK");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("rollback: %s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* Waits until the group commit (a backend other than not_pid) waits for the
 * test's row (milliseconds; 10 s of slack for a loaded machine); returns its
 * pid, and in *updated how many of the jobs its open transaction updated. */
static long wait_blocked_batch(dd_daemon *d, long not_pid, const char *ids, long *updated)
{
    char sql[512], *v = NULL;
    snprintf(sql, sizeof sql,
             "SELECT pid || ' ' || backend_xid FROM pg_stat_activity"
             " WHERE datname = current_database() AND wait_event_type = 'Lock'"
             " AND query LIKE 'WITH inp AS%%' AND backend_xid IS NOT NULL AND pid <> %ld",
             not_pid);
    int64_t until = dd_now_us() + 10000000;
    while ((v = pgfix_query1(d->db.dsn, sql)) != NULL && v[0] == '\0') {
        free(v);
        if (dd_now_us() > until)
            fail_msg("the batch statement did not reach the held row within 10 s");
        dd_sleep_ms(20);
    }
    if (v == NULL)
        fail_msg("pg_stat_activity query failed");
    long pid = 0;
    unsigned long xid = 0;
    if (sscanf(v, "%ld %lu", &pid, &xid) != 2)
        fail_msg("pg_stat_activity: '%s'", v);
    free(v);
    char fmt[256];
    snprintf(fmt, sizeof fmt, "SELECT count(*) FROM jobs WHERE xmax::text = '%lu' AND id IN (%%s)",
             xid);
    *updated = q(d, fmt, ids);
    printf("  batch statement (pid %ld, xid %lu) waits with %ld jobs rows updated\n", pid, xid,
           *updated);
    return pid;
}

static void admin_sql(dd_daemon *d, const char *fmt, long pid)
{
    char sql[256];
    snprintf(sql, sizeof sql, fmt, pid);
    char *v = pgfix_query1(d->db.dsn, sql);
    if (v == NULL || strcmp(v, "t") != 0)
        fail_msg("%s: %s", sql, v ? v : "failed");
    free(v);
}

/* Waits until the lease marks of jobs are in PostgreSQL: written with the
 * reporter's next flush or 100 ms tick, so 10 s is ample slack. */
static void wait_lease_marks(dd_daemon *d, const char *ids, long n)
{
    int64_t until = dd_now_us() + 10000000;
    while (q(d, "SELECT count(*) FROM jobs WHERE state = 'leased' AND id IN (%s)", ids) < n) {
        if (dd_now_us() > until)
            fail_msg("lease marks not in PostgreSQL within 10 s");
        dd_sleep_ms(20);
    }
}

/* Sends the batch while a second thread holds it inside its transaction
 * (the test's row, the last result's), then fails it the given way; returns
 * the answer's acks. */
static size_t fail_mid_transaction(batch_call *c, const char *ids, const char *how)
{
    dd_daemon *d = c->d;
    PGconn *hold = hold_test_row(d, c->jobs[c->n - 1]);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, batch_thread, c), 0);
    long updated = 0;
    long pid = wait_blocked_batch(d, 0, ids, &updated);
    size_t ack;
    if (strcmp(how, "killed") == 0) {
        assert_int_equal(updated, c->n);
        assert_int_equal(pg_server_stop(&pg_private, "immediate"), 0);
        pthread_join(t, NULL);
        PQfinish(hold);
        ack = check_answer(c, ids, 1);
        assert_int_equal(pg_server_start(&pg_private), 0);
        check_nothing_recorded(d, ids, (long)c->n);
    } else if (strcmp(how, "terminated") == 0) {
        assert_int_equal(updated, c->n);
        admin_sql(d, "SELECT pg_terminate_backend(%ld)", pid);
        /* the store reconnected and runs the statement again: it waits for
         * the same row, with nothing of the first try left */
        wait_blocked_batch(d, pid, ids, &updated);
        assert_int_equal(updated, c->n);
        check_nothing_recorded(d, ids, (long)c->n);
        let_go(hold);
        pthread_join(t, NULL);
        ack = check_answer(c, ids, 0);
    } else { /* cancelled: an error inside the transaction of the last commit */
        admin_sql(d, "SELECT pg_cancel_backend(%ld)", pid);
        pthread_join(t, NULL);
        ack = check_answer(c, ids, 0);
        /* what the failed statement had updated is exactly what is retried,
         * and none of it is left */
        printf("  %zu acked (earlier group commits), %zu retried (the one cancelled)\n", ack,
               c->n - ack);
        assert_int_equal(c->n - ack, updated);
        static char rest[BIG * (DP_ID_MAX + 3)];
        id_list(c->jobs + ack, c->n - ack, rest, sizeof rest);
        check_nothing_recorded(d, rest, updated);
        let_go(hold);
    }
    dp_msg_free(&c->reply);
    return ack;
}

static void test_batches_while_pg_fails(void **state)
{
    (void)state;
    dd_daemon d;
    dd_init(&d, NULL, pg_private.dsn);
    /* nothing here is about reaping: the scripted runner never heartbeats */
    dd_env(&d, "DISPATCH_ALIVE_TTL_MS=3600000");
    dd_start(&d);
    actor_client *rc = dd_client(d.runner_url), *admin = dd_client(d.admin_url);
    char id[DP_ID_MAX], tok[65];
    dd_register(rc, "pg-batch", id, tok);
    enum { TOTAL = (CASES - 1) * BATCH + BIG + BATCH };
    static char all[TOTAL][DP_ID_MAX];
    dd_submit(admin, TOTAL, all);
    static const char *names[CASES] = {"stopped", "killed", "terminated", "cancelled",
                                       "stopped, with a lease"};
    static char ids[BIG * (DP_ID_MAX + 3)];
    for (int k = 0; k < CASES; k++) {
        printf("case %s\n", names[k]);
        size_t want = k == 3 ? BIG : BATCH, n = 0;
        static char jobs[BIG][DP_ID_MAX], more[BATCH][DP_ID_MAX];
        uint32_t att[BIG];
        assert_int_equal(dd_lease(rc, id, tok, want, 1000, jobs, att, &n), DP_MSG_LEASED);
        assert_int_equal(n, want);
        id_list(jobs, n, ids, sizeof ids);
        /* the lease marks reach PostgreSQL (the reporter's next flush) before
         * the fault, so each job has its `leased` row whatever happens */
        wait_lease_marks(&d, ids, (long)n);
        batch_call c = {.d = &d, .id = id, .tok = tok, .jobs = jobs, .n = n};
        if (k == 0 || k == 4) {
            assert_int_equal(pg_server_stop(&pg_private, "fast"), 0);
            /* case 4: the same message leases BATCH more jobs while
             * PostgreSQL is down; they are handed out, and their lease
             * marks must reach PostgreSQL once it is back */
            c.max_jobs = k == 4 ? BATCH : 0;
            send_batch(&c);
            assert_int_equal(check_answer(&c, ids, 1), 0);
            if (k == 4) {
                assert_int_equal(c.reply.completed_leased.n_jobs, BATCH);
                for (size_t i = 0; i < BATCH; i++) {
                    assert_int_equal(c.reply.completed_leased.jobs[i].attempt, 1);
                    snprintf(more[i], DP_ID_MAX, "%s", c.reply.completed_leased.jobs[i].job_id);
                }
            }
            dp_msg_free(&c.reply);
            c.max_jobs = 0;
            assert_int_equal(pg_server_start(&pg_private), 0);
            check_nothing_recorded(&d, ids, (long)n);
        } else {
            size_t ack = fail_mid_transaction(&c, ids, names[k]);
            if (k != 3)
                assert_int_equal(ack, k == 2 ? n : 0);
        }
        if (k != 2) /* the runner sends the results again */
            resend_until_acked(&c, ids);
        check_recorded_once(&d, ids, (long)n);
        if (k == 4) { /* the jobs leased during the outage finish too */
            id_list(more, BATCH, ids, sizeof ids);
            /* their lease marks reach PostgreSQL without another message:
             * the attempt fence and the `leased` rows need them */
            wait_lease_marks(&d, ids, BATCH);
            batch_call m = {.d = &d, .id = id, .tok = tok, .jobs = more, .n = BATCH};
            resend_until_acked(&m, ids);
            check_recorded_once(&d, ids, BATCH);
        }
        /* the release in Redis follows the ack's commit in the same flush */
        check_redis_empty(admin);
    }
    assert_int_equal(dd_sql_long(&d, "SELECT count(*) FROM jobs WHERE state = 'completed'"), TOTAL);
    actor_client_close(rc);
    actor_client_close(admin);
    assert_int_equal(dd_stop(&d), 0);
    dd_fini(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches_while_pg_fails),
    };
    return cmocka_run_group_tests(tests, pg_private_setup, pg_private_teardown);
}
