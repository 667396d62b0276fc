/* Unit tests for runner/exec pieces that need no sandbox: output
 * comparison, excerpts, zip name and mode checks, profile validation, test
 * output parsers, limit merging and the capped log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>

#include "runner/exec/compare.h"
#include "runner/exec/extract.h"
#include "runner/exec/joblog.h"
#include "runner/exec/parse.h"
#include "runner/exec/profile.h"
#include "runner/exec/run.h"

static int match(const char *e, const char *a, dp_compare m)
{
    return exec_output_matches(e, strlen(e), a, strlen(a), m);
}

static void test_compare_exact(void **state)
{
    (void)state;
    assert_true(match("10\n", "10\n", DP_COMPARE_EXACT));
    assert_true(match("10\n", "10\n", DP_COMPARE_DEFAULT));
    assert_false(match("10\n", "10", DP_COMPARE_EXACT));
    assert_false(match("10\n", "10 \n", DP_COMPARE_EXACT));
    assert_false(match("10\n", "11\n", DP_COMPARE_EXACT));
    assert_true(match("", "", DP_COMPARE_EXACT));
    /* embedded NUL bytes count */
    assert_false(exec_output_matches("a\0b", 3, "a\0c", 3, DP_COMPARE_EXACT));
}

static void test_compare_lines(void **state)
{
    (void)state;
    assert_true(match("1\n2\n", "1  \n2\t\r\n\n\n", DP_COMPARE_LINES));
    assert_true(match("1\n2", "1\n2\n", DP_COMPARE_LINES));
    assert_true(match("", "\n \n", DP_COMPARE_LINES));
    assert_false(match("1\n2\n", "1\n\n2\n", DP_COMPARE_LINES)); /* inner blank line counts */
    assert_false(match("1\n2\n", " 1\n2\n", DP_COMPARE_LINES));  /* leading space counts */
    assert_false(match("1\n2\n", "1\n", DP_COMPARE_LINES));
    assert_false(match("1\n", "1\n2\n", DP_COMPARE_LINES));
}

/* tokens: whitespace of any kind and amount is a separator, nothing more */
static void test_compare_tokens(void **state)
{
    (void)state;
    assert_true(match("1 2\n3\n", "1   2 3   \n\n", DP_COMPARE_TOKENS)); /* trailing spaces */
    assert_true(match("1 2", "\t1\r\n2\v\f", DP_COMPARE_TOKENS));
    assert_true(match("", " \n\t", DP_COMPARE_TOKENS));
    assert_false(match("1 2", "12", DP_COMPARE_TOKENS));
    assert_false(match("1 2", "1 2 3", DP_COMPARE_TOKENS));
    assert_false(match("1 2 3", "1 2", DP_COMPARE_TOKENS));
    assert_false(match("1.0", "1", DP_COMPARE_TOKENS)); /* text, not numbers */
    char why[96];
    assert_false(exec_tokens_match("a b c", 5, "a b d", 5, 0, 0, 0, why, sizeof why));
    assert_string_equal(why, "token 3: expected c, got d");
    assert_false(exec_tokens_match("a b", 3, "a", 1, 0, 0, 0, why, sizeof why));
    assert_string_equal(why, "token 2: expected more output, got its end");
}

static int fmatch(const char *e, const char *a, double abs_tol, double rel_tol)
{
    return exec_tokens_match(e, strlen(e), a, strlen(a), 1, abs_tol, rel_tol, NULL, 0);
}

