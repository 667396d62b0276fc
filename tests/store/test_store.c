/* Integration tests of the PostgreSQL store against a real server
 * (DISPATCH_PG_DSN); each test runs in its own fresh database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/store/store.h"
#include "dispatch/store/store_list.h"
#include "dispatch/store/store_migrations.h"
#include "tests/store/pg_fixture.h"
#include "tests/store/store_testutil.h"

typedef tu_store_fixture fixture;

static long query_long(fixture *f, const char *sql)
{
    return tu_query_long(f->db.dsn, sql);
}

/* ---- migrations ---------------------------------------------------------- */

static void *open_thread(void *arg)
{
    const char *dsn = arg;
    dp_err err;
    store_db *s = store_open(dsn, &err);
    if (s == NULL)
        fprintf(stderr, "concurrent store_open: %s\n", err.msg);
    store_close(s);
    return (void *)(intptr_t)(s != NULL);
}

static void test_migrations_idempotent_and_concurrent(void **state)
{
    (void)state;
    pgfix_db db;
    char msg[256];
    if (pgfix_create(&db, NULL, msg, sizeof msg) != 0)
        fail_msg("%s", msg);
    /* Four openers race on an empty database: all succeed, one migrates. */
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, open_thread, db.dsn), 0);
    int ok = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        ok += (int)(intptr_t)r;
    }
    assert_int_equal(ok, 4);
    char *n = pgfix_query1(db.dsn, "SELECT count(*) || ':' || max(version) FROM schema_migrations");
    char want[32];
    /* Versions may have gaps (numbers are handed out per branch). */
    snprintf(want, sizeof want, "%zu:%d", store_migrations_count, store_schema_version());
    assert_string_equal(n, want);
    free(n);
    /* Opening again changes nothing. */
    dp_err err;
    store_db *s = store_open(db.dsn, &err);
    assert_non_null(s);
    store_close(s);
    n = pgfix_query1(db.dsn, "SELECT count(*) FROM schema_migrations");
    char cnt[16];
    snprintf(cnt, sizeof cnt, "%zu", store_migrations_count);
    assert_string_equal(n, cnt);
    free(n);
    pgfix_drop(&db);
}

/* Large values are stored lz4-compressed (migration 12: pglz costs about
 * three times the CPU) where the server has lz4; a spec with kilobytes of
 * test data, written as the submit path writes it, comes back whole. */
static void test_large_values_lz4(void **state)
{
    (void)state;
    pgfix_db db;
    char msg[256];
    if (pgfix_create(&db, NULL, msg, sizeof msg) != 0)
        fail_msg("%s", msg);
    dp_err err;
    store_db *s = store_open(db.dsn, &err);
    assert_non_null(s);
    char *set =
        pgfix_query1(db.dsn, "SELECT set_config('default_toast_compression', 'lz4', false)");
    int lz4 = set != NULL;
    free(set);
    if (!lz4) { /* a server built without lz4: the migration kept pglz */
        printf("this PostgreSQL has no lz4: nothing to check\n");
    } else {
        char *c =
            pgfix_query1(db.dsn, "SELECT string_agg(attname || '=' || attcompression::text, ' '"
                                 " ORDER BY attname) FROM pg_attribute"
                                 " WHERE (attrelid = 'jobs'::regclass AND attname = 'spec')"
                                 " OR (attrelid = 'test_results'::regclass"
                                 " AND attname IN ('stdout', 'stderr'))");
        assert_non_null(c);
        assert_string_equal(c, "spec=l stderr=l stdout=l");
        free(c);
    }
    /* a job whose spec holds 30 KB of test data */
    dp_job_spec spec = {.job_id = "j-lz4", .profile = "c", .archive = "file:///tmp/sub.zip"};
    char *data = malloc(30001);
    for (int i = 0; i < 30000; i++)
        data[i] = "0123456789 \n"[(i * 7 + i / 13) % 12];
    data[30000] = '\0';
    dp_test_case tc = {.name = "big", .stdin_data = data, .expected_stdout = "ok\n"};
    spec.tests = &tc;
    spec.n_tests = 1;
    size_t n_in = 0;
    if (store_insert_jobs(s, &spec, 1, &n_in, &err) != DP_OK)
        fail_msg("insert: %s", err.msg);
    assert_int_equal(n_in, 1);
    char *got = pgfix_query1(db.dsn, "SELECT length(spec->'tests'->0->>'stdin') || ' ' ||"
                                     " coalesce(pg_column_compression(spec), 'plain')"
                                     " FROM jobs WHERE id = 'j-lz4'");
    assert_non_null(got);
    assert_string_equal(got, lz4 ? "30000 lz4" : "30000 pglz");
    free(got);
    free(data);
    store_close(s);
    pgfix_drop(&db);
}

