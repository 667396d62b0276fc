/* POST /execute's body -> a job spec with inline source (http_inline.h).
 * Pure translation of untrusted JSON, apart from the HTTP request so it
 * can be fuzzed (fuzz/fuzz_http_body.c). */
#include "dispatch/http_inline.h"

#include <stdio.h>
#include <string.h>

#define EXEC_WAIT_BASE_MS 30000 /* queueing, fetch, compile */
#define EXEC_TEST_DEFAULT_MS 5000

static const struct {
    const char *language, *profile, *file;
} exec_languages[] = {
    {"python", "python3", "main.py"},
    {"python3", "python3", "main.py"},
    {"c", "c", "main.c"},
    {"shell", "shell", "test.sh"},
    {"sh", "shell", "test.sh"},
    {"bash", "shell", "test.sh"},
};

/* The request's tests -> spec tests; *wait_ms gets the bounded wait. */
static json_t *spec_tests(const json_t *tests, int64_t *wait_ms, dp_err *err)
{
    json_t *out = json_array();
    *wait_ms = EXEC_WAIT_BASE_MS;
    size_t i;
    json_t *t;
    json_array_foreach(tests, i, t)
    {
        json_t *in = json_object_get(t, "stdin"), *exp = json_object_get(t, "expectedStdout"),
               *to = json_object_get(t, "timeoutMs");
        char name[32];
        snprintf(name, sizeof name, "test%zu", i + 1);
        json_t *st = json_pack("{s:s}", "name", name);
        if (!json_is_object(t) || (in != NULL && !json_is_string(in)) ||
            (exp != NULL && !json_is_null(exp) && !json_is_string(exp)) ||
            (to != NULL && (!json_is_integer(to) || json_integer_value(to) <= 0))) {
            json_decref(st);
            json_decref(out);
            dp_err_set(err, DP_EINVAL,
                       "tests[%zu]: want {\"stdin\": string, \"expectedStdout\": string, "
                       "\"timeoutMs\": positive integer}",
                       i);
            return NULL;
        }
        if (in != NULL)
            json_object_set(st, "stdin", in);
        if (exp != NULL && json_is_string(exp))
            json_object_set(st, "expected_stdout", exp);
        if (to != NULL)
            json_object_set(st, "timeout_ms", to);
        *wait_ms += to != NULL ? json_integer_value(to) : EXEC_TEST_DEFAULT_MS;
        json_array_append_new(out, st);
    }
    if (*wait_ms > HTTP_EXEC_WAIT_MAX_MS)
        *wait_ms = HTTP_EXEC_WAIT_MAX_MS;
    return out;
}

int http_execute_spec(const json_t *doc, json_t **spec, int64_t *wait_ms, dp_err *err)
{
    *spec = NULL;
    *wait_ms = 0;
    if (!json_is_object(doc))
        return dp_err_set(err, DP_EINVAL, "body: not a JSON object");
    const char *lang = json_string_value(json_object_get(doc, "language"));
    json_t *source = json_object_get(doc, "source"), *tests = json_object_get(doc, "tests");
    size_t n_lang = sizeof exec_languages / sizeof exec_languages[0], li = n_lang;
    for (size_t i = 0; lang != NULL && i < n_lang; i++)
        if (strcmp(lang, exec_languages[i].language) == 0)
            li = i;
    if (li == n_lang)
        return dp_err_set(err, DP_EINVAL,
                          "language: want python, python3, c, shell, sh or bash, got '%.40s'",
                          lang != NULL ? lang : "(none)");
    if (!json_is_string(source))
        return dp_err_set(err, DP_EINVAL, "source: want a string");
    if (!json_is_array(tests) || json_array_size(tests) == 0 ||
        json_array_size(tests) > DP_MAX_TESTS)
        return dp_err_set(err, DP_EINVAL, "tests: want an array of 1..%d tests", DP_MAX_TESTS);
    json_t *st = spec_tests(tests, wait_ms, err);
    if (st == NULL)
        return DP_EINVAL;
    *spec = json_pack("{s:s,s:{s:O},s:o}", "profile", exec_languages[li].profile, "files",
                      exec_languages[li].file, source, "tests", st);
    if (*spec == NULL)
        return dp_err_set(err, DP_ENOMEM, "execute: out of memory");
    return DP_OK;
}
