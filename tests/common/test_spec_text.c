/* Unit tests for dp_job_spec_json_text (common/job_spec_text.c), the one
 * writer of a spec's JSON: exact text for a full spec, strings escaped as
 * JSON requires and invalid UTF-8 replaced exactly as dp_json_string_lossy
 * does (checked against it on random bytes), reals read back exactly, a
 * non-finite real refused by name, and big specs round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/job_json.h"

static char *text_of(const dp_job_spec *s)
{
    char *text = NULL;
    size_t len = 0;
    dp_err err = {0};
    assert_int_equal(dp_job_spec_json_text(s, &text, &len, &err), DP_OK);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

static void test_full_spec_exact_text(void **state)
{
    (void)state;
    dp_test_case tests[2] = {
        {.name = "t1",
         .stdin_data = "5\n",
         .expected_stdout = "10\n",
         .timeout_ms = 1000,
         .score = 1.0},
        {.name = "t\"2\\",
         .compare = DP_COMPARE_FLOAT,
         .abs_tol = 1e-9,
         .rel_tol = 0.5,
         .score = 2},
    };
    char *labels[] = {"gpu", "x86"};
    dp_job_spec s = {.job_id = "j-1",
                     .profile = "c",
                     .archive = "https://example.com/a.zip",
                     .archive_sha256 = "ab",
                     .submission_id = "sub-1",
                     .tests = tests,
                     .n_tests = 2,
                     .limits = {.time_ms = 2000, .memory_kb = 262144, .output_kb = 1024},
                     .max_attempts = 3,
                     .abs_tol = 0.25,
                     .callback_url = "https://example.com/cb",
                     .labels = labels,
                     .n_labels = 2,
                     .priority = DP_PRIORITY_HIGH};
    char *text = text_of(&s);
    assert_string_equal(
        text, "{\"job_id\":\"j-1\",\"profile\":\"c\",\"archive\":\"https://example.com/a.zip\","
              "\"archive_sha256\":\"ab\",\"submission_id\":\"sub-1\",\"tests\":[{\"name\":\"t1\","
              "\"stdin\":\"5\\n\",\"expected_stdout\":\"10\\n\",\"timeout_ms\":1000},"
              "{\"name\":\"t\\\"2\\\\\",\"compare\":\"float\",\"abs_tol\":1.0000000000000001e-09,"
              "\"rel_tol\":0.5,\"score\":2.0}],\"limits\":{\"time_ms\":2000,\"memory_kb\":262144,"
              "\"output_kb\":1024},\"max_attempts\":3,\"abs_tol\":0.25,"
              "\"callback_url\":\"https://example.com/cb\",\"labels\":[\"gpu\",\"x86\"],"
              "\"priority\":\"high\"}");
    free(text);

    /* the least spec: absent fields are left out, not null */
    dp_job_spec least = {.profile = "py", .archive = "file:///a.zip"};
    text = text_of(&least);
    assert_string_equal(text, "{\"profile\":\"py\",\"archive\":\"file:///a.zip\"}");
    free(text);
}

static void test_escapes_exact(void **state)
{
    (void)state;
    /* quote, backslash, the short escapes, other C0 controls as \u00XX,
     * DEL and valid multi-byte UTF-8 as they are, bad bytes as U+FFFD */
    dp_test_case tc = {.name = "n",
                       .stdin_data = "a\"b\\c\b\f\n\r\t\x01\x1f\x7f/\xc3\xa9\xf0\x9f\x98\x80"
                                     "\xff\xc0\xaf\xed\xa0\x80\xe2\x82",
                       .score = 1};
    dp_job_spec s = {.profile = "c", .archive = "file:///a.zip", .tests = &tc, .n_tests = 1};
    char *text = text_of(&s);
    assert_string_equal(text, "{\"profile\":\"c\",\"archive\":\"file:///a.zip\",\"tests\":[{"
                              "\"name\":\"n\",\"stdin\":\"a\\\"b\\\\c\\b\\f\\n\\r\\t\\u0001"
                              "\\u001f\x7f/\xc3\xa9\xf0\x9f\x98\x80"
                              "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                              "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                              "\xef\xbf\xbd\xef\xbf\xbd\"}]}");
    free(text);
}

/* Random bytes in every field that takes text: the text parses, and each
 * string reads back as dp_json_string_lossy's value of the same bytes. */