static void test_unreachable_server(void **state)
{
    (void)state;
    dp_err err;
    store_db *s = store_open("postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=2", &err);
    assert_null(s);
    assert_int_equal(err.code, DP_EUNAVAIL);
    assert_non_null(strstr(err.msg, "PostgreSQL unavailable"));
}

/* ---- jobs ---------------------------------------------------------------- */

static void test_insert_get_round_trip(void **state)
{
    fixture *f = *state;
    dp_job_spec specs[2];
    tu_make_spec(&specs[0], "job-a", 2);
    tu_make_spec(&specs[1], "job-b", 0);
    free(specs[1].submission_id);
    specs[1].submission_id = NULL;
    specs[1].max_attempts = 0;
    dp_err err;
    size_t inserted;
    assert_int_equal(store_insert_jobs(f->s, specs, 2, &inserted, &err), DP_OK);
    assert_int_equal(inserted, 2);
    /* Idempotent on job id: a resubmit inserts nothing and changes nothing. */
    free(specs[0].profile);
    specs[0].profile = strdup("python3");
    assert_int_equal(store_insert_jobs(f->s, specs, 2, &inserted, &err), DP_OK);
    assert_int_equal(inserted, 0);

    dp_job_view v;
    assert_int_equal(store_get_job(f->s, "job-a", &v, &err), DP_OK);
    assert_string_equal(v.job_id, "job-a");
    assert_string_equal(v.profile, "c");
    assert_string_equal(v.submission_id, "sub-job-a");
    assert_int_equal(v.state, DP_JOB_QUEUED);
    assert_int_equal(v.verdict, DP_VERDICT_NONE);
    assert_int_equal(v.attempts, 0);
    assert_null(v.runner_id);
    assert_null(v.started_at);
    assert_non_null(v.created_at);
    assert_int_equal(strlen(v.created_at), 24); /* 2026-11-23T11:30:00.123Z */
    assert_int_equal(v.created_at[23], 'Z');
    assert_int_equal(v.n_tests, 0);
    dp_job_view_free(&v);
    assert_int_equal(store_get_job(f->s, "job-b", &v, &err), DP_OK);
    assert_null(v.submission_id);
    dp_job_view_free(&v);
    assert_int_equal(
        query_long(f, "SELECT (max_attempts IS NULL)::int FROM jobs WHERE id = 'job-b'"), 1);
    assert_int_equal(query_long(f, "SELECT max_attempts FROM jobs WHERE id = 'job-a'"), 3);
    char *sp = pgfix_query1(f->db.dsn, "SELECT spec->'tests'->1->>'stdin' FROM jobs WHERE id = "
                                       "'job-a'");
    assert_string_equal(sp, "in 1\n");
    free(sp);

    assert_int_equal(store_get_job(f->s, "nope", &v, &err), DP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "nope"));
    dp_job_spec bad = {0};
    assert_int_equal(store_insert_jobs(f->s, &bad, 1, NULL, &err), DP_EINVAL);
    dp_job_spec_free(&specs[0]);
    dp_job_spec_free(&specs[1]);
}

