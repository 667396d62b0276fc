#include "tests/support/pg_server.h"

#include <errno.h>

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
static int run_tool(const pg_server *pg, const char *tool, const char *const *args)
{
    char path[320], log[128];
    snprintf(path, sizeof path, "%s/%s", pg->bin, tool);
    snprintf(log, sizeof log, "%s/tools.log", pg->dir);
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

pid_t pg_server_pid(const pg_server *pg)
{
    char path[160];
    snprintf(path, sizeof path, "%s/postmaster.pid", pg->data);
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    return (pid_t)pid;
}

int pg_server_start(pg_server *pg)
{
    char opts[256];
    snprintf(opts, sizeof opts,
             "-p %d -k %s -h 127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=60",
             pg->port, pg->data);
    char log[128];
    snprintf(log, sizeof log, "%s/server.log", pg->dir);
    const char *args[] = {"-D", pg->data, "-l", log, "-w", "-t", "60", "-o", opts, "start", NULL};
    int rc = run_tool(pg, "pg_ctl", args);
    pg->postmaster = rc == 0 ? pg_server_pid(pg) : 0;
    return rc;
}

int pg_server_stop(pg_server *pg, const char *mode)
{
    const char *args[] = {"-D", pg->data, "-m", mode, "-w", "-t", "60", "stop", NULL};
    int rc = run_tool(pg, "pg_ctl", args);
    if (rc == 0)
        pg->postmaster = 0;
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

int pg_server_restart(pg_server *pg, const char *mode)
{
    const char *args[] = {"-D", pg->data, "-m", mode, "-w", "-t", "60", "restart", NULL};
    int rc = run_tool(pg, "pg_ctl", args);
    pg->postmaster = rc == 0 ? pg_server_pid(pg) : 0;
    return rc;
}

int pg_server_setup(pg_server *pg, const char *name, char *why, size_t why_len)
{
    memset(pg, 0, sizeof *pg);
    if (find_bin(pg->bin, sizeof pg->bin) != 0) {
        snprintf(why, why_len, "PostgreSQL binaries not found: set PG_BIN (./dev test exports it)");
        return -1;
    }
    snprintf(pg->dir, sizeof pg->dir, "/tmp/%.24s.XXXXXX", name);
    if (mkdtemp(pg->dir) == NULL) {
        snprintf(why, why_len, "mkdtemp failed");
        pg->dir[0] = 0;
        return -1;
    }
    snprintf(pg->data, sizeof pg->data, "%s/data", pg->dir);
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (pw == NULL || chown(pg->dir, pw->pw_uid, pw->pw_gid) != 0) {
            snprintf(why, why_len, "running as root needs a postgres user to own %s", pg->dir);
            return -1;
        }
    }
    const char *args[] = {"-D", pg->data, "-U",        "postgres", "--auth=trust",
                          "-E", "UTF8",   "--no-sync", NULL};
    if (run_tool(pg, "initdb", args) != 0) {
        snprintf(why, why_len, "initdb failed (see %s/tools.log)", pg->dir);
        return -1;
    }
    pg->port = free_port();
    if (pg_server_start(pg) != 0) {
        snprintf(why, why_len, "private PostgreSQL did not start (see %s/server.log)", pg->dir);
        return -1;
    }
    snprintf(pg->dsn, sizeof pg->dsn, "postgresql://postgres@127.0.0.1:%d/postgres", pg->port);
    return 0;
}

void pg_server_teardown(pg_server *pg)
{
    pid_t pid = pg_server_pid(pg);
    if (pid > 0 && kill(pid, 0) == 0) {
        pg_server_stop(pg, "immediate");
        if (kill(pid, 0) == 0)
            kill(pid, SIGKILL);
    }
    if (pg->dir[0] != 0) {
        pid_t rm = fork();
        if (rm == 0) {
            execlp("rm", "rm", "-rf", pg->dir, (char *)NULL);
            _exit(127);
        }
        if (rm > 0)
            waitpid(rm, NULL, 0);
    }
}

pg_server pg_private;

int pg_private_setup(void **state)
{
    (void)state;
    char why[256];
    if (pg_server_setup(&pg_private, program_invocation_short_name, why, sizeof why) != 0) {
        fprintf(stderr, "private PostgreSQL: %s\n", why);
        return -1;
    }
    return 0;
}

int pg_private_teardown(void **state)
{
    (void)state;
    pg_server_teardown(&pg_private);
    return 0;
}
