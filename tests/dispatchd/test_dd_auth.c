/* The admin API's credentials (security review, finding 1) and the
 * pre-authentication bounds (finding 7), against a real dispatchd:
 * - over tcp, no key / a malformed / unknown / revoked key is `unauthorized`,
 *   a key without the scope is `forbidden`, an admin key works;
 * - a submit-scope key sees its own jobs only (others are not_found);
 * - keys are made over the ipc socket, which needs none (the bootstrap);
 * - 100 connections sending oversized frames leave dispatchd serving and
 *   within its memory bound. */
#include "tests/dispatchd/dd_harness.h"

#include "common/apikey.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

static dd_daemon dd;
static char tcp_admin[64];
static char list_env[320];

static int setup(void **state)
{
    (void)state;
    dd_init(&dd, NULL, NULL);
    snprintf(tcp_admin, sizeof tcp_admin, "tcp://127.0.0.1:%d", dd_free_port());
    snprintf(list_env, sizeof list_env, "DISPATCH_ADMIN_LISTEN=%s,%s", dd.admin_url, tcp_admin);
    dd_env(&dd, list_env);
    dd_start(&dd); /* returns once the ipc socket answers */
    /* The tcp gateway starts right after the ipc one: wait for it to listen
     * (milliseconds; 15 s is slack for a sanitized build on a loaded machine). */
    int64_t t0 = dd_now_us();
    for (;;) {
        dp_err err = {0};
        actor_client *c = actor_client_open(tcp_admin, &err);
        if (c != NULL) {
            actor_client_close(c);
            break;
        }
        if (dd_now_us() - t0 > 15000000)
            fail_msg("the tcp admin socket %s never listened: %s", tcp_admin, err.msg);
        dd_sleep_ms(50);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(dd_stop(&dd), 0);
    dd_fini(&dd);
    return 0;
}

/* One admin request with an optional key; returns the reply (free it). */
static void ask(const char *url, dp_msg *req, const char *key, dp_msg *rep)
{
    actor_client *c = dd_client(url);
    req->auth = (char *)key;
    assert_int_equal(dd_rpc(c, req, rep, 10000), DP_OK);
    req->auth = NULL;
    actor_client_close(c);
}

static void expect_error(dp_msg *rep, const char *code)
{
    if (rep->type != DP_MSG_ERROR || strcmp(rep->error.code, code) != 0)
        fail_msg("expected error '%s', got %s %s", code, dp_msg_type_name(rep->type),
                 rep->type == DP_MSG_ERROR ? rep->error.code : "");
    dp_msg_free(rep);
}

static void make_key(const char *name, unsigned scopes, char *key)
{
    dp_msg req = {.type = DP_MSG_KEY_CREATE}, rep;
    req.key_create.name = (char *)name;
    req.key_create.scopes = scopes;
    ask(dd.admin_url, &req, NULL, &rep); /* ipc: the local operator needs no key */
    assert_int_equal(rep.type, DP_MSG_KEY);
    assert_non_null(rep.key.key);
    assert_int_equal(strlen(rep.key.key), DP_APIKEY_LEN);
    strcpy(key, rep.key.key);
    dp_msg_free(&rep);
}

static void submit_one(const char *key, char *job_id)
{
    dp_job_spec spec = {.profile = "c", .archive = "https://example.com/a.zip"};
    dp_msg req = {.type = DP_MSG_SUBMIT}, rep;
    req.submit.specs = &spec;
    req.submit.n_specs = 1;
    ask(tcp_admin, &req, key, &rep);
    assert_int_equal(rep.type, DP_MSG_SUBMITTED);
    assert_null(rep.submitted.items[0].error);
    strcpy(job_id, rep.submitted.items[0].job_id);
    dp_msg_free(&rep);
}

static void test_tcp_needs_a_live_key_with_the_scope(void **state)
{
    (void)state;
    dp_msg q = {.type = DP_MSG_QUEUE}, rep;
    ask(tcp_admin, &q, NULL, &rep);
    expect_error(&rep, "unauthorized");
    ask(tcp_admin, &q, "not-a-key", &rep);
    expect_error(&rep, "unauthorized");
    char unknown[DP_APIKEY_LEN + 1], id[DP_APIKEY_ID_LEN + 1], hash[DP_APIKEY_HASH_LEN + 1];
    assert_int_equal(dp_apikey_new(unknown, id, hash, NULL), DP_OK);
    ask(tcp_admin, &q, unknown, &rep);
    expect_error(&rep, "unauthorized");

    char admin[DP_APIKEY_LEN + 1], submitter[DP_APIKEY_LEN + 1];
    make_key("ops", DP_SCOPE_ADMIN, admin);
    make_key("grader", DP_SCOPE_SUBMIT, submitter);
    /* A right id with a wrong secret: refused before and after the right
     * key is cached (the keyring's hit and miss paths). */
    char forged[DP_APIKEY_LEN + 1];
    strcpy(forged, admin);
    forged[DP_APIKEY_LEN - 1] = forged[DP_APIKEY_LEN - 1] == '0' ? '1' : '0';
    ask(tcp_admin, &q, forged, &rep);
    expect_error(&rep, "unauthorized");
    ask(tcp_admin, &q, admin, &rep);
    assert_int_equal(rep.type, DP_MSG_QUEUE_STATS);
    dp_msg_free(&rep);
    ask(tcp_admin, &q, forged, &rep);
    expect_error(&rep, "unauthorized");
    ask(tcp_admin, &q, submitter, &rep);
    expect_error(&rep, "forbidden");

    /* A submit key sees its own jobs, and no one else's. */
    char mine[DP_ID_MAX], theirs[DP_ID_MAX];
    submit_one(submitter, mine);
    submit_one(admin, theirs);
    dp_msg st = {.type = DP_MSG_STATUS};
    st.status.job_id = mine;
    ask(tcp_admin, &st, submitter, &rep);
    assert_int_equal(rep.type, DP_MSG_JOB);
    dp_msg_free(&rep);
    st.status.job_id = theirs;
    ask(tcp_admin, &st, submitter, &rep);
    assert_int_equal(rep.type, DP_MSG_NOT_FOUND);
    dp_msg_free(&rep);
    ask(tcp_admin, &st, admin, &rep);
    assert_int_equal(rep.type, DP_MSG_JOB);
    dp_msg_free(&rep);
    assert_int_equal(dd_sql_long(&dd, "SELECT count(*) FROM jobs WHERE owner_key IS NOT NULL"), 2);
    /* What is stored is the SHA-256 of the secret, not the secret. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM api_keys WHERE secret_sha256 = "
             "encode(sha256(convert_to('%s', 'UTF8')), 'hex') AND secret_sha256 <> '%s'",
             admin + 4 + DP_APIKEY_ID_LEN + 1, admin + 4 + DP_APIKEY_ID_LEN + 1);
    assert_int_equal(dd_sql_long(&dd, sql), 1);

    /* Cancelling is the owner's or an admin's: read scope is not enough. */
    char both[DP_APIKEY_LEN + 1];
    make_key("grader-and-reader", DP_SCOPE_SUBMIT | DP_SCOPE_READ, both);
    dp_msg cx = {.type = DP_MSG_CANCEL};
    cx.cancel.job_id = theirs;
    ask(tcp_admin, &cx, both, &rep);
    assert_int_equal(rep.type, DP_MSG_NOT_FOUND);
    dp_msg_free(&rep);
    cx.cancel.job_id = mine;
    ask(tcp_admin, &cx, submitter, &rep); /* the owner may */
    assert_int_equal(rep.type, DP_MSG_ACK);
    dp_msg_free(&rep);
    /* A name shaped like a key id is refused (revoke takes either). */
    dp_msg kc = {.type = DP_MSG_KEY_CREATE};
    kc.key_create.name = "0123456789abcdef";
    kc.key_create.scopes = DP_SCOPE_READ;
    ask(dd.admin_url, &kc, NULL, &rep);
    expect_error(&rep, "invalid");

    /* Revoked: refused within the keyring's cache lifetime (5 s; 10 s of
     * slack for a loaded machine). */
    dp_msg rv = {.type = DP_MSG_KEY_REVOKE};
    rv.key_revoke.key = "grader";
    ask(tcp_admin, &rv, admin, &rep);
    assert_int_equal(rep.type, DP_MSG_ACK);
    dp_msg_free(&rep);
    st.status.job_id = mine;
    int64_t t0 = dd_now_us();
    for (;;) {
        ask(tcp_admin, &st, submitter, &rep);
        if (rep.type == DP_MSG_ERROR && strcmp(rep.error.code, "unauthorized") == 0)
            break;
        dp_msg_free(&rep);
        if (dd_now_us() - t0 > 15000000)
            fail_msg("a revoked key still works after 15 s");
        dd_sleep_ms(250);
    }
    dp_msg_free(&rep);
}

/* SP over TCP: an 8-byte header (\0 S P \0, the peer's protocol, 0 0),
 * then 8-byte big-endian lengths. A frame that claims 1 GiB must be cut at
 * its header, never buffered. */
static int oversized_frame(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        fail_msg("connect 127.0.0.1:%d failed", port);
    const unsigned char hello[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0}; /* req0 */
    unsigned char len[8] = {0, 0, 0, 0, 0x40, 0, 0, 0};             /* 1 GiB */
    static unsigned char junk[65536];
    memset(junk, 0x55, sizeof junk);
    ssize_t w1 = send(fd, hello, sizeof hello, MSG_NOSIGNAL);
    ssize_t w2 = send(fd, len, sizeof len, MSG_NOSIGNAL);
    ssize_t w3 = send(fd, junk, sizeof junk, MSG_NOSIGNAL); /* may fail: cut already */
    (void)w1;
    (void)w2;
    (void)w3;
    return fd;
}

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kb;
}