static void test_results_idempotent(void **state)
{
    fixture *f = *state;
    dp_err err;
    tu_insert_jobs(f->s, "r", 3);
    store_lease lease = {"r-0", 1, "runner-1", 0};
    size_t changed;
    assert_int_equal(store_mark_leased(f->s, &lease, 1, &changed, &err), DP_OK);
    assert_int_equal(changed, 1);
    /* the lease mark writes its history row in the same statement; a stale
     * (older) lease changes nothing and writes none */
    store_lease stale = {"r-0", 0, "runner-0", 0};
    assert_int_equal(store_mark_leased(f->s, &stale, 1, &changed, &err), DP_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(query_long(f, "SELECT count(*) FROM job_history WHERE job_id = 'r-0' AND "
                                   "state = 'leased' AND attempt = 1 AND runner_id = 'runner-1'"),
                     1);
    dp_job_view v;
    assert_int_equal(store_get_job(f->s, "r-0", &v, &err), DP_OK);
    assert_int_equal(v.state, DP_JOB_LEASED);
    assert_int_equal(v.attempts, 1);
    assert_string_equal(v.runner_id, "runner-1");
    assert_non_null(v.started_at);
    dp_job_view_free(&v);

    dp_job_result res;
    tu_make_result(&res, "r-0", 1, 3);
    store_result_in in = {&res, "runner-1", "file:///logs/r-0.log", 0};
    store_outcome out = 99;
    assert_int_equal(store_record_results(f->s, &in, 1, &out, &err), DP_OK);
    assert_int_equal(out, STORE_RECORDED);
    /* the same (job, attempt) again: nothing changes */
    free(res.message);
    res.message = strdup("second");
    assert_int_equal(store_record_results(f->s, &in, 1, &out, &err), DP_OK);
    assert_int_equal(out, STORE_DUPLICATE);
    assert_int_equal(query_long(f, "SELECT count(*) FROM test_results WHERE job_id = 'r-0'"), 3);
    /* the history shows the job's `queued` and `completed` rows once each,
     * made from the job row (migration 10): neither is written */
    assert_int_equal(query_long(f, "SELECT count(*) FROM job_history WHERE job_id = 'r-0' AND "
                                   "state = 'queued'"),
                     1);
    assert_int_equal(query_long(f,
                                "SELECT count(*) FROM job_history WHERE job_id = 'r-0' AND "
                                "state = 'completed' AND attempt = 1 AND runner_id = 'runner-1'"),
                     1);
    assert_int_equal(query_long(f, "SELECT count(*) FROM job_events WHERE job_id = 'r-0' AND "
                                   "state IN ('queued', 'completed')"),
                     0);

    assert_int_equal(store_get_job(f->s, "r-0", &v, &err), DP_OK);
    assert_int_equal(v.state, DP_JOB_COMPLETED);
    assert_int_equal(v.verdict, DP_VERDICT_WA);
    assert_true(v.score > 66.6 && v.score < 66.7);
    assert_string_equal(v.message, "test t3 failed");
    assert_string_equal(v.log_url, "file:///logs/r-0.log");
    assert_non_null(v.finished_at);
    assert_int_equal(v.n_tests, 3);
    assert_string_equal(v.tests[0].name, "t1");
    assert_int_equal(v.tests[0].verdict, DP_VERDICT_AC);
    assert_int_equal(v.tests[2].verdict, DP_VERDICT_WA);
    assert_int_equal(v.tests[2].signal, 0);
    assert_null(v.tests[0].message); /* the checker's message, stored with the result */
    assert_string_equal(v.tests[2].message, "wrong answer: token 2: expected 5, got 6");
    assert_int_equal(v.tests[1].memory_kb, 1001);
    /* invalid UTF-8 and NUL in program output are stored as U+FFFD */
    assert_string_equal(v.tests[1].stdout_excerpt, "out\xef\xbf\xbd"
                                                   "2");
    dp_job_view_free(&v);

    /* another attempt for a completed job, an unknown job, and the same
     * job twice in one batch */
    dp_job_result res2, res3, res4;
    tu_make_result(&res2, "r-0", 2, 1);
    tu_make_result(&res3, "ghost", 1, 1);
    tu_make_result(&res4, "r-1", 1, 1);
    store_result_in batch[] = {{&res2, NULL, NULL, 0},
                               {&res3, NULL, NULL, 0},
                               {&res4, NULL, NULL, 0},
                               {&res4, NULL, NULL, 0}};
    store_outcome outs[4];
    assert_int_equal(store_record_results(f->s, batch, 4, outs, &err), DP_OK);
    assert_int_equal(outs[0], STORE_ALREADY_TERMINAL);
    assert_int_equal(outs[1], STORE_UNKNOWN_JOB);
    assert_int_equal(outs[2], STORE_RECORDED);
    assert_int_equal(outs[3], STORE_DUPLICATE);
    assert_string_equal(store_outcome_name(outs[3]), "duplicate");
    assert_int_equal(query_long(f, "SELECT count(*) FROM test_results"), 4);
    /* a result from a queued (never leased) job still lands exactly once */
    assert_int_equal(query_long(f, "SELECT attempts FROM jobs WHERE id = 'r-1'"), 1);

    dp_job_result bad = {0};
    store_result_in bin = {&bad, NULL, NULL, 0};
    assert_int_equal(store_record_results(f->s, &bin, 1, NULL, &err), DP_EINVAL);
    dp_job_result_free(&res);
    dp_job_result_free(&res2);
    dp_job_result_free(&res3);
    dp_job_result_free(&res4);
}

static void test_terminal_jobs_ignore_results(void **state)
{
    fixture *f = *state;
    dp_err err;
    tu_insert_jobs(f->s, "x", 4);
    assert_int_equal(store_mark_cancelled(f->s, "x-0", NULL, &err), DP_OK);
    store_failure fail = {"x-1", 3, "runner r9 lost; 3 attempts used"};
    size_t changed;
    assert_int_equal(store_mark_failed(f->s, &fail, 1, &changed, &err), DP_OK);
    assert_int_equal(changed, 1);

    dp_job_result r0, r1;
    tu_make_result(&r0, "x-0", 1, 2);
    tu_make_result(&r1, "x-1", 3, 2);
    store_result_in in[] = {{&r0, "r", NULL, 0}, {&r1, "r", NULL, 0}};
    store_outcome out[2];
    assert_int_equal(store_record_results(f->s, in, 2, out, &err), DP_OK);
    assert_int_equal(out[0], STORE_ALREADY_TERMINAL);
    assert_int_equal(out[1], STORE_ALREADY_TERMINAL);
    assert_int_equal(query_long(f, "SELECT count(*) FROM test_results"), 0);

    dp_job_view v;
    assert_int_equal(store_get_job(f->s, "x-1", &v, &err), DP_OK);
    assert_int_equal(v.state, DP_JOB_FAILED);
    assert_int_equal(v.verdict, DP_VERDICT_SE);
    assert_int_equal(v.attempts, 3);
    assert_string_equal(v.message, "runner r9 lost; 3 attempts used");
    dp_job_view_free(&v);
    assert_int_equal(store_get_job(f->s, "x-0", &v, &err), DP_OK);
    assert_int_equal(v.state, DP_JOB_CANCELLED);
    dp_job_view_free(&v);

    /* cancel twice / unknown; leasing a terminal job does nothing */
    assert_int_equal(store_mark_cancelled(f->s, "x-0", NULL, &err), DP_ECONFLICT);
    assert_non_null(strstr(err.msg, "already cancelled"));
    assert_int_equal(store_mark_cancelled(f->s, "zz", NULL, &err), DP_ENOTFOUND);
    store_lease l = {"x-1", 4, "r", 0};
    assert_int_equal(store_mark_leased(f->s, &l, 1, &changed, &err), DP_OK);
    assert_int_equal(changed, 0);

    /* requeue the dead job: queued again with attempts reset; then it can
     * complete with a new attempt */
    assert_int_equal(store_requeue(f->s, "x-1", 1, &err), DP_OK);
    assert_int_equal(store_get_job(f->s, "x-1", &v, &err), DP_OK);
    assert_int_equal(v.state, DP_JOB_QUEUED);
    assert_int_equal(v.attempts, 0);
    assert_int_equal(v.verdict, DP_VERDICT_NONE);
    assert_null(v.message);
    dp_job_view_free(&v);
    assert_int_equal(store_record_results(f->s, &in[1], 1, out, &err), DP_OK);
    assert_int_equal(out[0], STORE_RECORDED);
    assert_int_equal(store_requeue(f->s, "x-1", 0, &err), DP_ECONFLICT);
    assert_int_equal(store_requeue(f->s, "x-2", 0, &err), DP_OK); /* queued: no-op */
    assert_int_equal(store_requeue(f->s, "nope", 0, &err), DP_ENOTFOUND);
    /* stale lease (older attempt) is ignored */
    store_lease l2[] = {{"x-3", 2, "a", 0}, {"x-3", 1, "b", 0}};
    assert_int_equal(store_mark_leased(f->s, &l2[0], 1, &changed, &err), DP_OK);
    assert_int_equal(store_mark_leased(f->s, &l2[1], 1, &changed, &err), DP_OK);
    assert_int_equal(changed, 0);
    dp_job_result_free(&r0);
    dp_job_result_free(&r1);
}

static void test_batch_of_1000(void **state)
{
    fixture *f = *state;
    dp_err err;
    enum { N = 1000 };
    tu_insert_jobs(f->s, "b", N);
    store_lease *leases = calloc(N, sizeof *leases);
    char(*ids)[32] = calloc(N, sizeof *ids);
    dp_job_result *res = calloc(N, sizeof *res);
    store_result_in *in = calloc(N, sizeof *in);
    store_outcome *out = calloc(N, sizeof *out);
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "b-%d", i);
        leases[i] = (store_lease){ids[i], 1, "runner-x", 0};
        tu_make_result(&res[i], ids[i], 1, 2);
        in[i] = (store_result_in){&res[i], "runner-x", NULL, 0};
        out[i] = 99;
    }
    size_t changed;
    assert_int_equal(store_mark_leased(f->s, leases, N, &changed, &err), DP_OK);
    assert_int_equal(changed, N);
    assert_int_equal(store_record_results(f->s, in, N, out, &err), DP_OK);
    for (int i = 0; i < N; i++)
        assert_int_equal(out[i], STORE_RECORDED);
    uint64_t done;
    assert_int_equal(store_count_completed(f->s, &done, &err), DP_OK);
    assert_int_equal(done, N);
    assert_int_equal(query_long(f, "SELECT count(*) FROM test_results"), 2 * N);
    for (int i = 0; i < N; i++)
        dp_job_result_free(&res[i]);
    free(leases);
    free(ids);
    free(res);
    free(in);
    free(out);
}

