/* Hostile input on both of dispatchd's sockets: random bytes, mutated valid
 * messages, oversized fields and whole messages, unframed bytes on a raw
 * socket, and commands sent to the wrong socket. Each gets an error reply
 * (or, for a message above the transport bound, a dropped connection) and
 * the daemon keeps serving. Also: a missing or malformed DISPATCH_* variable
 * stops dispatchd with one line naming it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/dispatchd/dd_harness.h"
#include "tests/support/stream_raw.h"

#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static dd_daemon dd;

static int setup(void **state)
{
    (void)state;
    dd_init(&dd, NULL, NULL);
    dd_start(&dd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int code = dd_stop(&dd);
    dd_fini(&dd);
    if (code != 0)
        fail_msg("dispatchd exited with %d on SIGTERM", code);
    return 0;
}

/* Sends raw bytes as an actor request; returns the decoded reply type. */
static dp_msg_type send_bytes(actor_client *c, const void *buf, size_t len, char *code,
                              size_t code_len)
{
    nng_msg *m = NULL, *rep = NULL;
    dp_err err = {0};
    assert_int_equal(nng_msg_alloc(&m, 0), 0);
    assert_int_equal(nng_msg_append(m, buf, len), 0);
    int rc = actor_client_call(c, m, &rep, 5000, &err);
    if (rc != DP_OK)
        fail_msg("no reply to %zu hostile bytes: %s", len, err.msg);
    dp_msg r;
    if (dp_msg_decode_nng(rep, &r, &err) != DP_OK)
        fail_msg("undecodable reply: %s", err.msg);
    nng_msg_free(rep);
    dp_msg_type t = r.type;
    if (code != NULL)
        snprintf(code, code_len, "%s", t == DP_MSG_ERROR ? r.error.code : "");
    dp_msg_free(&r);
    return t;
}

/* The daemon still answers a proper request on both sockets. */
static void assert_serving(void)
{
    actor_client *r = dd_client(dd.runner_url);
    char id[DP_ID_MAX], tok[65];
    dd_register(r, "still-alive", id, tok);
    actor_client_close(r);
    actor_client *a = dd_client(dd.admin_url);
    dp_msg q = {.type = DP_MSG_QUEUE, .id = 2}, rep;
    assert_int_equal(dd_rpc(a, &q, &rep, 5000), DP_OK);
    assert_int_equal(rep.type, DP_MSG_QUEUE_STATS);
    dp_msg_free(&rep);
    actor_client_close(a);
}

static void random_on(const char *url, unsigned seed)
{
    actor_client *c = dd_client(url);
    srand(seed);
    unsigned char buf[600];
    /* A valid register to mutate. */
    dp_msg reg = {.type = DP_MSG_REGISTER, .id = 1};
    reg.reg.registration_token = DD_REG_TOKEN;
    reg.reg.name = "mutant";
    reg.reg.capacity = 2;
    void *valid = NULL;
    size_t valid_len = 0;
    assert_int_equal(dp_msg_encode_buf(&reg, &valid, &valid_len, NULL), DP_OK);
    int errors = 0;
    for (int i = 0; i < 300; i++) {
        size_t len;
        if (i % 2 == 0) {
            len = (size_t)rand() % sizeof buf;
            for (size_t k = 0; k < len; k++)
                buf[k] = (unsigned char)rand();
        } else {
            len = valid_len;
            memcpy(buf, valid, len);
            for (int k = 0; k < 1 + rand() % 4; k++)
                buf[(size_t)rand() % len] = (unsigned char)rand();
        }
        char code[64];
        dp_msg_type t = send_bytes(c, buf, len, code, sizeof code);
        if (i % 2 == 0) { /* random bytes never make a valid request */
            if (t != DP_MSG_ERROR)
                fail_msg("random message %d answered %s", i, dp_msg_type_name(t));
            if (strcmp(code, "protocol") != 0 && strcmp(code, "invalid") != 0 &&
                strcmp(code, "unsupported") != 0)
                fail_msg("random message %d: error code '%s'", i, code);
        }
        errors += t == DP_MSG_ERROR;
    }
    assert_true(errors >= 150);
    free(valid);
    actor_client_close(c);
    assert_serving();
}

static void test_random_runner_socket(void **state)
{
    (void)state;
    random_on(dd.runner_url, 1234);
}

static void test_random_admin_socket(void **state)
{
    (void)state;
    random_on(dd.admin_url, 4321);
}

