/* Fault tests: the store against a private PostgreSQL instance (initdb in a
 * temp dir, as the postgres user when run as root) that the test restarts,
 * stops and crashes. Calls fail with DP_EUNAVAIL while it is down, succeed
 * once it is back, and nothing committed is lost or half-written. The
 * server is stopped by pid in teardown whatever happened. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <glob.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dispatch/store/store.h"
#include "tests/store/pg_fixture.h"
#include "tests/store/store_testutil.h"

typedef struct {
    char bin[256]; /* PostgreSQL's bin directory */
    char dir[64];  /* temp dir, removed in teardown */
    char data[96]; /* data directory */
    int port;
    pid_t postmaster; /* 0 when not running */
    char dsn[128];
} pgpriv;

static pgpriv pg;

static int find_bin(char *out, size_t len)
{
    const char *env = getenv("PG_BIN");
    if (env != NULL && *env != 0) {
        snprintf(out, len, "%s", env);
        return 0;
    }
    glob_t g;
    if (glob("/usr/lib/postgresql/*/bin", 0, NULL, &g) != 0 || g.gl_pathc == 0)
        return -1;
    snprintf(out, len, "%s", g.gl_pathv[g.gl_pathc - 1]); /* sorted: highest last */
    globfree(&g);
    return 0;
}

/* Runs PostgreSQL's tool with args (NULL-terminated), as postgres when root;
 * output goes to <dir>/tools.log. Returns the exit status. */
