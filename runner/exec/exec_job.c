/* The state of one job while exec_job runs it: how a stage ends the job and
 * adds a test result (see exec_job.h). */
#include "runner/exec/exec_job.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void exec_job_end(exec_job_state *js, dp_verdict v, int retryable, const char *fmt, ...)
{
    if (js->ended)
        return; /* the first reason stands */
    js->ended = 1;
    js->out->verdict = v;
    js->retryable = retryable;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    free(js->out->message);
    js->out->message = strdup(msg);
    exec_log_printf(&js->log, "job ended: %s: %s\n", dp_verdict_name(v), msg);
}

dp_test_result *exec_job_add_test(exec_job_state *js)
{
    if (js->n_tests == js->alloc_tests) {
        size_t alloc = js->alloc_tests ? js->alloc_tests * 2 : 8;
        dp_test_result *t = realloc(js->tests, alloc * sizeof *t);
        if (t == NULL) {
            exec_job_end(js, DP_VERDICT_SE, 1, "out of memory");
            return NULL;
        }
        js->tests = t;
        js->alloc_tests = alloc;
    }
    dp_test_result *t = &js->tests[js->n_tests++];
    memset(t, 0, sizeof *t);
    t->exit_code = -1;
    return t;
}
