#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/store/store_testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

void tu_make_spec(dp_job_spec *spec, const char *job_id, size_t n_tests)
{
    memset(spec, 0, sizeof *spec);
    char buf[160];
    spec->job_id = xstrdup(job_id);
    spec->profile = xstrdup("c");
    spec->archive = xstrdup("file:///tmp/sub.zip");
    snprintf(buf, sizeof buf, "sub-%s", job_id);
    spec->submission_id = xstrdup(buf);
    spec->max_attempts = 3;
    spec->limits.time_ms = 2000;
    spec->n_tests = n_tests;
    spec->tests = n_tests ? calloc(n_tests, sizeof *spec->tests) : NULL;
    for (size_t k = 0; k < n_tests; k++) {
        snprintf(buf, sizeof buf, "t%zu", k + 1);
        spec->tests[k].name = xstrdup(buf);
        snprintf(buf, sizeof buf, "in %zu\n", k);
        spec->tests[k].stdin_data = xstrdup(buf);
        spec->tests[k].timeout_ms = 1000;
    }
}

void tu_insert_jobs(store_db *s, const char *prefix, int n)
{
    dp_job_spec *specs = calloc((size_t)n, sizeof *specs);
    assert_non_null(specs);
    for (int i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof id, "%s-%d", prefix, i);
        tu_make_spec(&specs[i], id, 2);
    }
    dp_err err;
    size_t inserted = 0;
    int rc = store_insert_jobs(s, specs, (size_t)n, &inserted, &err);
    for (int i = 0; i < n; i++)
        dp_job_spec_free(&specs[i]);
    free(specs);
    if (rc != DP_OK)
        fail_msg("store_insert_jobs: %s", err.msg);
    assert_int_equal(inserted, n);
}

void tu_make_result(dp_job_result *res, const char *job_id, uint32_t attempt, size_t n_tests)
{
    memset(res, 0, sizeof *res);
    res->job_id = xstrdup(job_id);
    res->attempt = attempt;
    res->verdict = DP_VERDICT_AC;
    res->score = 100;
    res->n_tests = n_tests;
    res->tests = n_tests ? calloc(n_tests, sizeof *res->tests) : NULL;
    char buf[64];
    for (size_t k = 0; k < n_tests; k++) {
        dp_test_result *t = &res->tests[k];
        snprintf(buf, sizeof buf, "t%zu", k + 1);
        t->name = xstrdup(buf);
        t->verdict = DP_VERDICT_AC;
        t->time_ms = 3;
        t->wall_ms = 4;
        t->memory_kb = 1000 + k;
        snprintf(buf, sizeof buf, "out\xff%zu", k + 1);
        t->stdout_excerpt = xstrdup(buf);
        t->stderr_excerpt = xstrdup("");
    }
    if (n_tests >= 3) {
        res->tests[n_tests - 1].verdict = DP_VERDICT_WA;
        res->tests[n_tests - 1].message = xstrdup("wrong answer: token 2: expected 5, got 6");
        res->verdict = DP_VERDICT_WA;
        res->score = 100.0 * (double)(n_tests - 1) / (double)n_tests;
        snprintf(buf, sizeof buf, "test t%zu failed", n_tests);
        res->message = xstrdup(buf);
    }
}

int tu_store_setup(void **state)
{
    tu_store_fixture *f = calloc(1, sizeof *f);
    char msg[256];
    if (pgfix_create(&f->db, NULL, msg, sizeof msg) != 0) {
        free(f);
        fail_msg("%s", msg);
    }
    dp_err err;
    f->s = store_open(f->db.dsn, &err);
    if (f->s == NULL) {
        pgfix_drop(&f->db);
        free(f);
        fail_msg("store_open: %s", err.msg);
    }
    *state = f;
    return 0;
}

int tu_store_teardown(void **state)
{
    tu_store_fixture *f = *state;
    if (f != NULL) {
        store_close(f->s);
        pgfix_drop(&f->db);
        free(f);
    }
    return 0;
}

long tu_query_long(const char *dsn, const char *sql)
{
    char *v = pgfix_query1(dsn, sql);
    assert_non_null(v);
    long n = atol(v);
    free(v);
    return n;
}
