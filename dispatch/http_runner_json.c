/* The JSON bodies of the HTTP runner protocol (dispatch/http_runners.h).
 * Types and bounds are checked here so that a 400 names the JSON field; the
 * message's own validation (messages/msg_validate.c) runs again when it is
 * encoded and decoded, as for any nng runner. */
#include "dispatch/http_runners.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Refuses keys of obj not in allowed (NULL-terminated); names the first. */
static int only_keys(const json_t *obj, const char *const *allowed, const char *what, dp_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        size_t i = 0;
        while (allowed[i] != NULL && strcmp(allowed[i], key) != 0)
            i++;
        if (allowed[i] == NULL)
            return dp_err_set(err, DP_EINVAL, "%s%.80s: unknown field", what, key);
    }
    return DP_OK;
}

/* An optional string of at most max bytes (required: must be there and not
 * empty), copied to *out. */
static int get_str(const json_t *obj, const char *key, size_t max, int required, const char *what,
                   char **out, dp_err *err)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        if (required)
            return dp_err_set(err, DP_EINVAL, "%s%s: required", what, key);
        return DP_OK;
    }
    if (!json_is_string(v))
        return dp_err_set(err, DP_EINVAL, "%s%s: want a string", what, key);
    size_t len = json_string_length(v);
    if (len > max)
        return dp_err_set(err, DP_EINVAL, "%s%s: %zu bytes, at most %zu", what, key, len, max);
    if (required && len == 0)
        return dp_err_set(err, DP_EINVAL, "%s%s: required (empty)", what, key);
    if (memchr(json_string_value(v), '\0', len) != NULL)
        return dp_err_set(err, DP_EINVAL, "%s%s: contains a NUL byte", what, key);
    if ((*out = strdup(json_string_value(v))) == NULL)
        return dp_err_set(err, DP_ENOMEM, "out of memory");
    return DP_OK;
}

/* An optional whole number in lo..hi (absent: *out unchanged). */
static int get_int(const json_t *obj, const char *key, long long lo, long long hi, int required,
                   const char *what, long long *out, dp_err *err)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        if (required)
            return dp_err_set(err, DP_EINVAL, "%s%s: required", what, key);
        return DP_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return dp_err_set(err, DP_EINVAL, "%s%s: want a whole number %lld..%lld", what, key, lo,
                          hi);
    *out = json_integer_value(v);
    return DP_OK;
}

static int get_verdict(const json_t *obj, const char *what, dp_verdict *out, dp_err *err)
{
    const json_t *v = json_object_get(obj, "verdict");
    if (v == NULL || json_is_null(v))
        return dp_err_set(err, DP_EINVAL, "%sverdict: required", what);
    if (!json_is_string(v) || dp_verdict_parse(json_string_value(v), out) != DP_OK ||
        *out == DP_VERDICT_NONE)
        return dp_err_set(err, DP_EINVAL, "%sverdict: want one of AC WA TLE MLE RE OLE CE SE",
                          what);
    return DP_OK;
}

/* An optional array of 0..max strings (each 1..DP_MSG_MAX_NAME bytes, no ','). */
static int get_names(const json_t *obj, const char *key, size_t max, char ***out, size_t *n,
                     dp_err *err)
{
    const json_t *arr = json_object_get(obj, key);
    if (arr == NULL || json_is_null(arr))
        return DP_OK;
    if (!json_is_array(arr) || json_array_size(arr) > max)
        return dp_err_set(err, DP_EINVAL, "%s: want an array of at most %zu strings", key, max);
    if (json_array_size(arr) == 0)
        return DP_OK;
    if ((*out = calloc(json_array_size(arr), sizeof **out)) == NULL)
        return dp_err_set(err, DP_ENOMEM, "out of memory");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *v = json_array_get(arr, i);
        const char *s = json_string_value(v);
        if (s == NULL || json_string_length(v) == 0 || json_string_length(v) > DP_MSG_MAX_NAME ||
            strlen(s) != json_string_length(v) || strchr(s, ',') != NULL)
            return dp_err_set(err, DP_EINVAL,
                              "%s[%zu]: want a string of 1..%d bytes without ',' or NUL", key, i,
                              DP_MSG_MAX_NAME);
        if (((*out)[i] = strdup(s)) == NULL)
            return dp_err_set(err, DP_ENOMEM, "out of memory");
        (*n)++;
    }
    return DP_OK;
}

static void register_free(dp_msg_register *r)
{
    dp_msg m = {.type = DP_MSG_REGISTER};
    m.reg = *r;
    dp_msg_free(&m);
    memset(r, 0, sizeof *r);
}

int http_register_from_json(const json_t *doc, dp_msg_register *out, dp_err *err)
{
    static const char *const keys[] = {
        "registration_token", "name", "labels", "profiles", "slots", "version", NULL};
    memset(out, 0, sizeof *out);
    if (!json_is_object(doc))
        return dp_err_set(err, DP_EINVAL, "body: want a JSON object");
    long long slots = 0;
    int rc = only_keys(doc, keys, "", err);
    if (rc == DP_OK)
        rc = get_str(doc, "registration_token", DP_MSG_MAX_TOKEN, 1, "", &out->registration_token,
                     err);
    if (rc == DP_OK)
        rc = get_str(doc, "name", DP_MSG_MAX_NAME, 1, "", &out->name, err);
    if (rc == DP_OK)
        rc = get_int(doc, "slots", 1, DP_MSG_MAX_LEASE, 1, "", &slots, err);
    if (rc == DP_OK)
        rc = get_str(doc, "version", DP_MSG_MAX_NAME, 0, "", &out->version, err);
    if (rc == DP_OK)
        rc = get_names(doc, "labels", DP_MSG_MAX_LABELS, &out->labels, &out->n_labels, err);
    if (rc == DP_OK)
        rc = get_names(doc, "profiles", DP_MSG_MAX_LABELS, &out->profiles, &out->n_profiles, err);
    if (rc != DP_OK) {
        register_free(out);
        return rc;
    }
    out->capacity = (uint32_t)slots;
    return DP_OK;
}

