/* Untrusted bytes: truncated, oversized, wrong-typed, deeply nested,
 * duplicated and unknown inputs are rejected cleanly (no crash, no leak under
 * ASan), and unknown keys are ignored. Inputs are built with msgpack-c's own
 * packer so they do not depend on our encoder. Random and mutated inputs:
 * test_msg_random.c. */
#include "msg_samples.h"

#include <msgpack.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static msgpack_sbuffer sb;
static msgpack_packer pk;

static void raw_begin(void)
{
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
}

static void raw_str(const char *s)
{
    msgpack_pack_str_with_body(&pk, s, strlen(s));
}

/* Starts an envelope {"v": v, "t": type, "id": 7, "b": <caller packs>}. */
static void raw_envelope(unsigned v, const char *type)
{
    raw_begin();
    msgpack_pack_map(&pk, 4);
    raw_str("v");
    msgpack_pack_unsigned_int(&pk, v);
    raw_str("t");
    raw_str(type);
    raw_str("id");
    msgpack_pack_uint64(&pk, 7);
    raw_str("b");
}

/* Decodes the packed buffer, expects rc, and checks a failure leaves nothing. */
static dp_msg raw_decode(int want_rc, const char *want_in_msg)
{
    dp_msg m;
    dp_err err = {0};
    int rc = dp_msg_decode(sb.data, sb.size, &m, &err);
    if (rc != want_rc)
        fail_msg("rc %d (%s), wanted %d", rc, err.msg, want_rc);
    if (want_in_msg != NULL && strstr(err.msg, want_in_msg) == NULL)
        fail_msg("error \"%s\" does not mention \"%s\"", err.msg, want_in_msg);
    if (rc != DP_OK)
        assert_int_equal(m.type, DP_MSG_INVALID);
    msgpack_sbuffer_destroy(&sb);
    return m;
}

static void pack_nested(int depth)
{
    for (int i = 0; i < depth; i++)
        msgpack_pack_array(&pk, 1);
    msgpack_pack_nil(&pk);
}

static void heartbeat_body(const char *free_key_type)
{
    msgpack_pack_map(&pk, 3);
    raw_str("rid");
    raw_str("r-1");
    raw_str("rtok");
    raw_str("tok");
    raw_str("free");
    if (strcmp(free_key_type, "str") == 0)
        raw_str("3");
    else if (strcmp(free_key_type, "neg") == 0)
        msgpack_pack_int(&pk, -1);
    else if (strcmp(free_key_type, "big") == 0)
        msgpack_pack_uint64(&pk, 1ull << 32);
    else if (strcmp(free_key_type, "float") == 0)
        msgpack_pack_double(&pk, 1.5);
    else
        msgpack_pack_uint32(&pk, 3);
}

static void test_truncated_at_every_offset(void **state)
{
    (void)state;
    for (int t = 1; t < DP_MSG_WIRE_COUNT; t++) {
        dp_msg m;
        msg_sample((dp_msg_type)t, &m);
        void *buf;
        size_t len;
        assert_int_equal(dp_msg_encode_buf(&m, &buf, &len, NULL), DP_OK);
        for (size_t k = 0; k < len; k++) {
            /* A copy of exactly k bytes so ASan sees any read past the end. */
            void *cut = malloc(k ? k : 1);
            memcpy(cut, buf, k);
            dp_msg got;
            dp_err err;
            int rc = dp_msg_decode(cut, k, &got, &err);
            if (rc == DP_OK)
                fail_msg("%s cut at %zu of %zu decoded", dp_msg_type_name(m.type), k, len);
            assert_int_equal(rc, DP_EPROTO);
            assert_int_equal(got.type, DP_MSG_INVALID);
            free(cut);
        }
        free(buf);
        dp_msg_free(&m);
    }
}

