/* complete_lease end to end against a real dispatchd, Redis and PostgreSQL:
 * one runner message holding an ack, a conflict (a reclaimed job's stale
 * attempt), a not_found and a retryable SE, plus a lease, is answered item
 * by item with the new jobs, and each result lands exactly as it would
 * alone; the same message sent again (its answer lost) is answered again
 * and nothing is recorded twice. An early message is answered with its
 * jobs at once, and its results' outcomes come in the runner's later
 * answers: a lease with jobs, or an outcomes poll, answered as they are decided. A result that
 * reaches the reporter while it writes a large submit is recorded before the submit queued behind
 * it. Polls sent together with a result are all answered, held or not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/dispatchd/dd_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TTL_MS 1000 /* runner A goes silent for TTL_MS plus sweep slack to be reaped */

typedef struct {
    const char *job;
    uint32_t attempt;
    int retry;
} item;

/* Sends one complete_lease with these results (AC, or SE with retry) and a
 * lease of max jobs (wait 0); the answer into *r (caller frees). */
static void send_batch(actor_client *c, const char *id, const char *token, const item *items,
                       size_t n, uint32_t max, const char *request_id, dp_msg *r)
{
    dp_test_result tests[1] = {{.name = "t1", .verdict = DP_VERDICT_AC, .time_ms = 3}};
    dp_result_item res[8] = {0};
    for (size_t i = 0; i < n; i++) {
        dp_job_result *x = &res[i].result;
        x->job_id = (char *)items[i].job;
        x->attempt = items[i].attempt;
        x->verdict = items[i].retry ? DP_VERDICT_SE : DP_VERDICT_AC;
        x->score = items[i].retry ? 0 : 100;
        x->message = items[i].retry ? "fetch failed" : NULL;
        x->tests = tests;
        x->n_tests = 1;
        res[i].retry = items[i].retry != 0;
    }
    dp_msg m = {.type = DP_MSG_COMPLETE_LEASE, .id = 21};
    m.complete_lease.runner_id = (char *)id;
    m.complete_lease.runner_token = (char *)token;
    m.complete_lease.results = res;
    m.complete_lease.n_results = n;
    m.complete_lease.max_jobs = max;
    m.complete_lease.request_id = (char *)request_id;
    assert_int_equal(dd_rpc(c, &m, r, 10000), DP_OK);
    if (r->type == DP_MSG_ERROR)
        fail_msg("complete_lease: %s: %s", r->error.code, r->error.message);
    if (n == 0 && r->type == DP_MSG_NONE)
        return; /* a lease only, nothing pending: answered as a lease is */
    assert_int_equal(r->type, DP_MSG_COMPLETED_LEASED);
    assert_int_equal(r->id, 21);
    assert_int_equal(r->completed_leased.n_outcomes, n);
    for (size_t i = 0; i < n; i++) /* in the order of the request */
        assert_string_equal(r->completed_leased.outcomes[i].job_id, items[i].job);
}

static const char *outcome(const dp_msg *r, size_t i)
{
    return r->completed_leased.outcomes[i].outcome;
}

