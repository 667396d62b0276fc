/* The JSON bodies of the HTTP runner protocol (dispatch/http_runners.h):
 * a full register and result parse, defaults, and every refusal naming the
 * field. The routes themselves run in e2e-http-runners against a real stack. */
#include "dispatch/http_runners.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    assert_non_null(j);
    return j;
}

static void test_register(void **state)
{
    (void)state;
    json_t *j = parse("{\"registration_token\":\"tok-0123456789abcdef\",\"name\":\"py\","
                      "\"slots\":4,\"labels\":[\"gpu\",\"eu\"],\"profiles\":[\"python3\"],"
                      "\"version\":\"1.2\"}");
    dp_msg m = {.type = DP_MSG_REGISTER};
    dp_err err = {0};
    assert_int_equal(http_register_from_json(j, &m.reg, &err), DP_OK);
    assert_string_equal(m.reg.registration_token, "tok-0123456789abcdef");
    assert_string_equal(m.reg.name, "py");
    assert_int_equal(m.reg.capacity, 4);
    assert_int_equal(m.reg.n_labels, 2);
    assert_string_equal(m.reg.labels[1], "eu");
    assert_int_equal(m.reg.n_profiles, 1);
    assert_string_equal(m.reg.version, "1.2");
    /* what the route sends is a valid register message */
    nng_msg *wire = NULL;
    assert_int_equal(dp_msg_encode(&m, &wire, &err), DP_OK);
    nng_msg_free(wire);
    dp_msg_free(&m);
    json_decref(j);
}

static void expect_register_refused(const char *text, const char *field)
{
    json_t *j = parse(text);
    dp_msg_register r;
    dp_err err = {0};
    assert_int_equal(http_register_from_json(j, &r, &err), DP_EINVAL);
    if (strstr(err.msg, field) == NULL)
        fail_msg("'%s': message '%s' does not name '%s'", text, err.msg, field);
    assert_null(r.name); /* nothing half-filled is left behind */
    assert_null(r.labels);
    json_decref(j);
}

static void test_register_refusals(void **state)
{
    (void)state;
    expect_register_refused("[]", "body");
    expect_register_refused("{\"name\":\"a\",\"slots\":1}", "registration_token");
    expect_register_refused("{\"registration_token\":\"t\",\"slots\":1}", "name");
    expect_register_refused("{\"registration_token\":\"t\",\"name\":\"\",\"slots\":1}", "name");
    expect_register_refused("{\"registration_token\":\"t\",\"name\":\"a\"}", "slots");
    expect_register_refused("{\"registration_token\":\"t\",\"name\":\"a\",\"slots\":0}", "slots");
    expect_register_refused("{\"registration_token\":\"t\",\"name\":\"a\",\"slots\":1.5}", "slots");
    expect_register_refused(
        "{\"registration_token\":\"t\",\"name\":\"a\",\"slots\":1,\"capacity\":1}",
        "capacity: unknown field");
    /* a bad label after a good one: the good one is freed too (ASan) */
    expect_register_refused(
        "{\"registration_token\":\"t\",\"name\":\"a\",\"slots\":1,\"labels\":[\"ok\",\"a,b\"]}",
        "labels[1]");
    expect_register_refused(
        "{\"registration_token\":\"t\",\"name\":\"a\",\"slots\":1,\"profiles\":[3]}",
        "profiles[0]");
    expect_register_refused("{\"registration_token\":\"t\",\"name\":7,\"slots\":1}", "name");
}

