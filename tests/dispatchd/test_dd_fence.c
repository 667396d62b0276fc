/* A result in flight holds its job: a stale attempt's result can never
 * land, even when its Redis owner check passed just before a reclaim, on
 * one dispatchd or across two replicas on one Redis prefix and one
 * database.
 *
 * Runner A holds job X at attempt 1 and sends its result in a
 * complete_lease. The test holds `LOCK TABLE test_results IN SHARE MODE`
 * from its own connection, so the group commit, which runs only after the
 * owner check in Redis passed (and marked X `completing`), waits for the
 * lock (pg_stat_activity shows it waiting). Then A goes silent and is
 * reaped (its runner hash says lost), while runner B keeps asking for work
 * (on the same replica, or on replica 2 whose reaper may be the one that
 * sweeps): X must not be leased again, since its result is being recorded
 * (docs/redis.md, "Results in flight"). Only then does the test let go: A's
 * result is acked and recorded once (attempt 1), X is completed in
 * PostgreSQL and gone from Redis, no attempt 2 ever ran, and the reaper
 * finishes A once X left its job set.
 *
 * Without the mark (before it, the reclaim took X at once) B leased X at
 * attempt 2 while A's result waited: on one replica the attempt-2 lease
 * mark was written by the same reporter thread after the held batch, so
 * the stale attempt-1 result was acked and recorded and B's later result
 * answered `ack` as already finished; with two replicas replica 2 wrote the
 * mark first and PostgreSQL's attempt fence refused A's result. Both cases
 * fail on that code at the first lease B gets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/dispatchd/dd_harness.h"

#define TTL_MS 1500 /* A is reaped this long after its last heartbeat */

typedef struct {
    const char *url, *id, *tok, *job;
    int rc;
    dp_msg reply;    /* owned */
    atomic_int done; /* set once rc and reply are */
} result_call;

/* A's complete_lease: X's result (attempt 1), no lease part. */
static void *send_result(void *arg)
{
    result_call *c = arg;
    dp_test_result tests[1] = {{.name = "t1", .verdict = DP_VERDICT_AC, .time_ms = 3}};
    dp_result_item res = {.result = {.job_id = (char *)c->job,
                                     .attempt = 1,
                                     .verdict = DP_VERDICT_AC,
                                     .score = 100,
                                     .tests = tests,
                                     .n_tests = 1}};
    dp_msg m = {.type = DP_MSG_COMPLETE_LEASE, .id = 51};
    m.complete_lease.runner_id = (char *)c->id;
    m.complete_lease.runner_token = (char *)c->tok;
    m.complete_lease.results = &res;
    m.complete_lease.n_results = 1;
    dp_err err = {0};
    actor_client *cl = actor_client_open(c->url, &err);
    if (cl == NULL)
        c->rc = DP_EUNAVAIL;
    else {
        /* held by the test's lock for about TTL_MS + a lease: 60 s is slack */
        c->rc = dd_rpc(cl, &m, &c->reply, 60000);
        actor_client_close(cl);
    }
    atomic_store(&c->done, 1);
    return NULL;
}

static long job_long(dd_daemon *d, const char *what, const char *job)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT %s FROM jobs WHERE id = '%s'", what, job);
    return dd_sql_long(d, sql);
}

/* One command on d's Redis (its URL is redis://host:port); the reply's
 * string, or "" for nil (a static buffer). */
static const char *redis_str(dd_daemon *d, const char *fmt, const char *a, const char *b)
{
    static char out[256];
    char host[64] = "";
    int port = 0;
    if (sscanf(d->redis_url, "redis://%63[^:]:%d", host, &port) != 2)
        fail_msg("cannot parse the Redis URL %s", d->redis_url);
    redisContext *c = redisConnect(host, port);
    if (c == NULL || c->err)
        fail_msg("redis connect %s", d->redis_url);
    redisReply *r = redisCommand(c, fmt, a, b);
    if (r == NULL)
        fail_msg("redis: %s", c->errstr);
    snprintf(out, sizeof out, "%s",
             r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ? r->str : "");
    freeReplyObject(r);
    redisFree(c);
    return out;
}