static void test_oversized(void **state)
{
    (void)state;
    /* Whole message above the cap: refused before reading. */
    size_t big = (size_t)DP_MSG_MAX_SIZE + 1;
    char *buf = calloc(1, big);
    assert_non_null(buf);
    dp_msg m;
    dp_err err;
    assert_int_equal(dp_msg_decode(buf, big, &m, &err), DP_EPROTO);
    free(buf);

    /* A string header claiming 4 GiB with a few bytes behind it. */
    raw_envelope(1, "status");
    const unsigned char huge_str[] = {0x81, 0xa3, 'j', 'i', 'd', 0xdb, 0xff, 0xff, 0xff, 0xff, 'x'};
    msgpack_sbuffer_write(&sb, (const char *)huge_str, sizeof huge_str);
    raw_decode(DP_EPROTO, "only");

    /* Array and map headers claiming 2^32-1 elements. */
    raw_envelope(1, "submit");
    const unsigned char huge_arr[] = {0x81, 0xa5, 's',  'p',  'e',  'c', 's',
                                      0xdd, 0xff, 0xff, 0xff, 0xff, 0x80};
    msgpack_sbuffer_write(&sb, (const char *)huge_arr, sizeof huge_arr);
    raw_decode(DP_EPROTO, "elements");
    raw_envelope(1, "queue");
    const unsigned char huge_map[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0};
    msgpack_sbuffer_write(&sb, (const char *)huge_map, sizeof huge_map);
    raw_decode(DP_EPROTO, "entries");

    /* A string longer than its field allows (name: 256). */
    char name[300];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    raw_envelope(1, "register");
    msgpack_pack_map(&pk, 3);
    raw_str("tok");
    raw_str("t");
    raw_str("name");
    raw_str(name);
    raw_str("cap");
    msgpack_pack_uint32(&pk, 1);
    raw_decode(DP_EPROTO, "b.name");

    /* An id longer than DP_ID_MAX. */
    raw_envelope(1, "status");
    msgpack_pack_map(&pk, 1);
    raw_str("jid");
    raw_str(name);
    raw_decode(DP_EPROTO, "b.jid");

    /* More tests than DP_MAX_TESTS. */
    raw_envelope(1, "submit");
    msgpack_pack_map(&pk, 1);
    raw_str("specs");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 1);
    raw_str("tests");
    msgpack_pack_array(&pk, DP_MAX_TESTS + 1);
    for (int i = 0; i < DP_MAX_TESTS + 1; i++)
        msgpack_pack_map(&pk, 0);
    raw_decode(DP_EPROTO, "b.specs[0].tests");

    /* More specs than DP_MSG_MAX_SPECS. */
    raw_envelope(1, "submit");
    msgpack_pack_map(&pk, 1);
    raw_str("specs");
    msgpack_pack_array(&pk, DP_MSG_MAX_SPECS + 1);
    for (int i = 0; i < DP_MSG_MAX_SPECS + 1; i++)
        msgpack_pack_map(&pk, 0);
    raw_decode(DP_EPROTO, "at most 10000");

    /* Within the count bound but expanding too much: 10,000 empty specs of
     * one byte each would need ~100 bytes of structs each. */
    raw_envelope(1, "submit");
    msgpack_pack_map(&pk, 1);
    raw_str("specs");
    msgpack_pack_array(&pk, DP_MSG_MAX_SPECS);
    for (int i = 0; i < DP_MSG_MAX_SPECS; i++)
        msgpack_pack_map(&pk, 0);
    raw_decode(DP_EPROTO, "decoded size");

    /* A log above DP_MSG_MAX_LOG. */
    size_t log_len = (size_t)DP_MSG_MAX_LOG + 1;
    char *log = calloc(1, log_len);
    assert_non_null(log);
    raw_envelope(1, "complete");
    msgpack_pack_map(&pk, 1);
    raw_str("res");
    msgpack_pack_map(&pk, 1);
    raw_str("log");
    msgpack_pack_bin_with_body(&pk, log, log_len);
    raw_decode(DP_EPROTO, "b.res.log");
    free(log);

    /* The encoder refuses what the decoder would refuse. */
    dp_msg e = {.type = DP_MSG_NONE};
    e.none.reason = name;
    assert_int_equal(dp_msg_encode_buf(&e, (void **)&log, &log_len, &err), DP_EINVAL);
    assert_null(log);
}