static void test_batch_item_by_item_and_resend(void **state)
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
    char jobs[4][DP_ID_MAX], ids[4][DP_ID_MAX];
    uint32_t att[4];
    size_t n = 0;
    dd_submit(admin, 4, jobs);
    /* A takes X; B takes Y and Z */
    assert_int_equal(dd_lease(rc, a_id, a_tok, 1, 0, ids, att, &n), DP_MSG_LEASED);
    assert_int_equal(n, 1);
    char x[DP_ID_MAX], y[DP_ID_MAX], z[DP_ID_MAX];
    snprintf(x, sizeof x, "%s", ids[0]);
    assert_int_equal(dd_lease(rc, b_id, b_tok, 2, 0, ids, att, &n), DP_MSG_LEASED);
    assert_int_equal(n, 2);
    snprintf(y, sizeof y, "%s", ids[0]);
    snprintf(z, sizeof z, "%s", ids[1]);
    /* A goes silent and is reaped (X back to pending); slack: 3 x TTL on a
     * loaded machine before we give up. */
    dd_wait_pending(rc, admin, b_id, b_tok, 2, 3 * TTL_MS);
    /* B leases X again: attempt 2 (FIFO: X was requeued at the front or the
     * back; take both pending jobs and find X among them) */
    assert_int_equal(dd_lease(rc, b_id, b_tok, 2, 0, ids, att, &n), DP_MSG_LEASED);
    assert_int_equal(n, 2);
    char w[DP_ID_MAX];
    int xi = strcmp(ids[0], x) == 0 ? 0 : 1;
    assert_string_equal(ids[xi], x);
    assert_int_equal(att[xi], 2);
    snprintf(w, sizeof w, "%s", ids[1 - xi]);

    /* one message: Y done (ack), X's stale attempt 1 (conflict), an unknown
     * job (not_found), Z failed on the runner (SE, retry elsewhere), and a
     * lease for 2 more */
    item batch[4] = {
        {y, 1, 0},
        {x, 1, 0},
        {"j-00000000000000000000000000000000", 1, 0},
        {z, 1, 1},
    };
    dp_msg r;
    send_batch(rc, b_id, b_tok, batch, 4, 2, "q-batch-1", &r);
    assert_string_equal(outcome(&r, 0), DP_OUTCOME_ACK);
    assert_string_equal(outcome(&r, 1), DP_OUTCOME_CONFLICT);
    assert_string_equal(outcome(&r, 2), DP_OUTCOME_NOT_FOUND);
    assert_string_equal(outcome(&r, 3), DP_OUTCOME_ACK); /* requeued: the runner forgets it */
    /* the lease was claimed before Z was requeued: nothing else is pending */
    assert_int_equal(r.completed_leased.n_jobs, 0);
    dp_msg_free(&r);

    dp_job_view v;
    assert_int_equal(dd_status(admin, y, &v), DP_MSG_JOB);
    assert_int_equal(v.state, DP_JOB_COMPLETED);
    assert_int_equal(v.verdict, DP_VERDICT_AC);
    dp_job_view_free(&v);
    assert_int_equal(dd_status(admin, x, &v), DP_MSG_JOB);
    assert_int_equal(v.state, DP_JOB_LEASED); /* still B's attempt 2 */
    dp_job_view_free(&v);
    assert_int_equal(dd_status(admin, z, &v), DP_MSG_JOB);
    assert_int_equal(v.state, DP_JOB_QUEUED); /* SE: back to pending, attempt counted */
    dp_job_view_free(&v);

    /* The answer was lost: the runner sends the same results again (and its
     * lease under a new request id). Y is acked again but recorded once; Z
     * is answered (not found: it is queued, no longer leased) and picked up
     * by the lease part again at attempt 2. */
    send_batch(rc, b_id, b_tok, batch, 4, 2, "q-batch-2", &r);
    assert_string_equal(outcome(&r, 0), DP_OUTCOME_ACK);
    assert_string_equal(outcome(&r, 1), DP_OUTCOME_CONFLICT);
    assert_string_equal(outcome(&r, 2), DP_OUTCOME_NOT_FOUND);
    assert_true(strcmp(outcome(&r, 3), DP_OUTCOME_CONFLICT) == 0 ||
                strcmp(outcome(&r, 3), DP_OUTCOME_NOT_FOUND) == 0);
    assert_int_equal(r.completed_leased.n_jobs, 1);
    assert_string_equal(r.completed_leased.jobs[0].job_id, z);
    assert_int_equal(r.completed_leased.jobs[0].attempt, 2);
    dp_msg_free(&r);
    assert_int_equal(dd_sql_long(&dd, "SELECT count(*) FROM job_history WHERE state = 'completed'"),
                     1);
    assert_int_equal(dd_sql_long(&dd, "SELECT count(*) FROM jobs WHERE state = 'completed'"), 1);
    assert_int_equal(dd_sql_long(&dd, "SELECT count(*) FROM test_results"), 1);

    /* results only (no free slot): W, X's attempt 2 and Z's attempt 2
     * finish; then a lease only, with nothing pending: `none`, as for a lease */
    item rest[3] = {{w, 1, 0}, {x, 2, 0}, {z, 2, 0}};
    send_batch(rc, b_id, b_tok, rest, 3, 0, NULL, &r);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(outcome(&r, i), DP_OUTCOME_ACK);
    dp_msg_free(&r);
    send_batch(rc, b_id, b_tok, NULL, 0, 1, "q-batch-3", &r);
    assert_int_equal(r.type, DP_MSG_NONE);
    dp_msg_free(&r);
    assert_int_equal(dd_sql_long(&dd, "SELECT count(*) FROM jobs WHERE state = 'completed'"), 4);

    actor_client_close(rc);
    actor_client_close(admin);
    int code = dd_stop(&dd);
    dd_fini(&dd);
    assert_int_equal(code, 0);
}

