/* Running one profile command in the sandbox for the executor: limits from
 * the profile and job, the job's wall budget, logging, verdicts and
 * per-test results. Internal to runner/exec. */
#ifndef EXEC_RUN_H
#define EXEC_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/job.h"
#include "runner/exec/joblog.h"
#include "runner/exec/profile.h"
#include "runner/sandbox/sandbox.h"

/* Everything a command run needs; all pointers borrowed from the job. */
typedef struct {
    sbx *sandbox;
    const char *workspace; /* host path */
    const char *const *envp;
    exec_log *log;
    size_t excerpt_cap;
    uint64_t deadline_ms; /* monotonic ms when the job's budget ends */
    uint64_t fsize_bytes;
    int network;
    uint64_t workspace_cap; /* bytes of the workspace's tmpfs; 0 = not capped */
    int workspace_full;     /* set by exec_run_command: a run failed on a full workspace */
} exec_runner;

/* Monotonic clock in ms. */
uint64_t exec_now_ms(void);

/* Effective limits: the profile's maximums, lowered (never raised) by the
 * job's non-zero limits and then by a test's timeout_ms (0 = none). */
dp_limits exec_limits_merge(const dp_limits *profile, const dp_limits *job,
                            uint32_t test_timeout_ms);

/* Runs cmd with lim under the remaining budget. A run that failed (non-zero
 * exit or a signal) while the capped workspace is full becomes SBX_OL (OLE:
 * it wrote more than the job may, like a file over RLIMIT_FSIZE) with
 * res->message saying so, and rn->workspace_full is set. *res is filled when 0 is
 * returned (free with sbx_result_free); *budget_cut is 1 when the wall limit
 * was shortened by the job's budget. DP_ETIMEOUT without running when the
 * budget is used up; other codes when the sandbox could not run it. */
int exec_run_command(exec_runner *rn, const char *label, const exec_command *cmd,
                     const dp_limits *lim, const char *stdin_data, size_t stdin_len,
                     sbx_result *res, int *budget_cut, dp_err *err);

/* The verdict of a finished run. test_mode: a non-zero exit means failed
 * tests (WA) rather than a crash (RE). */
dp_verdict exec_verdict_of(const sbx_result *res, int test_mode);

/* A short reason for a non-AC run ("exit code 3", "killed by signal 11",
 * "CPU time limit of 1000 ms exceeded", ...) into buf. */
void exec_describe(const sbx_result *res, dp_verdict v, const dp_limits *lim, char *buf,
                   size_t len);

/* Fills t from a run: name copied, figures, excerpts. Returns 0 or
 * DP_ENOMEM. res may be NULL (not run: exit_code -1, no excerpts). */
int exec_test_fill(dp_test_result *t, const char *name, dp_verdict v, const sbx_result *res,
                   size_t excerpt_cap, int with_excerpts);

#endif
