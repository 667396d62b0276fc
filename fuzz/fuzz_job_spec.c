/* libFuzzer harness for job-spec JSON (common/job_json.c), the text a
 * producer submits. Checked: a refusal has a message; an accepted spec
 * keeps the documented bounds, and goes through dp_job_spec_to_json and back
 * unchanged (to_json(from_json(to_json(s))) equals to_json(s)); the same
 * bytes as arbitrary program output give a valid, NUL-free JSON string
 * (dp_json_string_lossy), and the spec writer (dp_job_spec_json_text)
 * escapes them to the same string. */
#include "common/job_json.h"
#include "fuzz/fuzz_check.h"

#include <string.h>

static void check_spec(const dp_job_spec *s)
{
    FUZZ_CHECK(s->profile != NULL && s->profile[0] != '\0');
    FUZZ_CHECK(strlen(s->profile) <= DP_PROFILE_NAME_MAX);
    FUZZ_CHECK(s->archive != NULL && strlen(s->archive) <= DP_URL_MAX);
    FUZZ_CHECK(s->archive_sha256 == NULL || strlen(s->archive_sha256) == 64);
    FUZZ_CHECK(s->n_tests <= DP_MAX_TESTS);
    FUZZ_CHECK(s->max_attempts <= DP_MAX_ATTEMPTS_LIMIT);
    for (size_t i = 0; i < s->n_tests; i++) {
        FUZZ_CHECK(s->tests[i].name != NULL && s->tests[i].name[0] != '\0');
        FUZZ_CHECK(strlen(s->tests[i].name) <= DP_TEST_NAME_MAX);
        FUZZ_CHECK(s->tests[i].timeout_ms <= DP_TIMEOUT_MS_MAX);
    }
    json_t *a = dp_job_spec_to_json(s);
    FUZZ_CHECK(a != NULL);
    dp_job_spec back;
    dp_err err;
    dp_err_clear(&err);
    if (dp_job_spec_from_json(a, &back, &err) != DP_OK) {
        fprintf(stderr, "round trip refused: %s\n", err.msg);
        FUZZ_CHECK(!"a spec's own JSON parses again");
    }
    json_t *b = dp_job_spec_to_json(&back);
    FUZZ_CHECK(b != NULL && json_equal(a, b));
    json_decref(a);
    json_decref(b);
    dp_job_spec_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size > 0 ? size : 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);

    dp_job_spec *specs = NULL;
    size_t n = 0;
    dp_err err;
    dp_err_clear(&err);
    int rc = dp_job_specs_from_text(text, size, &specs, &n, &err);
    if (rc == DP_OK) {
        FUZZ_CHECK(n >= 1 && n <= DP_SPEC_BATCH_MAX && specs != NULL);
        for (size_t i = 0; i < n; i++)
            check_spec(&specs[i]);
        dp_job_specs_free(specs, n);
    } else {
        FUZZ_CHECK(specs == NULL && n == 0 && err.msg[0] != '\0');
    }

    dp_job_spec one;
    dp_err_clear(&err);
    if (dp_job_spec_from_text(text, size, &one, &err) == DP_OK) {
        check_spec(&one);
        dp_job_spec_free(&one);
    } else {
        FUZZ_CHECK(err.msg[0] != '\0' && one.profile == NULL && one.tests == NULL);
    }

    json_t *s = dp_json_string_lossy(text, size);
    if (s != NULL) {
        FUZZ_CHECK(json_is_string(s));
        FUZZ_CHECK(strlen(json_string_value(s)) == json_string_length(s));
        char *dumped = json_dumps(s, JSON_ENCODE_ANY);
        FUZZ_CHECK(dumped != NULL);
        json_t *again = json_loads(dumped, JSON_DECODE_ANY, NULL);
        FUZZ_CHECK(again != NULL && json_equal(s, again));
        json_decref(again);
        free(dumped);
        /* the spec writer's escaping of the same bytes (up to a NUL, as a C
         * string) reads back as the lossy string of those bytes */
        size_t clen = strnlen(text, size);
        char *cstr = strndup(text, clen);
        json_t *want = dp_json_string_lossy(text, clen);
        dp_test_case tc = {.name = "t", .stdin_data = cstr, .score = 1};
        dp_job_spec spec = {.profile = "p", .archive = "file:///a", .tests = &tc, .n_tests = 1};
        json_t *tree = cstr != NULL ? dp_job_spec_to_json(&spec) : NULL;
        if (cstr != NULL && want != NULL) {
            json_t *got =
                json_object_get(json_array_get(json_object_get(tree, "tests"), 0), "stdin");
            FUZZ_CHECK(tree != NULL && json_equal(got, want));
        }
        json_decref(tree);
        json_decref(want);
        free(cstr);
        json_decref(s);
    }
    free(text);
    return 0;
}