/* float: numbers within abs_tol or rel_tol (default 1e-6 both) */
static void test_compare_float(void **state)
{
    (void)state;
    assert_true(match("0.0", "-0.0", DP_COMPARE_FLOAT)); /* -0.0 is 0 */
    assert_true(match("-0.0\n", "0  ", DP_COMPARE_FLOAT));
    assert_true(match("3.14159265", "3.1415929", DP_COMPARE_FLOAT)); /* default 1e-6 */
    assert_false(match("3.14159265", "3.14160", DP_COMPARE_FLOAT));
    assert_true(match("1e6 2", "1000000.0000 2.0000000", DP_COMPARE_FLOAT));
    assert_true(match("abc 1.5", "abc 1.5000000001", DP_COMPARE_FLOAT));
    assert_false(match("abc 1.5", "abd 1.5", DP_COMPARE_FLOAT)); /* words compare as text */
    assert_false(match("nan", "0", DP_COMPARE_FLOAT));           /* not finite: text */
    assert_true(match("nan inf", "nan inf", DP_COMPARE_FLOAT));
    assert_false(match("1", "0x1p0z", DP_COMPARE_FLOAT)); /* must parse whole */
    /* 1e-9: absolute only (rel 0 is not "default" when abs is set) */
    assert_true(fmatch("1.000000000", "1.0000000009", 1e-9, 0));
    assert_false(fmatch("1.000000000", "1.0000000011", 1e-9, 0));
    assert_false(fmatch("0", "1e-8", 1e-9, 0));
    assert_true(fmatch("0", "1e-10", 1e-9, 0));
    /* relative to the expected value: large numbers */
    assert_true(fmatch("1e12", "1.0000001e12", 0, 1e-6));
    assert_false(fmatch("1e12", "1.00001e12", 0, 1e-6));
    assert_false(fmatch("0", "1e-300", 0, 1e-6));   /* rel of 0 is 0 */
    assert_true(fmatch("0", "1e-300", 1e-9, 1e-6)); /* either tolerance suffices */
}

static void test_excerpt(void **state)
{
    (void)state;
    char *s = exec_excerpt("hello", 5, 16);
    assert_string_equal(s, "hello");
    free(s);
    char big[1000];
    memset(big, 'a', sizeof big);
    memset(big + 990, 'z', 10);
    memset(big, 'h', 4);
    s = exec_excerpt(big, sizeof big, 20);
    assert_non_null(strstr(s, "[... 980 bytes cut ...]"));
    assert_memory_equal(s, "hhhhaaaaaa", 10);
    assert_string_equal(s + strlen(s) - 10, "zzzzzzzzzz");
    free(s);
    /* NUL and invalid UTF-8 become '?', valid multi-byte text stays */
    s = exec_excerpt("a\0b\xff\xc3\xa9", 6, 64);
    assert_string_equal(s, "a?b?\xc3\xa9");
    free(s);
    s = exec_excerpt(NULL, 0, 8);
    assert_string_equal(s, "");
    free(s);
}

static void test_zip_names(void **state)
{
    (void)state;
    dp_err e;
    assert_int_equal(exec_zip_name_check("main.c", &e), 0);
    assert_int_equal(exec_zip_name_check("src/dir/", &e), 0);
    assert_int_equal(exec_zip_name_check("a/..b/c", &e), 0);
    assert_int_equal(exec_zip_name_check("../evil", &e), DP_EINVAL);
    assert_string_equal(e.msg, "'..' component");
    assert_int_equal(exec_zip_name_check("a/../../evil", &e), DP_EINVAL);
    assert_int_equal(exec_zip_name_check("a/..", &e), DP_EINVAL);
    assert_int_equal(exec_zip_name_check("/etc/passwd", &e), DP_EINVAL);
    assert_string_equal(e.msg, "absolute path");
    assert_int_equal(exec_zip_name_check("a\\..\\b", &e), DP_EINVAL);
    assert_int_equal(exec_zip_name_check("C:/x", &e), DP_EINVAL);
    assert_int_equal(exec_zip_name_check("a//b", &e), DP_EINVAL);
    assert_int_equal(exec_zip_name_check("", &e), DP_EINVAL);
}

static void test_zip_modes(void **state)
{
    (void)state;
    dp_err e;
    assert_int_equal(exec_zip_mode_check(ZIP_OPSYS_UNIX, (S_IFREG | 0644u) << 16, &e), 0);
    assert_int_equal(exec_zip_mode_check(ZIP_OPSYS_UNIX, (S_IFDIR | 0755u) << 16, &e), 0);
    assert_int_equal(exec_zip_mode_check(ZIP_OPSYS_DOS, 0x20, &e), 0);
    assert_int_equal(exec_zip_mode_check(ZIP_OPSYS_UNIX, (S_IFLNK | 0777u) << 16, &e), DP_EINVAL);
    assert_string_equal(e.msg, "symlink");
    assert_int_equal(exec_zip_mode_check(ZIP_OPSYS_UNIX, (S_IFCHR | 0666u) << 16, &e), DP_EINVAL);
    assert_string_equal(e.msg, "device file");
    assert_int_equal(exec_zip_mode_check(ZIP_OPSYS_UNIX, (S_IFIFO | 0666u) << 16, &e), DP_EINVAL);
}

