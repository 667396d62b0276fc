/* A leased job whose spec goes out as stored bytes (dp_leased_job.
 * spec_packed, found by dp_msg_spec_span): the answer must be the very
 * bytes the struct would have encoded to, decode to the same job, and the
 * span must refuse every stored form it cannot vouch for (the leaser then
 * decodes the spec the old way). */
#include "messages/msg.h"
#include "msg_samples.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The stored form of spec: a one-spec submit (dispatch/spec_blob.c). */
static void stored(const dp_job_spec *spec, void **buf, size_t *len)
{
    dp_msg m = {.type = DP_MSG_SUBMIT};
    m.submit.specs = (dp_job_spec *)spec;
    m.submit.n_specs = 1;
    dp_err err = {0};
    if (dp_msg_encode_buf(&m, buf, len, &err) != DP_OK)
        fail_msg("encode: %s", err.msg);
}

static void encoded(const dp_msg *m, void **buf, size_t *len)
{
    dp_err err = {0};
    if (dp_msg_encode_buf(m, buf, len, &err) != DP_OK)
        fail_msg("encode: %s", err.msg);
}

static void test_packed_answer_is_the_struct_answer(void **state)
{
    (void)state;
    dp_job_spec specs[2];
    msg_sample_spec(&specs[0], "j-one", 3);
    msg_sample_spec(&specs[1], "j-two", 0);
    dp_leased_job plain[2] = {{.job_id = "j-one", .attempt = 1, .spec = specs[0]},
                              {.job_id = "j-two", .attempt = 4, .spec = specs[1]}};
    dp_leased_job packed[2] = {{.job_id = "j-one", .attempt = 1},
                               {.job_id = "j-two", .attempt = 4}};
    void *blob[2];
    size_t blob_len[2];
    for (int i = 0; i < 2; i++) {
        stored(&specs[i], &blob[i], &blob_len[i]);
        dp_err err = {0};
        if (dp_msg_spec_span(blob[i], blob_len[i], plain[i].job_id, &packed[i].spec_packed.bytes,
                             &packed[i].spec_packed.len, &err) != DP_OK)
            fail_msg("span: %s", err.msg);
        /* inside the stored bytes, short of the envelope */
        assert_true(packed[i].spec_packed.bytes > (const uint8_t *)blob[i]);
        assert_true(packed[i].spec_packed.len < blob_len[i]);
    }
    /* both answers the leaser gives, with ids: the same bytes */
    dp_msg a = {.type = DP_MSG_LEASED, .id = 7, .leased = {plain, 2}};
    dp_msg b = {.type = DP_MSG_LEASED, .id = 7, .leased = {packed, 2}};
    void *abuf, *bbuf;
    size_t alen, blen;
    encoded(&a, &abuf, &alen);
    encoded(&b, &bbuf, &blen);
    assert_int_equal(alen, blen);
    assert_memory_equal(abuf, bbuf, alen);
    dp_msg c = {.type = DP_MSG_COMPLETED_LEASED, .id = 9};
    c.completed_leased.jobs = packed;
    c.completed_leased.n_jobs = 2;
    void *cbuf;
    size_t clen;
    encoded(&c, &cbuf, &clen);
    dp_msg back;
    dp_err err = {0};
    if (dp_msg_decode(cbuf, clen, &back, &err) != DP_OK)
        fail_msg("decode: %s", err.msg);
    assert_int_equal(back.completed_leased.n_jobs, 2);
    for (int i = 0; i < 2; i++) {
        const dp_leased_job *j = &back.completed_leased.jobs[i];
        assert_null(j->spec_packed.bytes); /* the decoder never sets it */
        assert_string_equal(j->job_id, plain[i].job_id);
        assert_int_equal(j->attempt, plain[i].attempt);
        dp_msg x = {.type = DP_MSG_SUBMIT, .submit = {.specs = (dp_job_spec *)&j->spec, 1}};
        dp_msg y = {.type = DP_MSG_SUBMIT, .submit = {.specs = &specs[i], 1}};
        assert_true(dp_msg_equal(&x, &y));
    }
    dp_msg_free(&back);
    free(abuf);
    free(bbuf);
    free(cbuf);
    for (int i = 0; i < 2; i++) {
        free(blob[i]);
        dp_job_spec_free(&specs[i]);
    }
}

