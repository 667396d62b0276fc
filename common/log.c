#include "common/log.h"

#include "common/clock.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static int min_level = -1;

void dp_log_set_level(dp_log_level level)
{
    min_level = (int)level;
}

int dp_log_configure(dp_err *err)
{
    const char *env = getenv("DISPATCH_LOG_LEVEL");
    static const char *const names[] = {"debug", "info", "warn", "error"};
    static const dp_log_level levels[] = {DP_LOG_DEBUG, DP_LOG_INFO, DP_LOG_WARN, DP_LOG_ERROR};
    if (env == NULL || env[0] == '\0') {
        min_level = DP_LOG_INFO;
        return DP_OK;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(env, names[i]) == 0) {
            min_level = (int)levels[i];
            return DP_OK;
        }
    return dp_err_set(err, DP_EINVAL,
                      "DISPATCH_LOG_LEVEL: '%.32s' is not debug, info, warn or error", env);
}

static int current_level(void)
{
    if (min_level < 0) {
        const char *env = getenv("DISPATCH_LOG_LEVEL");
        min_level = DP_LOG_INFO;
        if (env != NULL) {
            if (strcasecmp(env, "debug") == 0)
                min_level = DP_LOG_DEBUG;
            else if (strcasecmp(env, "warn") == 0)
                min_level = DP_LOG_WARN;
            else if (strcasecmp(env, "error") == 0)
                min_level = DP_LOG_ERROR;
        }
    }
    return min_level;
}

/* Appends s JSON-escaped; stops quietly when the line buffer is full. */
static size_t put_escaped(char *buf, size_t pos, size_t cap, const char *s)
{
    for (; *s != '\0' && pos + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[pos++] = '\\';
            buf[pos++] = (char)c;
        } else if (c < 0x20) {
            pos += (size_t)snprintf(buf + pos, cap - pos, "\\u%04x", c);
        } else {
            buf[pos++] = (char)c;
        }
    }
    return pos;
}

static size_t put_raw(char *buf, size_t pos, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (pos + n + 4 >= cap)
        return pos;
    memcpy(buf + pos, s, n);
    return pos + n;
}

/* The calling thread's held lines (dp_log_hold): whole lines, at most
 * PIPE_BUF bytes, so one write of them is never split on a pipe. The
 * buffer is allocated by the hold and freed by the release: a thread-local
 * array would be zeroed, so resident, in every thread of the process. */
enum { LOG_HELD_CAP = PIPE_BUF };
static _Thread_local char *log_held;
static _Thread_local size_t log_held_len;

static void write_held(void)
{
    if (log_held_len == 0)
        return;
    ssize_t w = write(STDERR_FILENO, log_held, log_held_len);
    (void)w;
    log_held_len = 0;
}

void dp_log(dp_log_level level, const char *event, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if ((int)level < current_level())
        return;
    char line[4096];
    size_t cap = sizeof line, pos = 0;
    char ts[DP_ISO_LEN];
    dp_iso_now(ts, sizeof ts);
    pos += (size_t)snprintf(line, cap, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":\"", ts,
                            names[level & 3]);
    pos = put_escaped(line, pos, cap, event);
    pos = put_raw(line, pos, cap, "\"");
    va_list ap;
    va_start(ap, event);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (key == NULL)
            break;
        const char *val = va_arg(ap, const char *);
        pos = put_raw(line, pos, cap, ",\"");
        pos = put_escaped(line, pos, cap, key);
        pos = put_raw(line, pos, cap, "\":\"");
        pos = put_escaped(line, pos, cap, val != NULL ? val : "");
        pos = put_raw(line, pos, cap, "\"");
    }
    va_end(ap);
    line[pos++] = '}';
    line[pos++] = '\n';
    if (log_held != NULL && level < DP_LOG_WARN) {
        if (log_held_len + pos > LOG_HELD_CAP)
            write_held();
        if (pos <= LOG_HELD_CAP) {
            memcpy(log_held + log_held_len, line, pos);
            log_held_len += pos;
            return;
        }
    }
    write_held(); /* what waits goes first */
    ssize_t w = write(STDERR_FILENO, line, pos);
    (void)w;
}

void dp_log_hold(void)
{
    if (log_held == NULL)
        log_held = malloc(LOG_HELD_CAP); /* none: lines go out one by one */
}

void dp_log_release(void)
{
    write_held();
    free(log_held);
    log_held = NULL;
}