#define GOOD_LIMITS                                                                                \
    "\"limits\":{\"time_ms\":1000,\"wall_ms\":2000,\"memory_kb\":65536,\"processes\":8,"           \
    "\"output_kb\":64}"

static int parse(const char *json, exec_profile **p, dp_err *e)
{
    return exec_profile_parse("t", json, strlen(json), p, e);
}

static void test_profile_good(void **state)
{
    (void)state;
    exec_profile *p;
    dp_err e;
    const char *j = "{\"language\":\"c\",\"requiredFiles\":[\"main.c\"],"
                    "\"setupCommands\":[\"gcc -o main main.c\",[\"true\",\"x\"]],"
                    "\"runCommand\":[\"./main\"],\"environment\":{\"A\":\"b\"},"
                    "\"maxTimeoutMs\":60000," GOOD_LIMITS ",\"compare\":\"lines\"}";
    assert_int_equal(parse(j, &p, &e), 0);
    assert_string_equal(p->language, "c");
    assert_int_equal(p->n_setup, 2);
    assert_string_equal(p->setup[0].argv[0], "/bin/sh");
    assert_string_equal(p->setup[0].argv[2], "gcc -o main main.c");
    assert_string_equal(p->setup[1].text, "true x");
    assert_null(p->setup[1].argv[2]);
    assert_string_equal(p->run_command.argv[0], "./main");
    assert_null(p->test_command.argv);
    assert_string_equal(p->env[0], "A=b");
    assert_int_equal(p->limits.memory_kb, 65536);
    assert_int_equal(p->setup_limits.time_ms, 1000);
    assert_int_equal(p->compare, DP_COMPARE_LINES);
    assert_int_equal(p->format, EXEC_FORMAT_EXIT);
    exec_profile_free(p);
}

/* Each bad profile is refused with a message naming the field. */
static void test_profile_bad(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *needle;
    } cases[] = {
        {"{", "bad JSON"},
        {"[]", "must be a JSON object"},
        {"{\"runCommand\":\"x\",\"maxTimeoutMs\":1," GOOD_LIMITS "}", "field language"},
        {"{\"language\":\"c\",\"maxTimeoutMs\":1," GOOD_LIMITS "}", "field testCommand"},
        {"{\"language\":\"c\",\"runCommand\":\"x\"," GOOD_LIMITS "}", "field maxTimeoutMs"},
        {"{\"language\":\"c\",\"runCommand\":\"x\",\"maxTimeoutMs\":0," GOOD_LIMITS "}",
         "field maxTimeoutMs"},
        {"{\"language\":\"c\",\"runCommand\":\"x\",\"maxTimeoutMs\":5}", "field limits"},
        {"{\"language\":\"c\",\"runCommand\":\"x\",\"maxTimeoutMs\":5,\"limits\":{\"time_ms\":1,"
         "\"wall_ms\":1,\"memory_kb\":1,\"processes\":1}}",
         "field limits.output_kb"},
        {"{\"language\":\"c\",\"runCommand\":\"x\",\"maxTimeoutMs\":5," GOOD_LIMITS
         ",\"setupCommand\":[]}",
         "field setupCommand: unknown key"},
        {"{\"language\":\"c\",\"runCommand\":[],\"maxTimeoutMs\":5," GOOD_LIMITS "}",
         "field runCommand"},
        {"{\"language\":\"c\",\"runCommand\":\"x\",\"maxTimeoutMs\":5," GOOD_LIMITS
         ",\"compare\":\"fuzzy\"}",
         "field compare: must be one of exact, lines"},
        {"{\"language\":\"c\",\"runCommand\":\"x\",\"maxTimeoutMs\":5," GOOD_LIMITS
         ",\"testFormat\":\"junit\"}",
         "field junitFile"},
        {"{\"language\":\"c\",\"runCommand\":\"x\",\"maxTimeoutMs\":5," GOOD_LIMITS
         ",\"environment\":{\"A\":1}}",
         "field environment.A"},
        {"{\"language\":\"c\",\"runCommand\":\"x\",\"maxTimeoutMs\":5," GOOD_LIMITS
         ",\"network\":\"yes\"}",
         "field network"},
        {"{\"language\":\"c\",\"runCommand\":\"x\",\"maxTimeoutMs\":5," GOOD_LIMITS
         ",\"requiredFiles\":[\"\"]}",
         "field requiredFiles[0]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        exec_profile *p = (exec_profile *)1;
        dp_err e;
        int rc = parse(cases[i].json, &p, &e);
        if (rc != DP_EINVAL || strstr(e.msg, cases[i].needle) == NULL ||
            strncmp(e.msg, "profile t: ", 11) != 0)
            fail_msg("case %zu: rc %d msg '%s', wanted '%s'", i, rc, e.msg, cases[i].needle);
        assert_null(p);
    }
}