static void test_result(void **state)
{
    (void)state;
    json_t *j = parse("{\"attempt\":2,\"verdict\":\"WA\",\"message\":\"test 2\",\"log\":\"ran\\n\","
                      "\"tests\":[{\"name\":\"t1\",\"verdict\":\"AC\",\"exit_code\":0,"
                      "\"time_ms\":5,\"wall_ms\":7,\"memory_kb\":2048,\"stdout\":\"10\\n\"},"
                      "{\"verdict\":\"RE\",\"exit_code\":-1,\"signal\":11,\"stderr\":\"boom\"}]}");
    dp_msg m = {.type = DP_MSG_COMPLETE};
    dp_err err = {0};
    assert_int_equal(http_result_from_json(j, "j-1", &m.complete.result, &m.complete.retry, &err),
                     DP_OK);
    const dp_job_result *r = &m.complete.result;
    assert_string_equal(r->job_id, "j-1");
    assert_int_equal(r->attempt, 2);
    assert_int_equal(r->verdict, DP_VERDICT_WA);
    assert_true(r->score == 0.0); /* default for a verdict other than AC */
    assert_false(m.complete.retry);
    assert_int_equal(r->log_len, 4);
    assert_int_equal(r->n_tests, 2);
    assert_int_equal(r->tests[0].memory_kb, 2048);
    assert_string_equal(r->tests[0].stdout_excerpt, "10\n");
    assert_int_equal(r->tests[1].signal, 11);
    assert_int_equal(r->tests[1].exit_code, -1);
    m.complete.runner_id = strdup("r-1");
    m.complete.runner_token = strdup("tok");
    nng_msg *wire = NULL;
    assert_int_equal(dp_msg_encode(&m, &wire, &err), DP_OK);
    nng_msg_free(wire);
    dp_msg_free(&m);
    json_decref(j);

    j = parse("{\"attempt\":1,\"verdict\":\"AC\"}");
    dp_job_result res;
    bool retry = true;
    assert_int_equal(http_result_from_json(j, "j-2", &res, &retry, &err), DP_OK);
    assert_true(res.score == 100.0); /* AC without a score */
    assert_false(retry);
    assert_int_equal(res.n_tests, 0);
    dp_job_result_free(&res);
    json_decref(j);

    j = parse("{\"attempt\":1,\"verdict\":\"SE\",\"retry\":true,\"score\":12.5}");
    assert_int_equal(http_result_from_json(j, "j-3", &res, &retry, &err), DP_OK);
    assert_true(retry);
    assert_true(res.score == 12.5);
    dp_job_result_free(&res);
    json_decref(j);
}

static void expect_result_refused(const char *text, const char *field)
{
    json_t *j = parse(text);
    dp_job_result r;
    bool retry;
    dp_err err = {0};
    assert_int_equal(http_result_from_json(j, "j-1", &r, &retry, &err), DP_EINVAL);
    if (strstr(err.msg, field) == NULL)
        fail_msg("'%s': message '%s' does not name '%s'", text, err.msg, field);
    assert_null(r.tests);
    assert_null(r.job_id);
    json_decref(j);
}

static void test_result_refusals(void **state)
{
    (void)state;
    expect_result_refused("[\"AC\"]", "body");
    expect_result_refused("{\"verdict\":\"AC\"}", "attempt");
    expect_result_refused("{\"attempt\":0,\"verdict\":\"AC\"}", "attempt");
    expect_result_refused("{\"attempt\":1}", "verdict");
    expect_result_refused("{\"attempt\":1,\"verdict\":\"ok\"}", "verdict");
    expect_result_refused("{\"attempt\":1,\"verdict\":\"AC\",\"score\":101}", "score");
    expect_result_refused("{\"attempt\":1,\"verdict\":\"AC\",\"retry\":1}", "retry");
    expect_result_refused("{\"attempt\":1,\"verdict\":\"AC\",\"log\":5}", "log");
    expect_result_refused("{\"attempt\":1,\"verdict\":\"AC\",\"verdcit\":\"AC\"}", "verdcit");
    expect_result_refused("{\"attempt\":1,\"verdict\":\"AC\",\"tests\":{}}", "tests");
    /* a bad second test after a good first: all freed (ASan) */
    expect_result_refused("{\"attempt\":1,\"verdict\":\"AC\",\"tests\":[{\"verdict\":\"AC\","
                          "\"stdout\":\"x\"},{\"verdict\":\"AC\",\"time_ms\":-1}]}",
                          "tests[1].time_ms");
    expect_result_refused(
        "{\"attempt\":1,\"verdict\":\"AC\",\"tests\":[{\"verdict\":\"AC\",\"stdot\":\"x\"}]}",
        "tests[0].stdot");
    expect_result_refused("{\"attempt\":1,\"verdict\":\"AC\",\"tests\":[{\"name\":\"t\"}]}",
                          "tests[0].verdict");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register),
        cmocka_unit_test(test_register_refusals),
        cmocka_unit_test(test_result),
        cmocka_unit_test(test_result_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
