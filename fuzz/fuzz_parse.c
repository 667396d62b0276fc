/* libFuzzer harness for the test-output parsers (runner/exec/parse.c), which
 * run as root on whatever a submission printed. Every input goes through all
 * three parsers (JUnit, TAP, unittest), so the seeds are plain real outputs.
 * Checked: no memory error, at most DP_MAX_TESTS cases with the rest counted
 * as dropped, every name a NUL-terminated string of at most 200 bytes, and
 * every unittest failure section lies inside the text. */
#include "fuzz/fuzz_check.h"
#include "runner/exec/parse.h"

#include <string.h>

static void check_cases(const exec_cases *c)
{
    FUZZ_CHECK(c->n <= DP_MAX_TESTS);
    FUZZ_CHECK(c->n <= c->alloc || c->n == 0);
    FUZZ_CHECK(c->dropped == 0 || c->n == DP_MAX_TESTS || c->nomem);
    for (size_t i = 0; i < c->n; i++) {
        FUZZ_CHECK(c->v[i].name != NULL);
        FUZZ_CHECK(strlen(c->v[i].name) <= 200);
        FUZZ_CHECK(c->v[i].verdict == DP_VERDICT_AC || c->v[i].verdict == DP_VERDICT_WA ||
                   c->v[i].verdict == DP_VERDICT_RE);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so ASan sees any read past the end */
    char *text = malloc(size > 0 ? size : 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);

    exec_cases junit = {0};
    exec_parse_junit(text, size, &junit);
    check_cases(&junit);
    exec_cases_free(&junit);

    exec_cases tap = {0};
    int bailed = -1;
    exec_parse_tap(text, size, &tap, &bailed);
    FUZZ_CHECK(bailed == 0 || bailed == 1);
    check_cases(&tap);
    exec_cases_free(&tap);

    exec_cases ut = {0};
    exec_parse_unittest(text, size, &ut);
    check_cases(&ut);
    /* the runner looks up the failure text of each failed test */
    for (size_t i = 0; i < ut.n && i < 16; i++) {
        size_t start = 0, n = 0;
        if (exec_unittest_section(text, size, ut.v[i].name, &start, &n)) {
            FUZZ_CHECK(start <= size);
            FUZZ_CHECK(n <= size - start);
        }
    }
    exec_cases_free(&ut);
    free(text);
    return 0;
}