static void test_wrong_types(void **state)
{
    (void)state;
    static const char *const bad[] = {"str", "neg", "big", "float"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        raw_envelope(1, "heartbeat");
        heartbeat_body(bad[i]);
        raw_decode(DP_EPROTO, "b.free");
    }
    raw_envelope(1, "heartbeat");
    heartbeat_body("ok");
    dp_msg m = raw_decode(DP_OK, NULL);
    assert_int_equal(m.heartbeat.free_slots, 3);
    assert_int_equal(m.id, 7);
    dp_msg_free(&m);

    /* The body is not a map; the envelope is not a map; a key is no string. */
    raw_envelope(1, "heartbeat");
    msgpack_pack_array(&pk, 0);
    raw_decode(DP_EPROTO, "expected map");
    raw_begin();
    msgpack_pack_array(&pk, 1);
    msgpack_pack_int(&pk, 1);
    raw_decode(DP_EPROTO, "expected map");
    raw_envelope(1, "heartbeat");
    msgpack_pack_map(&pk, 1);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_int(&pk, 1);
    raw_decode(DP_EPROTO, "expected string");

    /* Enum names that do not exist, arrays where strings go, and back. */
    raw_envelope(1, "event");
    msgpack_pack_map(&pk, 2);
    raw_str("jid");
    raw_str("j");
    raw_str("vd");
    raw_str("XX");
    raw_decode(DP_EPROTO, "unknown verdict");
    raw_envelope(1, "event");
    msgpack_pack_map(&pk, 2);
    raw_str("jid");
    raw_str("j");
    raw_str("st");
    raw_str("bogus");
    raw_decode(DP_EPROTO, "unknown state");
    raw_envelope(1, "register");
    msgpack_pack_map(&pk, 1);
    raw_str("labels");
    raw_str("a,b");
    raw_decode(DP_EPROTO, "b.labels: expected array");
    raw_envelope(1, "register");
    msgpack_pack_map(&pk, 1);
    raw_str("labels");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_int(&pk, 5);
    raw_decode(DP_EPROTO, "b.labels[0]");
    raw_envelope(1, "requeue");
    msgpack_pack_map(&pk, 1);
    raw_str("dead");
    msgpack_pack_int(&pk, 1);
    raw_decode(DP_EPROTO, "expected boolean");
    raw_envelope(1, "job");
    msgpack_pack_map(&pk, 2);
    raw_str("jid");
    raw_str("j");
    raw_str("score");
    raw_str("100");
    raw_decode(DP_EPROTO, "expected number");

    /* An exit code that does not fit an int; a signed field that does. */
    raw_envelope(1, "job");
    msgpack_pack_map(&pk, 2);
    raw_str("jid");
    raw_str("j");
    raw_str("tests");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 1);
    raw_str("exit");
    msgpack_pack_int64(&pk, 1ll << 31);
    raw_decode(DP_EPROTO, "b.tests[0].exit");
    raw_envelope(1, "job");
    msgpack_pack_map(&pk, 3);
    raw_str("jid");
    raw_str("j");
    raw_str("score");
    msgpack_pack_float(&pk, 50.5f); /* float32 is fine for a double */
    raw_str("tests");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 1);
    raw_str("exit");
    msgpack_pack_int64(&pk, INT32_MIN);
    m = raw_decode(DP_OK, NULL);
    assert_int_equal(m.job.tests[0].exit_code, INT32_MIN);
    assert_true(m.job.score == 50.5);
    dp_msg_free(&m);

    /* A NUL inside a string would cut it silently: refused. */
    raw_envelope(1, "status");
    msgpack_pack_map(&pk, 1);
    raw_str("jid");
    msgpack_pack_str_with_body(&pk, "a\0b", 3);
    raw_decode(DP_EPROTO, "NUL");
}