static void test_list_unfinished(void **state)
{
    fixture *f = *state;
    dp_err err;
    tu_insert_jobs(f->s, "u", 25);
    /* 5 completed, 5 leased, 15 queued */
    for (int i = 0; i < 10; i++) {
        char id[16];
        snprintf(id, sizeof id, "u-%d", i);
        store_lease l = {id, 2, "rr", 0};
        assert_int_equal(store_mark_leased(f->s, &l, 1, NULL, &err), DP_OK);
        if (i < 5) {
            dp_job_result r;
            tu_make_result(&r, id, 2, 1);
            store_result_in in = {&r, NULL, NULL, 0};
            assert_int_equal(store_record_results(f->s, &in, 1, NULL, &err), DP_OK);
            dp_job_result_free(&r);
        }
    }
    store_cursor cur = {0};
    int total = 0, leased = 0, pages = 0;
    char seen[32][16];
    for (;;) {
        store_unfinished_job *jobs;
        size_t n;
        assert_int_equal(store_list_unfinished(f->s, &cur, 10, &jobs, &n, &err), DP_OK);
        pages++;
        for (size_t i = 0; i < n; i++) {
            assert_true(total < 20);
            snprintf(seen[total++], sizeof seen[0], "%s", jobs[i].spec.job_id);
            assert_string_equal(jobs[i].spec.profile, "c");
            assert_int_equal(jobs[i].spec.n_tests, 2);
            assert_string_equal(jobs[i].spec.tests[1].stdin_data, "in 1\n");
            assert_non_null(jobs[i].created_at);
            if (jobs[i].state == DP_JOB_LEASED) {
                leased++;
                assert_int_equal(jobs[i].attempts, 2);
                assert_string_equal(jobs[i].runner_id, "rr");
            } else {
                assert_int_equal(jobs[i].state, DP_JOB_QUEUED);
                assert_null(jobs[i].runner_id);
            }
        }
        store_unfinished_free(jobs, n);
        if (n < 10)
            break;
    }
    assert_int_equal(total, 20);
    assert_int_equal(leased, 5);
    assert_int_equal(pages, 3);
    for (int i = 0; i < total; i++) {
        for (int k = i + 1; k < total; k++)
            assert_string_not_equal(seen[i], seen[k]);
    }
    store_unfinished_job *jobs;
    size_t n;
    assert_int_equal(store_list_unfinished(f->s, &cur, 0, &jobs, &n, &err), DP_EINVAL);
}

