/* JSON -> job specs (a producer's text); see job_json.h for the rules and
 * ownership. The meaning of a spec is checked once, by dp_job_spec_check. */
#include "common/job_json.h"

#include "common/addr_policy.h"

#include "common/sha256.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parsing helpers ---------------------------------------------------- */

/* Optional string field: *out stays NULL when absent or null. max_len counts
 * bytes. Strings with embedded NUL (json_t built with JSON_ALLOW_NUL or by
 * hand) are rejected: every consumer treats them as C strings. */
static int get_string(const json_t *obj, const char *key, const char *field, size_t max_len,
                      int required, char **out, dp_err *err)
{
    *out = NULL;
    const json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        if (required)
            return dp_err_set(err, DP_EINVAL, "%s: required", field);
        return DP_OK;
    }
    if (!json_is_string(v))
        return dp_err_set(err, DP_EINVAL, "%s: must be a string", field);
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (strlen(s) != len)
        return dp_err_set(err, DP_EINVAL, "%s: must not contain NUL bytes", field);
    if (required && len == 0)
        return dp_err_set(err, DP_EINVAL, "%s: must not be empty", field);
    if (len > max_len)
        return dp_err_set(err, DP_EINVAL, "%s: longer than %zu bytes", field, max_len);
    *out = strdup(s);
    if (*out == NULL)
        return dp_err_set(err, DP_ENOMEM, "%s: out of memory", field);
    return DP_OK;
}

/* Optional positive integer field in 1..max; *out stays 0 when absent. */
static int get_uint(const json_t *obj, const char *key, const char *field, uint64_t max,
                    uint64_t *out, dp_err *err)
{
    *out = 0;
    const json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return DP_OK;
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || (uint64_t)json_integer_value(v) > max)
        return dp_err_set(err, DP_EINVAL, "%s: must be a positive integer <= %" PRIu64, field, max);
    *out = (uint64_t)json_integer_value(v);
    return DP_OK;
}

/* Optional number field: *out keeps its value when absent or null; its
 * range is dp_job_spec_check's to judge. */
static int get_number(const json_t *obj, const char *key, const char *where, double *out,
                      dp_err *err)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return DP_OK;
    if (!json_is_number(v))
        return dp_err_set(err, DP_EINVAL, "%s%s: must be a number", where, key);
    *out = json_number_value(v);
    return DP_OK;
}

/* Rejects keys not in allowed (NULL-terminated). */
static int check_keys(const json_t *obj, const char *const *allowed, const char *where, dp_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        int ok = 0;
        for (size_t i = 0; allowed[i] != NULL && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok)
            return dp_err_set(err, DP_EINVAL, "%s%.*s: unknown field", where, 100, key);
    }
    return DP_OK;
}

static int parse_limits(const json_t *obj, dp_limits *lim, dp_err *err)
{
    static const char *const keys[] = {"time_ms",   "wall_ms",   "memory_kb",
                                       "processes", "output_kb", NULL};
    if (!json_is_object(obj))
        return dp_err_set(err, DP_EINVAL, "limits: must be an object");
    int rc = check_keys(obj, keys, "limits.", err);
    uint64_t v;
    if (rc == DP_OK &&
        (rc = get_uint(obj, "time_ms", "limits.time_ms", DP_TIMEOUT_MS_MAX, &v, err)) == DP_OK)
        lim->time_ms = (uint32_t)v;
    if (rc == DP_OK &&
        (rc = get_uint(obj, "wall_ms", "limits.wall_ms", DP_WALL_MS_MAX, &v, err)) == DP_OK)
        lim->wall_ms = (uint32_t)v;
    if (rc == DP_OK &&
        (rc = get_uint(obj, "memory_kb", "limits.memory_kb", DP_MEMORY_KB_MAX, &v, err)) == DP_OK)
        lim->memory_kb = v;
    if (rc == DP_OK &&
        (rc = get_uint(obj, "processes", "limits.processes", DP_PROCESSES_MAX, &v, err)) == DP_OK)
        lim->processes = (uint32_t)v;
    if (rc == DP_OK &&
        (rc = get_uint(obj, "output_kb", "limits.output_kb", DP_OUTPUT_KB_MAX, &v, err)) == DP_OK)
        lim->output_kb = v;
    return rc;
}

