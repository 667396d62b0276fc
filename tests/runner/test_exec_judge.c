/* End-to-end executor tests through exec_job with the real pits/ profiles
 * and the real sandbox: one job per verdict (AC, WA, TLE, CE, RE, MLE, OLE),
 * a Python program, passing and failing unittest projects, shell tests,
 * and the noop mode. Zips are built at test time; every job must leave the
 * work directory empty. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/exec/exec.h"
#include "runner/exec/fsutil.h"
#include "tests/runner/helpers.h"

static char root[64], work[96];
static exec_ctx *ctx;

static int group_setup(void **state)
{
    (void)state;
    ctx = th_exec_open("exec-judge", 7, root);
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

static const char sum_c[] = "#include <stdio.h>\n"
                            "int main(void){long a,b;if(scanf(\"%ld %ld\",&a,&b)!=2)return 1;"
                            "printf(\"%ld\\n\",a+b);return 0;}\n";

static void c_job(const char *src, dp_job_spec *spec)
{
    th_entry e[] = {{"main.c", src, 0, 0}};
    th_spec(spec, "c", th_zip_url(root, e, 1));
    th_spec_test(spec, "t1", "2 3\n", "5\n");
    th_spec_test(spec, "t2", "40 2\n", "42\n");
}

static void test_c_accepted(void **state)
{
    (void)state;
    dp_job_spec spec;
    dp_job_result res;
    c_job(sum_c, &spec);
    th_judge(ctx, work, &spec, DP_VERDICT_AC, &res);
    assert_int_equal(res.n_tests, 2);
    assert_true(res.score == 100.0);
    assert_null(res.message);
    assert_string_equal(res.tests[1].name, "t2");
    assert_int_equal(res.tests[1].verdict, DP_VERDICT_AC);
    assert_int_equal(res.tests[1].exit_code, 0);
    assert_string_equal(res.tests[1].stdout_excerpt, "42\n");
    assert_non_null(strstr(res.log, "gcc"));
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

static void test_c_wrong_answer(void **state)
{
    (void)state;
    const char *src = "#include <stdio.h>\nint main(void){long a,b;scanf(\"%ld %ld\",&a,&b);"
                      "printf(\"%ld\\n\",a==2?a+b:a-b);return 0;}\n";
    dp_job_spec spec;
    dp_job_result res;
    c_job(src, &spec);
    th_judge(ctx, work, &spec, DP_VERDICT_WA, &res);
    assert_int_equal(res.tests[0].verdict, DP_VERDICT_AC);
    assert_int_equal(res.tests[1].verdict, DP_VERDICT_WA);
    assert_string_equal(res.tests[1].stdout_excerpt, "38\n");
    assert_true(res.score == 50.0);
    assert_non_null(strstr(res.message, "t2"));
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

static void test_c_lines_compare(void **state)
{
    (void)state;
    const char *src = "#include <stdio.h>\nint main(void){puts(\"5   \");puts(\"\");return 0;}\n";
    th_entry e[] = {{"main.c", src, 0, 0}};
    dp_job_spec spec;
    dp_job_result res;
    th_spec(&spec, "c", th_zip_url(root, e, 1));
    th_spec_test(&spec, "exact", "", "5\n");
    th_spec_test(&spec, "lines", "", "5\n");
    spec.tests[1].compare = DP_COMPARE_LINES;
    th_judge(ctx, work, &spec, DP_VERDICT_WA, &res);
    assert_int_equal(res.tests[0].verdict, DP_VERDICT_WA);
    assert_int_equal(res.tests[1].verdict, DP_VERDICT_AC);
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

static void test_c_time_limit(void **state)
{
    (void)state;
    const char *src = "int main(void){volatile unsigned long x=0;for(;;)x++;}\n";
    dp_job_spec spec;
    dp_job_result res;
    c_job(src, &spec);
    spec.limits.time_ms = 300;
    spec.n_tests = 1; /* one is enough: keep the test fast */
    th_judge(ctx, work, &spec, DP_VERDICT_TLE, &res);
    assert_int_equal(res.tests[0].verdict, DP_VERDICT_TLE);
    /* Stopped by the CPU limit, not the profile's 5 s wall limit: the log
     * says which (a wall-time bound would depend on the CPU share a loaded
     * machine gives the program). CPU used is at least the limit, less 50 ms
     * of accounting slack (a lower bound: load does not lower it). */
    assert_non_null(strstr(res.log, "CPU time limit of 300 ms exceeded"));
    assert_true(res.tests[0].time_ms >= 250);
    assert_true(res.score == 0.0);
    spec.n_tests = 2;
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