/* ---- runners, events, concurrency ----------------------------------------- */

static void test_runners_and_events(void **state)
{
    fixture *f = *state;
    dp_err err;
    char *labels[] = {"gpu", "x86"};
    dp_runner_info r = {.runner_id = "run-1",
                        .name = "box",
                        .alive = 1,
                        .capacity = 4,
                        .labels = labels,
                        .n_labels = 2,
                        .version = "0.1.0"};
    assert_int_equal(store_upsert_runner(f->s, &r, &err), DP_OK);
    r.draining = 1;
    r.capacity = 8;
    assert_int_equal(store_upsert_runner(f->s, &r, &err), DP_OK);
    char *row = pgfix_query1(f->db.dsn, "SELECT name || ',' || capacity || ',' || state || ',' ||"
                                        " labels::text || ',' || count(*) OVER () FROM runners");
    assert_string_equal(row, "box,8,draining,[\"gpu\", \"x86\"],1");
    free(row);

    store_event ev[] = {{"j1", DP_JOB_QUEUED, 0, NULL, NULL, 0},
                        {"j1", DP_JOB_LEASED, 1, "run-1", NULL, 1700000000123},
                        {"j1", DP_JOB_COMPLETED, 1, "run-1", "AC", 0}};
    assert_int_equal(store_add_events(f->s, ev, 3, &err), DP_OK);
    row = pgfix_query1(f->db.dsn, "SELECT string_agg(state || ':' || attempt, ' ' ORDER BY seq)"
                                  " FROM job_history WHERE job_id = 'j1'");
    assert_string_equal(row, "queued:0 leased:1 completed:1");
    free(row);
    assert_int_equal(query_long(f, "SELECT extract(epoch FROM ts) * 1000 FROM job_history"
                                   " WHERE state = 'leased'"),
                     1700000000123L);
}