static void test_malformed_envelopes(void **state)
{
    (void)state;
    actor_client *c = dd_client(dd.runner_url);
    char code[64];
    /* {"v":1,"t":"nosuch","id":5,"b":{}} */
    const unsigned char unknown_type[] = {0x84, 0xa1, 'v', 0x01, 0xa1, 't', 0xa6, 'n',  'o', 's',
                                          'u',  'c',  'h', 0xa1, 'i',  'd', 0x05, 0xa1, 'b', 0x80};
    assert_int_equal(send_bytes(c, unknown_type, sizeof unknown_type, code, sizeof code),
                     DP_MSG_ERROR);
    assert_string_equal(code, "protocol");
    /* A good envelope around a bad body: the gateway reads only the
     * envelope, and the actor it routes to refuses the body with the same
     * codes: fields missing "invalid", a field of the wrong type "protocol".
     * {"v":1,"t":"register","id":7,"b":{"name":"x"}} (no token) */
    const unsigned char no_token[] = {0x84, 0xa1, 'v',  0x01, 0xa1, 't',  0xa8, 'r',  'e',  'g',
                                      'i',  's',  't',  'e',  'r',  0xa2, 'i',  'd',  0x07, 0xa1,
                                      'b',  0x81, 0xa4, 'n',  'a',  'm',  'e',  0xa1, 'x'};
    assert_int_equal(send_bytes(c, no_token, sizeof no_token, code, sizeof code), DP_MSG_ERROR);
    assert_string_equal(code, "invalid");
    unsigned char name_int[sizeof no_token - 1]; /* "name": 5 */
    memcpy(name_int, no_token, sizeof name_int);
    name_int[sizeof name_int - 1] = 0x05;
    assert_int_equal(send_bytes(c, name_int, sizeof name_int, code, sizeof code), DP_MSG_ERROR);
    assert_string_equal(code, "protocol");
    /* Version from the future. */
    unsigned char newer[sizeof unknown_type];
    memcpy(newer, unknown_type, sizeof newer);
    newer[3] = 0x09;
    assert_int_equal(send_bytes(c, newer, sizeof newer, code, sizeof code), DP_MSG_ERROR);
    /* Not a map at all; an empty message; deep nesting. */
    assert_int_equal(send_bytes(c, "\x93\x01\x02\x03", 4, code, sizeof code), DP_MSG_ERROR);
    assert_int_equal(send_bytes(c, "", 0, code, sizeof code), DP_MSG_ERROR);
    unsigned char deep[64];
    memset(deep, 0x91, sizeof deep); /* arrays inside arrays */
    assert_int_equal(send_bytes(c, deep, sizeof deep, code, sizeof code), DP_MSG_ERROR);
    /* Well formed, wrong registration token: unauthorized. */
    dp_msg reg = {.type = DP_MSG_REGISTER, .id = 1};
    reg.reg.name = "x";
    void *buf = NULL;
    size_t len = 0;
    dp_err err = {0};
    reg.reg.registration_token = "short";
    reg.reg.capacity = 1;
    assert_int_equal(dp_msg_encode_buf(&reg, &buf, &len, &err), DP_OK);
    assert_int_equal(send_bytes(c, buf, len, code, sizeof code), DP_MSG_ERROR);
    assert_string_equal(code, DP_MSG_ERR_UNAUTHORIZED);
    free(buf);
    actor_client_close(c);
    assert_serving();
}