/* Starts a submit of n minimal specs on admin without waiting for it. */
static actor_future *submit_start(actor_client *admin, size_t n)
{
    dp_msg m = {.type = DP_MSG_SUBMIT, .id = 31};
    dp_test_case tc = {.name = "t1", .stdin_data = "5\n", .expected_stdout = "10\n"};
    m.submit.n_specs = n;
    m.submit.specs = calloc(n, sizeof *m.submit.specs);
    assert_non_null(m.submit.specs);
    for (size_t i = 0; i < n; i++) {
        m.submit.specs[i].profile = "c";
        m.submit.specs[i].archive = "file:///tmp/sub.zip";
        m.submit.specs[i].tests = &tc;
        m.submit.specs[i].n_tests = 1;
    }
    nng_msg *out = NULL;
    dp_err err = {0};
    assert_int_equal(dp_msg_encode(&m, &out, &err), DP_OK);
    free(m.submit.specs); /* borrowed strings */
    actor_future *f = actor_client_call_start(admin, out, 60000, &err);
    if (f == NULL)
        fail_msg("submit: %s", err.msg);
    return f;
}

/* Waits for a started submit; copies its first job id into first. */
static void submit_wait(actor_future *f, size_t n, char *first)
{
    nng_msg *out = NULL;
    dp_err err = {0};
    if (actor_future_wait(f, &out, &err) != DP_OK)
        fail_msg("submit: %s", err.msg);
    dp_msg r;
    assert_int_equal(dp_msg_decode_nng(out, &r, &err), DP_OK);
    nng_msg_free(out);
    assert_int_equal(r.type, DP_MSG_SUBMITTED);
    assert_int_equal(r.submitted.n_items, n);
    assert_non_null(r.submitted.items[0].job_id);
    snprintf(first, DP_ID_MAX, "%s", r.submitted.items[0].job_id);
    dp_msg_free(&r);
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The reporter holds results while more messages wait, so that a batch
 * carries what queued up; a submit waiting behind them is not more results,
 * and holding them through its round trips kept them (and the jobs that
 * travel in their answer) until the stream of submits paused or a tick
 * came. Here: a 10,000-job submit keeps the reporter busy (ten chunks of
 * 1,000, ~0.3 s in a release build, longer under ASan or load); once its
 * first chunk is in PostgreSQL, X's result is sent, and 20 ms later a
 * one-job submit, so both wait in the reporter's mailbox, the result first.
 * X must be recorded before the one-job submit: its finished_at (the result
 * transaction's start) before that job's created_at. Without the rule the
 * result waited for the submit and then for the tick. If the big submit
 * ended within those 20 ms (a machine far faster than this one), nothing
 * waited and the test proves nothing; it says so. */
/* One complete_lease from runner id with an AC result for (job, attempt)
 * and no lease, encoded (the caller sends it). */
static nng_msg *encode_result(const char *id, const char *tok, const char *job, uint32_t attempt)
{
    dp_test_result tests[1] = {{.name = "t1", .verdict = DP_VERDICT_AC, .time_ms = 3}};
    dp_result_item res[1] = {{.result = {.job_id = (char *)job,
                                         .attempt = attempt,
                                         .verdict = DP_VERDICT_AC,
                                         .score = 100,
                                         .tests = tests,
                                         .n_tests = 1}}};
    dp_msg m = {.type = DP_MSG_COMPLETE_LEASE, .id = 22};
    m.complete_lease.runner_id = (char *)id;
    m.complete_lease.runner_token = (char *)tok;
    m.complete_lease.results = res;
    m.complete_lease.n_results = 1;
    nng_msg *out = NULL;
    dp_err err = {0};
    assert_int_equal(dp_msg_encode(&m, &out, &err), DP_OK);
    return out;
}

/* Waits for a started complete_lease: its one result must be acked. */
static void wait_ack(actor_future *f)
{
    nng_msg *ans = NULL;
    dp_err err = {0};
    dp_msg r;
    assert_int_equal(actor_future_wait(f, &ans, &err), DP_OK);
    assert_int_equal(dp_msg_decode_nng(ans, &r, &err), DP_OK);
    nng_msg_free(ans);
    assert_int_equal(r.type, DP_MSG_COMPLETED_LEASED);
    assert_string_equal(outcome(&r, 0), DP_OUTCOME_ACK);
    dp_msg_free(&r);
}

/* Starts a 10,000-job submit and returns once its first chunk is in
 * PostgreSQL: the reporter is inside it (poll <= 30 s). */
static actor_future *busy_reporter(dd_daemon *dd, actor_client *admin)
{
    actor_future *f = submit_start(admin, DP_MSG_MAX_SPECS);
    for (int i = 0; i < 6000 && dd_sql_long(dd, "SELECT count(*) FROM jobs") < 2; i++)
        nap_ms(5);
    return f;
}

/* Registers `name`, submits one job and leases it to that runner: id and
 * tok (DP_ID_MAX / 65 bytes), the job (DP_ID_MAX) and its attempt. */
static void lease_one(actor_client *rc, actor_client *admin, const char *name, char *id, char *tok,
                      char *job, uint32_t *att)
{
    char jobs[1][DP_ID_MAX], x[1][DP_ID_MAX];
    size_t n = 0;
    dd_register(rc, name, id, tok);
    dd_submit(admin, 1, jobs);
    assert_int_equal(dd_lease(rc, id, tok, 1, 0, x, att, &n), DP_MSG_LEASED);
    assert_int_equal(n, 1);
    snprintf(job, DP_ID_MAX, "%s", x[0]);
}

/* Starts a big submit (*big), and once the reporter is inside it, the
 * runner's result for job (the answer is waited for with wait_ack). */
static actor_future *result_while_busy(dd_daemon *dd, actor_client *rc, actor_client *admin,
                                       const char *id, const char *tok, const char *job,
                                       uint32_t att, actor_future **big)
{
    *big = busy_reporter(dd, admin);
    dp_err err = {0};
    actor_future *f = actor_client_call_start(rc, encode_result(id, tok, job, att), 60000, &err);
    if (f == NULL)
        fail_msg("complete_lease: %s", err.msg);
    return f;
}

/* Whether the big submit (every job but `except`) still ran at `t` (a
 * chunk began later), so that what was sent before `t` waited for it. */
static void note_if_idle(dd_daemon *dd, const struct timespec *t, const char *except)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT (max(created_at) > to_timestamp(%lld.%03ld))::int FROM jobs WHERE id <> '%s'",
             (long long)t->tv_sec, t->tv_nsec / 1000000, except);
    if (dd_sql_long(dd, sql) != 1)
        print_message("# the big submit ended before the rest was sent: nothing waited\n");
}