static void wait_for_group_commit_to_wait(dd_daemon *d)
{
    int64_t until = dd_now_us() + 10000000;
    for (;;) {
        char *v = pgfix_query1(d->db.dsn, "SELECT count(*) FROM pg_stat_activity"
                                          " WHERE datname = current_database()"
                                          " AND wait_event_type = 'Lock'"
                                          " AND query LIKE 'WITH inp AS%'");
        int waiting = v != NULL && strcmp(v, "1") == 0;
        free(v);
        if (waiting)
            return;
        if (dd_now_us() > until)
            fail_msg("the group commit did not wait for the lock within 10 s");
        dd_sleep_ms(10);
    }
}

/* The scenario above with 1 or 2 replicas (B asks the last one). */
static void result_in_flight_holds_its_job(int replicas)
{
    dd_daemon d[2];
    for (int i = 0; i < replicas; i++)
        dd_init(&d[i], NULL, NULL);
    if (replicas == 2) { /* replica 2 shares 1's key prefix and database */
        memcpy(d[1].prefix, d[0].prefix, sizeof d[1].prefix);
        memcpy(d[1].pg_url, d[0].pg_url, sizeof d[1].pg_url);
    }
    for (int i = 0; i < replicas; i++) {
        dd_env(&d[i], "DISPATCH_HEARTBEAT_MS=200");
        dd_env(&d[i], "DISPATCH_ALIVE_TTL_MS=1500");
        dd_env(&d[i], "DISPATCH_SWEEP_MS=100");
        dd_start(&d[i]);
    }
    dd_daemon *r1 = &d[0], *rn = &d[replicas - 1];
    actor_client *ra = dd_client(r1->runner_url), *rb = dd_client(rn->runner_url);
    actor_client *admin = dd_client(rn->admin_url);
    char a_id[DP_ID_MAX], a_tok[65], b_id[DP_ID_MAX], b_tok[65];
    dd_register(ra, "runner-a", a_id, a_tok);
    dd_register(rb, "runner-b", b_id, b_tok);
    char x[1][DP_ID_MAX], ids[1][DP_ID_MAX];
    uint32_t att[1];
    size_t n = 0;
    dd_submit(admin, 1, x);
    assert_int_equal(dd_lease(ra, a_id, a_tok, 1, 1000, ids, att, &n), DP_MSG_LEASED);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], x[0]);
    assert_int_equal(att[0], 1);
    int64_t until = dd_now_us() + 10000000;
    while (job_long(r1, "(state = 'leased')::int", x[0]) != 1) { /* A's lease mark */
        if (dd_now_us() > until)
            fail_msg("lease mark of attempt 1 not in PostgreSQL within 10 s");
        dd_sleep_ms(20);
    }

    /* the test's lock: replica 1's group commit will wait for it */
    PGconn *lock = PQconnectdb(r1->db.dsn);
    if (PQstatus(lock) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(lock));
    PGresult *res = PQexec(lock, "BEGIN; LOCK TABLE test_results IN SHARE MODE");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("lock: %s", PQerrorMessage(lock));
    PQclear(res);

    /* A is alive when its result arrives: the owner check passes */
    dd_heartbeat(ra, a_id, a_tok);
    result_call call = {.url = r1->runner_url, .id = a_id, .tok = a_tok, .job = x[0]};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_result, &call), 0);
    wait_for_group_commit_to_wait(r1);
    int64_t t_checked = dd_now_us();

    /* A goes silent and is reaped (slack: 4 x TTL for a loaded machine and
     * a sanitized build; the group commit is cancelled by PostgreSQL 10 s
     * after it was sent, so the whole hold must stay well under that)... */
    char rkey[DP_ID_MAX + 16], jkey[DP_ID_MAX + 16];
    snprintf(rkey, sizeof rkey, "runner:%s", a_id);
    snprintf(jkey, sizeof jkey, "job:%s", x[0]);
    until = t_checked + 4 * TTL_MS * 1000;
    for (;;) {
        dd_heartbeat(rb, b_id, b_tok);
        if (dd_lease(rb, b_id, b_tok, 1, 100, ids, att, &n) == DP_MSG_LEASED && n == 1)
            fail_msg("X was leased again (attempt %u) while A's result was being recorded", att[0]);
        if (strcmp(redis_str(r1, "HGET %s%s lost", r1->prefix, rkey), "1") == 0)
            break;
        if (dd_now_us() > until)
            fail_msg("A was not reaped within %d ms", 4 * TTL_MS);
    }
    /* ...and for 10 more sweeps B asks for work and gets none */
    int64_t reaped = dd_now_us();
    while (dd_now_us() < reaped + 1000000) {
        dd_heartbeat(rb, b_id, b_tok);
        if (dd_lease(rb, b_id, b_tok, 1, 200, ids, att, &n) == DP_MSG_LEASED && n == 1)
            fail_msg("X was leased again (attempt %u) while A's result was being recorded", att[0]);
    }
    assert_string_equal(redis_str(r1, "HGET %s%s state", r1->prefix, jkey), "leased");
    assert_string_equal(redis_str(r1, "HGET %s%s leased_by", r1->prefix, jkey), a_id);
    assert_non_null(strstr(redis_str(r1, "HGET %s%s completing", r1->prefix, jkey), "1:"));
    printf("A reaped %.0f ms after the owner check; X held for its result %.0f ms more\n",
           (double)(reaped - t_checked) / 1000, (double)(dd_now_us() - reaped) / 1000);
    assert_int_equal(atomic_load(&call.done), 0); /* still inside the group commit */
    assert_int_equal(job_long(r1, "attempts", x[0]), 1);

    res = PQexec(lock, "COMMIT");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    PQfinish(lock);
    pthread_join(t, NULL);
    assert_int_equal(call.rc, DP_OK);
    if (call.reply.type == DP_MSG_ERROR)
        fail_msg("complete_lease: %s: %s", call.reply.error.code, call.reply.error.message);
    assert_int_equal(call.reply.type, DP_MSG_COMPLETED_LEASED);
    assert_int_equal(call.reply.completed_leased.n_outcomes, 1);
    const dp_result_outcome *o = &call.reply.completed_leased.outcomes[0];
    printf("A's result: %s\n", o->outcome);
    assert_string_equal(o->outcome, DP_OUTCOME_ACK);
    dp_msg_free(&call.reply);

    /* exactly one result landed, attempt 1's, once; no attempt 2 exists */
    assert_int_equal(job_long(r1, "(state = 'completed')::int", x[0]), 1);
    assert_int_equal(job_long(r1, "result_attempt", x[0]), 1);
    assert_int_equal(job_long(r1, "attempts", x[0]), 1);
    assert_int_equal(dd_sql_long(r1, "SELECT count(*) FROM test_results WHERE attempt = 1"), 1);
    assert_int_equal(dd_sql_long(r1, "SELECT count(*) FROM test_results"), 1);
    assert_int_equal(dd_sql_long(r1, "SELECT count(*) FROM job_history WHERE state = 'completed'"),
                     1);
    assert_int_equal(dd_sql_long(r1, "SELECT count(*) FROM job_history WHERE state = 'leased'"), 1);
    /* X left Redis with its release; the reaper then finishes A */
    char tomb[DP_ID_MAX + 32];
    snprintf(tomb, sizeof tomb, "completed %s 1", a_id);
    assert_string_equal(redis_str(r1, "GET %s%s", r1->prefix, jkey), tomb);
    char marker[DP_ID_MAX + 2];
    snprintf(marker, sizeof marker, "~%s", a_id);
    until = dd_now_us() + 10000000;
    while (redis_str(r1, "ZSCORE %srunners:alive %s", r1->prefix, marker)[0] != 0) {
        if (dd_now_us() > until)
            fail_msg("A's reclaim not finished within 10 s of X's release");
        dd_sleep_ms(50);
    }
    assert_int_equal(dd_lease(rb, b_id, b_tok, 1, 200, ids, att, &n), DP_MSG_NONE);
    dp_msg q = {.type = DP_MSG_QUEUE, .id = 9}, r;
    assert_int_equal(dd_rpc(admin, &q, &r, 5000), DP_OK);
    assert_int_equal(r.type, DP_MSG_QUEUE_STATS);
    assert_int_equal(r.queue_stats.leased, 0);
    assert_int_equal(r.queue_stats.pending, 0);
    dp_msg_free(&r);

    actor_client_close(ra);
    actor_client_close(rb);
    actor_client_close(admin);
    int code[2] = {0, 0};
    for (int i = replicas - 1; i >= 0; i--)
        code[i] = dd_stop(&d[i]);
    for (int i = replicas - 1; i >= 0; i--)
        dd_fini(&d[i]);
    for (int i = 0; i < replicas; i++)
        assert_int_equal(code[i], 0);
}

