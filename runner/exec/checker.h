/* The custom checker (compare "custom"): a program of the job's archive (or
 * one the profile names) that judges one test's output. Internal to
 * runner/exec; see profile.h for the protocol. */
#ifndef EXEC_CHECKER_H
#define EXEC_CHECKER_H

#include <stddef.h>

#include "common/job.h"
#include "runner/exec/exec_job.h"

/* 1 when the job needs the checker: a test, or the profile, says "custom". */
int exec_checker_needed(const exec_job_state *js);

/* Before anything of the job runs: makes <jobdir>/checker (the checker's own
 * workspace) and, when the checker command is a file of the archive
 * ("./name"), moves it there, out of the submission's reach (a submission
 * could otherwise rewrite it before it judges). Ends the job with CE when
 * the archive lacks it, SE on a local fault. */
void exec_checker_prepare(exec_job_state *js);

/* Judges one test: writes input, expected and actual output to files in the
 * checker's workspace and runs the checker in the sandbox with the profile's
 * checkerLimits. *verdict is AC or WA, *credit the share of the test's
 * weight earned (1 AC, 0 WA, the checker's score when partial); msg gets the
 * checker's first output line. Returns 0, or -1 when the checker failed
 * (crash, limit, exit code, bad score): msg then says why, and the caller
 * ends the job with SE (*retryable set for sandbox faults). */
int exec_checker_judge(exec_job_state *js, const dp_test_case *tc, const char *actual,
                       size_t actual_len, dp_verdict *verdict, double *credit, char *msg,
                       size_t msg_len, int *retryable);

#endif
