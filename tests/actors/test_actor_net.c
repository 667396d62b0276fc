/* Actor runtime over ipc:// and tcp://: the same actor on three transports,
 * an actor in another process (this binary re-executed with --serve), busy
 * addresses, unreachable peers, oversized messages. Needs no Redis/PG. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actors/actor.h"
#include "tests/support/stream_raw.h"
#include "echo.h"
#include "util.h"

static char tmpdir[64];
static pid_t child_pid = -1;

static int group_setup(void **unused)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dp-actor-test-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

static void kill_child(void)
{
    if (child_pid > 0) {
        kill(child_pid, SIGKILL);
        waitpid(child_pid, NULL, 0);
        child_pid = -1;
    }
}

static int group_teardown(void **unused)
{
    kill_child();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    nng_fini();
    return 0;
}

static void ping_many(const char *url, const char *label, int n)
{
    dp_err err;
    actor_client *c = actor_client_open(url, &err);
    if (c == NULL) {
        fail_msg("open %s: %s", url, err.msg);
    }
    double *lat = calloc((size_t)n, sizeof *lat);
    assert_non_null(lat);
    for (int i = 0; i < n; i++) {
        nng_msg *reply = NULL;
        uint64_t t = echo_now_ns();
        int rc = actor_client_call(c, echo_msg("ping-net"), &reply, 5000, &err);
        lat[i] = (double)(echo_now_ns() - t) / 1000.0;
        if (rc != 0) {
            fail_msg("%s call %d: %s", label, i, err.msg);
        }
        assert_true(echo_msg_is(reply, "ping-net"));
        nng_msg_free(reply);
    }
    printf("# actors: %s ping-pong median %.1f us (%d calls)\n", label, util_median(lat, (size_t)n),
           n);
    free(lat);
    actor_client_close(c);
}

static void test_same_actor_three_transports(void **unused)
{
    char ipc[128];
    snprintf(ipc, sizeof ipc, "ipc://%s/three.sock", tmpdir);
    const char *urls[] = {ipc, "tcp://127.0.0.1:0"};
    echo_state *st = calloc(1, sizeof *st);
    assert_non_null(st);
    actor_opts o = echo_opts("three", st, 0);
    o.listen_urls = urls;
    o.n_listen_urls = 2;
    dp_err err;
    actor *a = actor_spawn(&o, &err);
    if (a == NULL) {
        fail_msg("spawn: %s", err.msg);
    }
    assert_non_null(strstr(actor_url(a, 0), "inproc://"));
    assert_string_equal(actor_url(a, 1), ipc);
    const char *tcp = actor_url(a, 2);
    assert_non_null(tcp);
    assert_int_equal(strncmp(tcp, "tcp://127.0.0.1:", 16), 0);
    assert_true(atoi(tcp + 16) > 0); /* port 0 resolved */
    assert_null(actor_url(a, 3));

    enum { N = 1000 };
    ping_many(actor_url(a, 0), "inproc", N);
    ping_many(ipc, "ipc", N);
    ping_many(tcp, "tcp", N);
    assert_int_equal(atomic_load(&st->handled), 3 * N);

    /* Errors and one-way messages cross tcp unchanged. */
    nng_msg *reply = NULL;
    assert_int_equal(actor_call_url(tcp, echo_msg("fail"), &reply, 2000, &err), DP_ECONFLICT);
    assert_non_null(strstr(err.msg, "fail requested"));
    for (int i = 0; i < 50; i++) {
        char text[16];
        snprintf(text, sizeof text, "%d", i);
        assert_int_equal(actor_send_url(tcp, echo_msg(text), 2000, &err), 0);
    }
    assert_int_equal(actor_call_url(tcp, echo_msg("ping"), &reply, 2000, &err), 0);
    nng_msg_free(reply);
    assert_int_equal(atomic_load(&st->n_oneway), 50);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(st->oneway[i], i);
    }
    actor_destroy(a);
    free(st);
}

static void test_busy_and_unreachable(void **unused)
{
    char ipc[128];
    snprintf(ipc, sizeof ipc, "ipc://%s/busy.sock", tmpdir);
    const char *urls[] = {ipc, "tcp://127.0.0.1:0"};
    echo_state *st = calloc(1, sizeof *st);
    assert_non_null(st);
    actor_opts o = echo_opts("first", st, 0);
    o.listen_urls = urls;
    o.n_listen_urls = 2;
    dp_err err;
    actor *a = actor_spawn(&o, &err);
    assert_non_null(a);

    const char *again[] = {actor_url(a, 2)};
    actor_opts o2 = echo_opts("second", st, 0);
    o2.listen_urls = again;
    o2.n_listen_urls = 1;
    assert_null(actor_spawn(&o2, &err));
    assert_int_equal(err.code, DP_EIO);
    assert_non_null(strstr(err.msg, actor_url(a, 2)));
    again[0] = ipc;
    assert_null(actor_spawn(&o2, &err));
    assert_non_null(strstr(err.msg, ipc));
    actor_destroy(a);

    /* Gone: nobody listens. */
    nng_msg *reply = NULL;
    assert_int_equal(actor_call_url(ipc, echo_msg("ping"), &reply, 500, &err), DP_EUNAVAIL);
    assert_null(actor_client_open("tcp://127.0.0.1:1", &err));
    assert_int_equal(err.code, DP_EUNAVAIL);
    assert_null(actor_client_open("nonsense", &err));
    assert_int_equal(err.code, DP_EINVAL);
    free(st);
}

