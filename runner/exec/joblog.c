/* Capped job log; see joblog.h. */
#include "runner/exec/joblog.h"

#include "runner/exec/compare.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void exec_log_init(exec_log *log, size_t cap)
{
    memset(log, 0, sizeof *log);
    log->cap = cap;
}

/* Makes room for n more bytes plus a NUL (and a marker later); 0 or -1. */
static int log_reserve(exec_log *log, size_t n)
{
    size_t need = log->len + n + 1;
    if (need <= log->alloc)
        return 0;
    size_t alloc = log->alloc ? log->alloc : 4096;
    while (alloc < need)
        alloc *= 2;
    char *b = realloc(log->buf, alloc);
    if (b == NULL)
        return -1;
    log->buf = b;
    log->alloc = alloc;
    return 0;
}

void exec_log_append(exec_log *log, const char *data, size_t n)
{
    size_t room = log->cap > log->len ? log->cap - log->len : 0;
    size_t take = n < room ? n : room;
    if (take > 0 && log_reserve(log, take) == 0) {
        exec_sanitize(data, take, log->buf + log->len);
        log->len += take;
        log->buf[log->len] = '\0';
    } else {
        take = 0;
    }
    log->dropped += n - take;
}

void exec_log_printf(exec_log *log, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        exec_log_append(log, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (big == NULL) {
        log->dropped += (size_t)n;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    exec_log_append(log, big, (size_t)n);
    free(big);
}

char *exec_log_take(exec_log *log, size_t *len)
{
    if (log->dropped > 0) {
        char marker[96];
        int m = snprintf(marker, sizeof marker, "\n[log truncated: %zu more bytes dropped]\n",
                         log->dropped);
        if (log_reserve(log, (size_t)m) == 0) {
            memcpy(log->buf + log->len, marker, (size_t)m + 1);
            log->len += (size_t)m;
        }
    }
    char *b = log->buf;
    *len = b != NULL ? log->len : 0;
    size_t cap = log->cap;
    exec_log_init(log, cap);
    return b;
}

void exec_log_free(exec_log *log)
{
    free(log->buf);
    exec_log_init(log, log->cap);
}