/* 1 when job a's result was recorded before (or in the transaction of)
 * `col` of job b. */
static long recorded_by(dd_daemon *dd, const char *a, const char *col, const char *b)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT ((SELECT finished_at FROM jobs WHERE id = '%s') <= "
             "(SELECT %s FROM jobs WHERE id = '%s'))::int",
             a, col, b);
    return dd_sql_long(dd, sql);
}

static void test_result_not_held_behind_submit(void **state)
{
    (void)state;
    dd_daemon dd;
    dd_init(&dd, NULL, NULL);
    dd_start(&dd);
    actor_client *rc = dd_client(dd.runner_url), *admin = dd_client(dd.admin_url);
    char id[DP_ID_MAX], tok[65], x[DP_ID_MAX];
    uint32_t att;
    lease_one(rc, admin, "runner-a", id, tok, x, &att);
    actor_future *first = NULL;
    actor_future *cf = result_while_busy(&dd, rc, admin, id, tok, x, att, &first);
    nap_ms(20);
    struct timespec sent;
    clock_gettime(CLOCK_REALTIME, &sent);
    actor_future *second = submit_start(admin, 1);
    wait_ack(cf);
    char a[DP_ID_MAX], b[DP_ID_MAX];
    submit_wait(first, DP_MSG_MAX_SPECS, a);
    submit_wait(second, 1, b);
    note_if_idle(&dd, &sent, b);
    /* the one-job submit is a transaction of its own: <= is before */
    assert_int_equal(recorded_by(&dd, x, "created_at", b), 1);

    actor_client_close(rc);
    actor_client_close(admin);
    int code = dd_stop(&dd);
    dd_fini(&dd);
    assert_int_equal(code, 0);
}

