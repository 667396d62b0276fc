#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/dispatchd/dd_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int64_t dd_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void dd_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int dd_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

void dd_init(dd_daemon *d, const char *redis_url, const char *pg_base)
{
    memset(d, 0, sizeof *d);
    if (redis_url == NULL)
        redis_url = getenv("DISPATCH_REDIS_URL");
    if (redis_url == NULL || *redis_url == '\0')
        fail_msg("DISPATCH_REDIS_URL is not set: run through ./dev test or "
                 "scripts/with-services.sh");
    if (pg_base == NULL)
        pg_base = getenv("DISPATCH_PG_DSN");
    if (pg_base == NULL || *pg_base == '\0')
        fail_msg("DISPATCH_PG_DSN is not set: run through ./dev test or "
                 "scripts/with-services.sh");
    if (getenv("DISPATCHD") == NULL)
        fail_msg("DISPATCHD (path of the built dispatchd) is not set: run through meson test");
    snprintf(d->redis_url, sizeof d->redis_url, "%s", redis_url);
    char msg[256];
    if (pgfix_create(&d->db, pg_base, msg, sizeof msg) != 0)
        fail_msg("%s", msg);
    /* The URL form dispatchd wants: base URL with the path replaced. */
    const char *hostpart = strstr(pg_base, "://");
    const char *slash = hostpart != NULL ? strchr(hostpart + 3, '/') : NULL;
    if (slash == NULL)
        fail_msg("DISPATCH_PG_DSN '%s' is not a postgresql://host/db URL", pg_base);
    snprintf(d->pg_url, sizeof d->pg_url, "%.*s/%s", (int)(slash - pg_base), pg_base, d->db.name);
    snprintf(d->dir, sizeof d->dir, "/tmp/dd-test.XXXXXX");
    if (mkdtemp(d->dir) == NULL)
        fail_msg("mkdtemp failed");
    char hex[40];
    dp_new_id("", hex, sizeof hex);
    snprintf(d->prefix, sizeof d->prefix, "{t%.16s}:", hex);
    snprintf(d->runner_url, sizeof d->runner_url, "tcp://127.0.0.1:%d", dd_free_port());
    snprintf(d->admin_url, sizeof d->admin_url, "ipc://%s/admin.sock", d->dir);
}

void dd_env(dd_daemon *d, const char *kv)
{
    if (d->n_env >= (int)(sizeof d->env / sizeof d->env[0]))
        fail_msg("dd_env: too many entries");
    d->env[d->n_env++] = kv;
}

static void child_env(const dd_daemon *d)
{
    char buf[512];
    setenv("DISPATCH_REDIS_URL", d->redis_url, 1);
    setenv("DISPATCH_PG_DSN", d->pg_url, 1);
    setenv("DISPATCH_RUNNER_LISTEN", d->runner_url, 1);
    setenv("DISPATCH_ADMIN_LISTEN", d->admin_url, 1);
    setenv("DISPATCH_REGISTRATION_TOKEN", DD_REG_TOKEN, 1);
    setenv("DISPATCH_REDIS_PREFIX", d->prefix, 1);
    snprintf(buf, sizeof buf, "file://%s/logs/{job_id}.log", d->dir);
    setenv("DISPATCH_LOG_STORE", buf, 1);
    for (int i = 0; i < d->n_env; i++) {
        const char *eq = strchr(d->env[i], '=');
        if (eq == NULL) {
            unsetenv(d->env[i]);
            continue;
        }
        snprintf(buf, sizeof buf, "%.*s", (int)(eq - d->env[i]), d->env[i]);
        setenv(buf, eq + 1, 1);
    }
}

static pid_t spawn(const dd_daemon *d, const char *log_name)
{
    char log[128];
    snprintf(log, sizeof log, "%s/%s", d->dir, log_name);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        child_env(d);
        const char *exe = getenv("DISPATCHD");
        execl(exe, exe, (char *)NULL);
        _exit(127);
    }
    if (pid < 0)
        fail_msg("fork failed");
    return pid;
}