static int test_from_json(const json_t *t, const char *what, dp_test_result *tr, dp_err *err)
{
    static const char *const keys[] = {"name",    "verdict", "exit_code", "signal",
                                       "time_ms", "wall_ms", "memory_kb", "stdout",
                                       "stderr",  "message", NULL};
    if (!json_is_object(t))
        return dp_err_set(err, DP_EINVAL, "%s: want an object", what);
    char w[48];
    snprintf(w, sizeof w, "%s.", what);
    long long exit_code = 0, sig = 0, time_ms = 0, wall_ms = 0, memory_kb = 0;
    int rc = only_keys(t, keys, w, err);
    if (rc == DP_OK)
        rc = get_verdict(t, w, &tr->verdict, err);
    if (rc == DP_OK)
        rc = get_str(t, "name", DP_TEST_NAME_MAX, 0, w, &tr->name, err);
    if (rc == DP_OK)
        rc = get_int(t, "exit_code", -1, 255, 0, w, &exit_code, err);
    if (rc == DP_OK)
        rc = get_int(t, "signal", 0, 128, 0, w, &sig, err);
    if (rc == DP_OK)
        rc = get_int(t, "time_ms", 0, UINT32_MAX, 0, w, &time_ms, err);
    if (rc == DP_OK)
        rc = get_int(t, "wall_ms", 0, UINT32_MAX, 0, w, &wall_ms, err);
    if (rc == DP_OK)
        rc = get_int(t, "memory_kb", 0, (long long)DP_MEMORY_KB_MAX, 0, w, &memory_kb, err);
    if (rc == DP_OK)
        rc = get_str(t, "stdout", DP_MSG_MAX_STR, 0, w, &tr->stdout_excerpt, err);
    if (rc == DP_OK)
        rc = get_str(t, "stderr", DP_MSG_MAX_STR, 0, w, &tr->stderr_excerpt, err);
    if (rc == DP_OK)
        rc = get_str(t, "message", DP_MSG_MAX_STR, 0, w, &tr->message, err);
    tr->exit_code = (int)exit_code;
    tr->signal = (int)sig;
    tr->time_ms = (uint32_t)time_ms;
    tr->wall_ms = (uint32_t)wall_ms;
    tr->memory_kb = (uint64_t)memory_kb;
    return rc;
}

int http_result_from_json(const json_t *doc, const char *job_id, dp_job_result *out, bool *retry,
                          dp_err *err)
{
    static const char *const keys[] = {"attempt", "verdict", "score", "message",
                                       "tests",   "log",     "retry", NULL};
    memset(out, 0, sizeof *out);
    *retry = false;
    if (!json_is_object(doc))
        return dp_err_set(err, DP_EINVAL, "body: want a JSON object");
    long long attempt = 0;
    int rc = only_keys(doc, keys, "", err);
    if (rc == DP_OK)
        rc = get_int(doc, "attempt", 1, UINT32_MAX, 1, "", &attempt, err);
    if (rc == DP_OK)
        rc = get_verdict(doc, "", &out->verdict, err);
    out->score = out->verdict == DP_VERDICT_AC ? 100.0 : 0.0;
    const json_t *v = json_object_get(doc, "score");
    if (rc == DP_OK && v != NULL && !json_is_null(v)) {
        if (!json_is_number(v) || !(json_number_value(v) >= 0 && json_number_value(v) <= 100))
            rc = dp_err_set(err, DP_EINVAL, "score: want a number 0..100");
        else
            out->score = json_number_value(v);
    }
    if (rc == DP_OK)
        rc = get_str(doc, "message", DP_MSG_MAX_STR, 0, "", &out->message, err);
    if (rc == DP_OK)
        rc = get_str(doc, "log", DP_MSG_MAX_LOG, 0, "", &out->log, err);
    if (rc == DP_OK && out->log != NULL)
        out->log_len = strlen(out->log);
    v = json_object_get(doc, "retry");
    if (rc == DP_OK && v != NULL && !json_is_null(v)) {
        if (!json_is_boolean(v))
            rc = dp_err_set(err, DP_EINVAL, "retry: want true or false");
        else
            *retry = json_is_true(v);
    }
    const json_t *tests = json_object_get(doc, "tests");
    if (rc == DP_OK && tests != NULL && !json_is_null(tests)) {
        if (!json_is_array(tests) || json_array_size(tests) > DP_MAX_TESTS)
            rc = dp_err_set(err, DP_EINVAL, "tests: want an array of at most %d tests",
                            DP_MAX_TESTS);
        else if (json_array_size(tests) > 0 &&
                 (out->tests = calloc(json_array_size(tests), sizeof *out->tests)) == NULL)
            rc = dp_err_set(err, DP_ENOMEM, "out of memory");
        for (size_t i = 0; rc == DP_OK && i < json_array_size(tests); i++) {
            char what[32];
            snprintf(what, sizeof what, "tests[%zu]", i);
            out->n_tests++;
            rc = test_from_json(json_array_get(tests, i), what, &out->tests[i], err);
        }
    }
    if (rc == DP_OK && (out->job_id = strdup(job_id)) == NULL)
        rc = dp_err_set(err, DP_ENOMEM, "out of memory");
    if (rc != DP_OK) {
        dp_job_result_free(out);
        memset(out, 0, sizeof *out);
        return rc;
    }
    out->attempt = (uint32_t)attempt;
    return DP_OK;
}