static void test_profile_names(void **state)
{
    (void)state;
    assert_true(exec_profile_name_ok("python3-unittest"));
    assert_true(exec_profile_name_ok("c"));
    assert_false(exec_profile_name_ok("../c"));
    assert_false(exec_profile_name_ok(".hidden"));
    assert_false(exec_profile_name_ok("a/b"));
    assert_false(exec_profile_name_ok(""));
    assert_false(exec_profile_name_ok(NULL));
}

static void test_parse_unittest(void **state)
{
    (void)state;
    const char *out = "test_add (test_calc.TestCalc.test_add) ... ok\n"
                      "test_div (test_calc.TestCalc.test_div) ... FAIL\n"
                      "test_old (test_calc.TestOld) ... ERROR\n"
                      "test_doc (test_calc.TestCalc.test_doc)\n"
                      "Adds ... numbers ... ok\n"
                      "test_skip (test_calc.TestCalc.test_skip) ... skipped 'later'\n"
                      "test_xf (m.C.test_xf) ... expected failure\n"
                      "test_us (m.C.test_us) ... unexpected success\n"
                      "\n======\nFAIL: test_div (test_calc.TestCalc.test_div)\n"
                      "------\nTraceback: boom\nAssertionError: 1 != 2\n\n"
                      "------\nRan 7 tests in 0.001s\n\nFAILED (failures=1, errors=1)\n";
    exec_cases c = {0};
    exec_parse_unittest(out, strlen(out), &c);
    assert_int_equal(c.n, 7);
    size_t at, n;
    assert_true(exec_unittest_section(out, strlen(out), "test_calc.TestCalc.test_div", &at, &n));
    assert_memory_equal(out + at, "FAIL: test_div (test_calc.TestCalc.test_div)\n", 45);
    assert_int_equal(out[at + n - 1], '\n');
    assert_null(memchr(out + at, 'R', n)); /* stops before "Ran 7 tests" */
    assert_false(exec_unittest_section(out, strlen(out), "test_calc.TestCalc.test_add", &at, &n));
    assert_string_equal(c.v[0].name, "test_calc.TestCalc.test_add");
    assert_int_equal(c.v[0].verdict, DP_VERDICT_AC);
    assert_int_equal(c.v[1].verdict, DP_VERDICT_WA);
    assert_string_equal(c.v[2].name, "test_calc.TestOld.test_old");
    assert_int_equal(c.v[2].verdict, DP_VERDICT_RE);
    assert_string_equal(c.v[3].name, "test_calc.TestCalc.test_doc");
    assert_int_equal(c.v[3].verdict, DP_VERDICT_AC);
    assert_int_equal(c.v[4].verdict, DP_VERDICT_AC);
    assert_int_equal(c.v[5].verdict, DP_VERDICT_AC);
    assert_int_equal(c.v[6].verdict, DP_VERDICT_WA);
    exec_cases_free(&c);
}

