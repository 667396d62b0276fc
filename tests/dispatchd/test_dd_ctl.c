/* dispatchctl (the built binary, $DISPATCHCTL) against a real dispatchd:
 * every command's --json output and exit codes (0, 64 usage, 65 bad input,
 * 69 unreachable), submit --spec - from stdin, a batch array in one round
 * trip, wait's exit codes (0 AC, 1 other verdict, 2 failed/cancelled, 3
 * timeout) and requeue --dead. A scripted runner drives the jobs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/dispatchd/dd_harness.h"

#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static dd_daemon dd;
static actor_client *runner_c;
static char r_id[DP_ID_MAX], r_tok[65];
static char out[1 << 16], err_out[1 << 14];

static int setup(void **state)
{
    (void)state;
    if (getenv("DISPATCHCTL") == NULL)
        fail_msg("DISPATCHCTL (path of the built dispatchctl) is not set");
    dd_init(&dd, NULL, NULL);
    /* The scripted runners heartbeat rarely or never, and nothing here is
     * about reaping: a 1 h alive TTL keeps them registered however slow a
     * loaded machine makes the test (the 15 s default was within reach). */
    dd_env(&dd, "DISPATCH_ALIVE_TTL_MS=3600000");
    dd_start(&dd);
    runner_c = dd_client(dd.runner_url);
    dd_register(runner_c, "ctl-runner", r_id, r_tok);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    actor_client_close(runner_c);
    int code = dd_stop(&dd);
    dd_fini(&dd);
    if (code != 0)
        fail_msg("dispatchd exited with %d on SIGTERM", code);
    return 0;
}

static void slurp(const char *path, char *buf, size_t len)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Runs dispatchctl with argv (NULL-terminated, without argv[0]) and stdin
 * text (may be NULL); stdout into out, stderr into err_out; returns the
 * exit code. DISPATCH_ADMIN_URL points at the test daemon. */