static void test_oversized_frames_before_auth(void **state)
{
    (void)state;
    int port = atoi(strrchr(dd.runner_url, ':') + 1);
    int admin_port = atoi(strrchr(tcp_admin, ':') + 1);
    long before = rss_kb(dd.pid);
    int fds[100];
    for (int i = 0; i < 100; i++)
        fds[i] = oversized_frame(i % 2 ? port : admin_port);
    dd_sleep_ms(500);
    long after = rss_kb(dd.pid);
    /* Each connection is cut at the header: the server closes it (recv sees
     * the end, or a reset), it never waits for the GiB. 10 s of slack. */
    for (int i = 0; i < 100; i++) {
        struct timeval tv = {10, 0};
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char b[64];
        ssize_t r;
        while ((r = recv(fds[i], b, sizeof b, 0)) > 0) {
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            fail_msg("connection %d still open 10 s after an oversized frame", i);
        close(fds[i]);
    }
    /* 100 x 1 GiB claimed: none of it may be held. 64 MiB of slack covers
     * the sanitizers' own allocations under load. */
    if (after - before > 64 * 1024)
        fail_msg("dispatchd grew from %ld to %ld kB under 100 oversized frames", before, after);
    dp_msg q = {.type = DP_MSG_QUEUE}, rep;
    ask(dd.admin_url, &q, NULL, &rep);
    assert_int_equal(rep.type, DP_MSG_QUEUE_STATS);
    dp_msg_free(&rep);
}

/* A one-way frame from the network must not be taken for dispatchd's own
 * "close" (it once shut a gateway for good): refused, and both gateways
 * keep serving. */
static void test_one_way_frames_refused(void **state)
{
    (void)state;
    const char *urls[] = {tcp_admin, dd.runner_url};
    for (size_t i = 0; i < 2; i++) {
        actor_client *c = dd_client(urls[i]);
        nng_msg *m = NULL;
        assert_int_equal(nng_msg_alloc(&m, 0), 0);
        dp_err err = {0};
        assert_int_equal(actor_client_send(c, m, 5000, &err), DP_EPROTO);
        actor_client_close(c);
    }
    char admin[DP_APIKEY_LEN + 1];
    make_key("ops-2", DP_SCOPE_ADMIN, admin);
    dp_msg q = {.type = DP_MSG_QUEUE}, rep;
    ask(tcp_admin, &q, admin, &rep);
    assert_int_equal(rep.type, DP_MSG_QUEUE_STATS);
    dp_msg_free(&rep);
    dp_msg hb = {.type = DP_MSG_HEARTBEAT};
    hb.heartbeat.runner_id = "r-nobody";
    hb.heartbeat.runner_token = "t";
    ask(dd.runner_url, &hb, NULL, &rep);
    assert_true(rep.type != DP_MSG_ERROR || strcmp(rep.error.code, "unavailable") != 0);
    dp_msg_free(&rep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_needs_a_live_key_with_the_scope),
        cmocka_unit_test(test_oversized_frames_before_auth),
        cmocka_unit_test(test_one_way_frames_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