static void test_random_strings_read_back_lossy(void **state)
{
    (void)state;
    srand(12345);
    char buf[3][200];
    for (int iter = 0; iter < 3000; iter++) {
        size_t len[3];
        for (int f = 0; f < 3; f++) {
            len[f] = (size_t)(rand() % 190);
            for (size_t i = 0; i < len[f]; i++) {
                int r = rand() % 8;
                /* mostly the interesting ranges: controls, ASCII, lead and
                 * continuation bytes */
                buf[f][i] = (char)(r < 2   ? 1 + rand() % 0x1f
                                   : r < 4 ? 0x20 + rand() % 0x60
                                           : 0x80 + rand() % 0x80);
            }
            buf[f][len[f]] = '\0';
        }
        dp_test_case tc = {.name = buf[0], .expected_stdout = buf[1], .score = 1};
        dp_job_spec s = {.profile = buf[2], .archive = "file:///a.zip", .tests = &tc, .n_tests = 1};
        char *text = text_of(&s);
        json_error_t jerr;
        json_t *j = json_loads(text, 0, &jerr);
        if (j == NULL)
            fail_msg("iteration %d: not JSON (%s): %s", iter, jerr.text, text);
        json_t *t0 = json_array_get(json_object_get(j, "tests"), 0);
        const json_t *got[3] = {json_object_get(t0, "name"), json_object_get(t0, "expected_stdout"),
                                json_object_get(j, "profile")};
        for (int f = 0; f < 3; f++) {
            json_t *want = dp_json_string_lossy(buf[f], len[f]);
            assert_non_null(want);
            assert_true(json_equal(got[f], want));
            json_decref(want);
        }
        json_decref(j);
        free(text);
    }
}

static void test_non_finite_refused(void **state)
{
    (void)state;
    dp_job_spec s = {.profile = "c", .archive = "file:///a.zip", .abs_tol = INFINITY};
    char *text = (char *)1;
    dp_err err = {0};
    assert_int_equal(dp_job_spec_json_text(&s, &text, NULL, &err), DP_EINVAL);
    assert_null(text);
    assert_non_null(strstr(err.msg, "abs_tol: not a finite number"));
    assert_null(dp_job_spec_to_json(&s));

    dp_test_case tc = {.name = "t", .score = NAN};
    dp_job_spec s2 = {.profile = "c", .archive = "file:///a.zip", .tests = &tc, .n_tests = 1};
    assert_int_equal(dp_job_spec_json_text(&s2, &text, NULL, &err), DP_EINVAL);
    assert_non_null(strstr(err.msg, "tests[0].score: not a finite number"));
}

/* Reals and big data come back exactly through the parser, and the tree
 * form is the text parsed. */
static void test_round_trip_exact(void **state)
{
    (void)state;
    size_t big = DP_TEST_DATA_MAX;
    char *data = malloc(big + 1);
    assert_non_null(data);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)(i % 97 == 0 ? '\n' : ' ' + (char)(i % 90));
    data[big] = '\0';
    dp_test_case tc = {.name = "big",
                       .stdin_data = data,
                       .expected_stdout = data,
                       .compare = DP_COMPARE_FLOAT,
                       .abs_tol = 0.1,
                       .rel_tol = 1.0 / 3,
                       .score = 0.7};
    dp_job_spec s = {.profile = "c",
                     .archive = "file:///a.zip",
                     .tests = &tc,
                     .n_tests = 1,
                     .rel_tol = 1e-300,
                     .max_attempts = 100};
    char *text = text_of(&s);
    dp_job_spec back;
    dp_err err = {0};
    assert_int_equal(dp_job_spec_from_text(text, strlen(text), &back, &err), DP_OK);
    assert_string_equal(back.tests[0].stdin_data, data);
    assert_string_equal(back.tests[0].expected_stdout, data);
    assert_true(back.tests[0].abs_tol == 0.1);
    assert_true(back.tests[0].rel_tol == 1.0 / 3);
    assert_true(back.tests[0].score == 0.7);
    assert_true(back.rel_tol == 1e-300);
    assert_int_equal(back.max_attempts, 100);

    json_t *tree = dp_job_spec_to_json(&s), *parsed = json_loads(text, 0, NULL);
    assert_non_null(tree);
    assert_true(json_equal(tree, parsed));
    json_decref(tree);
    json_decref(parsed);
    dp_job_spec_free(&back);
    free(text);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_spec_exact_text),
        cmocka_unit_test(test_escapes_exact),
        cmocka_unit_test(test_random_strings_read_back_lossy),
        cmocka_unit_test(test_non_finite_refused),
        cmocka_unit_test(test_round_trip_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