static int parse_test(const json_t *obj, size_t idx, dp_test_case *tc, dp_err *err)
{
    static const char *const keys[] = {"name",       "stdin",   "expected_stdout",
                                       "timeout_ms", "compare", "abs_tol",
                                       "rel_tol",    "score",   NULL};
    char where[48], field[64];
    snprintf(where, sizeof where, "tests[%zu].", idx);
    if (!json_is_object(obj))
        return dp_err_set(err, DP_EINVAL, "tests[%zu]: must be an object", idx);
    int rc = check_keys(obj, keys, where, err);
    if (rc != DP_OK)
        return rc;
    snprintf(field, sizeof field, "%sname", where);
    if ((rc = get_string(obj, "name", field, DP_TEST_NAME_MAX, 0, &tc->name, err)) != DP_OK)
        return rc;
    if (tc->name == NULL) {
        /* Unnamed tests get their 1-based position, as the runner reports them. */
        char buf[24];
        snprintf(buf, sizeof buf, "t%zu", idx + 1);
        if ((tc->name = strdup(buf)) == NULL)
            return dp_err_set(err, DP_ENOMEM, "%s: out of memory", field);
    }
    snprintf(field, sizeof field, "%sstdin", where);
    if ((rc = get_string(obj, "stdin", field, DP_TEST_DATA_MAX, 0, &tc->stdin_data, err)) != 0)
        return rc;
    snprintf(field, sizeof field, "%sexpected_stdout", where);
    if ((rc = get_string(obj, "expected_stdout", field, DP_TEST_DATA_MAX, 0, &tc->expected_stdout,
                         err)) != DP_OK)
        return rc;
    snprintf(field, sizeof field, "%stimeout_ms", where);
    uint64_t v;
    if ((rc = get_uint(obj, "timeout_ms", field, DP_TIMEOUT_MS_MAX, &v, err)) != DP_OK)
        return rc;
    tc->timeout_ms = (uint32_t)v;
    const json_t *cmp = json_object_get(obj, "compare");
    if (cmp != NULL && !json_is_null(cmp) &&
        dp_compare_parse(json_string_value(cmp), &tc->compare) != DP_OK)
        return dp_err_set(err, DP_EINVAL,
                          "%scompare: must be \"exact\", \"lines\", \"tokens\", \"float\" or "
                          "\"custom\"",
                          where);
    tc->score = 1.0;
    if ((rc = get_number(obj, "abs_tol", where, &tc->abs_tol, err)) != DP_OK ||
        (rc = get_number(obj, "rel_tol", where, &tc->rel_tol, err)) != DP_OK ||
        (rc = get_number(obj, "score", where, &tc->score, err)) != DP_OK)
        return rc;
    return DP_OK;
}

static int parse_tests(const json_t *arr, dp_job_spec *out, dp_err *err)
{
    if (!json_is_array(arr))
        return dp_err_set(err, DP_EINVAL, "tests: must be an array");
    size_t n = json_array_size(arr);
    if (n > DP_MAX_TESTS)
        return dp_err_set(err, DP_EINVAL, "tests: more than %d tests", DP_MAX_TESTS);
    if (n == 0)
        return DP_OK;
    out->tests = calloc(n, sizeof *out->tests);
    if (out->tests == NULL)
        return dp_err_set(err, DP_ENOMEM, "tests: out of memory");
    for (size_t i = 0; i < n; i++) {
        out->n_tests = i + 1; /* so dp_job_spec_free sees the partial one */
        int rc = parse_test(json_array_get(arr, i), i, &out->tests[i], err);
        if (rc != DP_OK)
            return rc;
    }
    return DP_OK;
}

/* "labels" (an array of strings) and "priority" ("high", "normal", "low");
 * their bounds are dp_job_spec_check's. */
static int parse_routing(const json_t *obj, dp_job_spec *out, dp_err *err)
{
    const json_t *labels = json_object_get(obj, "labels");
    if (labels != NULL && !json_is_null(labels)) {
        if (!json_is_array(labels))
            return dp_err_set(err, DP_EINVAL, "labels: must be an array of strings");
        size_t n = json_array_size(labels);
        if (n > DP_JOB_LABELS_MAX)
            return dp_err_set(err, DP_EINVAL, "labels: more than %d labels", DP_JOB_LABELS_MAX);
        if (n > 0 && (out->labels = calloc(n, sizeof *out->labels)) == NULL)
            return dp_err_set(err, DP_ENOMEM, "labels: out of memory");
        for (size_t i = 0; i < n; i++) {
            const json_t *l = json_array_get(labels, i);
            if (!json_is_string(l))
                return dp_err_set(err, DP_EINVAL, "labels[%zu]: must be a string", i);
            if ((out->labels[i] = strdup(json_string_value(l))) == NULL)
                return dp_err_set(err, DP_ENOMEM, "labels: out of memory");
            out->n_labels = i + 1;
        }
    }
    char *prio = NULL;
    int rc = get_string(obj, "priority", "priority", 16, 0, &prio, err);
    if (rc != DP_OK)
        return rc;
    if (prio != NULL && dp_priority_parse(prio, &out->priority) != DP_OK) {
        rc =
            dp_err_set(err, DP_EINVAL, "priority: must be high, normal or low (got '%.16s')", prio);
    }
    free(prio);
    return rc;
}

