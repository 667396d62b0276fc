/* Unit tests for common/job_json: spec validation names the bad field,
 * batches name the bad index, round trips are lossless, and the Job object
 * has README.md's exact shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/job_json.h"

#define FULL_SPEC                                                                                  \
    "{\"profile\": \"c\", \"archive\": \"file:///abs/path/sub.zip\","                              \
    " \"archive_sha256\": \"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD\","   \
    " \"submission_id\": \"sub-42\","                                                              \
    " \"tests\": [ {\"name\": \"t1\", \"stdin\": \"5\\n\", \"expected_stdout\": \"10\\n\","        \
    " \"timeout_ms\": 1000}, {\"compare\": \"lines\"} ],"                                          \
    " \"limits\": {\"time_ms\": 2000, \"wall_ms\": 5000, \"memory_kb\": 262144, \"processes\": "   \
    "64,"                                                                                          \
    " \"output_kb\": 1024}, \"max_attempts\": 3}"

static void test_full_spec_parses(void **state)
{
    (void)state;
    dp_job_spec s;
    dp_err err;
    assert_int_equal(dp_job_spec_from_text(FULL_SPEC, strlen(FULL_SPEC), &s, &err), DP_OK);
    assert_null(s.job_id);
    assert_string_equal(s.profile, "c");
    assert_string_equal(s.archive, "file:///abs/path/sub.zip");
    assert_string_equal(s.archive_sha256,
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_string_equal(s.submission_id, "sub-42");
    assert_int_equal(s.n_tests, 2);
    assert_string_equal(s.tests[0].name, "t1");
    assert_string_equal(s.tests[0].stdin_data, "5\n");
    assert_string_equal(s.tests[0].expected_stdout, "10\n");
    assert_int_equal(s.tests[0].timeout_ms, 1000);
    assert_int_equal(s.tests[0].compare, DP_COMPARE_DEFAULT);
    assert_string_equal(s.tests[1].name, "t2"); /* unnamed: its position */
    assert_null(s.tests[1].stdin_data);
    assert_int_equal(s.tests[1].compare, DP_COMPARE_LINES);
    assert_int_equal(s.limits.time_ms, 2000);
    assert_int_equal(s.limits.wall_ms, 5000);
    assert_int_equal(s.limits.memory_kb, 262144);
    assert_int_equal(s.limits.processes, 64);
    assert_int_equal(s.limits.output_kb, 1024);
    assert_int_equal(s.max_attempts, 3);
    dp_job_spec_free(&s);
}

