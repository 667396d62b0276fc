/* dp_job_spec_check: the one place that says what a valid job spec is. */
#include "common/job.h"

#include "common/addr_policy.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

static bool has_control_chars(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != 0; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

static bool id_ok(const char *s)
{
    if (*s == '\0')
        return false;
    for (const char *p = s; *p != '\0'; p++)
        if (!isalnum((unsigned char)*p) && strchr("_.:-", *p) == NULL)
            return false;
    return true;
}

/* A profile names a file on the runner: a plain file name. */
static bool profile_ok(const char *p)
{
    if (!isalnum((unsigned char)p[0]) || strlen(p) > DP_PROFILE_NAME_MAX)
        return false;
    for (; *p != '\0'; p++)
        if (!isalnum((unsigned char)*p) && strchr("_.-", *p) == NULL)
            return false;
    return true;
}

static const char *archive_problem(const char *url)
{
    if (strlen(url) > DP_URL_MAX)
        return "longer than the URL bound";
    if (strncmp(url, "file://", 7) == 0) {
        if (url[7] != '/')
            return "a file:// URL must hold an absolute path";
    } else if (!(strncmp(url, "http://", 7) == 0 && url[7] != '\0') &&
               !(strncmp(url, "https://", 8) == 0 && url[8] != '\0')) {
        return "scheme must be file://, http:// or https:// (lower case)";
    }
    for (const unsigned char *p = (const unsigned char *)url; *p != 0; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return "URL must not contain spaces or control characters";
    return NULL;
}

static bool sha256_hex_ok(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    return n == 64;
}

#define BAD(...) dp_err_set(err, DP_EINVAL, __VA_ARGS__)

/* also false for NaN */
static int tol_ok(double t)
{
    return t >= 0 && t <= DP_FLOAT_TOL_MAX;
}

static int check_tests(const dp_job_spec *spec, const char *w, const char *dot, dp_err *err)
{
    if (spec->n_tests > DP_MAX_TESTS)
        return BAD("%s%stests: more than %d tests", w, dot, DP_MAX_TESTS);
    size_t total = 0;
    for (size_t i = 0; i < spec->n_tests; i++) {
        const dp_test_case *t = &spec->tests[i];
        if (t->name == NULL || t->name[0] == '\0' || strlen(t->name) > DP_TEST_NAME_MAX ||
            has_control_chars(t->name))
            return BAD("%s%stests[%zu].name: required, at most %d bytes, no control characters", w,
                       dot, i, DP_TEST_NAME_MAX);
        size_t in = t->stdin_data ? strlen(t->stdin_data) : 0;
        size_t out = t->expected_stdout ? strlen(t->expected_stdout) : 0;
        if (in > DP_TEST_DATA_MAX || out > DP_TEST_DATA_MAX)
            return BAD("%s%stests[%zu]: stdin or expected_stdout over %u bytes", w, dot, i,
                       DP_TEST_DATA_MAX);
        if (t->timeout_ms > DP_TIMEOUT_MS_MAX)
            return BAD("%s%stests[%zu].timeout_ms: above %u", w, dot, i, DP_TIMEOUT_MS_MAX);
        if ((unsigned)t->compare > DP_COMPARE_CUSTOM)
            return BAD("%s%stests[%zu].compare: unknown mode", w, dot, i);
        if (!tol_ok(t->abs_tol) || !tol_ok(t->rel_tol))
            return BAD("%s%stests[%zu]: abs_tol and rel_tol must be from 0 to %g", w, dot, i,
                       DP_FLOAT_TOL_MAX);
        if (!(t->score >= 0 && t->score <= DP_TEST_SCORE_MAX))
            return BAD("%s%stests[%zu].score: must be from 0 to %g", w, dot, i, DP_TEST_SCORE_MAX);
        total += in + out;
    }
    if (total > DP_SPEC_TEXT_MAX)
        return BAD("%s%stests: stdin and expected_stdout exceed %u bytes", w, dot,
                   DP_SPEC_TEXT_MAX);
    return DP_OK;
}

static int check_limits(const dp_limits *l, const char *w, const char *dot, dp_err *err)
{
    if (l->time_ms > DP_TIMEOUT_MS_MAX)
        return BAD("%s%slimits.time_ms: above %u", w, dot, DP_TIMEOUT_MS_MAX);
    if (l->wall_ms > DP_WALL_MS_MAX)
        return BAD("%s%slimits.wall_ms: above %u", w, dot, DP_WALL_MS_MAX);
    if (l->memory_kb > DP_MEMORY_KB_MAX)
        return BAD("%s%slimits.memory_kb: above %llu", w, dot, DP_MEMORY_KB_MAX);
    if (l->processes > DP_PROCESSES_MAX)
        return BAD("%s%slimits.processes: above %u", w, dot, DP_PROCESSES_MAX);
    if (l->output_kb > DP_OUTPUT_KB_MAX)
        return BAD("%s%slimits.output_kb: above %llu", w, dot, DP_OUTPUT_KB_MAX);
    return DP_OK;
}

int dp_job_spec_check(const dp_job_spec *spec, const char *what, dp_err *err)
{
    const char *w = what != NULL ? what : "";
    const char *dot = w[0] != '\0' ? "." : "";
    const char *problem;
    if (spec->job_id != NULL && (!id_ok(spec->job_id) || strlen(spec->job_id) >= DP_ID_MAX))
        return BAD("%s%sjob_id: must be non-empty [A-Za-z0-9_.:-]", w, dot);
    if (spec->profile == NULL || spec->profile[0] == '\0')
        return BAD("%s%sprofile: required", w, dot);
    if (!profile_ok(spec->profile))
        return BAD("%s%sprofile: must be [A-Za-z0-9_.-], start with a letter or digit, at "
                   "most %d characters ('%.80s')",
                   w, dot, DP_PROFILE_NAME_MAX, spec->profile);
    if (spec->archive == NULL || spec->archive[0] == '\0')
        return BAD("%s%sarchive: required", w, dot);
    if ((problem = archive_problem(spec->archive)) != NULL)
        return BAD("%s%sarchive: %s", w, dot, problem);
    if (spec->archive_sha256 != NULL && !sha256_hex_ok(spec->archive_sha256))
        return BAD("%s%sarchive_sha256: must be 64 lower-case hex characters", w, dot);
    if (spec->submission_id != NULL &&
        (spec->submission_id[0] == '\0' || strlen(spec->submission_id) >= DP_ID_MAX ||
         has_control_chars(spec->submission_id)))
        return BAD("%s%ssubmission_id: must be non-empty without control characters", w, dot);
    char why[320];
    if (spec->callback_url != NULL &&
        (problem = dp_callback_url_problem(spec->callback_url, why, sizeof why)) != NULL)
        return BAD("%s%scallback_url: %s", w, dot, problem);
    if (spec->max_attempts > DP_MAX_ATTEMPTS_LIMIT)
        return BAD("%s%smax_attempts: %u above %d", w, dot, spec->max_attempts,
                   DP_MAX_ATTEMPTS_LIMIT);
    if (!tol_ok(spec->abs_tol) || !tol_ok(spec->rel_tol))
        return BAD("%s%sabs_tol and rel_tol: must be from 0 to %g", w, dot, DP_FLOAT_TOL_MAX);
    if (spec->priority > DP_PRIORITY_LOW)
        return BAD("%s%spriority: must be high, normal or low", w, dot);
    if (spec->n_labels > DP_JOB_LABELS_MAX)
        return BAD("%s%slabels: more than %d labels", w, dot, DP_JOB_LABELS_MAX);
    for (size_t i = 0; i < spec->n_labels; i++) {
        if (!dp_label_ok(spec->labels[i]))
            return BAD("%s%slabels[%zu]: must be [A-Za-z0-9_.-], start with a letter or digit, "
                       "at most %d characters",
                       w, dot, i, DP_LABEL_MAX);
        for (size_t j = 0; j < i; j++)
            if (strcmp(spec->labels[i], spec->labels[j]) == 0)
                return BAD("%s%slabels[%zu]: '%s' is given twice", w, dot, i, spec->labels[i]);
    }
    int rc = check_tests(spec, w, dot, err);
    return rc != DP_OK ? rc : check_limits(&spec->limits, w, dot, err);
}