static void dump_log(const dd_daemon *d)
{
    char path[128], line[1024];
    snprintf(path, sizeof path, "%s/dispatchd.log", d->dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    fprintf(stderr, "---- last dispatchd log lines (%s) ----\n", path);
    long n = 0;
    while (fgets(line, sizeof line, f) != NULL)
        n++;
    rewind(f);
    for (long i = 0; fgets(line, sizeof line, f) != NULL; i++)
        if (i >= n - 30)
            fputs(line, stderr);
    fclose(f);
}

void dd_start(dd_daemon *d)
{
    d->pid = spawn(d, "dispatchd.log");
    int64_t deadline = dd_now_us() + 15000000;
    while (dd_now_us() < deadline) {
        int status = 0;
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            d->pid = 0;
            dump_log(d);
            fail_msg("dispatchd exited during start (status %d)", status);
        }
        dp_msg q = {.type = DP_MSG_QUEUE, .id = 1}, r = {0};
        nng_msg *req = NULL, *rep = NULL;
        if (dp_msg_encode(&q, &req, NULL) == DP_OK &&
            actor_call_url(d->admin_url, req, &rep, 1000, NULL) == DP_OK) {
            int ok = dp_msg_decode_nng(rep, &r, NULL) == DP_OK && r.type == DP_MSG_QUEUE_STATS;
            dp_msg_free(&r);
            nng_msg_free(rep);
            if (ok)
                return;
        }
        dd_sleep_ms(20);
    }
    dump_log(d);
    dd_kill(d);
    fail_msg("dispatchd did not answer on %s within 15 s", d->admin_url);
}

static int wait_exit(pid_t pid, int timeout_ms, int *status)
{
    int64_t deadline = dd_now_us() + (int64_t)timeout_ms * 1000;
    while (dd_now_us() < deadline) {
        if (waitpid(pid, status, WNOHANG) == pid)
            return 0;
        dd_sleep_ms(10);
    }
    return -1;
}

static int exit_code(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int dd_stop(dd_daemon *d)
{
    if (d->pid <= 0)
        return -1;
    int status = 0;
    kill(d->pid, SIGTERM);
    if (wait_exit(d->pid, 10000, &status) != 0) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, &status, 0);
    }
    d->pid = 0;
    d->last_status = status;
    if (exit_code(status) != 0)
        dump_log(d);
    return exit_code(status);
}

void dd_kill(dd_daemon *d)
{
    if (d->pid <= 0)
        return;
    kill(d->pid, SIGKILL);
    waitpid(d->pid, &d->last_status, 0);
    d->pid = 0;
}

void dd_fini(dd_daemon *d)
{
    dd_kill(d);
    pgfix_drop(&d->db);
    if (getenv("DD_KEEP") != NULL) /* keep the daemon's log for a post-mortem */
        fprintf(stderr, "dd: kept %s\n", d->dir);
    else if (d->dir[0] != '\0') {
        pid_t rm = fork();
        if (rm == 0) {
            execlp("rm", "rm", "-rf", d->dir, (char *)NULL);
            _exit(127);
        }
        if (rm > 0)
            waitpid(rm, NULL, 0);
        d->dir[0] = '\0';
    }
}

int dd_run_expect_exit(dd_daemon *d, char *errbuf, size_t errlen)
{
    char path[128];
    snprintf(path, sizeof path, "%s/config.log", d->dir);
    unlink(path);
    pid_t pid = spawn(d, "config.log");
    int status = 0;
    if (wait_exit(pid, 10000, &status) != 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("dispatchd did not exit on a bad configuration");
    }
    errbuf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        size_t n = fread(errbuf, 1, errlen - 1, f);
        errbuf[n] = '\0';
        fclose(f);
    }
    return exit_code(status);
}

int dd_rpc(actor_client *c, const dp_msg *req, dp_msg *reply, int timeout_ms)
{
    memset(reply, 0, sizeof *reply);
    nng_msg *m = NULL, *r = NULL;
    dp_err err = {0};
    int rc = dp_msg_encode(req, &m, &err);
    if (rc != DP_OK)
        fail_msg("encode %s: %s", dp_msg_type_name(req->type), err.msg);
    rc = actor_client_call(c, m, &r, timeout_ms, &err);
    if (rc != DP_OK)
        return rc;
    rc = dp_msg_decode_nng(r, reply, &err);
    nng_msg_free(r);
    if (rc != DP_OK)
        fail_msg("dispatchd sent an undecodable reply: %s", err.msg);
    return DP_OK;
}

actor_client *dd_client(const char *url)
{
    dp_err err = {0};
    actor_client *c = actor_client_open(url, &err);
    if (c == NULL)
        fail_msg("connect %s: %s", url, err.msg);
    return c;
}

static void expect_ok(int rc, const char *what)
{
    if (rc != DP_OK)
        fail_msg("%s: transport error %s", what, dp_code_name(rc));
}