/* Each bad spec must fail with DP_EINVAL and a message naming the field. */
static void test_bad_specs_name_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *msg;
    } cases[] = {
        {"{\"archive\": \"file:///a.zip\"}", "profile: required"},
        {"{\"profile\": \"\", \"archive\": \"file:///a.zip\"}", "profile: must not be empty"},
        {"{\"profile\": \"c c\", \"archive\": \"file:///a.zip\"}", "profile: must be"},
        {"{\"profile\": \"c\"}", "archive: required"},
        {"{\"profile\": \"c\", \"archive\": \"ftp://x/a.zip\"}",
         "archive: scheme must be file://, http:// or https://"},
        {"{\"profile\": \"c\", \"archive\": \"file://host/a.zip\"}",
         "archive: a file:// URL must hold an absolute path"},
        {"{\"profile\": \"c\", \"archive\": \"http://x/a b.zip\"}", "archive: URL must not"},
        {"{\"profile\": 7, \"archive\": \"file:///a.zip\"}", "profile: must be a string"},
        {"{\"profile\": \"c\", \"archive\": \"file:///a.zip\", \"archive_sha256\": \"abc\"}",
         "archive_sha256: must be 64 lower-case hex"},
        {"{\"profile\": \"c\", \"archive\": \"file:///a.zip\", \"max_attemps\": 3}",
         "max_attemps: unknown field"},
        {"{\"profile\": \"c\", \"archive\": \"file:///a.zip\", \"max_attempts\": 0}",
         "max_attempts: must be a positive integer <= 100"},
        {"{\"profile\": \"c\", \"archive\": \"file:///a.zip\", \"priority\": \"urgent\"}",
         "priority: must be high, normal or low (got 'urgent')"},
        {"{\"profile\": \"c\", \"archive\": \"file:///a.zip\", \"labels\": \"gpu\"}",
         "labels: must be an array of strings"},
        {"{\"profile\": \"c\", \"archive\": \"file:///a.zip\", \"labels\": [\"a b\"]}",
         "labels[0]: must be [A-Za-z0-9_.-]"},
        {"{\"profile\": \"c\", \"archive\": \"file:///a.zip\", \"labels\": [\"gpu\", \"gpu\"]}",
         "labels[1]: 'gpu' is given twice"},
        {"{\"profile\": \"c\", \"archive\": \"file:///a.zip\", \"labels\": [1]}",
         "labels[0]: must be a string"},
        {"{\"profile\": \"c\", \"archive\": \"file:///a.zip\", \"labels\": "
         "[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\",\"13\","
         "\"14\",\"15\",\"16\",\"17\"]}",
         "labels: more than 16 labels"},
        {"{\"profile\": \"c\", \"archive\": \"file:///a.zip\", \"max_attempts\": 101}",
         "max_attempts: must be a positive integer <= 100"},
        {"{\"profile\": \"c\", \"archive\": \"file:///a.zip\", \"max_attempts\": 2.5}",
         "max_attempts: must be a positive integer"},
        {"{\"profile\": \"c\", \"archive\": \"file:///a.zip\", \"tests\": [{}, {}, "
         "{\"timeout_ms\": 600001}]}",
         "tests[2].timeout_ms: must be a positive integer <= 600000"},
        {"{\"profile\": \"c\", \"archive\": \"file:///a.zip\", \"tests\": [{\"nme\": \"x\"}]}",
         "tests[0].nme: unknown field"},
        {"{\"profile\": \"c\", \"archive\": \"file:///a.zip\", \"tests\": [{\"compare\": "
         "\"fuzzy\"}]}",
         "tests[0].compare: must be"},
        {"{\"profile\": \"c\", \"archive\": \"file:///a.zip\", \"tests\": [{\"abs_tol\": -1}]}",
         "tests[0]: abs_tol and rel_tol must be from 0 to"},
        {"{\"profile\": \"c\", \"archive\": \"file:///a.zip\", \"tests\": [{\"rel_tol\": \"x\"}]}",
         "tests[0].rel_tol: must be a number"},
        {"{\"profile\": \"c\", \"archive\": \"file:///a.zip\", \"tests\": [{\"score\": -2}]}",
         "tests[0].score: must be from 0 to"},
        {"{\"profile\": \"c\", \"archive\": \"file:///a.zip\", \"abs_tol\": 1e10}",
         "abs_tol and rel_tol: must be from 0 to"},
        {"{\"profile\": \"c\", \"archive\": \"file:///a.zip\", \"tests\": {}}",
         "tests: must be an array"},
        {"{\"profile\": \"c\", \"archive\": \"file:///a.zip\", \"limits\": {\"memory_kb\": -1}}",
         "limits.memory_kb: must be a positive integer"},
        {"{\"profile\": \"c\", \"archive\": \"file:///a.zip\", \"limits\": {\"cpu\": 1}}",
         "limits.cpu: unknown field"},
        {"{\"profile\": \"c\", \"archive\": \"file:///a.zip\", \"job_id\": \"a/b\"}",
         "job_id: must be"},
        {"{\"profile\": \"c\", \"profile\": \"d\", \"archive\": \"file:///a.zip\"}",
         "spec: invalid JSON"},
        {"[1, 2]", "spec: must be a JSON object"},
        {"{\"profile\": \"c\", \"archive\": ", "spec: invalid JSON at line 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dp_job_spec s;
        dp_err err;
        dp_err_clear(&err);
        int rc = dp_job_spec_from_text(cases[i].json, strlen(cases[i].json), &s, &err);
        if (rc != DP_EINVAL || strstr(err.msg, cases[i].msg) == NULL)
            fail_msg("case %zu: rc %d msg \"%s\", want \"%s\"", i, rc, err.msg, cases[i].msg);
        assert_null(s.profile); /* nothing leaks out of a failed parse */
        assert_null(s.tests);
    }
}