static void test_oversized_request(void **unused)
{
    const char *urls[] = {"tcp://127.0.0.1:0"};
    echo_state *st = calloc(1, sizeof *st);
    assert_non_null(st);
    actor_opts o = echo_opts("small", st, 0);
    o.listen_urls = urls;
    o.n_listen_urls = 1;
    o.max_msg_bytes = 4096;
    dp_err err;
    actor *a = actor_spawn(&o, &err);
    assert_non_null(a);
    const char *tcp = actor_url(a, 1);

    /* On a hand-made connection (tests/support/stream_raw.h): cut once
     * the length is read, never handled. */
    char why[256];
    if (stream_raw_length_cut(tcp, 64 * 1024, 10000, why, sizeof why) != 0)
        fail_msg("%s", why);
    assert_int_equal(atomic_load(&st->handled), 0);
    nng_msg *reply = NULL;
    /* The actor still serves normal requests. */
    assert_int_equal(actor_call_url(tcp, echo_msg("ping"), &reply, 2000, &err), 0);
    nng_msg_free(reply);
    actor_destroy(a);
    free(st);
}

/* Async calls over ipc keep their aio and context for the next call:
 * sequential and concurrent calls each get their own answer, one that
 * timed out does not hand a later call a stale answer, and closing with
 * calls in flight ends each once with DP_ECLOSED. */
typedef struct {
    atomic_int done, closed, timedout;
    char text[64][32];
    int code[64];
} async_log;

typedef struct {
    async_log *log;
    int slot;
} async_ref;

static void async_cb(void *arg, int code, nng_msg *reply, const char *errmsg)
{
    async_ref *r = arg;
    (void)errmsg;
    r->log->code[r->slot] = code;
    if (code == 0) {
        size_t n = nng_msg_len(reply) < 31 ? nng_msg_len(reply) : 31;
        memcpy(r->log->text[r->slot], nng_msg_body(reply), n);
        r->log->text[r->slot][n] = '\0';
    }
    if (code == DP_ECLOSED)
        atomic_fetch_add(&r->log->closed, 1);
    if (code == DP_ETIMEOUT)
        atomic_fetch_add(&r->log->timedout, 1);
    nng_msg_free(reply);
    atomic_fetch_add(&r->log->done, 1);
}

static void wait_done(async_log *log, int n)
{
    uint64_t deadline = echo_now_ms() + 10000;
    while (atomic_load(&log->done) < n && echo_now_ms() < deadline)
        usleep(1000);
    assert_int_equal(atomic_load(&log->done), n);
}

static void test_async_reuse_over_ipc(void **unused)
{
    char ipc[128];
    snprintf(ipc, sizeof ipc, "ipc://%s/async.sock", tmpdir);
    const char *urls[] = {ipc};
    echo_state *st = calloc(1, sizeof *st);
    assert_non_null(st);
    actor_opts o = echo_opts("async", st, 64);
    o.listen_urls = urls;
    o.n_listen_urls = 1;
    dp_err err;
    actor *a = actor_spawn(&o, &err);
    assert_non_null(a);
    actor_client *c = actor_client_open(ipc, &err);
    assert_non_null(c);
    static async_log log;
    static async_ref refs[64];
    memset(&log, 0, sizeof log);
    for (int i = 0; i < 64; i++)
        refs[i] = (async_ref){&log, i};
    char text[32];
    for (int i = 0; i < 20; i++) { /* one at a time: each reuses the last one's context */
        snprintf(text, sizeof text, "ping-%d", i);
        assert_int_equal(actor_client_call_async(c, echo_msg(text), 5000, async_cb, &refs[i], &err),
                         0);
        wait_done(&log, i + 1);
        assert_string_equal(log.text[i], text);
    }
    /* a held call times out; the calls after it get their own answers */
    assert_int_equal(actor_client_call_async(c, echo_msg("hold"), 200, async_cb, &refs[20], &err),
                     0);
    wait_done(&log, 21);
    assert_int_equal(log.code[20], DP_ETIMEOUT);
    for (int i = 21; i < 41; i++) { /* all at once */
        snprintf(text, sizeof text, "ping-%d", i);
        assert_int_equal(actor_client_call_async(c, echo_msg(text), 5000, async_cb, &refs[i], &err),
                         0);
    }
    wait_done(&log, 41);
    for (int i = 21; i < 41; i++) {
        snprintf(text, sizeof text, "ping-%d", i);
        assert_int_equal(log.code[i], 0);
        assert_string_equal(log.text[i], text);
    }
    nng_msg *reply = NULL; /* the held one is answered now: dropped, no callback */
    assert_int_equal(actor_call(a, echo_msg("release"), &reply, 5000, &err), 0);
    nng_msg_free(reply);
    for (int i = 41; i < 45; i++)
        assert_int_equal(
            actor_client_call_async(c, echo_msg("hold"), 10000, async_cb, &refs[i], &err), 0);
    uint64_t deadline = echo_now_ms() + 5000;
    while (atomic_load(&st->n_held_pub) < 4 && echo_now_ms() < deadline)
        usleep(1000);
    actor_client_close(c);
    assert_int_equal(atomic_load(&log.done), 45);
    assert_int_equal(atomic_load(&log.closed), 4);
    assert_int_equal(atomic_load(&log.timedout), 1);
    actor_destroy(a);
    free(st);
}