void dd_heartbeat(actor_client *c, const char *id, const char *token)
{
    dp_msg m = {.type = DP_MSG_HEARTBEAT, .id = 7}, r;
    m.heartbeat.runner_id = (char *)id;
    m.heartbeat.runner_token = (char *)token;
    assert_int_equal(dd_rpc(c, &m, &r, 5000), DP_OK);
    assert_int_equal(r.type, DP_MSG_ACK);
    dp_msg_free(&r);
}

void dd_wait_pending(actor_client *rc, actor_client *admin, const char *id, const char *token,
                     int pending, int timeout_ms)
{
    int64_t until = dd_now_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        dd_heartbeat(rc, id, token);
        dd_sleep_ms(150);
        dp_msg q = {.type = DP_MSG_QUEUE, .id = 9}, r;
        assert_int_equal(dd_rpc(admin, &q, &r, 5000), DP_OK);
        int now = r.type == DP_MSG_QUEUE_STATS ? (int)r.queue_stats.pending : -1;
        dp_msg_free(&r);
        if (now == pending)
            return;
        if (dd_now_us() > until)
            fail_msg("the queue did not reach %d pending within %d ms (reaper)", pending,
                     timeout_ms);
    }
}

void dd_register(actor_client *c, const char *name, char *id, char *token)
{
    dd_register_offering(c, name, NULL, id, token);
}

void dd_register_offering(actor_client *c, const char *name, const char *profile, char *id,
                          char *token)
{
    char *profiles[] = {(char *)profile};
    dp_msg m = {.type = DP_MSG_REGISTER, .id = 7}, r;
    m.reg.registration_token = DD_REG_TOKEN;
    m.reg.name = (char *)name;
    m.reg.capacity = 4;
    if (profile != NULL) {
        m.reg.profiles = profiles;
        m.reg.n_profiles = 1;
    }
    expect_ok(dd_rpc(c, &m, &r, 5000), "register");
    if (r.type != DP_MSG_REGISTERED)
        fail_msg("register answered %s: %s", dp_msg_type_name(r.type),
                 r.type == DP_MSG_ERROR ? r.error.message : "");
    assert_int_equal(r.id, 7);
    snprintf(id, DP_ID_MAX, "%s", r.registered.runner_id);
    snprintf(token, 65, "%s", r.registered.runner_token);
    dp_msg_free(&r);
}

void dd_submit(actor_client *admin, size_t n, char (*ids)[DP_ID_MAX])
{
    dp_msg m = {.type = DP_MSG_SUBMIT, .id = 9}, r;
    m.submit.n_specs = n;
    m.submit.specs = calloc(n, sizeof *m.submit.specs);
    dp_test_case tc = {.name = "t1", .stdin_data = "5\n", .expected_stdout = "10\n"};
    for (size_t i = 0; i < n; i++) {
        m.submit.specs[i].profile = "c";
        m.submit.specs[i].archive = "file:///tmp/sub.zip";
        m.submit.specs[i].tests = &tc;
        m.submit.specs[i].n_tests = 1;
    }
    int rc = dd_rpc(admin, &m, &r, 10000);
    free(m.submit.specs); /* borrowed strings: not dp_msg_free */
    expect_ok(rc, "submit");
    if (r.type != DP_MSG_SUBMITTED)
        fail_msg("submit answered %s: %s", dp_msg_type_name(r.type),
                 r.type == DP_MSG_ERROR ? r.error.message : "");
    assert_int_equal(r.submitted.n_items, n);
    for (size_t i = 0; i < n; i++) {
        if (r.submitted.items[i].job_id == NULL)
            fail_msg("submit item %zu refused: %s", i, r.submitted.items[i].error);
        snprintf(ids[i], DP_ID_MAX, "%s", r.submitted.items[i].job_id);
    }
    dp_msg_free(&r);
}

void dd_submit_profile(actor_client *admin, const char *profile, char *code, size_t len)
{
    dp_job_spec spec = {.profile = (char *)profile, .archive = "file:///tmp/sub.zip"};
    dp_msg m = {.type = DP_MSG_SUBMIT, .id = 9}, r;
    m.submit.specs = &spec;
    m.submit.n_specs = 1;
    expect_ok(dd_rpc(admin, &m, &r, 10000), "submit");
    const char *got = "";
    if (r.type == DP_MSG_ERROR)
        got = r.error.code;
    else if (r.type != DP_MSG_SUBMITTED || r.submitted.n_items != 1)
        got = "unexpected answer";
    else if (r.submitted.items[0].job_id == NULL)
        got = r.submitted.items[0].code != NULL ? r.submitted.items[0].code : "refused";
    snprintf(code, len, "%s", got);
    dp_msg_free(&r);
}