static void test_oversized(void **state)
{
    (void)state;
    actor_client *c = dd_client(dd.runner_url);
    /* A 2 MiB name: above DP_MSG_MAX_NAME and DP_MSG_MAX_STR. fixstr header
     * by hand: {"v":1,"t":"register","id":3,"b":{"name": <str32>}} */
    size_t big = 2u << 20;
    unsigned char *m = malloc(big + 64);
    size_t n = 0;
    const unsigned char head[] = {0x84, 0xa1, 'v',  0x01, 0xa1, 't',  0xa8, 'r', 'e',  'g',
                                  'i',  's',  't',  'e',  'r',  0xa1, 'i',  'd', 0x03, 0xa1,
                                  'b',  0x81, 0xa4, 'n',  'a',  'm',  'e',  0xdb};
    memcpy(m, head, sizeof head);
    n = sizeof head;
    m[n++] = (unsigned char)(big >> 24);
    m[n++] = (unsigned char)(big >> 16);
    m[n++] = (unsigned char)(big >> 8);
    m[n++] = (unsigned char)big;
    memset(m + n, 'A', big);
    n += big;
    char code[64];
    assert_int_equal(send_bytes(c, m, n, code, sizeof code), DP_MSG_ERROR);
    assert_true(strcmp(code, "protocol") == 0 || strcmp(code, "invalid") == 0);
    free(m);
    /* A string header claiming 4 GiB in a short message. */
    unsigned char lie[sizeof head + 8];
    memcpy(lie, head, sizeof head);
    memset(lie + sizeof head, 0xff, 8);
    assert_int_equal(send_bytes(c, lie, sizeof lie, code, sizeof code), DP_MSG_ERROR);
    actor_client_close(c);

    /* Above the transport bound (DP_MSG_MAX_SIZE, above every socket's): the
     * connection is cut, no reply, and the daemon is unharmed. On a
     * hand-made connection (tests/support/stream_raw.h). */
    char why[256];
    if (stream_raw_length_cut(dd.runner_url, (uint32_t)DP_MSG_MAX_SIZE + 1024, 10000, why,
                              sizeof why) != 0) /* a cut comes at once; 10 s for a loaded machine */
        fail_msg("%s", why);
    assert_serving();
}

/* Bytes that are not even an actor frame, on a hand-made connection: each
 * is answered with an error frame, never left hanging; a greeting that is
 * not ours is cut without an answer. */
static void test_unframed_raw_socket(void **state)
{
    (void)state;
    char why[256];
    /* 3 s receive timeouts: an answer comes at once; slack for a loaded machine. */
    int fd = stream_raw_connect(dd.runner_url, "DPACTOR1", 8, 1, 3000, why, sizeof why);
    if (fd < 0)
        fail_msg("%s", why);
    for (int i = 0; i < 20; i++) {
        unsigned char junk[32];
        for (size_t k = 0; k < sizeof junk; k++)
            junk[k] = (unsigned char)(i * 31 + k * 7 + 0x40);
        int status = stream_raw_call(fd, (uint32_t)i + 1, junk, sizeof junk, why, sizeof why);
        if (status <= 0) /* a runtime error frame: not a kind byte we know */
            fail_msg("junk frame %d: %s", i, status < 0 ? why : "answered as a success");
    }
    close(fd);
    fd = stream_raw_connect(dd.runner_url, "\0SP\0\0\x30\0\0", 8, 0, 3000, why, sizeof why);
    if (fd < 0)
        fail_msg("%s", why);
    if (stream_raw_expect_cut(fd, "an nng greeting", why, sizeof why) != 0)
        fail_msg("%s", why);
    close(fd);
    assert_serving();
}

static void wrong_socket(const char *url, dp_msg *m)
{
    actor_client *c = dd_client(url);
    dp_msg r;
    assert_int_equal(dd_rpc(c, m, &r, 5000), DP_OK);
    if (r.type != DP_MSG_ERROR)
        fail_msg("'%s' on %s answered %s", dp_msg_type_name(m->type), url,
                 dp_msg_type_name(r.type));
    assert_string_equal(r.error.code, "unsupported");
    assert_int_equal(r.id, m->id);
    dp_msg_free(&r);
    actor_client_close(c);
}

static void test_commands_on_wrong_socket(void **state)
{
    (void)state;
    dp_job_spec spec = {.profile = "c", .archive = "file:///tmp/x.zip"};
    dp_msg sub = {.type = DP_MSG_SUBMIT, .id = 21};
    sub.submit.specs = &spec;
    sub.submit.n_specs = 1;
    wrong_socket(dd.runner_url, &sub);
    dp_msg st = {.type = DP_MSG_STATUS, .id = 22};
    st.status.job_id = "j-1";
    wrong_socket(dd.runner_url, &st);
    dp_msg q = {.type = DP_MSG_QUEUE, .id = 23};
    wrong_socket(dd.runner_url, &q);
    dp_msg ls = {.type = DP_MSG_LIST_RUNNERS, .id = 24};
    wrong_socket(dd.runner_url, &ls);
    dp_msg cn = {.type = DP_MSG_CANCEL, .id = 25};
    cn.cancel.job_id = "j-1";
    wrong_socket(dd.runner_url, &cn);
    dp_msg rq = {.type = DP_MSG_REQUEUE, .id = 26};
    rq.requeue.dead = true;
    wrong_socket(dd.runner_url, &rq);
    dp_msg dr = {.type = DP_MSG_DRAIN, .id = 27};
    dr.drain.runner_id = "r-1";
    wrong_socket(dd.runner_url, &dr);
    /* And the runner's commands on the admin socket. */
    dp_msg reg = {.type = DP_MSG_REGISTER, .id = 28};
    reg.reg.registration_token = DD_REG_TOKEN;
    reg.reg.name = "x";
    reg.reg.capacity = 1;
    wrong_socket(dd.admin_url, &reg);
    dp_msg l = {.type = DP_MSG_LEASE, .id = 29};
    l.lease.runner_id = "r-1";
    l.lease.runner_token = "t";
    l.lease.max_jobs = 1;
    wrong_socket(dd.admin_url, &l);
    assert_serving();
}