/* The same for events: runner A's result reaches the reporter while it
 * writes a large submit, then runner B's lease, whose `leased` events the
 * leaser sends after A's results. The reporter must not hold A's result
 * once the events are the last thing in its mailbox: it writes it as soon
 * as it has taken the events. B's lease mark waits for B's result or the
 * reporter's next tick (reporter_fold.c), and its started_at is when the
 * reporter took B's event, so A's finished_at follows it within the
 * result's own commit (a few ms). Holding A's result, the reporter wrote it
 * at its next tick, 0-100 ms later (uniformly): the bound of 50 ms catches
 * that one run in two, and leaves 50 ms of slack for a loaded machine
 * between taking the event and starting the commit. */
static void test_result_not_held_behind_events(void **state)
{
    (void)state;
    dd_daemon dd;
    dd_init(&dd, NULL, NULL);
    dd_start(&dd);
    actor_client *rc = dd_client(dd.runner_url), *admin = dd_client(dd.admin_url);
    char a_id[DP_ID_MAX], a_tok[65], b_id[DP_ID_MAX], b_tok[65], x[DP_ID_MAX], y[1][DP_ID_MAX];
    uint32_t att, y_att[1];
    size_t n = 0;
    lease_one(rc, admin, "runner-a", a_id, a_tok, x, &att);
    dd_register(rc, "runner-b", b_id, b_tok);
    actor_future *first = NULL;
    actor_future *cf = result_while_busy(&dd, rc, admin, a_id, a_tok, x, att, &first);
    nap_ms(20);
    /* the big submit's first chunk is queued (or comes within the wait) */
    assert_int_equal(dd_lease(rc, b_id, b_tok, 1, 10000, y, y_att, &n), DP_MSG_LEASED);
    assert_int_equal(n, 1);
    struct timespec leased;
    clock_gettime(CLOCK_REALTIME, &leased);
    wait_ack(cf);
    char a[DP_ID_MAX];
    submit_wait(first, DP_MSG_MAX_SPECS, a);
    note_if_idle(&dd, &leased, x);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT (extract(epoch FROM (SELECT finished_at FROM jobs WHERE id = '%s') -"
             " (SELECT started_at FROM jobs WHERE id = '%s')) * 1000)::bigint",
             x, y[0]);
    /* B's mark: the next tick (10 s of slack) */
    dd_wait_sql(&dd, "SELECT count(*) FROM jobs WHERE started_at IS NOT NULL AND state = 'leased'",
                1, 10000, "B's lease mark in PostgreSQL");
    long gap_ms = dd_sql_long(&dd, sql);
    print_message("# A's result recorded %ld ms after the reporter took B's lease\n", gap_ms);
    assert_true(gap_ms < 50);

    actor_client_close(rc);
    actor_client_close(admin);
    int code = dd_stop(&dd);
    dd_fini(&dd);
    assert_int_equal(code, 0);
}

/* A runner's poll: a complete_lease without results asking for max jobs,
 * parked up to 10 s (encoded; the caller sends it). */
static nng_msg *encode_poll(const char *id, const char *tok, uint32_t max, const char *request_id)
{
    dp_msg m = {.type = DP_MSG_COMPLETE_LEASE, .id = 23};
    m.complete_lease.runner_id = (char *)id;
    m.complete_lease.runner_token = (char *)tok;
    m.complete_lease.max_jobs = max;
    m.complete_lease.wait_ms = 10000;
    m.complete_lease.request_id = (char *)request_id;
    m.complete_lease.early = true;
    nng_msg *out = NULL;
    dp_err err = {0};
    assert_int_equal(dp_msg_encode(&m, &out, &err), DP_OK);
    return out;
}

/* Its answer: completed_leased with its jobs; their ids appended to ids. */
static size_t poll_jobs(actor_future *f, char (*ids)[DP_ID_MAX], size_t room)
{
    nng_msg *ans = NULL;
    dp_err err = {0};
    dp_msg r;
    if (actor_future_wait(f, &ans, &err) != DP_OK)
        fail_msg("poll not answered: %s", err.msg);
    assert_int_equal(dp_msg_decode_nng(ans, &r, &err), DP_OK);
    nng_msg_free(ans);
    if (r.type != DP_MSG_COMPLETED_LEASED)
        fail_msg("poll answered %s, not with its jobs", dp_msg_type_name(r.type));
    size_t n = r.completed_leased.n_jobs;
    for (size_t i = 0; i < n && i < room; i++)
        snprintf(ids[i], DP_ID_MAX, "%s", r.completed_leased.jobs[i].job_id);
    dp_msg_free(&r);
    return n;
}

/* Polls and a result sent together on one connection: the leaser holds a
 * poll while messages wait behind it, so that a result among them passes
 * on before the poll's claims (leaser.c, on_complete_lease). Runner Z's
 * poll for 1,000 jobs goes first: its claim (a script call taking 1,000
 * jobs, and their answer) keeps the leaser busy for milliseconds while six
 * runners' polls for one job each and runner A's result arrive behind it,
 * so those polls are held. Every poll is answered: Z with jobs, each of the
 * six with one job, the six distinct (two of them only after the two jobs
 * submitted once the result is acked: they wait parked), and A's result
 * lands. A held poll that was never answered fails its call (15 s). */
static void test_polls_held_then_answered(void **state)
{
    (void)state;
    enum { POLLS = 6, BIG = 1000 };
    dd_daemon dd;
    dd_init(&dd, NULL, NULL);
    dd_start(&dd);
    actor_client *rc = dd_client(dd.runner_url), *admin = dd_client(dd.admin_url);
    char a_id[DP_ID_MAX], a_tok[65], x[DP_ID_MAX], z_id[DP_ID_MAX], z_tok[65];
    char ids[POLLS][DP_ID_MAX], toks[POLLS][65];
    uint32_t att;
    lease_one(rc, admin, "runner-a", a_id, a_tok, x, &att);
    dd_register(rc, "runner-z", z_id, z_tok);
    for (int i = 0; i < POLLS; i++) {
        char name[32];
        snprintf(name, sizeof name, "runner-p%d", i);
        dd_register(rc, name, ids[i], toks[i]);
    }
    char(*jobs)[DP_ID_MAX] = calloc(BIG + POLLS, DP_ID_MAX);
    assert_non_null(jobs);
    dd_submit(admin, BIG + POLLS - 2, jobs);
    dp_err err = {0};
    actor_future *zf =
        actor_client_call_start(rc, encode_poll(z_id, z_tok, BIG, "q-z"), 15000, &err);
    if (zf == NULL)
        fail_msg("poll: %s", err.msg);
    actor_future *polls[POLLS];
    for (int i = 0; i < POLLS; i++) {
        char req[32];
        snprintf(req, sizeof req, "q-poll-%d", i);
        polls[i] = actor_client_call_start(rc, encode_poll(ids[i], toks[i], 1, req), 15000, &err);
        if (polls[i] == NULL)
            fail_msg("poll: %s", err.msg);
    }
    actor_future *cf = actor_client_call_start(rc, encode_result(a_id, a_tok, x, att), 15000, &err);
    if (cf == NULL)
        fail_msg("complete_lease: %s", err.msg);
    wait_ack(cf);
    dd_submit(admin, 2, jobs + BIG + POLLS - 2);
    assert_true(poll_jobs(zf, jobs, BIG) >= 1);
    char got[POLLS][DP_ID_MAX];
    for (int i = 0; i < POLLS; i++) {
        assert_int_equal(poll_jobs(polls[i], got + i, 1), 1);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(got[j], got[i]);
    }
    assert_int_equal(dd_sql_long(&dd, "SELECT count(*) FROM jobs WHERE state = 'completed'"), 1);

    free(jobs);
    actor_client_close(rc);
    actor_client_close(admin);
    int code = dd_stop(&dd);
    dd_fini(&dd);
    assert_int_equal(code, 0);
}

/* Sends one early complete_lease (results AC, lease of max, no wait) and
 * returns its answer in *r: completed_leased, whatever its outcomes. */
static void send_early(actor_client *c, const char *id, const char *token, const item *items,
                       size_t n, uint32_t max, uint32_t wait_ms, const char *request_id, dp_msg *r)
{
    dp_result_item res[8] = {0};
    for (size_t i = 0; i < n; i++) {
        res[i].result.job_id = (char *)items[i].job;
        res[i].result.attempt = items[i].attempt;
        res[i].result.verdict = DP_VERDICT_AC;
        res[i].result.score = 100;
    }
    dp_msg m = {.type = DP_MSG_COMPLETE_LEASE, .id = 31};
    m.complete_lease.runner_id = (char *)id;
    m.complete_lease.runner_token = (char *)token;
    m.complete_lease.results = res;
    m.complete_lease.n_results = n;
    m.complete_lease.max_jobs = max;
    m.complete_lease.wait_ms = wait_ms;
    m.complete_lease.request_id = (char *)request_id;
    m.complete_lease.early = true;
    assert_int_equal(dd_rpc(c, &m, r, 10000), DP_OK);
    if (r->type == DP_MSG_ERROR)
        fail_msg("complete_lease: %s: %s", r->error.code, r->error.message);
    assert_int_equal(r->type, DP_MSG_COMPLETED_LEASED);
}

/* The outcome of job (attempt 1) among *got, or NULL. */
static const char *outcome_of(const dp_result_outcome *got, size_t n, const char *job)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(got[i].job_id, job) == 0 && got[i].attempt == 1)
            return got[i].outcome;
    return NULL;
}

