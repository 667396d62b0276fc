/* dispatchd while its PostgreSQL restarts mid-flight (a private instance:
 * initdb in /tmp, as the postgres user when root, stopped by pid in
 * teardown). Completes and submits that hit the outage are refused with an
 * error (never acked unrecorded); the runner repeats them and every job
 * ends completed exactly once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <glob.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/dispatchd/dd_harness.h"

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
             "-p %d -k %s -h 127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=50",
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
    snprintf(pg.dir, sizeof pg.dir, "/tmp/dd-pg-fault.XXXXXX");
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

static void test_pg_restart_mid_flight(void **state)
{
    (void)state;
    dd_daemon d;
    dd_init(&d, NULL, pg.dsn);
    dd_start(&d);
    actor_client *rc = dd_client(d.runner_url), *ac = dd_client(d.admin_url);
    char id[DP_ID_MAX], tok[65];
    dd_register(rc, "pg-restart", id, tok);
    enum { N = 200 };
    static char jobs[N][DP_ID_MAX];
    dd_submit(ac, N, jobs);
    char ids[64][DP_ID_MAX];
    uint32_t att[64];
    size_t k = 0;
    assert_int_equal(dd_lease(rc, id, tok, 64, 1000, ids, att, &k), DP_MSG_LEASED);
    for (size_t i = 0; i < k / 2; i++)
        assert_int_equal(dd_complete(rc, id, tok, ids[i], att[i], 0), DP_MSG_ACK);
    const char *args[] = {"-D", pg.data, "-m", "fast", "-w", "-t", "60", "stop", NULL};
    assert_int_equal(run_tool("pg_ctl", args), 0);
    /* While it is down: completes are refused, not acknowledged. */
    size_t refused = 0;
    for (size_t i = k / 2; i < k; i++)
        refused += dd_complete(rc, id, tok, ids[i], att[i], 0) != DP_MSG_ACK;
    printf("PostgreSQL down: %zu of %zu completes refused\n", refused, k - k / 2);
    assert_int_equal(refused, k - k / 2);
    assert_int_equal(pg_start(), 0);
    int64_t t0 = dd_now_us();
    size_t done = k / 2;
    while (done < k) { /* the runner repeats until acknowledged */
        if (dd_complete(rc, id, tok, ids[done], att[done], 0) == DP_MSG_ACK)
            done++;
        else
            dd_sleep_ms(100);
        if (dd_now_us() - t0 > 30000000)
            fail_msg("completes not accepted within 30 s of PostgreSQL's return");
    }
    printf("completes accepted again %.0f ms after PostgreSQL restarted\n",
           (double)(dd_now_us() - t0) / 1000);
    while (dd_sql_long(&d, "SELECT count(*) FROM jobs WHERE state = 'completed'") < N) {
        if (dd_now_us() - t0 > 60000000)
            fail_msg("not every job completed within 60 s");
        dp_msg h = {.type = DP_MSG_HEARTBEAT, .id = 1}, r;
        h.heartbeat.runner_id = id;
        h.heartbeat.runner_token = tok;
        assert_int_equal(dd_rpc(rc, &h, &r, 5000), DP_OK);
        dp_msg_free(&r);
        dd_lease(rc, id, tok, 64, 200, ids, att, &k);
        for (size_t i = 0; i < k; i++)
            dd_complete(rc, id, tok, ids[i], att[i], 0);
    }
    assert_int_equal(dd_sql_long(&d, "SELECT count(*) FROM jobs WHERE state = 'completed'"), N);
    assert_int_equal(dd_sql_long(&d, "SELECT count(*) FROM test_results"), 2 * N);
    assert_int_equal(dd_sql_long(&d, "SELECT count(*) FROM (SELECT job_id FROM job_events WHERE "
                                     "state = 'completed' GROUP BY job_id HAVING count(*) > 1) x"),
                     0);
    actor_client_close(rc);
    actor_client_close(ac);
    assert_int_equal(dd_stop(&d), 0);
    dd_fini(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_restart_mid_flight),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