typedef struct {
    const char *dsn;
    int recorded;
    int rc;
} racer;

static void *race_thread(void *arg)
{
    racer *r = arg;
    dp_err err;
    store_db *s = store_open(r->dsn, &err);
    if (s == NULL) {
        r->rc = err.code;
        return NULL;
    }
    enum { N = 200 };
    dp_job_result res[N];
    store_result_in in[N];
    store_outcome out[N];
    char ids[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "c-%d", i);
        tu_make_result(&res[i], ids[i], 1, 1);
        in[i] = (store_result_in){&res[i], NULL, NULL, 0};
    }
    r->rc = store_record_results(s, in, N, out, &err);
    for (int i = 0; i < N; i++) {
        r->recorded += out[i] == STORE_RECORDED;
        dp_job_result_free(&res[i]);
    }
    store_close(s);
    return NULL;
}

/* The max-queued insert is one transaction (store_insert_jobs_quota). Its
 * connection killed inside it (a one-shot trigger terminates its own
 * backend, during the insert and then at COMMIT): nothing is recorded and
 * the call says so, instead of running the rest again on a new session
 * outside any transaction (which inserted without the key's lock, and
 * answered a lost COMMIT with "recorded" for jobs PostgreSQL never had).
 * The next call records them. */
static void test_quota_insert_connection_lost_inside(void **state)
{
    fixture *f = *state;
    char *ok = pgfix_query1(
        f->db.dsn,
        "CREATE SEQUENCE kill_seq; CREATE FUNCTION kill_once() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN IF nextval('kill_seq') = 1 THEN PERFORM "
        "pg_terminate_backend(pg_backend_pid());"
        " END IF; RETURN NEW; END $$;"
        " CREATE TRIGGER kill_in_insert BEFORE INSERT ON jobs FOR EACH ROW"
        "  WHEN (NEW.owner_key = 'k-insert') EXECUTE FUNCTION kill_once();"
        " CREATE CONSTRAINT TRIGGER kill_at_commit AFTER INSERT ON jobs DEFERRABLE INITIALLY"
        "  DEFERRED FOR EACH ROW WHEN (NEW.owner_key = 'k-commit') EXECUTE FUNCTION kill_once()");
    assert_non_null(ok);
    free(ok);
    const char *texts[] = {"{\"job_id\":\"q-0\",\"profile\":\"c\",\"archive\":\"file:///x.zip\"}",
                           "{\"job_id\":\"q-1\",\"profile\":\"c\",\"archive\":\"file:///x.zip\"}"};
    const char *keys[] = {"k-insert", "k-commit"};
    for (int k = 0; k < 2; k++) {
        char *reset = pgfix_query1(f->db.dsn, "SELECT setval('kill_seq', 1, false)");
        free(reset);
        size_t taken = 99;
        uint64_t queued = 99;
        dp_err err = {0};
        assert_int_equal(
            store_insert_jobs_quota(f->s, texts, 2, keys[k], 10, &taken, &queued, &err),
            DP_EUNAVAIL);
        assert_int_equal(taken, 0);
        assert_int_equal(query_long(f, "SELECT count(*) FROM jobs"), 0);
        assert_int_equal(
            store_insert_jobs_quota(f->s, texts, 2, keys[k], 10, &taken, &queued, &err), DP_OK);
        assert_int_equal(taken, 2);
        assert_int_equal(query_long(f, "SELECT count(*) FROM jobs"), 2);
        char *del = pgfix_query1(f->db.dsn, "DELETE FROM jobs RETURNING 1");
        free(del);
    }
}

