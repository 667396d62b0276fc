/* Internal to runner/exec: the stages after the workspace is ready, which
 * exec.c runs in order (stages.c). Each ends the job through exec_job_end
 * when it decides the verdict. */
#ifndef EXEC_STAGES_H
#define EXEC_STAGES_H

#include "runner/exec/exec_job.h"

/* Required files, then the setup commands: ends the job with CE (or SE)
 * when one fails. */
void exec_stage_setup(exec_job_state *js);

/* The I/O tests, or the test command with its output parsed. */
void exec_stage_tests(exec_job_state *js);

#endif