static void test_parse_tap(void **state)
{
    (void)state;
    const char *out = "1..5\nok 1 - adds\nnot ok 2 - divides\n# diag\nok 3\n"
                      "not ok 4 - later # TODO not yet\n  ok 1 - indented subtest\n"
                      "ok 5 skip me # SKIP no db\nBail out! db gone\n";
    exec_cases c = {0};
    int bailed = 0;
    exec_parse_tap(out, strlen(out), &c, &bailed);
    assert_int_equal(c.n, 5);
    assert_string_equal(c.v[0].name, "adds");
    assert_int_equal(c.v[1].verdict, DP_VERDICT_WA);
    assert_string_equal(c.v[2].name, "test 3");
    assert_int_equal(c.v[3].verdict, DP_VERDICT_AC);
    assert_string_equal(c.v[4].name, "skip me");
    assert_true(bailed);
    exec_cases_free(&c);
}

static void test_parse_junit(void **state)
{
    (void)state;
    const char *xml = "<?xml version=\"1.0\"?><testsuite>"
                      "<testcase classname=\"calc\" name=\"a&amp;b\"/>"
                      "<testcase name='div' classname='calc'><failure message='x'/></testcase>"
                      "<testcase name=\"io\"><error/></testcase>"
                      "<testcase name=\"sk\"><skipped/></testcase></testsuite>";
    exec_cases c = {0};
    exec_parse_junit(xml, strlen(xml), &c);
    assert_int_equal(c.n, 4);
    assert_string_equal(c.v[0].name, "calc.a&b");
    assert_int_equal(c.v[0].verdict, DP_VERDICT_AC);
    assert_string_equal(c.v[1].name, "calc.div");
    assert_int_equal(c.v[1].verdict, DP_VERDICT_WA);
    assert_string_equal(c.v[2].name, "io");
    assert_int_equal(c.v[2].verdict, DP_VERDICT_RE);
    assert_int_equal(c.v[3].verdict, DP_VERDICT_AC);
    exec_cases_free(&c);
}

static void test_limits_merge(void **state)
{
    (void)state;
    dp_limits prof = {2000, 5000, 262144, 16, 1024};
    dp_limits job = {500, 0, 1u << 30, 0, 64};
    dp_limits l = exec_limits_merge(&prof, &job, 0);
    assert_int_equal(l.time_ms, 500);      /* lowered */
    assert_int_equal(l.wall_ms, 5000);     /* not given */
    assert_int_equal(l.memory_kb, 262144); /* never raised */
    assert_int_equal(l.output_kb, 64);
    l = exec_limits_merge(&prof, &job, 100000); /* a test timeout is capped too */
    assert_int_equal(l.time_ms, 2000);
    l = exec_limits_merge(&prof, &job, 300);
    assert_int_equal(l.time_ms, 300);
}

static void test_log_cap(void **state)
{
    (void)state;
    exec_log log;
    exec_log_init(&log, 10);
    exec_log_printf(&log, "%s", "12345");
    exec_log_append(&log, "6789abcdef", 10);
    size_t len;
    char *s = exec_log_take(&log, &len);
    assert_memory_equal(s, "123456789a", 10);
    assert_non_null(strstr(s, "[log truncated: 5 more bytes dropped]"));
    assert_int_equal(len, strlen(s));
    free(s);
    exec_log_free(&log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compare_exact),  cmocka_unit_test(test_compare_lines),
        cmocka_unit_test(test_compare_tokens), cmocka_unit_test(test_compare_float),
        cmocka_unit_test(test_excerpt),        cmocka_unit_test(test_zip_names),
        cmocka_unit_test(test_zip_modes),      cmocka_unit_test(test_profile_good),
        cmocka_unit_test(test_profile_bad),    cmocka_unit_test(test_profile_names),
        cmocka_unit_test(test_parse_unittest), cmocka_unit_test(test_parse_tap),
        cmocka_unit_test(test_parse_junit),    cmocka_unit_test(test_limits_merge),
        cmocka_unit_test(test_log_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
