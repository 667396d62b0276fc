/* Per-test results from a test command's output: python unittest -v, TAP,
 * JUnit XML. Parsers read caller-owned text and append to an exec_cases
 * list that owns its names (exec_cases_free). At most DP_MAX_TESTS cases are
 * kept; the rest are counted in dropped. */
#ifndef EXEC_PARSE_H
#define EXEC_PARSE_H

#include <stddef.h>

#include "common/job.h"

typedef struct {
    char *name; /* owned */
    dp_verdict verdict;
} exec_case;

typedef struct {
    exec_case *v; /* owned */
    size_t n;
    size_t alloc;
    size_t dropped;
    int nomem; /* an allocation failed: the list is incomplete */
} exec_cases;

void exec_cases_free(exec_cases *c);

/* "name (module.Class.name) ... ok|FAIL|ERROR|skipped ...|expected failure|
 * unexpected success", as unittest -v writes to stderr (a docstring line may
 * sit between the name and the status). ok, skipped and expected failure
 * count as AC, FAIL and unexpected success as WA, ERROR as RE. */
void exec_parse_unittest(const char *text, size_t len, exec_cases *out);

/* Finds the "FAIL: m (id)" or "ERROR: m (id)" block of unittest output for
 * the test whose full id is name: from that header line to the next block's
 * "=====" line or the final "-----" line before "Ran N tests". Returns 1 and
 * sets *start and *n (offsets into text), or 0. */
int exec_unittest_section(const char *text, size_t len, const char *name, size_t *start, size_t *n);

/* TAP: "ok N - name" and "not ok N - name" at the start of a line; # SKIP
 * and # TODO directives count as AC. *bailed is set on "Bail out!". */
void exec_parse_tap(const char *text, size_t len, exec_cases *out, int *bailed);

/* JUnit XML: each <testcase name=.. classname=..>; a <failure> child is WA,
 * <error> RE, <skipped> AC, none AC. */
void exec_parse_junit(const char *xml, size_t len, exec_cases *out);

#endif