static void test_too_many_tests_and_big_stdin(void **state)
{
    (void)state;
    json_t *o = json_pack("{s:s, s:s}", "profile", "c", "archive", "https://x/a.zip");
    json_t *arr = json_array();
    for (int i = 0; i <= DP_MAX_TESTS; i++)
        json_array_append_new(arr, json_object());
    json_object_set_new(o, "tests", arr);
    dp_job_spec s;
    dp_err err;
    assert_int_equal(dp_job_spec_from_json(o, &s, &err), DP_EINVAL);
    assert_non_null(strstr(err.msg, "tests: more than 1024"));
    json_array_clear(arr);
    char *big = malloc(DP_TEST_DATA_MAX + 2);
    memset(big, 'x', DP_TEST_DATA_MAX + 1);
    big[DP_TEST_DATA_MAX + 1] = 0;
    json_array_append_new(arr, json_pack("{s:s}", "stdin", big));
    free(big);
    assert_int_equal(dp_job_spec_from_json(o, &s, &err), DP_EINVAL);
    assert_non_null(strstr(err.msg, "tests[0].stdin: longer than"));
    json_decref(o);
}

static void test_batch_reports_index(void **state)
{
    (void)state;
    const char *ok = "[{\"profile\": \"c\", \"archive\": \"file:///a.zip\"},"
                     " {\"profile\": \"python3\", \"archive\": \"https://h/b.zip\"}]";
    dp_job_spec *specs;
    size_t n;
    dp_err err;
    assert_int_equal(dp_job_specs_from_text(ok, strlen(ok), &specs, &n, &err), DP_OK);
    assert_int_equal(n, 2);
    assert_string_equal(specs[1].profile, "python3");
    dp_job_specs_free(specs, n);

    const char *one = "{\"profile\": \"c\", \"archive\": \"file:///a.zip\"}";
    assert_int_equal(dp_job_specs_from_text(one, strlen(one), &specs, &n, &err), DP_OK);
    assert_int_equal(n, 1);
    dp_job_specs_free(specs, n);

    const char *bad = "[{\"profile\": \"c\", \"archive\": \"file:///a.zip\"},"
                      " {\"profile\": \"c\", \"archive\": \"file:///a.zip\"},"
                      " {\"profile\": \"c\"}]";
    assert_int_equal(dp_job_specs_from_text(bad, strlen(bad), &specs, &n, &err), DP_EINVAL);
    assert_string_equal(err.msg, "[2] archive: required");
    assert_null(specs);
    assert_int_equal(n, 0);

    assert_int_equal(dp_job_specs_from_text("[]", 2, &specs, &n, &err), DP_EINVAL);
    assert_non_null(strstr(err.msg, "batch holds 1 to"));
}

/* The checker fields: modes by name, tolerances per test and per job, a
 * test's score weight (1 when absent, kept off the JSON then). */
static void test_checker_fields(void **state)
{
    (void)state;
    const char *text = "{\"profile\": \"c\", \"archive\": \"file:///a.zip\", \"abs_tol\": 1e-9, "
                       "\"tests\": [{\"compare\": \"float\", \"rel_tol\": 0.001, \"score\": 0}, "
                       "{\"compare\": \"tokens\", \"score\": 2.5}, {}]}";
    dp_job_spec a, b;
    dp_err err;
    assert_int_equal(dp_job_spec_from_text(text, strlen(text), &a, &err), DP_OK);
    assert_int_equal(a.tests[0].compare, DP_COMPARE_FLOAT);
    assert_true(a.tests[0].rel_tol == 0.001 && a.tests[0].abs_tol == 0);
    assert_true(a.tests[0].score == 0);
    assert_int_equal(a.tests[1].compare, DP_COMPARE_TOKENS);
    assert_true(a.tests[1].score == 2.5);
    assert_true(a.tests[2].score == 1.0);
    assert_true(a.abs_tol == 1e-9 && a.rel_tol == 0);
    json_t *j = dp_job_spec_to_json(&a);
    assert_null(json_object_get(json_array_get(json_object_get(j, "tests"), 2), "score"));
    assert_int_equal(dp_job_spec_from_json(j, &b, &err), DP_OK);
    json_t *j2 = dp_job_spec_to_json(&b);
    assert_true(json_equal(j, j2));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "tests"), 0), "compare")),
                        "float");
    json_decref(j);
    json_decref(j2);
    dp_job_spec_free(&a);
    dp_job_spec_free(&b);
}

