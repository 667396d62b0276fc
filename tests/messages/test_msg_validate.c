/* Semantic validation (run by both encoders and the decoder) and the reply
 * constructors. */
#include "msg_samples.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* m must be refused by validate and by the encoder, naming `field`. */
static void refused(const dp_msg *m, const char *field)
{
    dp_err err = {0};
    int rc = dp_msg_validate(m, &err);
    if (rc != DP_EINVAL)
        fail_msg("%s: validate gave %d, wanted DP_EINVAL", field, rc);
    if (strstr(err.msg, field) == NULL)
        fail_msg("error \"%s\" does not name %s", err.msg, field);
    nng_msg *nm = (nng_msg *)1;
    assert_int_equal(dp_msg_encode(m, &nm, NULL), DP_EINVAL);
    assert_null(nm);
}

static void accepted(const dp_msg *m)
{
    dp_err err = {0};
    if (dp_msg_validate(m, &err) != DP_OK)
        fail_msg("refused: %s", err.msg);
}

static void spec_refused(const dp_job_spec *spec, const char *field)
{
    dp_err err = {0};
    assert_int_equal(dp_msg_validate_spec(spec, &err), DP_EINVAL);
    if (strstr(err.msg, field) == NULL)
        fail_msg("error \"%s\" does not name %s", err.msg, field);
}

static void test_spec_rules(void **state)
{
    (void)state;
    dp_job_spec spec;
    msg_sample_spec(&spec, NULL, 2);
    dp_err err;
    assert_int_equal(dp_msg_validate_spec(&spec, &err), DP_OK);

    char *keep = spec.profile;
    const char *bad_profiles[] = {"", "../etc/passwd", "a/b", ".hidden", "sp ace"};
    for (size_t i = 0; i < sizeof bad_profiles / sizeof bad_profiles[0]; i++) {
        spec.profile = (char *)bad_profiles[i];
        spec_refused(&spec, "spec.profile");
    }
    spec.profile = NULL;
    spec_refused(&spec, "spec.profile");
    spec.profile = keep;

    keep = spec.archive;
    const char *bad_urls[] = {"ftp://x/a.zip", "/abs/path.zip", "file://", "javascript:x"};
    for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
        spec.archive = (char *)bad_urls[i];
        spec_refused(&spec, "spec.archive");
    }
    /* One rule for every path (dp_job_spec_check): schemes in lower case,
     * file:// with an absolute path. */
    spec.archive = "HTTPS://example.com/a.zip";
    spec_refused(&spec, "spec.archive");
    spec.archive = "file://host/a.zip";
    spec_refused(&spec, "spec.archive");
    spec.archive = keep;

    keep = spec.archive_sha256;
    spec.archive_sha256 = "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef";
    spec_refused(&spec, "spec.archive_sha256");
    spec.archive_sha256 = "abc";
    spec_refused(&spec, "spec.archive_sha256");
    spec.archive_sha256 = keep;

    spec.max_attempts = DP_MAX_ATTEMPTS_LIMIT + 1;
    spec_refused(&spec, "spec.max_attempts");
    spec.max_attempts = 3;

    keep = spec.tests[1].name;
    spec.tests[1].name = NULL;
    spec_refused(&spec, "tests[1].name");
    spec.tests[1].name = keep;

    spec.tests[0].compare = (dp_compare)7;
    spec_refused(&spec, "cmp");
    spec.tests[0].compare = DP_COMPARE_LINES;

    keep = spec.job_id;
    spec.job_id = "job with space";
    spec_refused(&spec, "jid");
    spec.job_id = keep;
    dp_job_spec_free(&spec);
}

static void test_submit_checks_structure_only(void **state)
{
    (void)state;
    /* A batch with one bad spec still decodes: the receiver answers that
     * item with an error and accepts the others. */
    dp_job_spec specs[2] = {{.profile = "c", .archive = "file:///a.zip"},
                            {.profile = "../x", .archive = "ftp://nope"}};
    dp_msg m = {.type = DP_MSG_SUBMIT};
    m.submit.specs = specs;
    m.submit.n_specs = 2;
    void *buf;
    size_t len;
    assert_int_equal(dp_msg_encode_buf(&m, &buf, &len, NULL), DP_OK);
    dp_msg got;
    assert_int_equal(dp_msg_decode(buf, len, &got, NULL), DP_OK);
    assert_int_equal(dp_msg_validate_spec(&got.submit.specs[0], NULL), DP_OK);
    assert_int_equal(dp_msg_validate_spec(&got.submit.specs[1], NULL), DP_EINVAL);
    dp_msg_free(&got);
    free(buf);

    m.submit.n_specs = 0;
    refused(&m, "specs");
}