static int parse_spec(const json_t *obj, dp_job_spec *out, dp_err *err)
{
    static const char *const keys[] = {"job_id",        "profile", "archive",      "archive_sha256",
                                       "submission_id", "tests",   "limits",       "max_attempts",
                                       "abs_tol",       "rel_tol", "callback_url", "labels",
                                       "priority",      NULL};
    if (!json_is_object(obj))
        return dp_err_set(err, DP_EINVAL, "spec: must be a JSON object");
    int rc = check_keys(obj, keys, "", err);
    if (rc != DP_OK)
        return rc;
    if ((rc = get_string(obj, "job_id", "job_id", DP_ID_MAX - 1, 0, &out->job_id, err)) != 0)
        return rc;
    if ((rc = get_string(obj, "profile", "profile", DP_PROFILE_NAME_MAX, 1, &out->profile, err)) !=
        DP_OK)
        return rc;
    if ((rc = get_string(obj, "archive", "archive", DP_URL_MAX, 1, &out->archive, err)) != 0)
        return rc;
    if ((rc = get_string(obj, "archive_sha256", "archive_sha256", DP_SHA256_HEX_LEN, 0,
                         &out->archive_sha256, err)) != DP_OK)
        return rc;
    for (char *p = out->archive_sha256; p != NULL && *p != 0; p++)
        *p = (char)tolower((unsigned char)*p); /* producers may send upper-case hex */
    if ((rc = get_string(obj, "submission_id", "submission_id", DP_ID_MAX - 1, 0,
                         &out->submission_id, err)) != DP_OK)
        return rc;
    if ((rc = get_string(obj, "callback_url", "callback_url", DP_CALLBACK_URL_MAX, 0,
                         &out->callback_url, err)) != DP_OK)
        return rc;
    const json_t *tests = json_object_get(obj, "tests");
    if (tests != NULL && !json_is_null(tests) && (rc = parse_tests(tests, out, err)) != DP_OK)
        return rc;
    const json_t *limits = json_object_get(obj, "limits");
    if (limits != NULL && !json_is_null(limits) &&
        (rc = parse_limits(limits, &out->limits, err)) != DP_OK)
        return rc;
    if ((rc = get_number(obj, "abs_tol", "", &out->abs_tol, err)) != DP_OK ||
        (rc = get_number(obj, "rel_tol", "", &out->rel_tol, err)) != DP_OK)
        return rc;
    uint64_t v;
    if ((rc = get_uint(obj, "max_attempts", "max_attempts", DP_MAX_ATTEMPTS_LIMIT, &v, err)) != 0)
        return rc;
    out->max_attempts = (uint32_t)v;
    if ((rc = parse_routing(obj, out, err)) != DP_OK)
        return rc;
    return dp_job_spec_check(out, "", err); /* the meaning: one check for every path */
}

int dp_job_spec_from_json(const json_t *obj, dp_job_spec *out, dp_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = parse_spec(obj, out, err);
    if (rc != DP_OK)
        dp_job_spec_free(out);
    return rc;
}

static json_t *load_text(const char *text, size_t len, dp_err *err)
{
    if (text == NULL) {
        dp_err_set(err, DP_EINVAL, "spec: no text");
        return NULL;
    }
    if (len > DP_SPEC_TEXT_MAX) {
        dp_err_set(err, DP_EINVAL, "spec: longer than %u bytes", DP_SPEC_TEXT_MAX);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        dp_err_set(err, DP_EINVAL, "spec: invalid JSON at line %d column %d: %s", jerr.line,
                   jerr.column, jerr.text);
    return root;
}

int dp_job_spec_from_text(const char *text, size_t len, dp_job_spec *out, dp_err *err)
{
    memset(out, 0, sizeof *out);
    json_t *root = load_text(text, len, err);
    if (root == NULL)
        return DP_EINVAL;
    int rc = dp_job_spec_from_json(root, out, err);
    json_decref(root);
    return rc;
}

void dp_job_specs_free(dp_job_spec *specs, size_t n)
{
    for (size_t i = 0; specs != NULL && i < n; i++)
        dp_job_spec_free(&specs[i]);
    free(specs);
}

int dp_job_specs_from_text(const char *text, size_t len, dp_job_spec **out, size_t *n, dp_err *err)
{
    *out = NULL;
    *n = 0;
    json_t *root = load_text(text, len, err);
    if (root == NULL)
        return DP_EINVAL;
    int is_array = json_is_array(root);
    size_t count = is_array ? json_array_size(root) : 1;
    int rc = DP_OK;
    if (count == 0 || count > DP_SPEC_BATCH_MAX) {
        rc = dp_err_set(err, DP_EINVAL, "spec: a batch holds 1 to %d specs, not %zu",
                        DP_SPEC_BATCH_MAX, count);
        goto done;
    }
    dp_job_spec *specs = calloc(count, sizeof *specs);
    if (specs == NULL) {
        rc = dp_err_set(err, DP_ENOMEM, "spec: out of memory");
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        dp_err one;
        dp_err_clear(&one);
        rc = dp_job_spec_from_json(is_array ? json_array_get(root, i) : root, &specs[i], &one);
        if (rc != DP_OK) {
            if (is_array)
                dp_err_set(err, rc, "[%zu] %s", i, one.msg);
            else
                dp_err_set(err, rc, "%s", one.msg);
            dp_job_specs_free(specs, i);
            goto done;
        }
    }
    *out = specs;
    *n = count;
done:
    json_decref(root);
    return rc;
}
