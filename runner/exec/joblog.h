/* The job log: commands, outputs and timings of one job, assembled in memory
 * up to a cap. Text is sanitised (see compare.h) as it is appended; what
 * does not fit is dropped and counted, and exec_log_take appends a marker
 * saying how much. The log owns its buffer until exec_log_take hands it to
 * the caller. Appends never fail: out of memory drops text like the cap. */
#ifndef EXEC_JOBLOG_H
#define EXEC_JOBLOG_H

#include <stddef.h>

typedef struct {
    char *buf; /* owned; NUL-terminated when non-NULL */
    size_t len;
    size_t alloc;
    size_t cap;     /* most bytes kept, marker excluded */
    size_t dropped; /* bytes that did not fit */
} exec_log;

void exec_log_init(exec_log *log, size_t cap);
void exec_log_append(exec_log *log, const char *data, size_t n);
void exec_log_printf(exec_log *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Hands the buffer (malloc'd, NUL-terminated, caller frees) and its length
 * to the caller and resets the log. May return NULL when nothing was logged
 * or memory ran out. */
char *exec_log_take(exec_log *log, size_t *len);

void exec_log_free(exec_log *log);

#endif