static void test_spec_round_trip(void **state)
{
    (void)state;
    dp_job_spec a, b;
    dp_err err;
    assert_int_equal(dp_job_spec_from_text(FULL_SPEC, strlen(FULL_SPEC), &a, &err), DP_OK);
    a.job_id = strdup("job-1");
    json_t *j = dp_job_spec_to_json(&a);
    assert_non_null(j);
    assert_int_equal(dp_job_spec_from_json(j, &b, &err), DP_OK);
    json_t *j2 = dp_job_spec_to_json(&b);
    assert_true(json_equal(j, j2));
    assert_string_equal(b.job_id, "job-1");
    assert_int_equal(b.n_tests, 2);
    assert_string_equal(b.tests[1].name, "t2");
    assert_int_equal(b.tests[1].compare, DP_COMPARE_LINES);
    assert_int_equal(b.limits.output_kb, 1024);
    assert_int_equal(b.max_attempts, 3);
    /* Absent optional fields stay absent, not null. */
    assert_null(json_object_get(json_array_get(json_object_get(j, "tests"), 1), "stdin"));
    assert_null(json_object_get(j, "labels"));
    assert_null(json_object_get(j, "priority")); /* normal is the default */
    json_decref(j);
    json_decref(j2);
    dp_job_spec_free(&a);
    dp_job_spec_free(&b);
    /* labels and priority survive the round trip (the rebuild reads them) */
    const char *routed = "{\"profile\": \"c\", \"archive\": \"file:///a.zip\", "
                         "\"labels\": [\"x86_64\", \"gpu\"], \"priority\": \"low\"}";
    assert_int_equal(dp_job_spec_from_text(routed, strlen(routed), &a, &err), DP_OK);
    assert_int_equal(a.n_labels, 2);
    assert_string_equal(a.labels[1], "gpu");
    assert_int_equal(a.priority, DP_PRIORITY_LOW);
    j = dp_job_spec_to_json(&a);
    assert_int_equal(dp_job_spec_from_json(j, &b, &err), DP_OK);
    assert_int_equal(b.n_labels, 2);
    assert_string_equal(b.labels[0], "x86_64");
    assert_int_equal(b.priority, DP_PRIORITY_LOW);
    assert_string_equal(json_string_value(json_object_get(j, "priority")), "low");
    json_decref(j);
    dp_job_spec_free(&a);
    dp_job_spec_free(&b);
}

