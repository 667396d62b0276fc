/* Private redis-server processes for tests (see redis_server.h). */
#include <errno.h>
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

#include <hiredis/hiredis.h>

#include "tests/support/redis_server.h"

static int rs_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static void rs_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int rs_ping(int port)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    int ok = 0;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PING");
        ok = r && r->type == REDIS_REPLY_STATUS;
        if (r)
            freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    return ok;
}

static int rs_spawn(rs_server *s, dp_err *err)
{
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    pid_t pid = fork();
    if (pid < 0)
        return dp_err_set(err, DP_EIO, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        char log[96];
        snprintf(log, sizeof log, "%s/redis.log", s->dir);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", s->appendonly ? "yes" : "no", "--appendfsync", "always", "--dir",
               s->dir, "--logfile", log, "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    s->pid = pid;
    /* up in ms; 20 s of slack for a loaded machine (returns on the first PONG) */
    for (int i = 0; i < 800; i++) {
        if (rs_ping(s->port))
            return DP_OK;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            return dp_err_set(err, DP_EIO, "redis-server exited at start (see %s/redis.log)",
                              s->dir);
        }
        rs_sleep_ms(25);
    }
    return dp_err_set(err, DP_ETIMEOUT, "redis-server on port %d did not answer PING", s->port);
}

int rs_start(rs_server *s, int appendonly, dp_err *err)
{
    memset(s, 0, sizeof *s);
    s->appendonly = appendonly;
    snprintf(s->dir, sizeof s->dir, "/tmp/dp-test-redis.XXXXXX");
    if (mkdtemp(s->dir) == NULL)
        return dp_err_set(err, DP_EIO, "mkdtemp: %s", strerror(errno));
    if ((s->port = rs_free_port()) < 0)
        return dp_err_set(err, DP_EIO, "no free port");
    snprintf(s->url, sizeof s->url, "redis://127.0.0.1:%d", s->port);
    return rs_spawn(s, err);
}

static void rs_kill(rs_server *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            return;
        }
        rs_sleep_ms(25);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

int rs_restart(rs_server *s, dp_err *err)
{
    rs_kill(s);
    return rs_spawn(s, err);
}

void rs_down(rs_server *s)
{
    rs_kill(s);
}

int rs_up(rs_server *s, dp_err *err)
{
    return rs_spawn(s, err);
}

void rs_stop(rs_server *s)
{
    rs_kill(s);
    if (s->dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "rs_stop: could not remove %s\n", s->dir);
        s->dir[0] = '\0';
    }
}

static uint16_t rs_crc16(const char *buf, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)buf[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned rs_key_slot(const char *key, size_t len)
{
    size_t s = 0;
    for (; s < len; s++)
        if (key[s] == '{')
            break;
    if (s < len) {
        size_t e = s + 1;
        for (; e < len; e++)
            if (key[e] == '}')
                break;
        if (e < len && e != s + 1)
            return rs_crc16(key + s + 1, e - s - 1) & 16383;
    }
    return rs_crc16(key, len) & 16383;
}

const char *rs_env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}