static void test_message_rules(void **state)
{
    (void)state;
    dp_msg m;

    msg_sample(DP_MSG_REGISTER, &m);
    m.reg.capacity = 0;
    refused(&m, "cap");
    dp_msg_free(&m);

    msg_sample(DP_MSG_HEARTBEAT, &m);
    free(m.heartbeat.runner_token);
    m.heartbeat.runner_token = NULL;
    refused(&m, "rtok");
    dp_msg_free(&m);

    msg_sample(DP_MSG_LEASE, &m);
    m.lease.max_jobs = 0;
    refused(&m, "lease.max");
    m.lease.max_jobs = DP_MSG_MAX_LEASE + 1;
    refused(&m, "lease.max");
    dp_msg_free(&m);

    msg_sample(DP_MSG_LEASED, &m);
    m.leased.jobs[1].attempt = 0;
    refused(&m, "jobs[1].att");
    m.leased.jobs[1].attempt = 1;
    m.leased.jobs[1].spec.archive[0] = 'X'; /* "Xttps://" */
    refused(&m, "jobs[1].spec.archive");
    dp_msg_free(&m);

    msg_sample(DP_MSG_COMPLETE, &m);
    m.complete.result.verdict = DP_VERDICT_NONE;
    refused(&m, "res.vd");
    m.complete.result.verdict = (dp_verdict)42;
    refused(&m, "vd");
    m.complete.result.verdict = DP_VERDICT_AC;
    m.complete.result.score = 100.5;
    refused(&m, "score");
    m.complete.result.score = NAN;
    refused(&m, "score");
    m.complete.result.score = 100;
    m.complete.result.log_len = DP_MSG_MAX_LOG + 1;
    refused(&m, "log");
    m.complete.result.log_len = 300;
    accepted(&m);
    dp_msg_free(&m);

    msg_sample(DP_MSG_REQUEUE, &m);
    m.requeue.dead = true;
    refused(&m, "requeue");
    free(m.requeue.job_id);
    m.requeue.job_id = NULL;
    accepted(&m);
    m.requeue.dead = false;
    refused(&m, "requeue");
    dp_msg_free(&m);

    msg_sample(DP_MSG_SUBMITTED, &m);
    m.submitted.items[0].error = m.submitted.items[1].error;
    refused(&m, "items[0]");
    m.submitted.items[0].error = NULL;
    dp_msg_free(&m);

    msg_sample(DP_MSG_JOB, &m);
    m.job.state = (dp_job_state)9;
    refused(&m, "st");
    dp_msg_free(&m);

    msg_sample(DP_MSG_RUNNERS, &m);
    m.runners.runners[1].n_labels = DP_MSG_MAX_LABELS + 1;
    refused(&m, "labels");
    m.runners.runners[1].n_labels = 2;
    dp_msg_free(&m);

    dp_msg e = {.type = DP_MSG_ERROR};
    refused(&e, "code");
    dp_msg bad = {.type = DP_MSG_TYPE_COUNT};
    refused(&bad, "type");
    dp_msg s = {.type = DP_MSG_STATUS};
    refused(&s, "jid");
    s.status.job_id = "id\x01";
    refused(&s, "jid");
    dp_msg a = {.type = DP_MSG_ANSWER}; /* a reply with no bytes is no reply */
    refused(&a, "answer.b");
}

static void test_reply_constructors(void **state)
{
    (void)state;
    dp_msg m;
    assert_int_equal(
        dp_msg_make_error(&m, 5, DP_MSG_ERR_UNKNOWN_RUNNER, "runner %s unknown", "r-9"), DP_OK);
    assert_int_equal(m.type, DP_MSG_ERROR);
    assert_int_equal(m.id, 5);
    assert_string_equal(m.error.code, "unknown_runner");
    assert_string_equal(m.error.message, "runner r-9 unknown");
    void *buf;
    size_t len;
    assert_int_equal(dp_msg_encode_buf(&m, &buf, &len, NULL), DP_OK);
    dp_msg got;
    assert_int_equal(dp_msg_decode(buf, len, &got, NULL), DP_OK);
    assert_true(dp_msg_equal(&m, &got));
    dp_msg_free(&got);
    dp_msg_free(&m);
    free(buf);

    dp_err err;
    dp_err_set(&err, DP_ECONFLICT, "stale attempt");
    assert_int_equal(dp_msg_make_error_from(&m, 6, &err), DP_OK);
    assert_string_equal(m.error.code, "conflict");
    assert_string_equal(m.error.message, "stale attempt");
    dp_msg_free(&m);

    assert_int_equal(dp_msg_make_ack(&m, 8, 12), DP_OK);
    assert_int_equal(m.ack.count, 12);
    accepted(&m);
    assert_int_equal(dp_msg_make_conflict(&m, 9, "job-1", "not yours"), DP_OK);
    assert_string_equal(m.conflict.job_id, "job-1");
    accepted(&m);
    dp_msg_free(&m);
    assert_int_equal(dp_msg_make_not_found(&m, 9, "job", NULL), DP_OK);
    assert_string_equal(m.not_found.what, "job");
    assert_null(m.not_found.message);
    accepted(&m);
    dp_msg_free(&m);

    for (int t = 0; t <= DP_MSG_TYPE_COUNT; t++) {
        const char *name = dp_msg_type_name((dp_msg_type)t);
        if (t == 0 || t == DP_MSG_TYPE_COUNT)
            assert_null(name);
        else
            assert_int_equal(dp_msg_type_parse(name), t);
    }
    assert_int_equal(dp_msg_type_parse("nope"), DP_MSG_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_rules),
        cmocka_unit_test(test_submit_checks_structure_only),
        cmocka_unit_test(test_message_rules),
        cmocka_unit_test(test_reply_constructors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