static void test_view_shape(void **state)
{
    (void)state;
    dp_test_result tr = {.name = "t1",
                         .verdict = DP_VERDICT_AC,
                         .exit_code = 0,
                         .signal = 0,
                         .time_ms = 3,
                         .wall_ms = 4,
                         .memory_kb = 1200,
                         .stdout_excerpt = "10\n",
                         .stderr_excerpt = ""};
    dp_job_view v = {.job_id = "j1",
                     .profile = "c",
                     .state = DP_JOB_COMPLETED,
                     .verdict = DP_VERDICT_AC,
                     .score = 100,
                     .attempts = 1,
                     .runner_id = "r1",
                     .tests = &tr,
                     .n_tests = 1,
                     .created_at = "2026-11-23T11:30:00.000Z"};
    json_t *j = dp_job_view_to_json(&v);
    char *text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(
        text, "{\"attempts\":1,\"created_at\":\"2026-11-23T11:30:00.000Z\",\"finished_at\":null,"
              "\"job_id\":\"j1\",\"labels\":[],\"log_url\":null,\"message\":null,"
              "\"priority\":\"normal\",\"profile\":\"c\","
              "\"runner_id\":\"r1\",\"score\":100,\"started_at\":null,\"state\":\"completed\","
              "\"submission_id\":null,\"tests\":[{\"exit_code\":0,\"memory_kb\":1200,"
              "\"name\":\"t1\",\"signal\":null,\"stderr\":\"\",\"stdout\":\"10\\n\","
              "\"time_ms\":3,\"verdict\":\"AC\",\"wall_ms\":4}],\"verdict\":\"AC\"}");
    free(text);
    json_decref(j);

    /* Routing: the comma-joined labels are an array, the priority as given. */
    v.labels = "gpu,x86_64";
    v.priority = "high";
    j = dp_job_view_to_json(&v);
    text = json_dumps(json_object_get(j, "labels"), JSON_COMPACT);
    assert_string_equal(text, "[\"gpu\",\"x86_64\"]");
    assert_string_equal(json_string_value(json_object_get(j, "priority")), "high");
    free(text);
    json_decref(j);
    v.labels = NULL;
    v.priority = NULL;

    /* Not judged yet: verdict and score are null; a partial score is a real. */
    v.verdict = DP_VERDICT_NONE;
    v.state = DP_JOB_QUEUED;
    j = dp_job_view_to_json(&v);
    assert_true(json_is_null(json_object_get(j, "verdict")));
    assert_true(json_is_null(json_object_get(j, "score")));
    assert_string_equal(json_string_value(json_object_get(j, "state")), "queued");
    json_decref(j);
    v.verdict = DP_VERDICT_WA;
    v.score = 12.5;
    tr.signal = 9;
    j = dp_job_view_to_json(&v);
    assert_true(json_real_value(json_object_get(j, "score")) == 12.5);
    json_t *t0 = json_array_get(json_object_get(j, "tests"), 0);
    assert_int_equal(json_integer_value(json_object_get(t0, "signal")), 9);
    json_decref(j);
}

static void test_runner_and_stats(void **state)
{
    (void)state;
    char *labels[] = {"gpu", "x86"};
    dp_runner_info r = {.runner_id = "r1",
                        .name = "box",
                        .alive = 1,
                        .capacity = 4,
                        .leased_jobs = 2,
                        .labels = labels,
                        .n_labels = 2};
    json_t *j = dp_runner_info_to_json(&r);
    char *text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(text,
                        "{\"alive\":true,\"capacity\":4,\"draining\":false,\"labels\":[\"gpu\","
                        "\"x86\"],\"last_seen\":null,\"leased_jobs\":2,\"name\":\"box\","
                        "\"runner_id\":\"r1\",\"version\":null}");
    free(text);
    json_decref(j);
    dp_queue_stats qs = {.pending = 5, .leased = 4, .dead = 3, .completed = 2, .runners_alive = 1};
    j = dp_queue_stats_to_json(&qs);
    text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(text, "{\"completed\":2,\"dead\":3,\"leased\":4,\"pending\":5,"
                              "\"runners_alive\":1}");
    free(text);
    json_decref(j);
}

static void test_lossy_strings(void **state)
{
    (void)state;
    /* valid UTF-8 passes through; bad bytes, NUL, overlongs and surrogates
     * become U+FFFD */
    json_t *j = dp_json_string_lossy("h\xc3\xa9", 3);
    assert_string_equal(json_string_value(j), "h\xc3\xa9");
    json_decref(j);
    j = dp_json_string_lossy("a\xff\0b\xc0\xaf\xed\xa0\x80", 9);
    assert_string_equal(json_string_value(j), "a\xef\xbf\xbd\xef\xbf\xbd"
                                              "b\xef\xbf\xbd\xef\xbf\xbd"
                                              "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    json_decref(j);
    j = dp_json_string_lossy("\xe2\x82", 2); /* truncated sequence at the end */
    assert_string_equal(json_string_value(j), "\xef\xbf\xbd\xef\xbf\xbd");
    json_decref(j);
    j = dp_json_string_lossy(NULL, 0);
    assert_true(json_is_null(j));
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_spec_parses),
        cmocka_unit_test(test_bad_specs_name_the_field),
        cmocka_unit_test(test_too_many_tests_and_big_stdin),
        cmocka_unit_test(test_batch_reports_index),
        cmocka_unit_test(test_spec_round_trip),
        cmocka_unit_test(test_checker_fields),
        cmocka_unit_test(test_view_shape),
        cmocka_unit_test(test_runner_and_stats),
        cmocka_unit_test(test_lossy_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