dp_msg_type dd_lease(actor_client *c, const char *id, const char *token, uint32_t max,
                     uint32_t wait_ms, char (*ids)[DP_ID_MAX], uint32_t *attempts, size_t *n)
{
    return dd_lease_req(c, id, token, max, wait_ms, NULL, ids, attempts, n);
}

dp_msg_type dd_lease_req(actor_client *c, const char *id, const char *token, uint32_t max,
                         uint32_t wait_ms, const char *request_id, char (*ids)[DP_ID_MAX],
                         uint32_t *attempts, size_t *n)
{
    dp_msg m = {.type = DP_MSG_LEASE, .id = 11}, r;
    m.lease.runner_id = (char *)id;
    m.lease.runner_token = (char *)token;
    m.lease.max_jobs = max;
    m.lease.wait_ms = wait_ms;
    m.lease.request_id = (char *)request_id;
    expect_ok(dd_rpc(c, &m, &r, (int)wait_ms + 5000), "lease");
    *n = 0;
    dp_msg_type t = r.type;
    if (t == DP_MSG_LEASED) {
        for (size_t i = 0; i < r.leased.n_jobs && i < max; i++) {
            snprintf(ids[i], DP_ID_MAX, "%s", r.leased.jobs[i].job_id);
            attempts[i] = r.leased.jobs[i].attempt;
            (*n)++;
        }
    } else if (t == DP_MSG_ERROR) {
        fprintf(stderr, "lease: %s: %s\n", r.error.code, r.error.message);
    }
    dp_msg_free(&r);
    return t;
}

dp_msg_type dd_complete(actor_client *c, const char *id, const char *token, const char *job_id,
                        uint32_t attempt, int retry)
{
    dp_test_result tests[2] = {
        {.name = "t1",
         .verdict = DP_VERDICT_AC,
         .time_ms = 3,
         .wall_ms = 4,
         .memory_kb = 100,
         .stdout_excerpt = "10\n"},
        {.name = "t2", .verdict = DP_VERDICT_AC, .time_ms = 5, .wall_ms = 6, .memory_kb = 200},
    };
    dp_msg m = {.type = DP_MSG_COMPLETE, .id = 13}, r;
    m.complete.runner_id = (char *)id;
    m.complete.runner_token = (char *)token;
    m.complete.result.job_id = (char *)job_id;
    m.complete.result.attempt = attempt;
    m.complete.result.verdict = retry ? DP_VERDICT_SE : DP_VERDICT_AC;
    m.complete.result.score = retry ? 0 : 100;
    m.complete.result.message = retry ? "fetch failed" : NULL;
    m.complete.result.tests = tests;
    m.complete.result.n_tests = 2;
    m.complete.result.log = "build ok\nrun ok\n";
    m.complete.result.log_len = strlen(m.complete.result.log);
    m.complete.retry = retry != 0;
    expect_ok(dd_rpc(c, &m, &r, 10000), "complete");
    dp_msg_type t = r.type;
    if (t == DP_MSG_ERROR)
        fprintf(stderr, "complete: %s: %s\n", r.error.code, r.error.message);
    dp_msg_free(&r);
    return t;
}

dp_msg_type dd_status(actor_client *admin, const char *job_id, dp_job_view *out)
{
    dp_msg m = {.type = DP_MSG_STATUS, .id = 15}, r;
    m.status.job_id = (char *)job_id;
    expect_ok(dd_rpc(admin, &m, &r, 5000), "status");
    memset(out, 0, sizeof *out);
    dp_msg_type t = r.type;
    if (t == DP_MSG_JOB) {
        *out = r.job;
        memset(&r.job, 0, sizeof r.job);
        r.type = DP_MSG_INVALID;
    }
    dp_msg_free(&r);
    return t;
}

long dd_sql_long(dd_daemon *d, const char *sql)
{
    char *v = pgfix_query1(d->db.dsn, sql);
    if (v == NULL)
        fail_msg("query failed: %s", sql);
    long n = atol(v);
    free(v);
    return n;
}

void dd_wait_sql(dd_daemon *d, const char *sql, long want, int timeout_ms, const char *what)
{
    int64_t until = dd_now_us() + (int64_t)timeout_ms * 1000;
    while (dd_sql_long(d, sql) < want) {
        if (dd_now_us() > until)
            fail_msg("%s: not within %d ms", what, timeout_ms);
        dd_sleep_ms(20);
    }
}