static void test_concurrent_writers_exactly_once(void **state)
{
    fixture *f = *state;
    tu_insert_jobs(f->s, "c", 200);
    racer r[3] = {{f->db.dsn, 0, 0}, {f->db.dsn, 0, 0}, {f->db.dsn, 0, 0}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, race_thread, &r[i]), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(r[i].rc, DP_OK);
    assert_int_equal(r[0].recorded + r[1].recorded + r[2].recorded, 200);
    assert_int_equal(query_long(f, "SELECT count(*) FROM test_results"), 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrations_idempotent_and_concurrent),
        cmocka_unit_test(test_large_values_lz4),
        cmocka_unit_test(test_unreachable_server),
        cmocka_unit_test_setup_teardown(test_insert_get_round_trip, tu_store_setup,
                                        tu_store_teardown),
        cmocka_unit_test_setup_teardown(test_results_idempotent, tu_store_setup, tu_store_teardown),
        cmocka_unit_test_setup_teardown(test_terminal_jobs_ignore_results, tu_store_setup,
                                        tu_store_teardown),
        cmocka_unit_test_setup_teardown(test_batch_of_1000, tu_store_setup, tu_store_teardown),
        cmocka_unit_test_setup_teardown(test_list_unfinished, tu_store_setup, tu_store_teardown),
        cmocka_unit_test_setup_teardown(test_runners_and_events, tu_store_setup, tu_store_teardown),
        cmocka_unit_test_setup_teardown(test_quota_insert_connection_lost_inside, tu_store_setup,
                                        tu_store_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers_exactly_once, tu_store_setup,
                                        tu_store_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