static int ctl(const char *stdin_text, const char *const *args)
{
    char in_p[128], out_p[128], err_p[128];
    snprintf(in_p, sizeof in_p, "%s/ctl.in", dd.dir);
    snprintf(out_p, sizeof out_p, "%s/ctl.out", dd.dir);
    snprintf(err_p, sizeof err_p, "%s/ctl.err", dd.dir);
    FILE *f = fopen(in_p, "w");
    assert_non_null(f);
    if (stdin_text != NULL)
        fputs(stdin_text, f);
    fclose(f);
    const char *argv[32];
    int n = 0;
    argv[n++] = getenv("DISPATCHCTL");
    for (int i = 0; args[i] != NULL && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int fi = open(in_p, O_RDONLY), fo = open(out_p, O_WRONLY | O_CREAT | O_TRUNC, 0644),
            fe = open(err_p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fi, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        setenv("DISPATCH_ADMIN_URL", dd.admin_url, 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    assert_true(pid > 0);
    int status = 0;
    int64_t deadline = dd_now_us() + 20000000;
    while (waitpid(pid, &status, WNOHANG) != pid) {
        if (dd_now_us() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("dispatchctl %s did not finish", args[0]);
        }
        dd_sleep_ms(5);
    }
    slurp(out_p, out, sizeof out);
    slurp(err_p, err_out, sizeof err_out);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define CTL(code, stdin_text, ...)                                                                 \
    do {                                                                                           \
        const char *const a_[] = {__VA_ARGS__, NULL};                                              \
        int c_ = ctl(stdin_text, a_);                                                              \
        if (c_ != (code))                                                                          \
            fail_msg("dispatchctl %s: exit %d, want %d; stdout: %.300s stderr: %.300s", a_[0], c_, \
                     code, out, err_out);                                                          \
    } while (0)

static json_t *out_json(void)
{
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    if (j == NULL)
        fail_msg("stdout is not one JSON value (%s): %.300s", e.text, out);
    return j;
}

static void one_line_stderr(void)
{
    char *nl = strchr(err_out, '\n');
    if (err_out[0] == '\0' || nl == NULL || nl[1] != '\0')
        fail_msg("want one line on stderr, got: %s", err_out);
}

/* Submits one job with --json and returns its id (copied to id). */
static void submit_one(char *id, const char *max_attempts)
{
    CTL(0, NULL, "submit", "--profile", "c", "--archive", "file:///tmp/sub.zip", "--max-attempts",
        max_attempts, "--json");
    json_t *j = out_json();
    const char *s = json_string_value(json_object_get(j, "job_id"));
    assert_non_null(s);
    snprintf(id, DP_ID_MAX, "%s", s);
    json_decref(j);
}

/* Leases exactly job_id (the queue must hold only it) and reports verdict v. */
static void run_job(const char *job_id, dp_verdict v, int retry)
{
    char ids[1][DP_ID_MAX];
    uint32_t att[1];
    size_t n = 0;
    assert_int_equal(dd_lease(runner_c, r_id, r_tok, 1, 2000, ids, att, &n), DP_MSG_LEASED);
    assert_string_equal(ids[0], job_id);
    dp_test_result t = {.name = "t1", .verdict = v};
    dp_msg m = {.type = DP_MSG_COMPLETE, .id = 3}, r;
    m.complete.runner_id = r_id;
    m.complete.runner_token = r_tok;
    m.complete.result = (dp_job_result){.job_id = (char *)job_id,
                                        .attempt = att[0],
                                        .verdict = v,
                                        .score = v == DP_VERDICT_AC ? 100 : 0,
                                        .message = v == DP_VERDICT_AC ? NULL : "test t1 failed",
                                        .tests = &t,
                                        .n_tests = 1};
    m.complete.retry = retry != 0;
    assert_int_equal(dd_rpc(runner_c, &m, &r, 5000), DP_OK);
    assert_int_equal(r.type, DP_MSG_ACK);
    dp_msg_free(&r);
}

static void test_usage_and_unreachable(void **state)
{
    (void)state;
    CTL(64, NULL, "frobnicate");
    one_line_stderr();
    CTL(64, NULL, "status");
    CTL(64, NULL, "status", "a", "b");
    CTL(64, NULL, "queue", "--bogus");
    CTL(64, NULL, "wait", "j-1", "--timeout", "soon");
    CTL(64, NULL, "requeue", "j-1", "--dead");
    CTL(64, NULL, "queue", "--url", "http://x");
    CTL(0, NULL, "queue", "--help");
    assert_non_null(strstr(out, "usage"));
    CTL(69, NULL, "queue", "--url", "ipc:///tmp/dd-nobody-listens-here.sock");
    one_line_stderr();
    CTL(69, NULL, "status", "j-1", "--json", "--url", "tcp://127.0.0.1:1");
}

static void test_submit_status_queue_runners(void **state)
{
    (void)state;
    char id[DP_ID_MAX];
    submit_one(id, "2");
    CTL(0, NULL, "status", id, "--json");
    json_t *j = out_json();
    assert_string_equal(json_string_value(json_object_get(j, "job_id")), id);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "queued");
    assert_string_equal(json_string_value(json_object_get(j, "profile")), "c");
    assert_true(json_is_null(json_object_get(j, "verdict")));
    json_decref(j);
    CTL(0, NULL, "status", id); /* human form */
    assert_non_null(strstr(out, "queued"));

    CTL(0, NULL, "queue", "--json");
    j = out_json();
    assert_int_equal(json_integer_value(json_object_get(j, "pending")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "runners_alive")), 1);
    assert_non_null(json_object_get(j, "leased"));
    assert_non_null(json_object_get(j, "dead"));
    assert_non_null(json_object_get(j, "completed"));
    json_decref(j);

    CTL(0, NULL, "runners", "--json");
    j = out_json();
    assert_true(json_is_array(j));
    assert_int_equal(json_array_size(j), 1);
    json_t *r0 = json_array_get(j, 0);
    assert_string_equal(json_string_value(json_object_get(r0, "runner_id")), r_id);
    assert_string_equal(json_string_value(json_object_get(r0, "name")), "ctl-runner");
    json_decref(j);

    run_job(id, DP_VERDICT_AC, 0);
    CTL(0, NULL, "wait", id, "--json", "--timeout", "5");
    j = out_json();
    assert_string_equal(json_string_value(json_object_get(j, "state")), "completed");
    assert_string_equal(json_string_value(json_object_get(j, "verdict")), "AC");
    json_decref(j);

    /* Bad input: 65, one line on stderr. */
    CTL(65, NULL, "status", "j-00000000000000000000000000000000");
    one_line_stderr();
    CTL(65, "{not json", "submit", "--spec", "-");
    one_line_stderr();
    CTL(65, "{\"archive\": \"file:///tmp/a.zip\"}", "submit", "--spec", "-");
    CTL(65, NULL, "submit", "--profile", "c", "--archive", "/nonexistent/sub.zip");
    CTL(65, NULL, "submit", "--spec", "/nonexistent/spec.json");
}

static void test_submit_stdin_and_batch(void **state)
{
    (void)state;
    CTL(0,
        "{\"profile\": \"python3\", \"archive\": \"file:///tmp/p.zip\", \"tests\": "
        "[{\"name\": \"t1\", \"stdin\": \"5\\n\", \"expected_stdout\": \"10\\n\"}]}",
        "submit", "--spec", "-");
    char single[DP_ID_MAX];
    snprintf(single, sizeof single, "%.*s", (int)strcspn(out, "\n"), out);
    assert_true(strncmp(single, "j-", 2) == 0);

    CTL(0,
        "[{\"profile\": \"c\", \"archive\": \"file:///tmp/a.zip\"},"
        " {\"profile\": \"c\", \"archive\": \"file:///tmp/b.zip\"},"
        " {\"profile\": \"shell\", \"archive\": \"file:///tmp/c.zip\"}]",
        "submit", "--spec", "-", "--json");
    json_t *j = out_json();
    assert_true(json_is_array(j));
    assert_int_equal(json_array_size(j), 3);
    char sql[1024];
    int pos =
        snprintf(sql, sizeof sql,
                 "SELECT count(DISTINCT created_at) || ':' || count(*) FROM jobs WHERE id IN (");
    for (size_t i = 0; i < 3; i++) {
        const char *id = json_string_value(json_object_get(json_array_get(j, i), "job_id"));
        assert_non_null(id);
        pos += snprintf(sql + pos, sizeof sql - (size_t)pos, "%s'%s'", i ? "," : "", id);
    }
    snprintf(sql + pos, sizeof sql - (size_t)pos, ")");
    json_decref(j);
    /* One submit = one transaction: PostgreSQL's now() is the same for all. */
    char *v = pgfix_query1(dd.db.dsn, sql);
    assert_non_null(v);
    assert_string_equal(v, "1:3");
    free(v);

    /* A batch with one bad spec: the good ones are accepted, exit 65. */
    CTL(65, "[{\"profile\": \"c\", \"archive\": \"file:///tmp/a.zip\"}, {\"profile\": \"c\"}]",
        "submit", "--spec", "-", "--json");

    /* Leave an empty queue for the next tests. */
    CTL(0, NULL, "cancel", single);
    dd_sleep_ms(20);
    char ids[8][DP_ID_MAX];
    uint32_t att[8];
    size_t n = 0;
    assert_int_equal(dd_lease(runner_c, r_id, r_tok, 8, 500, ids, att, &n), DP_MSG_LEASED);
    assert_int_equal(n, 3); /* the mixed batch was refused whole, client side */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(dd_complete(runner_c, r_id, r_tok, ids[i], att[i], 0), DP_MSG_ACK);
}

static void test_wait_exit_codes(void **state)
{
    (void)state;
    char wa[DP_ID_MAX], cancelled[DP_ID_MAX], failed[DP_ID_MAX];
    submit_one(wa, "3");
    run_job(wa, DP_VERDICT_WA, 0);
    CTL(1, NULL, "wait", wa, "--timeout", "5");
    CTL(1, NULL, "wait", wa, "--json");
    json_t *j = out_json();
    assert_string_equal(json_string_value(json_object_get(j, "verdict")), "WA");
    json_decref(j);

    submit_one(cancelled, "3");
    CTL(0, NULL, "cancel", cancelled, "--json");
    j = out_json();
    assert_true(json_is_true(json_object_get(j, "ok")));
    json_decref(j);
    CTL(2, NULL, "wait", cancelled, "--timeout", "5");
    CTL(65, NULL, "requeue", cancelled); /* cancelled stays cancelled */

    submit_one(failed, "1");
    /* Still queued: wait times out. */
    int64_t t0 = dd_now_us();
    CTL(3, NULL, "wait", failed, "--timeout", "0.3");
    assert_true(dd_now_us() - t0 >= 300000); /* a lower bound: load only lengthens it */
    one_line_stderr();
    /* The runner's own failure on the only attempt: failed, SE. */
    run_job(failed, DP_VERDICT_SE, 1);
    CTL(2, NULL, "wait", failed, "--json", "--timeout", "5");
    j = out_json();
    assert_string_equal(json_string_value(json_object_get(j, "state")), "failed");
    assert_string_equal(json_string_value(json_object_get(j, "verdict")), "SE");
    assert_non_null(json_string_value(json_object_get(j, "message")));
    json_decref(j);

    /* requeue --dead brings it back; the runner gets it again. */
    CTL(0, NULL, "requeue", "--dead", "--json");
    j = out_json();
    assert_true(json_integer_value(json_object_get(j, "count")) >= 1);
    json_decref(j);
    CTL(0, NULL, "status", failed, "--json");
    j = out_json();
    assert_string_equal(json_string_value(json_object_get(j, "state")), "queued");
    json_decref(j);
    char ids[1][DP_ID_MAX];
    uint32_t att[1];
    size_t n = 0;
    assert_int_equal(dd_lease(runner_c, r_id, r_tok, 1, 3000, ids, att, &n), DP_MSG_LEASED);
    assert_string_equal(ids[0], failed);
    assert_int_equal(dd_complete(runner_c, r_id, r_tok, ids[0], att[0], 0), DP_MSG_ACK);
    CTL(0, NULL, "wait", failed, "--timeout", "5");

    /* requeue JOB: a completed job stays completed (65); a leased one goes
     * back to the queue and its old attempt's complete is refused. */
    CTL(65, NULL, "requeue", wa);
    one_line_stderr();
    char again[DP_ID_MAX];
    submit_one(again, "3");
    assert_int_equal(dd_lease(runner_c, r_id, r_tok, 1, 3000, ids, att, &n), DP_MSG_LEASED);
    assert_string_equal(ids[0], again);
    CTL(0, NULL, "requeue", again, "--json");
    j = out_json();
    assert_true(json_is_true(json_object_get(j, "ok")));
    json_decref(j);
    assert_int_equal(dd_complete(runner_c, r_id, r_tok, again, att[0], 0), DP_MSG_CONFLICT);
    uint32_t first = att[0];
    assert_int_equal(dd_lease(runner_c, r_id, r_tok, 1, 3000, ids, att, &n), DP_MSG_LEASED);
    assert_string_equal(ids[0], again);
    assert_int_equal(att[0], first + 1);
    assert_int_equal(dd_complete(runner_c, r_id, r_tok, again, att[0], 0), DP_MSG_ACK);
    CTL(0, NULL, "wait", again, "--timeout", "5");
}

static void test_drain(void **state)
{
    (void)state;
    CTL(0, NULL, "drain", r_id, "--json");
    json_t *j = out_json();
    assert_true(json_is_true(json_object_get(j, "ok")));
    json_decref(j);
    CTL(0, NULL, "runners", "--json");
    j = out_json();
    assert_true(json_is_true(json_object_get(json_array_get(j, 0), "draining")));
    json_decref(j);
    CTL(65, NULL, "drain", "r-00000000000000000000000000000000");
    one_line_stderr();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_and_unreachable),
        cmocka_unit_test(test_submit_status_queue_runners),
        cmocka_unit_test(test_submit_stdin_and_batch),
        cmocka_unit_test(test_wait_exit_codes),
        cmocka_unit_test(test_drain),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