/* span must refuse buf, with an error naming `why`. */
static void refused(const void *buf, size_t len, const char *job_id, const char *why)
{
    const uint8_t *p = (const uint8_t *)1;
    size_t n = 1;
    dp_err err = {0};
    if (dp_msg_spec_span(buf, len, job_id, &p, &n, &err) == DP_OK)
        fail_msg("accepted (%s)", why);
    assert_null(p);
    assert_int_equal(n, 0);
    if (why != NULL && strstr(err.msg, why) == NULL)
        fail_msg("error \"%s\" does not say %s", err.msg, why);
}

static void test_span_refuses_what_it_cannot_vouch_for(void **state)
{
    (void)state;
    dp_job_spec spec[2];
    msg_sample_spec(&spec[0], "j-a", 2);
    msg_sample_spec(&spec[1], "j-b", 1);
    void *buf;
    size_t len;
    stored(&spec[0], &buf, &len);
    refused(buf, len, "j-other", "does not name job j-other");
    refused(buf, len, "j-", "does not name job j-"); /* a prefix is not the id */
    for (size_t cut = 0; cut < len; cut++)           /* every truncation */
        refused(buf, cut, "j-a", NULL);
    char *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = (char)0xc0; /* nil after the message */
    refused(longer, len + 1, "j-a", "bytes after the message");
    free(longer);
    free(buf);
    /* an older stored form: JSON */
    const char *json = "{\"jid\":\"j-a\",\"prof\":\"c\"}";
    refused(json, strlen(json), "j-a", NULL);
    /* two specs, and another type */
    dp_msg two = {.type = DP_MSG_SUBMIT, .submit = {spec, 2}};
    encoded(&two, &buf, &len);
    refused(buf, len, "j-a", "2 specs, not one");
    free(buf);
    dp_msg other;
    msg_sample(DP_MSG_LEASE, &other);
    encoded(&other, &buf, &len);
    refused(buf, len, "j-a", "not a submit message");
    free(buf);
    dp_msg_free(&other);
    /* a spec without a job id */
    char *jid = spec[0].job_id;
    spec[0].job_id = NULL;
    stored(&spec[0], &buf, &len);
    refused(buf, len, "j-a", "does not name job j-a");
    free(buf);
    spec[0].job_id = jid;
    dp_job_spec_free(&spec[0]);
    dp_job_spec_free(&spec[1]);
}

/* Another version's stored spec goes back to the decoder's path. */
static void test_span_refuses_another_version(void **state)
{
    (void)state;
    dp_job_spec spec;
    msg_sample_spec(&spec, "j-v", 1);
    void *buf;
    size_t len;
    stored(&spec, &buf, &len);
    /* {"v": 1, ...}: the version is the positive fixint after "v" */
    uint8_t *b = buf;
    assert_int_equal(b[1], 0xa1);
    assert_int_equal(b[2], 'v');
    assert_int_equal(b[3], DP_MSG_VERSION);
    b[3] = DP_MSG_VERSION + 1;
    refused(buf, len, "j-v", "version");
    free(buf);
    dp_job_spec_free(&spec);
}

/* A packed spec is still bounded when the message is checked. */
static void test_packed_bounds(void **state)
{
    (void)state;
    static const uint8_t empty_map = 0x80;
    dp_leased_job j = {.job_id = "j-1", .attempt = 1, .spec_packed = {&empty_map, 0}};
    dp_msg m = {.type = DP_MSG_LEASED, .leased = {&j, 1}};
    dp_err err = {0};
    assert_int_equal(dp_msg_validate(&m, &err), DP_EINVAL);
    assert_non_null(strstr(err.msg, "packed value of 0 bytes"));
    j.spec_packed.len = 1;
    assert_int_equal(dp_msg_validate(&m, &err), DP_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packed_answer_is_the_struct_answer),
        cmocka_unit_test(test_span_refuses_what_it_cannot_vouch_for),
        cmocka_unit_test(test_span_refuses_another_version),
        cmocka_unit_test(test_packed_bounds),
    };
    return cmocka_run_group_tests_name("msg_packed", tests, NULL, NULL);
}
