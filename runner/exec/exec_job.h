/* Internal to runner/exec: the state of one job while exec_job runs it, and
 * what a stage does to it (exec_job.c). Everything here is owned by exec_job's stack frame. */
#ifndef EXEC_JOB_H
#define EXEC_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "common/job.h"
#include "runner/exec/joblog.h"
#include "runner/exec/profile.h"
#include "runner/exec/run.h"

typedef struct {
    const dp_job_spec *spec;
    const exec_profile *profile; /* borrowed from the ctx's cache */
    dp_job_result *out;          /* the caller's result being filled */
    int retryable;
    int ended; /* a stage decided the job's verdict */
    size_t excerpt_cap;
    exec_log log;
    exec_runner rn;
    char **envp;           /* owned: NULL-terminated "K=V" */
    dp_test_result *tests; /* owned until handed to out */
    size_t n_tests;
    size_t alloc_tests;
    char jobdir[4096];
    char box[4200];
    char archive[4200];
    char checker_dir[4200];      /* the custom checker's workspace; "" when none */
    double credit[DP_MAX_TESTS]; /* share of each test's weight a partial score earned */
} exec_job_state;

/* Ends the job with verdict v and a message (format). */
void exec_job_end(exec_job_state *js, dp_verdict v, int retryable, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A new zeroed test result slot at the end of js->tests, or NULL (the job
 * is then ended with SE). */
dp_test_result *exec_job_add_test(exec_job_state *js);

#endif
