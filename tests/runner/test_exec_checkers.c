/* Checkers end to end through exec_job with the real pits/ profiles and the
 * real sandbox: tokens and float compares with per-test tolerances, score
 * weights (a weight-0 sample test), and the custom checker: AC, WA and a
 * partial score, a submission that tries to replace the checker, and the
 * checker failures that must be SE (a crash, a loop, a bad partial score, an
 * unknown exit code) or CE (no checker in the archive). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner/exec/exec.h"
#include "tests/runner/helpers.h"

static char root[64], work[96];
static exec_ctx *ctx;

static int group_setup(void **state)
{
    (void)state;
    /* a slot of its own, chosen from the pid like exec_langs */
    ctx = th_exec_open("exec-checkers", 60 + (int)(getpid() % 40), root); /* 60..99 */
    if (ctx == NULL)
        return -1;
    snprintf(work, sizeof work, "%s/work", root);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    th_exec_close(ctx, root);
    return 0;
}

/* tokens and float compares end to end, and the score as the weighted share:
 * weights 1, 3, 0 (a sample test) and the 3-weight test failing: 25. */
static void test_checkers_and_weights(void **state)
{
    (void)state;
    th_entry e[] = {{"main.py",
                     "import sys\nx = float(sys.stdin.read())\n"
                     "print(' %r  ' % (x / 3 * 3 + 1e-12), ' ')\n",
                     0, 0}};
    dp_job_spec spec;
    dp_job_result res;
    th_spec(&spec, "python3", th_zip_url(root, e, 1));
    th_spec_test(&spec, "float", "0.1\n", "0.1\n");
    th_spec_test(&spec, "tight", "0.1\n", "0.1\n");
    th_spec_test(&spec, "sample", "0\n", "1e-12");
    spec.tests[0].compare = DP_COMPARE_FLOAT;
    spec.tests[0].score = 1;
    spec.tests[1].compare = DP_COMPARE_FLOAT;
    spec.tests[1].abs_tol = 1e-15; /* 1e-12 off: WA */
    spec.tests[1].score = 3;
    spec.tests[2].compare = DP_COMPARE_TOKENS; /* "1e-12" is its repr: trailing spaces pass */
    spec.tests[2].score = 0;
    th_judge(ctx, work, &spec, DP_VERDICT_WA, &res);
    assert_int_equal(res.tests[0].verdict, DP_VERDICT_AC);
    assert_int_equal(res.tests[1].verdict, DP_VERDICT_WA);
    assert_int_equal(res.tests[2].verdict, DP_VERDICT_AC);
    assert_true(res.score > 24.99 && res.score < 25.01);
    assert_non_null(strstr(res.log, "wrong answer: token 1: expected 0.1, got 0.1"));
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

/* The custom checker: exit 0 AC, 1 WA, 2 partial with the score first. */
static const char checker_py[] = "#!/usr/bin/python3\nimport sys\n"
                                 "inp, exp, act = (open(p).read().split() for p in sys.argv[1:4])\n"
                                 "if act == exp:\n    print('ok'); sys.exit(0)\n"
                                 "if act and exp and abs(int(act[0]) - int(exp[0])) == 1:\n"
                                 "    print('0.5 off by one'); sys.exit(2)\n"
                                 "print('expected %s, got %s' % (exp, act)); sys.exit(1)\n";

/* prints the input plus 0, 1 or 2 by the test, and tries to replace the
 * checker with one that accepts everything (it was moved out of reach) */
static const char checked_py[] = "x = int(input())\nprint(x + (x % 10))\n"
                                 "open('checker', 'w').write('#!/bin/sh\\nexit 0\\n')\n";

static void checker_job(dp_job_spec *spec, const char *checker)
{
    th_entry e[] = {{"main.py", checked_py, 0, 0}, {"checker", checker, 0, 0100755}};
    th_spec(spec, "python3", th_zip_url(root, e, checker != NULL ? 2 : 1));
    th_spec_test(spec, "same", "10\n", "10\n");
    th_spec_test(spec, "near", "11\n", "11\n");
    th_spec_test(spec, "far", "12\n", "12\n");
    for (size_t i = 0; i < 3; i++)
        spec->tests[i].compare = DP_COMPARE_CUSTOM;
}

static void test_custom_checker(void **state)
{
    (void)state;
    dp_job_spec spec;
    dp_job_result res;
    checker_job(&spec, checker_py);
    th_judge(ctx, work, &spec, DP_VERDICT_WA, &res);
    assert_int_equal(res.tests[0].verdict, DP_VERDICT_AC);
    assert_int_equal(res.tests[1].verdict, DP_VERDICT_WA);
    assert_int_equal(res.tests[2].verdict, DP_VERDICT_WA);
    /* (1 + 0.5 + 0) / 3: the partial score counts */
    assert_true(res.score > 49.99 && res.score < 50.01);
    assert_string_equal(res.tests[0].message, "ok"); /* the checker's word, even on AC */
    assert_string_equal(res.tests[1].message, "partial 0.5: off by one");
    assert_string_equal(res.tests[2].message, "expected ['12'], got ['14']");
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

/* A checker that crashes, loops or answers nonsense is SE with a message,
 * never a verdict for the submission; a missing one is the archive's fault. */
static void test_custom_checker_fails(void **state)
{
    (void)state;
    static const struct {
        const char *src;
        const char *msg;
    } cases[] = {
        {"#!/bin/sh\nkill -SEGV $$\n", "checker failed (killed by signal 11"},
        /* CPU or, on a loaded machine, wall: the profile's 5 s / 10 s */
        {"#!/bin/sh\nwhile :; do :; done\n", "time limit"},
        {"#!/bin/sh\necho 1.5; exit 2\n", "needs a score from 0 to 1"},
        {"#!/bin/sh\nexit 7\n", "checker failed (runtime error (exit code 7))"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dp_job_spec spec;
        dp_job_result res;
        checker_job(&spec, cases[i].src);
        spec.limits.time_ms = 500; /* the checker's own limits are the profile's */
        int retry = -1;
        dp_err e;
        assert_int_equal(exec_job(ctx, &spec, 1, &res, &retry, &e), 0);
        if (res.verdict != DP_VERDICT_SE || strstr(res.message, cases[i].msg) == NULL)
            fail_msg("case %zu: %s %s\n%s", i, dp_verdict_name(res.verdict), res.message, res.log);
        assert_non_null(strstr(res.message, "checker")); /* the message says whose fault */
        assert_int_equal(retry, 0); /* deterministic: another runner would do the same */
        assert_true(res.score == 0.0);
        assert_int_equal(res.tests[0].verdict, DP_VERDICT_SE);
        assert_int_equal(th_dir_count(work), 0);
        dp_job_result_free(&res);
        dp_job_spec_free(&spec);
    }
    dp_job_spec spec;
    dp_job_result res;
    checker_job(&spec, NULL);
    th_judge(ctx, work, &spec, DP_VERDICT_CE, &res);
    assert_non_null(strstr(res.message, "no checker file checker"));
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkers_and_weights),
        cmocka_unit_test(test_custom_checker),
        cmocka_unit_test(test_custom_checker_fails),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