static void test_deep_nesting(void **state)
{
    (void)state;
    /* envelope (1) > body (2) > unknown key holding 6 arrays: depth 8, fine. */
    raw_envelope(1, "queue");
    msgpack_pack_map(&pk, 1);
    raw_str("future");
    pack_nested(DP_MSG_MAX_DEPTH - 2);
    dp_msg m = raw_decode(DP_OK, NULL);
    assert_int_equal(m.type, DP_MSG_QUEUE);
    dp_msg_free(&m);

    raw_envelope(1, "queue");
    msgpack_pack_map(&pk, 1);
    raw_str("future");
    pack_nested(DP_MSG_MAX_DEPTH - 1);
    raw_decode(DP_EPROTO, "nested deeper");

    /* A million levels must not exhaust the stack. */
    raw_envelope(1, "queue");
    pack_nested(1000000);
    raw_decode(DP_EPROTO, NULL);

    /* Deep nesting in the envelope itself, before the type is known. */
    raw_begin();
    msgpack_pack_map(&pk, 1);
    raw_str("x");
    pack_nested(100000);
    raw_decode(DP_EPROTO, "nested deeper");
}

static void pack_junk_value(void)
{
    /* Every msgpack family once: none of it means anything to us. */
    msgpack_pack_map(&pk, 2);
    raw_str("ext");
    msgpack_pack_ext_with_body(&pk, "abc", 3, 5);
    raw_str("mix");
    msgpack_pack_array(&pk, 8);
    msgpack_pack_nil(&pk);
    msgpack_pack_true(&pk);
    msgpack_pack_int64(&pk, -5000000000ll);
    msgpack_pack_double(&pk, 1.25);
    msgpack_pack_float(&pk, 2.5f);
    msgpack_pack_bin_with_body(&pk, "\0\1", 2);
    msgpack_pack_ext_with_body(&pk, "0123456789abcdef", 16, 1);
    msgpack_pack_ext_with_body(&pk, "0123456789", 10, -1);
}

static void test_unknown_keys_ignored(void **state)
{
    (void)state;
    raw_begin();
    msgpack_pack_map(&pk, 5);
    raw_str("zz");
    pack_junk_value();
    raw_str("b");
    msgpack_pack_map(&pk, 2);
    raw_str("specs");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 5);
    raw_str("prof");
    raw_str("c");
    raw_str("new_field");
    pack_junk_value();
    raw_str("url");
    raw_str("file:///a.zip");
    raw_str("lim");
    msgpack_pack_map(&pk, 2);
    raw_str("gpu");
    msgpack_pack_int(&pk, 1);
    raw_str("time");
    msgpack_pack_int(&pk, 1500);
    raw_str("tests");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 3);
    raw_str("name");
    raw_str("t1");
    raw_str("weight");
    msgpack_pack_double(&pk, 0.5);
    raw_str("in");
    msgpack_pack_nil(&pk); /* nil: not given */
    raw_str("priority");
    msgpack_pack_int(&pk, 9);
    raw_str("t");
    raw_str("submit");
    raw_str("v");
    msgpack_pack_int(&pk, 1);
    raw_str("trace");
    raw_str("abc");
    dp_msg m = raw_decode(DP_OK, NULL);
    assert_int_equal(m.type, DP_MSG_SUBMIT);
    assert_int_equal(m.id, 0);
    assert_int_equal(m.submit.n_specs, 1);
    assert_string_equal(m.submit.specs[0].profile, "c");
    assert_string_equal(m.submit.specs[0].archive, "file:///a.zip");
    assert_int_equal(m.submit.specs[0].limits.time_ms, 1500);
    assert_int_equal(m.submit.specs[0].n_tests, 1);
    assert_string_equal(m.submit.specs[0].tests[0].name, "t1");
    assert_null(m.submit.specs[0].tests[0].stdin_data);
    dp_msg_free(&m);

    /* Duplicate unknown keys are fine; duplicate known ones are not. */
    raw_envelope(1, "status");
    msgpack_pack_map(&pk, 3);
    raw_str("x");
    msgpack_pack_int(&pk, 1);
    raw_str("x");
    msgpack_pack_int(&pk, 2);
    raw_str("jid");
    raw_str("j");
    m = raw_decode(DP_OK, NULL);
    assert_string_equal(m.status.job_id, "j");
    dp_msg_free(&m);
    raw_envelope(1, "status");
    msgpack_pack_map(&pk, 2);
    raw_str("jid");
    raw_str("j1");
    raw_str("jid");
    raw_str("j2");
    raw_decode(DP_EPROTO, "duplicate");
    raw_begin();
    msgpack_pack_map(&pk, 3);
    raw_str("v");
    msgpack_pack_int(&pk, 1);
    raw_str("t");
    raw_str("queue");
    raw_str("t");
    raw_str("ack");
    raw_decode(DP_EPROTO, "duplicate");
}