static int run_tool(const char *tool, const char *const *args)
{
    char path[320], log[128];
    snprintf(path, sizeof path, "%s/%s", pg.bin, tool);
    snprintf(log, sizeof log, "%s/tools.log", pg.dir);
    const char *argv[24];
    int n = 0;
    if (geteuid() == 0) {
        argv[n++] = "runuser";
        argv[n++] = "-u";
        argv[n++] = "postgres";
        argv[n++] = "--";
    }
    argv[n++] = path;
    for (int i = 0; args[i] != NULL && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static pid_t read_postmaster_pid(void)
{
    char path[160];
    snprintf(path, sizeof path, "%s/postmaster.pid", pg.data);
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    return (pid_t)pid;
}

static int pg_start(void)
{
    char opts[256];
    snprintf(opts, sizeof opts,
             "-p %d -k %s -h 127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=20",
             pg.port, pg.data);
    char log[128];
    snprintf(log, sizeof log, "%s/server.log", pg.dir);
    const char *args[] = {"-D", pg.data, "-l", log, "-w", "-t", "60", "-o", opts, "start", NULL};
    int rc = run_tool("pg_ctl", args);
    pg.postmaster = rc == 0 ? read_postmaster_pid() : 0;
    return rc;
}

static int pg_stop(const char *mode)
{
    const char *args[] = {"-D", pg.data, "-m", mode, "-w", "-t", "60", "stop", NULL};
    int rc = run_tool("pg_ctl", args);
    if (rc == 0)
        pg.postmaster = 0;
    return rc;
}

static int free_port(void)
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

static int group_setup(void **state)
{
    (void)state;
    memset(&pg, 0, sizeof pg);
    if (find_bin(pg.bin, sizeof pg.bin) != 0)
        fail_msg("PostgreSQL binaries not found: set PG_BIN (./dev test exports it)");
    snprintf(pg.dir, sizeof pg.dir, "/tmp/dp-store-fault.XXXXXX");
    if (mkdtemp(pg.dir) == NULL)
        fail_msg("mkdtemp failed");
    snprintf(pg.data, sizeof pg.data, "%s/data", pg.dir);
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (pw == NULL || chown(pg.dir, pw->pw_uid, pw->pw_gid) != 0)
            fail_msg("running as root needs a postgres user to own %s", pg.dir);
    }
    const char *args[] = {"-D", pg.data, "-U",        "postgres", "--auth=trust",
                          "-E", "UTF8",  "--no-sync", NULL};
    if (run_tool("initdb", args) != 0)
        fail_msg("initdb failed (see %s/tools.log)", pg.dir);
    pg.port = free_port();
    if (pg_start() != 0)
        fail_msg("private PostgreSQL did not start (see %s/server.log)", pg.dir);
    snprintf(pg.dsn, sizeof pg.dsn, "postgresql://postgres@127.0.0.1:%d/postgres", pg.port);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    pid_t pid = read_postmaster_pid();
    if (pid > 0 && kill(pid, 0) == 0) {
        pg_stop("immediate");
        if (kill(pid, 0) == 0)
            kill(pid, SIGKILL);
    }
    if (pg.dir[0] != 0) {
        pid_t rm = fork();
        if (rm == 0) {
            execlp("rm", "rm", "-rf", pg.dir, (char *)NULL);
            _exit(127);
        }
        if (rm > 0)
            waitpid(rm, NULL, 0);
    }
    return 0;
}

static long count_jobs(const char *where)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM jobs %s", where);
    char *v = pgfix_query1(pg.dsn, sql);
    assert_non_null(v);
    long n = atol(v);
    free(v);
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_restart_between_calls_is_invisible(void **state)
{
    (void)state;
    dp_err err;
    store_db *s = store_open(pg.dsn, &err);
    if (s == NULL)
        fail_msg("store_open: %s", err.msg);
    tu_insert_jobs(s, "a", 100);
    const char *args[] = {"-D", pg.data, "-m", "fast", "-w", "-t", "60", "restart", NULL};
    assert_int_equal(run_tool("pg_ctl", args), 0);
    pg.postmaster = read_postmaster_pid();
    /* The connection broke under us; the next call reconnects and retries. */
    uint64_t done = 99;
    int rc = store_count_completed(s, &done, &err);
    if (rc != DP_OK)
        fail_msg("first call after restart: %s", err.msg);
    assert_int_equal(done, 0);
    assert_int_equal(count_jobs(""), 100);
    store_close(s);
}

static void test_down_then_back(void **state)
{
    (void)state;
    dp_err err;
    store_db *s = store_open(pg.dsn, &err);
    if (s == NULL)
        fail_msg("store_open: %s", err.msg);
    tu_insert_jobs(s, "b", 50);
    assert_int_equal(pg_stop("immediate"), 0); /* a crash, not a clean stop */

    dp_job_spec spec;
    tu_make_spec(&spec, "b-late", 1);
    assert_int_equal(store_insert_jobs(s, &spec, 1, NULL, &err), DP_EUNAVAIL);
    assert_non_null(strstr(err.msg, "PostgreSQL unavailable"));
    dp_job_view v;
    assert_int_equal(store_get_job(s, "b-0", &v, &err), DP_EUNAVAIL);
    dp_job_result res;
    tu_make_result(&res, "b-0", 1, 2);
    store_result_in in = {&res, "r1", NULL};
    store_outcome out;
    assert_int_equal(store_record_results(s, &in, 1, &out, &err), DP_EUNAVAIL);
    /* a new opener fails the same way */
    assert_null(store_open(pg.dsn, &err));
    assert_int_equal(err.code, DP_EUNAVAIL);

    assert_int_equal(pg_start(), 0);
    /* Within the backoff window calls still fail fast; after it they work. */
    int rc = DP_EUNAVAIL;
    for (int i = 0; i < 100 && rc == DP_EUNAVAIL; i++) {
        uint64_t done;
        rc = store_count_completed(s, &done, &err);
        if (rc == DP_EUNAVAIL)
            sleep_ms(100);
    }
    if (rc != DP_OK)
        fail_msg("store did not come back: %s", err.msg);
    assert_int_equal(store_insert_jobs(s, &spec, 1, NULL, &err), DP_OK);
    assert_int_equal(store_record_results(s, &in, 1, &out, &err), DP_OK);
    assert_int_equal(out, STORE_RECORDED);
    assert_int_equal(count_jobs("WHERE id LIKE 'b-%'"), 51);
    assert_int_equal(store_get_job(s, "b-0", &v, &err), DP_OK);
    assert_int_equal(v.state, DP_JOB_COMPLETED);
    assert_int_equal(v.n_tests, 2);
    dp_job_view_free(&v);
    dp_job_spec_free(&spec);
    dp_job_result_free(&res);
    store_close(s);
}

typedef struct {
    store_db *s;
    int rc;
} big_batch;

enum { BIG_N = 2000 };

static void *record_big_batch(void *arg)
{
    big_batch *b = arg;
    dp_job_result *res = calloc(BIG_N, sizeof *res);
    store_result_in *in = calloc(BIG_N, sizeof *in);
    char id[32];
    for (int i = 0; i < BIG_N; i++) {
        snprintf(id, sizeof id, "c-%d", i);
        tu_make_result(&res[i], id, 1, 5);
        in[i] = (store_result_in){&res[i], "r1", NULL};
    }
    dp_err err;
    b->rc = store_record_results(b->s, in, BIG_N, NULL, &err);
    for (int i = 0; i < BIG_N; i++)
        dp_job_result_free(&res[i]);
    free(res);
    free(in);
    return NULL;
}

/* A crash while a big group commit is in flight leaves all of it or none:
 * completed jobs and their test rows always match. */
static void test_crash_mid_batch_all_or_nothing(void **state)
{
    (void)state;
    dp_err err;
    store_db *s = store_open(pg.dsn, &err);
    if (s == NULL)
        fail_msg("store_open: %s", err.msg);
    tu_insert_jobs(s, "c", BIG_N);
    big_batch b = {s, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, record_big_batch, &b), 0);
    /* Crash while the statement runs: wait until the server shows it. */
    int seen = 0;
    for (int i = 0; i < 2500 && !seen; i++) {
        char *v = pgfix_query1(pg.dsn, "SELECT count(*) FROM pg_stat_activity"
                                       " WHERE state = 'active' AND query LIKE 'WITH inp AS%'");
        seen = v != NULL && atol(v) > 0;
        free(v);
        if (!seen)
            sleep_ms(2);
    }
    assert_int_equal(pg_stop("immediate"), 0);
    pthread_join(th, NULL);
    assert_int_equal(pg_start(), 0);
    long completed = count_jobs("WHERE id LIKE 'c-%' AND state = 'completed'");
    char *rows = pgfix_query1(pg.dsn, "SELECT count(*) FROM test_results WHERE job_id LIKE 'c-%'");
    assert_non_null(rows);
    long n_rows = atol(rows);
    free(rows);
    fprintf(stderr,
            "crash mid-batch (statement running: %s): rc %d, %ld jobs completed, %ld rows\n",
            seen ? "yes" : "no", b.rc, completed, n_rows);
    assert_true(completed == 0 || completed == BIG_N);
    assert_int_equal(n_rows, completed * 5);
    if (b.rc == DP_OK)
        assert_int_equal(completed, BIG_N); /* acknowledged means durable */
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restart_between_calls_is_invisible),
        cmocka_unit_test(test_down_then_back),
        cmocka_unit_test(test_crash_mid_batch_all_or_nothing),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
