/* The verdict rule (runner/sandbox/sbx_verdict.c), one case per ordering of
 * the limits a run can hit: the first limit seen crossed decides; an OOM
 * kill is ML unless the run had already been seen over its time; a run
 * stopped for time with its memory peak at the limit is ML. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>

#include "runner/sandbox/sbx_internal.h"

#define EXITED(code) (((code)&0xff) << 8)
#define KILLED(sig) (sig)

/* A command that ran with a 1000 ms CPU and 64 MiB memory limit. */
static sbx_run_facts facts(sbx_status first, int oom, uint32_t cpu_ms, int wait_status)
{
    sbx_run_facts f = {.first_limit = first,
                       .command_done = 1,
                       .wait_status = wait_status,
                       .oom = oom,
                       .cpu_ms = cpu_ms,
                       .cpu_limit_ms = 1000,
                       .memory_kb = 20 * 1024,
                       .memory_limit_kb = 64 * 1024};
    return f;
}

static void test_oom_seen_before_cpu(void **state)
{
    (void)state;
    /* OOM seen at one poll; the run was killed for it and used more CPU than
     * its limit while dying (or the CPU crossed in the same poll). */
    sbx_run_facts f = facts(SBX_ML, 1, 1200, KILLED(SIGKILL));
    assert_int_equal(sbx_verdict(&f), SBX_ML);
}

static void test_cpu_seen_before_oom(void **state)
{
    (void)state;
    /* Over its CPU time at one poll, killed; an OOM kill counted afterwards. */
    sbx_run_facts f = facts(SBX_TO_CPU, 1, 1005, KILLED(SIGKILL));
    assert_int_equal(sbx_verdict(&f), SBX_TO_CPU);
}

static void test_wall_seen_before_oom(void **state)
{
    (void)state;
    sbx_run_facts f = facts(SBX_TO_WALL, 1, 10, KILLED(SIGKILL));
    assert_int_equal(sbx_verdict(&f), SBX_TO_WALL);
}

static void test_output_seen_before_oom(void **state)
{
    (void)state;
    sbx_run_facts f = facts(SBX_OL, 1, 10, KILLED(SIGKILL));
    assert_int_equal(sbx_verdict(&f), SBX_OL);
}

static void test_oom_and_cpu_after_last_poll(void **state)
{
    (void)state;
    /* Both crossed after the last poll, order unknown: not "already over
     * its time", so the OOM kill decides. */
    sbx_run_facts f = facts(SBX_OK, 1, 1003, EXITED(1));
    assert_int_equal(sbx_verdict(&f), SBX_ML);
    f = facts(SBX_OK, 1, 1003, KILLED(SIGXCPU));
    assert_int_equal(sbx_verdict(&f), SBX_ML);
}

static void test_oom_of_a_child_only(void **state)
{
    (void)state;
    /* A child was OOM-killed, the command itself exited 0 or 1: still ML. */
    sbx_run_facts f = facts(SBX_OK, 1, 50, EXITED(0));
    assert_int_equal(sbx_verdict(&f), SBX_ML);
    f = facts(SBX_OK, 1, 50, EXITED(1));
    assert_int_equal(sbx_verdict(&f), SBX_ML);
}

static void test_time_without_oom(void **state)
{
    (void)state;
    sbx_run_facts f = facts(SBX_OK, 0, 1001, EXITED(0));
    assert_int_equal(sbx_verdict(&f), SBX_TO_CPU);
    f = facts(SBX_OK, 0, 900, KILLED(SIGXCPU));
    assert_int_equal(sbx_verdict(&f), SBX_TO_CPU);
}

static void test_time_while_at_memory_limit(void **state)
{
    (void)state;
    /* No OOM kill: the kernel kept reclaiming the run's own pages at its
     * limit until a time limit stopped it (node near 64 MiB on a loaded
     * machine). Its memory reached the limit first: ML, whichever clock. */
    sbx_run_facts f = facts(SBX_TO_CPU, 0, 1005, KILLED(SIGKILL));
    f.memory_kb = 64 * 1024;
    assert_int_equal(sbx_verdict(&f), SBX_ML);
    f = facts(SBX_TO_WALL, 0, 300, KILLED(SIGKILL));
    f.memory_kb = 64 * 1024 - 512;
    assert_int_equal(sbx_verdict(&f), SBX_ML);
    f = facts(SBX_OK, 0, 1001, EXITED(0)); /* over its CPU after the last poll */
    f.memory_kb = 64 * 1024;
    assert_int_equal(sbx_verdict(&f), SBX_ML);
    /* 2 MiB short of it: time decides */
    f = facts(SBX_TO_CPU, 0, 1005, KILLED(SIGKILL));
    f.memory_kb = 62 * 1024;
    assert_int_equal(sbx_verdict(&f), SBX_TO_CPU);
    f = facts(SBX_TO_CPU, 0, 1005, KILLED(SIGKILL));
    f.memory_limit_kb = 0; /* no memory limit */
    assert_int_equal(sbx_verdict(&f), SBX_TO_CPU);
}

static void test_output_after_last_poll(void **state)
{
    (void)state;
    sbx_run_facts f = facts(SBX_OK, 0, 10, EXITED(0));
    f.output_over = 1;
    assert_int_equal(sbx_verdict(&f), SBX_OL);
    f.oom = 1; /* memory before output */
    assert_int_equal(sbx_verdict(&f), SBX_ML);
    f = facts(SBX_OK, 0, 10, KILLED(SIGXFSZ));
    assert_int_equal(sbx_verdict(&f), SBX_OL);
}

static void test_allocation_refused_at_limit(void **state)
{
    (void)state;
    sbx_run_facts f = facts(SBX_OK, 0, 10, KILLED(SIGSEGV));
    f.memory_kb = 64 * 1024 - 512;
    assert_int_equal(sbx_verdict(&f), SBX_ML);
    f.memory_kb = 32 * 1024;
    assert_int_equal(sbx_verdict(&f), SBX_SG);
    f = facts(SBX_OK, 0, 10, EXITED(0));
    f.memory_kb = 64 * 1024; /* used it all, and succeeded */
    assert_int_equal(sbx_verdict(&f), SBX_OK);
}

static void test_plain_endings(void **state)
{
    (void)state;
    sbx_run_facts f = facts(SBX_OK, 0, 10, EXITED(0));
    assert_int_equal(sbx_verdict(&f), SBX_OK);
    f = facts(SBX_OK, 0, 10, EXITED(3));
    assert_int_equal(sbx_verdict(&f), SBX_RE);
    f = facts(SBX_OK, 0, 10, KILLED(SIGSEGV));
    assert_int_equal(sbx_verdict(&f), SBX_SG);
    f.setup_failed = 1;
    assert_int_equal(sbx_verdict(&f), SBX_XX);
    f = facts(SBX_OK, 0, 10, 0);
    f.command_done = 0;
    assert_int_equal(sbx_verdict(&f), SBX_XX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oom_seen_before_cpu),
        cmocka_unit_test(test_cpu_seen_before_oom),
        cmocka_unit_test(test_wall_seen_before_oom),
        cmocka_unit_test(test_output_seen_before_oom),
        cmocka_unit_test(test_time_while_at_memory_limit),
        cmocka_unit_test(test_oom_and_cpu_after_last_poll),
        cmocka_unit_test(test_oom_of_a_child_only),
        cmocka_unit_test(test_time_without_oom),
        cmocka_unit_test(test_output_after_last_poll),
        cmocka_unit_test(test_allocation_refused_at_limit),
        cmocka_unit_test(test_plain_endings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