/* Outcomes polls (max 0: what a runner whose slots are busy sends) until
 * want outcomes came back,
 * each answer carrying those decided so far; their outcomes into got[]. A
 * parked call is answered when outcomes arrive, so each returns in
 * milliseconds; the 5 s wait is only the bound of a broken build. */
static size_t collect_outcomes(actor_client *rc, const char *id, const char *tok, size_t want,
                               dp_result_outcome *got)
{
    size_t n = 0;
    for (int call = 0; call < 10 && n < want; call++) {
        dp_msg r;
        send_early(rc, id, tok, NULL, 0, 0, 5000, NULL, &r);
        assert_int_equal(r.completed_leased.n_jobs, 0);
        for (size_t i = 0; i < r.completed_leased.n_outcomes && n < 8; i++) {
            got[n] = r.completed_leased.outcomes[i];
            got[n].job_id = strdup(got[n].job_id);
            got[n].outcome = strdup(got[n].outcome);
            got[n].message = NULL;
            n++;
        }
        dp_msg_free(&r);
    }
    return n;
}

static void free_outcomes(dp_result_outcome *got, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(got[i].job_id);
        free(got[i].outcome);
    }
}

static void test_early_answer_then_outcomes(void **state)
{
    (void)state;
    dd_daemon dd;
    dd_init(&dd, NULL, NULL);
    dd_start(&dd);
    actor_client *rc = dd_client(dd.runner_url), *admin = dd_client(dd.admin_url);
    char id[DP_ID_MAX], tok[65], jobs[3][DP_ID_MAX], ids[3][DP_ID_MAX];
    uint32_t att[3];
    size_t n = 0;
    dd_register(rc, "runner-early", id, tok);
    dd_submit(admin, 3, jobs);
    assert_int_equal(dd_lease(rc, id, tok, 2, 0, ids, att, &n), DP_MSG_LEASED);
    assert_int_equal(n, 2);
    char y[DP_ID_MAX], w[DP_ID_MAX];
    snprintf(y, sizeof y, "%s", ids[0]);
    snprintf(w, sizeof w, "%s", ids[1]);

    /* Y done and an unknown job's result, with a lease of 1: the third job
     * comes back at once, before either result is recorded or refused. */
    const char *unknown = "j-00000000000000000000000000000000";
    item first[2] = {{y, 1, 0}, {unknown, 1, 0}};
    dp_msg r;
    send_early(rc, id, tok, first, 2, 1, 0, "q-early-1", &r);
    assert_int_equal(r.completed_leased.n_jobs, 1);
    char v[DP_ID_MAX];
    snprintf(v, sizeof v, "%s", r.completed_leased.jobs[0].job_id);
    /* answered before the results reached the reporter: no outcome of
     * this message can be in it (and no earlier one waits) */
    assert_int_equal(r.completed_leased.n_outcomes, 0);
    dp_msg_free(&r);
    dp_result_outcome got[8];
    size_t n_got = collect_outcomes(rc, id, tok, 2, got);
    assert_int_equal(n_got, 2);
    assert_string_equal(outcome_of(got, n_got, y), DP_OUTCOME_ACK);
    assert_string_equal(outcome_of(got, n_got, unknown), DP_OUTCOME_NOT_FOUND);
    free_outcomes(got, n_got);
    assert_int_equal(dd_sql_long(&dd, "SELECT count(*) FROM jobs WHERE state = 'completed'"), 1);

    /* Y again (its outcome lost with an answer) with W and V: Y is acked
     * and recorded once, W and V land. */
    item second[3] = {{y, 1, 0}, {w, 1, 0}, {v, 1, 0}};
    send_early(rc, id, tok, second, 3, 0, 0, NULL, &r);
    assert_int_equal(r.completed_leased.n_jobs, 0);
    assert_int_equal(r.completed_leased.n_outcomes, 0);
    dp_msg_free(&r);
    /* once they are recorded a new job's lease carries their outcomes
     * (those not yet passed back come with the poll after it) */
    for (int i = 0; i < 500 && dd_sql_long(&dd, "SELECT count(*) FROM jobs WHERE state = "
                                                "'completed'") < 3;
         i++)
        nap_ms(10);
    dd_submit(admin, 1, jobs);
    send_early(rc, id, tok, NULL, 0, 1, 0, "q-early-2", &r);
    assert_int_equal(r.completed_leased.n_jobs, 1);
    size_t with_lease = r.completed_leased.n_outcomes;
    for (size_t i = 0; i < with_lease; i++)
        assert_string_equal(r.completed_leased.outcomes[i].outcome, DP_OUTCOME_ACK);
    dp_msg_free(&r);
    n_got = collect_outcomes(rc, id, tok, 3 - with_lease, got);
    assert_int_equal(n_got + with_lease, 3);
    for (size_t i = 0; i < n_got; i++)
        assert_string_equal(got[i].outcome, DP_OUTCOME_ACK);
    free_outcomes(got, n_got);
    assert_int_equal(dd_sql_long(&dd, "SELECT count(*) FROM jobs WHERE state = 'completed'"), 3);
    assert_int_equal(dd_sql_long(&dd, "SELECT count(*) FROM job_history WHERE state = 'completed'"),
                     3);

    actor_client_close(rc);
    actor_client_close(admin);
    int code = dd_stop(&dd);
    dd_fini(&dd);
    assert_int_equal(code, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_item_by_item_and_resend),
        cmocka_unit_test(test_result_not_held_behind_submit),
        cmocka_unit_test(test_result_not_held_behind_events),
        cmocka_unit_test(test_early_answer_then_outcomes),
        cmocka_unit_test(test_polls_held_then_answered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
