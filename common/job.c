#include "common/job.h"

#include "common/err.h"

#include <stdlib.h>
#include <string.h>

static const char *const verdict_names[] = {NULL, "AC", "WA", "TLE", "MLE",
                                            "RE", "OLE", "CE", "SE"};
static const char *const state_names[] = {"queued", "leased", "completed", "failed",
                                          "cancelled"};

const char *dp_verdict_name(dp_verdict v)
{
    if ((unsigned)v >= sizeof verdict_names / sizeof verdict_names[0])
        return NULL;
    return verdict_names[v];
}

int dp_verdict_parse(const char *s, dp_verdict *out)
{
    for (size_t i = 1; s != NULL && i < sizeof verdict_names / sizeof verdict_names[0]; i++) {
        if (strcmp(s, verdict_names[i]) == 0) {
            *out = (dp_verdict)i;
            return DP_OK;
        }
    }
    return DP_EINVAL;
}

const char *dp_job_state_name(dp_job_state s)
{
    if ((unsigned)s >= sizeof state_names / sizeof state_names[0])
        return "unknown";
    return state_names[s];
}

int dp_job_state_parse(const char *s, dp_job_state *out)
{
    for (size_t i = 0; s != NULL && i < sizeof state_names / sizeof state_names[0]; i++) {
        if (strcmp(s, state_names[i]) == 0) {
            *out = (dp_job_state)i;
            return DP_OK;
        }
    }
    return DP_EINVAL;
}

int dp_job_state_terminal(dp_job_state s)
{
    return s == DP_JOB_COMPLETED || s == DP_JOB_FAILED || s == DP_JOB_CANCELLED;
}

void dp_test_case_free(dp_test_case *tc)
{
    if (tc == NULL)
        return;
    free(tc->name);
    free(tc->stdin_data);
    free(tc->expected_stdout);
    memset(tc, 0, sizeof *tc);
}

void dp_test_result_free(dp_test_result *tr)
{
    if (tr == NULL)
        return;
    free(tr->name);
    free(tr->stdout_excerpt);
    free(tr->stderr_excerpt);
    memset(tr, 0, sizeof *tr);
}

void dp_job_spec_free(dp_job_spec *spec)
{
    if (spec == NULL)
        return;
    free(spec->job_id);
    free(spec->profile);
    free(spec->archive);
    free(spec->archive_sha256);
    free(spec->submission_id);
    for (size_t i = 0; i < spec->n_tests; i++)
        dp_test_case_free(&spec->tests[i]);
    free(spec->tests);
    memset(spec, 0, sizeof *spec);
}

void dp_job_result_free(dp_job_result *res)
{
    if (res == NULL)
        return;
    free(res->job_id);
    free(res->message);
    for (size_t i = 0; i < res->n_tests; i++)
        dp_test_result_free(&res->tests[i]);
    free(res->tests);
    free(res->log);
    memset(res, 0, sizeof *res);
}