static void test_unknown_type_and_version(void **state)
{
    (void)state;
    raw_envelope(1, "teleport");
    msgpack_pack_map(&pk, 0);
    dp_msg m = raw_decode(DP_EPROTO, "unknown message type \"teleport\"");
    assert_int_equal(m.id, 7); /* kept so the error reply can be addressed */

    /* Untrusted text never reaches an error message raw (one clean line). */
    raw_envelope(1, "bad\ntype\x1b[31m");
    msgpack_pack_map(&pk, 0);
    raw_decode(DP_EPROTO, "unknown message type \"bad?type?[31m\"");
    raw_envelope(1, "queue");
    msgpack_pack_map(&pk, 1);
    raw_str("k\r\n");
    pack_nested(DP_MSG_MAX_DEPTH); /* too deep: caught by the envelope pass */
    raw_decode(DP_EPROTO, "b: nested deeper");
    raw_envelope(1, "event");
    msgpack_pack_map(&pk, 2);
    raw_str("jid");
    raw_str("j");
    raw_str("vd");
    raw_str("A\x07");
    raw_decode(DP_EPROTO, "unknown verdict \"A?\"");

    raw_envelope(2, "heartbeat");
    heartbeat_body("ok");
    m = raw_decode(DP_EPROTO, "unsupported version 2");
    assert_int_equal(m.id, 7);
    raw_envelope(0, "heartbeat");
    heartbeat_body("ok");
    raw_decode(DP_EPROTO, "unsupported version 0");

    /* The reply the caller builds from that. */
    dp_err err;
    raw_envelope(9, "whatever");
    msgpack_pack_map(&pk, 0);
    assert_int_equal(dp_msg_decode(sb.data, sb.size, &m, &err), DP_EPROTO);
    msgpack_sbuffer_destroy(&sb);
    dp_msg reply;
    assert_int_equal(dp_msg_make_error_from(&reply, m.id, &err), DP_OK);
    assert_string_equal(reply.error.code, "protocol");
    assert_non_null(strstr(reply.error.message, "version 9"));
    assert_int_equal(reply.id, 7);
    dp_msg_free(&reply);

    /* Missing version, missing type, trailing bytes, empty input. */
    raw_begin();
    msgpack_pack_map(&pk, 1);
    raw_str("t");
    raw_str("queue");
    raw_decode(DP_EPROTO, "without version");
    raw_begin();
    msgpack_pack_map(&pk, 1);
    raw_str("v");
    msgpack_pack_int(&pk, 1);
    raw_decode(DP_EPROTO, "without type");
    raw_envelope(1, "queue");
    msgpack_pack_map(&pk, 0);
    msgpack_pack_nil(&pk);
    raw_decode(DP_EPROTO, "trailing");
    assert_int_equal(dp_msg_decode("", 0, &m, &err), DP_EPROTO);
    assert_int_equal(dp_msg_decode(NULL, 0, &m, &err), DP_EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truncated_at_every_offset),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_unknown_keys_ignored),
        cmocka_unit_test(test_unknown_type_and_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