static void test_one_replica(void **state)
{
    (void)state;
    result_in_flight_holds_its_job(1);
}

static void test_two_replicas(void **state)
{
    (void)state;
    result_in_flight_holds_its_job(2);
}

/* A runner-side failure told right after its lease, while the lease mark
 * still waits for its result in the reporter (reporter_fold.c): the mark
 * is written before the requeue (history leased(1), requeued(1) in seq
 * order), so the job is queued again with its attempt counted. The failure
 * can also reach the reporter before the lease's event (the leaser holds
 * its events while its mailbox is busy): then the late mark changes
 * nothing (ST_MARK_LEASED takes only a newer attempt) and attempt 1 has no
 * `leased` row. Either way the job is never `leased` to the runner that
 * gave it up (it was, with the mark written after the requeue), and no
 * `leased` row follows the requeue. Then the second attempt runs and its
 * own lease folds into its result. */
static void test_retry_right_after_lease(void **state)
{
    (void)state;
    dd_daemon d;
    dd_init(&d, NULL, NULL);
    dd_start(&d);
    actor_client *rc = dd_client(d.runner_url), *admin = dd_client(d.admin_url);
    char id[DP_ID_MAX], tok[65], x[1][DP_ID_MAX], ids[1][DP_ID_MAX];
    uint32_t att[1];
    size_t n = 0;
    dd_register(rc, "quick-failer", id, tok);
    dd_submit(admin, 1, x);
    assert_int_equal(dd_lease(rc, id, tok, 1, 1000, ids, att, &n), DP_MSG_LEASED);
    assert_int_equal(att[0], 1);
    assert_int_equal(dd_complete(rc, id, tok, x[0], 1, 1), DP_MSG_ACK);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM job_events WHERE job_id = '%s' AND attempt = 1"
             " AND state = 'requeued'",
             x[0]);
    /* the requeue: ms; 10 s of slack */
    dd_wait_sql(&d, sql, 1, 10000, "requeued row of attempt 1 in PostgreSQL");
    dd_sleep_ms(300); /* past the reporter's tick: a mark written late would show now */
    assert_int_equal(job_long(&d, "(state = 'queued' AND attempts = 1)::int", x[0]), 1);
    snprintf(sql, sizeof sql,
             "SELECT (array_agg(state ORDER BY seq) IN (ARRAY['leased', 'requeued'],"
             " ARRAY['requeued']))::int FROM job_events WHERE job_id = '%s'",
             x[0]);
    assert_int_equal(dd_sql_long(&d, sql), 1);
    assert_int_equal(dd_lease(rc, id, tok, 1, 1000, ids, att, &n), DP_MSG_LEASED);
    assert_int_equal(att[0], 2);
    assert_int_equal(dd_complete(rc, id, tok, x[0], 2, 0), DP_MSG_ACK);
    snprintf(sql, sizeof sql,
             "SELECT (array_remove(array_agg(state || attempt ORDER BY seq, ts), 'leased1') ="
             " ARRAY['queued0', 'requeued1', 'leased2', 'completed2'])::int"
             " FROM job_history WHERE job_id = '%s'",
             x[0]);
    dd_wait_sql(&d, sql, 1, 10000,
                "history of the retried job: queued, (leased), requeued, leased, completed");
    actor_client_close(rc);
    actor_client_close(admin);
    int code = dd_stop(&d);
    dd_fini(&d);
    assert_int_equal(code, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_replica),
        cmocka_unit_test(test_two_replicas),
        cmocka_unit_test(test_retry_right_after_lease),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