static void test_c_compile_error(void **state)
{
    (void)state;
    dp_job_spec spec;
    dp_job_result res;
    c_job("int main(void){ return nope_undeclared; }\n", &spec);
    th_judge(ctx, work, &spec, DP_VERDICT_CE, &res);
    assert_non_null(strstr(res.message, "nope_undeclared"));
    assert_non_null(strstr(res.message, "gcc"));
    assert_true(res.score == 0.0);
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

static void test_c_crash(void **state)
{
    (void)state;
    const char *src = "int main(void){volatile int *p=0;*p=1;return 0;}\n";
    dp_job_spec spec;
    dp_job_result res;
    c_job(src, &spec);
    th_judge(ctx, work, &spec, DP_VERDICT_RE, &res);
    assert_int_equal(res.tests[0].signal, 11);
    assert_int_equal(res.tests[0].exit_code, -1);
    assert_non_null(strstr(res.message, "RE"));
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

static void test_c_exit_code(void **state)
{
    (void)state;
    dp_job_spec spec;
    dp_job_result res;
    c_job("int main(void){return 3;}\n", &spec);
    th_judge(ctx, work, &spec, DP_VERDICT_RE, &res);
    assert_int_equal(res.tests[0].exit_code, 3);
    assert_int_equal(res.tests[0].signal, 0);
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

static void test_c_memory_limit(void **state)
{
    (void)state;
    /* volatile writes to every page: the optimiser cannot drop them */
    const char *src =
        "#include <stdlib.h>\n"
        "int main(void){size_t n=(size_t)512<<20;volatile char*p=malloc(n);"
        "if(!p)return 3;for(size_t i=0;i<n;i+=4096)p[i]=1;return p[n-4096]==1?0:1;}\n";
    dp_job_spec spec;
    dp_job_result res;
    c_job(src, &spec);
    spec.limits.memory_kb = 64 * 1024;
    spec.n_tests = 1;
    th_judge(ctx, work, &spec, DP_VERDICT_MLE, &res);
    assert_int_equal(res.tests[0].verdict, DP_VERDICT_MLE);
    spec.n_tests = 2;
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

static void test_c_output_limit(void **state)
{
    (void)state;
    const char *src =
        "#include <stdio.h>\n"
        "int main(void){for(;;)fputs(\"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\\n\",stdout);}\n";
    dp_job_spec spec;
    dp_job_result res;
    c_job(src, &spec);
    spec.limits.output_kb = 64;
    spec.n_tests = 1;
    th_judge(ctx, work, &spec, DP_VERDICT_OLE, &res);
    /* the excerpt is head and tail around a marker, not the whole flood */
    assert_true(strlen(res.tests[0].stdout_excerpt) < 8192);
    assert_non_null(strstr(res.tests[0].stdout_excerpt, "bytes cut ...]"));
    assert_true(res.log_len < 64 * 1024);
    spec.n_tests = 2;
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

/* A program that exits without reading a large stdin must not take the
 * runner down with SIGPIPE: the test is judged like any other. */
static void test_c_ignores_stdin(void **state)
{
    (void)state;
    th_entry e[] = {
        {"main.c", "#include <stdio.h>\nint main(void){puts(\"5\");return 0;}\n", 0, 0}};
    dp_job_spec spec;
    dp_job_result res;
    th_spec(&spec, "c", th_zip_url(root, e, 1));
    char *big = malloc(4u << 20);
    assert_non_null(big);
    memset(big, '7', (4u << 20) - 1);
    big[(4u << 20) - 1] = '\0';
    th_spec_test(&spec, "big", big, "5\n");
    free(big);
    th_judge(ctx, work, &spec, DP_VERDICT_AC, &res);
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

static void test_python(void **state)
{
    (void)state;
    th_entry e[] = {{"main.py", "a, b = map(int, input().split())\nprint(a + b)\n", 0, 0}};
    dp_job_spec spec;
    dp_job_result res;
    th_spec(&spec, "python3", th_zip_url(root, e, 1));
    th_spec_test(&spec, "t1", "2 3\n", "5\n");
    th_spec_test(&spec, "t2", "1 1\n", "3\n");
    th_judge(ctx, work, &spec, DP_VERDICT_WA, &res);
    assert_int_equal(res.tests[0].verdict, DP_VERDICT_AC);
    assert_true(res.score == 50.0);
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

static const char calc_py[] = "def add(a, b):\n    return a + b\n\n"
                              "def sub(a, b):\n    return a - b\n\n"
                              "def div(a, b):\n    return a // b\n";

static void test_unittest_pass(void **state)
{
    (void)state;
    th_entry e[] = {
        {"calc.py", calc_py, 0, 0},
        {"test_calc.py",
         "import unittest\nimport calc\n\nclass TestCalc(unittest.TestCase):\n"
         "    def test_a_add(self):\n        self.assertEqual(calc.add(2, 3), 5)\n"
         "    def test_b_sub(self):\n        self.assertEqual(calc.sub(2, 3), -1)\n",
         0, 0},
    };
    dp_job_spec spec;
    dp_job_result res;
    th_spec(&spec, "python3-unittest", th_zip_url(root, e, 2));
    th_judge(ctx, work, &spec, DP_VERDICT_AC, &res);
    assert_int_equal(res.n_tests, 2);
    assert_string_equal(res.tests[0].name, "test_calc.TestCalc.test_a_add");
    assert_true(res.score == 100.0);
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

static void test_unittest_fail(void **state)
{
    (void)state;
    th_entry e[] = {
        {"calc.py", calc_py, 0, 0},
        {"test_calc.py",
         "import unittest\nimport calc\n\nclass TestCalc(unittest.TestCase):\n"
         "    def test_a_add(self):\n        self.assertEqual(calc.add(2, 3), 5)\n"
         "    def test_b_sub(self):\n        self.assertEqual(calc.sub(2, 3), -1)\n"
         "    def test_c_div(self):\n        self.assertEqual(calc.div(7, 2), 3.5)\n"
         "    def test_d_zero(self):\n        calc.div(1, 0)\n",
         0, 0},
    };
    dp_job_spec spec;
    dp_job_result res;
    th_spec(&spec, "python3-unittest", th_zip_url(root, e, 2));
    th_judge(ctx, work, &spec, DP_VERDICT_WA, &res);
    assert_int_equal(res.n_tests, 4);
    assert_int_equal(res.tests[2].verdict, DP_VERDICT_WA);
    assert_int_equal(res.tests[3].verdict, DP_VERDICT_RE);
    assert_true(res.score > 0.0 && res.score < 100.0);
    assert_true(res.score == 50.0);
    /* each failing test carries its own traceback */
    assert_non_null(strstr(res.tests[3].stderr_excerpt, "ZeroDivisionError"));
    assert_null(strstr(res.tests[2].stderr_excerpt, "ZeroDivisionError"));
    assert_non_null(strstr(res.tests[2].stderr_excerpt, "AssertionError: 3 != 3.5"));
    assert_non_null(strstr(res.message, "test_c_div"));
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

/* A unittest project without tests passes nothing (python 3.11 exits 0). */
static void test_unittest_empty(void **state)
{
    (void)state;
    th_entry e[] = {{"calc.py", calc_py, 0, 0}};
    dp_job_spec spec;
    dp_job_result res;
    th_spec(&spec, "python3-unittest", th_zip_url(root, e, 1));
    th_judge(ctx, work, &spec, DP_VERDICT_WA, &res);
    assert_int_equal(res.n_tests, 1);
    assert_true(res.score == 0.0);
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

static void test_shell(void **state)
{
    (void)state;
    th_entry ok[] = {{"test.sh",
                      "mkdir -p deep/er && touch deep/er/f && chmod 000 deep/er deep\n"
                      "[ \"$(cat data.txt)\" = hello ] && echo fine\n",
                      0, 0},
                     {"data/", NULL, 0, 0},
                     {"data.txt", "hello\n", 0, 0}};
    dp_job_spec spec;
    dp_job_result res;
    th_spec(&spec, "shell", th_zip_url(root, ok, 3));
    th_judge(ctx, work, &spec, DP_VERDICT_AC, &res);
    assert_int_equal(res.n_tests, 1);
    assert_string_equal(res.tests[0].stdout_excerpt, "fine\n");
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);

    th_entry bad[] = {{"test.sh", "echo broken >&2\nexit 4\n", 0, 0}};
    th_spec(&spec, "shell", th_zip_url(root, bad, 1));
    th_judge(ctx, work, &spec, DP_VERDICT_WA, &res);
    assert_int_equal(res.tests[0].exit_code, 4);
    assert_string_equal(res.tests[0].stderr_excerpt, "broken\n");
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

typedef struct {
    exec_ctx *ctx;
    dp_job_spec spec;
    dp_job_result res;
    int rc;
} slot_run;

static void *slot_main(void *arg)
{
    slot_run *r = arg;
    int retry;
    r->rc = exec_job(r->ctx, &r->spec, 1, &r->res, &retry, NULL);
    return NULL;
}

/* Two slots judge at the same time, as a runner's executor pool does: own
 * sandboxes, own workspaces, no interference. */
static void test_two_slots(void **state)
{
    (void)state;
    slot_run runs[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        exec_config cfg = {
            .profiles_dir = PITS_DIR, .workdir = work, .slot = 10 + i, .fetch_allow_file = 1};
        dp_err e;
        runs[i].ctx = exec_open(&cfg, &e);
        if (runs[i].ctx == NULL)
            fail_msg("exec_open slot %d: %s", 10 + i, e.msg);
        c_job(sum_c, &runs[i].spec);
    }
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, slot_main, &runs[i]), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(runs[i].rc, 0);
        assert_int_equal(runs[i].res.verdict, DP_VERDICT_AC);
        assert_int_equal(runs[i].res.n_tests, 2);
        dp_job_result_free(&runs[i].res);
        dp_job_spec_free(&runs[i].spec);
        exec_close(runs[i].ctx);
    }
    assert_int_equal(th_dir_count(work), 0);
}

/* sweep_stale removes this slot's leftovers (even unreadable ones) and
 * leaves other slots' job directories alone. */
static void test_sweep_stale(void **state)
{
    (void)state;
    char stale[160], deep[200], other[160];
    snprintf(stale, sizeof stale, "%s/job-12-dead01", work);
    snprintf(deep, sizeof deep, "%s/box", stale);
    snprintf(other, sizeof other, "%s/job-120-busy01", work);
    assert_int_equal(mkdir(stale, 0755), 0);
    assert_int_equal(mkdir(deep, 0755), 0);
    assert_int_equal(mkdir(other, 0755), 0);
    char file[240];
    snprintf(file, sizeof file, "%s/main.c", deep);
    th_write(file, "x");
    assert_int_equal(chmod(deep, 0), 0);
    /* a runner killed mid-job leaves its workspace's tmpfs mounted */
    char mounted[160], inside[200];
    snprintf(mounted, sizeof mounted, "%s/job-12-dead02", work);
    assert_int_equal(mkdir(mounted, 0755), 0);
    assert_int_equal(mount("t", mounted, "tmpfs", 0, "size=1m"), 0);
    snprintf(inside, sizeof inside, "%s/left", mounted);
    th_write(inside, "x");
    exec_config cfg = {.profiles_dir = PITS_DIR, .workdir = work, .slot = 12, .sweep_stale = 1};
    dp_err e;
    exec_ctx *c = exec_open(&cfg, &e);
    if (c == NULL)
        fail_msg("exec_open: %s", e.msg);
    exec_close(c);
    assert_int_equal(th_dir_count(work), 1);
    assert_int_equal(access(other, F_OK), 0);
    assert_int_equal(access(mounted, F_OK), -1);
    assert_int_equal(rmdir(other), 0);
}

static void test_noop(void **state)
{
    (void)state;
    exec_config cfg = {.noop = 1};
    dp_err e;
    exec_ctx *n = exec_open(&cfg, &e);
    assert_non_null(n);
    dp_job_spec spec;
    th_spec(&spec, "no-such-profile", "file:///nonexistent.zip");
    dp_job_result res;
    int retry = -1;
    assert_int_equal(exec_job(n, &spec, 2, &res, &retry, &e), 0);
    assert_int_equal(res.verdict, DP_VERDICT_AC);
    assert_int_equal(res.attempt, 2);
    assert_true(res.score == 100.0);
    assert_int_equal(retry, 0);
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
    exec_close(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_c_accepted),      cmocka_unit_test(test_c_wrong_answer),
        cmocka_unit_test(test_c_lines_compare), cmocka_unit_test(test_c_time_limit),
        cmocka_unit_test(test_c_compile_error), cmocka_unit_test(test_c_crash),
        cmocka_unit_test(test_c_exit_code),     cmocka_unit_test(test_c_memory_limit),
        cmocka_unit_test(test_c_output_limit),  cmocka_unit_test(test_python),

        cmocka_unit_test(test_c_ignores_stdin), cmocka_unit_test(test_unittest_pass),
        cmocka_unit_test(test_unittest_fail),   cmocka_unit_test(test_shell),
        cmocka_unit_test(test_unittest_empty),  cmocka_unit_test(test_noop),
        cmocka_unit_test(test_two_slots),       cmocka_unit_test(test_sweep_stale),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