/* Child mode: serve an echo actor on url until told "stop". */
static int serve(const char *url)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    echo_state *st = calloc(1, sizeof *st);
    if (st == NULL) {
        return 2;
    }
    const char *urls[] = {url};
    actor_opts o = echo_opts("child", st, 0);
    o.listen_urls = urls;
    o.n_listen_urls = 1;
    dp_err err;
    actor *a = actor_spawn(&o, &err);
    if (a == NULL) {
        fprintf(stderr, "child: %s\n", err.msg);
        free(st);
        return 3;
    }
    int rc = actor_wait(a, -1, &err);
    actor_destroy(a);
    free(st);
    nng_fini();
    return rc == 0 ? 0 : 4;
}

static void test_forked_child_ipc(void **unused)
{
    char url[128];
    snprintf(url, sizeof url, "ipc://%s/child.sock", tmpdir);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = '\0';
    child_pid = fork();
    assert_true(child_pid >= 0);
    if (child_pid == 0) {
        execl(self, self, "--serve", url, (char *)NULL);
        _exit(127);
    }
    /* Wait for the child's listener. */
    dp_err err;
    actor_client *c = NULL;
    uint64_t deadline = echo_now_ms() + 10000;
    while (c == NULL && echo_now_ms() < deadline) {
        c = actor_client_open(url, &err);
        if (c == NULL) {
            usleep(10000);
        }
    }
    if (c == NULL) {
        kill_child();
        fail_msg("child never listened on %s: %s", url, err.msg);
    }
    nng_msg *reply = NULL;
    assert_int_equal(actor_client_call(c, echo_msg("ping-child"), &reply, 5000, &err), 0);
    assert_true(echo_msg_is(reply, "ping-child"));
    nng_msg_free(reply);
    assert_int_equal(actor_client_call(c, echo_msg("fail"), &reply, 5000, &err), DP_ECONFLICT);
    /* Deferred replies across processes. */
    actor_future *f = actor_client_call_start(c, echo_msg("hold"), 5000, &err);
    assert_non_null(f);
    uint64_t t = echo_now_ms() + 5000;
    int released = 0;
    while (!released && echo_now_ms() < t) {
        assert_int_equal(actor_client_call(c, echo_msg("release"), &reply, 5000, &err), 0);
        released = echo_msg_is(reply, "ok:1");
        nng_msg_free(reply);
        if (!released) {
            usleep(1000);
        }
    }
    assert_true(released);
    assert_int_equal(actor_future_wait(f, &reply, &err), 0);
    assert_true(echo_msg_is(reply, "released:0"));
    nng_msg_free(reply);
    ping_many(url, "ipc (other process)", 500);

    /* Stop it and see it exit cleanly (its own leak check included). */
    assert_int_equal(actor_client_call(c, echo_msg("stop"), &reply, 5000, &err), 0);
    nng_msg_free(reply);
    actor_client_close(c);
    int status = 0;
    pid_t got = 0;
    deadline = echo_now_ms() + 10000;
    while ((got = waitpid(child_pid, &status, WNOHANG)) == 0 && echo_now_ms() < deadline) {
        usleep(10000);
    }
    if (got != child_pid) {
        kill_child();
        fail_msg("child did not exit after stop");
    }
    child_pid = -1;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--serve") == 0) {
        return serve(argv[2]);
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_actor_three_transports),
        cmocka_unit_test(test_busy_and_unreachable),
        cmocka_unit_test(test_oversized_request),
        cmocka_unit_test(test_async_reuse_over_ipc),
        cmocka_unit_test(test_forked_child_ipc),
    };
    return cmocka_run_group_tests_name("actors-net", tests, group_setup, group_teardown);
}
