/* Unit tests for the form a spec takes in Redis (dispatch/spec_blob.c): a
 * packed spec reads back equal, with its tests, limits and labels; a spec
 * an older dispatchd stored as JSON still reads; truncated or foreign bytes,
 * another message, and a spec that fails its checks are refused with a
 * reason; everything is freed (ASan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/job_json.h"
#include "dispatch/spec_blob.h"
#include "messages/msg.h"

static const char *const spec_json =
    "{\"job_id\":\"j-0123456789abcdef\",\"profile\":\"python3\","
    "\"archive\":\"https://example.com/a.zip\",\"labels\":[\"gpu\",\"x86\"],\"priority\":\"high\","
    "\"limits\":{\"time_ms\":1500,\"memory_kb\":131072},"
    "\"tests\":[{\"name\":\"t1\",\"stdin\":\"1 2\\n\",\"expected_stdout\":\"3\\n\"}]}";

static void read_json(dp_job_spec *spec)
{
    dp_err err = {0};
    if (dp_job_spec_from_text(spec_json, strlen(spec_json), spec, &err) != DP_OK)
        fail_msg("fixture spec: %s", err.msg);
}

static void test_round_trip(void **state)
{
    (void)state;
    dp_job_spec in, out;
    read_json(&in);
    void *blob = NULL;
    size_t len = 0;
    dp_err err = {0};
    assert_int_equal(spec_blob_pack(&in, &blob, &len, &err), DP_OK);
    assert_true(len > 0 && ((const char *)blob)[0] != '{');
    assert_int_equal(spec_blob_unpack(blob, len, &out, &err), DP_OK);
    assert_string_equal(out.job_id, in.job_id);
    assert_string_equal(out.profile, "python3");
    assert_int_equal(out.n_labels, 2);
    assert_string_equal(out.labels[1], "x86");
    assert_int_equal(out.n_tests, 1);
    assert_string_equal(out.tests[0].name, "t1");
    assert_int_equal(out.limits.time_ms, in.limits.time_ms);
    assert_int_equal(out.priority, in.priority);
    /* Equal as a whole: the same JSON comes out of both. */
    json_t *a = dp_job_spec_to_json(&in), *b = dp_job_spec_to_json(&out);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    free(blob);
    dp_job_spec_free(&in);
    dp_job_spec_free(&out);
}

static void test_json_of_an_older_dispatchd(void **state)
{
    (void)state;
    dp_job_spec out;
    dp_err err = {0};
    assert_int_equal(spec_blob_unpack(spec_json, strlen(spec_json), &out, &err), DP_OK);
    assert_string_equal(out.profile, "python3");
    dp_job_spec_free(&out);
}

static void expect_refused(const void *buf, size_t len, const char *words)
{
    dp_job_spec out;
    dp_err err = {0};
    assert_int_not_equal(spec_blob_unpack(buf, len, &out, &err), DP_OK);
    if (strstr(err.msg, words) == NULL)
        fail_msg("'%s' does not say '%s'", err.msg, words);
    assert_null(out.profile); /* left empty */
}

static void test_bad_blobs_refused(void **state)
{
    (void)state;
    dp_job_spec in;
    read_json(&in);
    void *blob = NULL;
    size_t len = 0;
    dp_err err = {0};
    assert_int_equal(spec_blob_pack(&in, &blob, &len, &err), DP_OK);
    for (size_t cut = 0; cut < len; cut++) { /* every truncation */
        dp_job_spec out;
        assert_int_not_equal(spec_blob_unpack(blob, cut, &out, &err), DP_OK);
    }
    expect_refused("\xc1\xc1\xc1", 3, "");
    expect_refused("{\"profile\":", 11, "");
    /* another message */
    dp_msg ping = {.type = DP_MSG_HEARTBEAT};
    ping.heartbeat.runner_id = "r-1";
    ping.heartbeat.runner_token = "t";
    void *other = NULL;
    size_t other_len = 0;
    assert_int_equal(dp_msg_encode_buf(&ping, &other, &other_len, &err), DP_OK);
    expect_refused(other, other_len, "submit of one spec");
    free(other);
    /* a submit of two specs */
    dp_job_spec two[2] = {in, in};
    dp_msg sub = {.type = DP_MSG_SUBMIT};
    sub.submit.specs = two;
    sub.submit.n_specs = 2;
    assert_int_equal(dp_msg_encode_buf(&sub, &other, &other_len, &err), DP_OK);
    expect_refused(other, other_len, "submit of one spec");
    free(other);
    /* a spec that fails its checks (no profile) */
    char *profile = in.profile;
    in.profile = NULL;
    void *bad = NULL;
    size_t bad_len = 0;
    /* (a submit is checked for structure only: the pack takes it) */
    assert_int_equal(spec_blob_pack(&in, &bad, &bad_len, &err), DP_OK);
    expect_refused(bad, bad_len, "profile");
    free(bad);
    in.profile = profile;
    free(blob);
    dp_job_spec_free(&in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_json_of_an_older_dispatchd),
        cmocka_unit_test(test_bad_blobs_refused),
    };
    return cmocka_run_group_tests_name("spec_blob", tests, NULL, NULL);
}