/* ---- configuration ---- */

static void bad_config(const char *kv, const char *name)
{
    dd_daemon d;
    dd_init(&d, NULL, NULL);
    dd_env(&d, kv);
    char out[4096];
    int code = dd_run_expect_exit(&d, out, sizeof out);
    dd_fini(&d);
    if (code == 0)
        fail_msg("%s: dispatchd exited 0", kv);
    if (strstr(out, name) == NULL)
        fail_msg("%s: stderr does not name %s: %s", kv, name, out);
    /* One line. */
    char *nl = strchr(out, '\n');
    if (nl == NULL || nl[1] != '\0')
        fail_msg("%s: want exactly one line, got: %s", kv, out);
}

static void test_config_validation(void **state)
{
    (void)state;
    bad_config("DISPATCH_REDIS_URL", "DISPATCH_REDIS_URL");
    bad_config("DISPATCH_PG_DSN", "DISPATCH_PG_DSN");
    bad_config("DISPATCH_REGISTRATION_TOKEN", "DISPATCH_REGISTRATION_TOKEN");
    bad_config("DISPATCH_REDIS_URL=mysql://localhost", "DISPATCH_REDIS_URL");
    bad_config("DISPATCH_PG_DSN=not a url", "DISPATCH_PG_DSN");
    bad_config("DISPATCH_RUNNER_LISTEN=http://0.0.0.0:1", "DISPATCH_RUNNER_LISTEN");
    bad_config("DISPATCH_ADMIN_LISTEN=ipc://", "DISPATCH_ADMIN_LISTEN");
    bad_config("DISPATCH_HEARTBEAT_MS=abc", "DISPATCH_HEARTBEAT_MS");
    bad_config("DISPATCH_HEARTBEAT_MS=-5", "DISPATCH_HEARTBEAT_MS");
    bad_config("DISPATCH_ALIVE_TTL_MS=99999999999", "DISPATCH_ALIVE_TTL_MS");
    bad_config("DISPATCH_MAX_ATTEMPTS=0", "DISPATCH_MAX_ATTEMPTS");
    bad_config("DISPATCH_REGISTRATION_TOKEN=short", "DISPATCH_REGISTRATION_TOKEN");
    bad_config("DISPATCH_REDIS_PREFIX=notag:", "DISPATCH_REDIS_PREFIX");
    bad_config("DISPATCH_LOG_STORE=ftp://x/{job_id}", "DISPATCH_LOG_STORE");
    bad_config("DISPATCH_SWEEP_MS=1", "DISPATCH_SWEEP_MS");
    bad_config("DISPATCH_ADMIN_LISTEN=ipc:///a,tcp://127.0.0.1:1,tcp://127.0.0.1:2",
               "DISPATCH_ADMIN_LISTEN");
    bad_config("DISPATCH_ADMIN_LISTEN=ipc:///a,http://x:1", "DISPATCH_ADMIN_LISTEN");
    bad_config("DISPATCH_LOG_LEVEL=loud", "DISPATCH_LOG_LEVEL");
    /* A key without its secret would sign nothing: refused, not silently unsigned. */
    bad_config("DISPATCH_LOG_STORE_KEY=AKIAEXAMPLE", "DISPATCH_LOG_STORE_SECRET");
    bad_config("DISPATCH_LOG_STORE_SESSION_TOKEN=tok", "DISPATCH_LOG_STORE_KEY");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_runner_socket),
        cmocka_unit_test(test_random_admin_socket),
        cmocka_unit_test(test_malformed_envelopes),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_unframed_raw_socket),
        cmocka_unit_test(test_commands_on_wrong_socket),
        cmocka_unit_test(test_config_validation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
