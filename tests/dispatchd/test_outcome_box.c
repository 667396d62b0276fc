/* Unit tests for the leaser's box of early results' outcomes
 * (dispatch/outcome_box.c): each runner takes its own, oldest first and at
 * most as many as asked; expiry drops the old ones; a full box drops its
 * oldest quarter; everything is freed (ASan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/outcome_box.h"

static void put(outcome_box *b, const char *runner, const char *job, int64_t now)
{
    dp_result_outcome o = {.job_id = strdup(job), .attempt = 1, .outcome = strdup("ack")};
    dp_err err = {0};
    assert_int_equal(outcome_box_add(b, runner, &o, 1, now, &err), DP_OK);
    assert_null(o.job_id); /* moved in */
}

static void test_each_runner_takes_its_own(void **state)
{
    (void)state;
    outcome_box b = {0};
    put(&b, "r-1", "j-a", 10);
    put(&b, "r-2", "j-b", 11);
    put(&b, "r-1", "j-c", 12);
    put(&b, "r-1", "j-d", 13);
    assert_true(outcome_box_has(&b, "r-2"));
    assert_false(outcome_box_has(&b, "r-3"));
    dp_result_outcome *outs = NULL;
    assert_int_equal(outcome_box_take(&b, "r-3", 10, &outs), 0);
    assert_null(outs);
    assert_int_equal(outcome_box_take(&b, "r-1", 2, &outs), 2); /* at most max, oldest first */
    assert_string_equal(outs[0].job_id, "j-a");
    assert_string_equal(outs[1].job_id, "j-c");
    outcome_box_free_outcomes(outs, 2);
    assert_int_equal(b.n, 2);
    assert_int_equal(outcome_box_take(&b, "r-1", 10, &outs), 1);
    assert_string_equal(outs[0].job_id, "j-d");
    outcome_box_free_outcomes(outs, 1);
    assert_false(outcome_box_has(&b, "r-1"));
    assert_true(outcome_box_has(&b, "r-2"));
    outcome_box_free(&b);
}

static void test_expiry_and_bound(void **state)
{
    (void)state;
    outcome_box b = {0};
    assert_int_equal(outcome_box_expire(&b, 150), 0); /* empty: nothing moved (UBSan) */
    put(&b, "r-1", "j-old", 100);
    put(&b, "r-2", "j-new", 200);
    assert_int_equal(outcome_box_expire(&b, 150), 1);
    assert_false(outcome_box_has(&b, "r-1"));
    assert_int_equal(outcome_box_expire(&b, 150), 0);
    char job[32];
    for (int i = 0; i < OUTCOME_BOX_MAX - 1; i++) {
        snprintf(job, sizeof job, "j-%d", i);
        put(&b, "r-3", job, 300);
    }
    assert_int_equal(b.n, OUTCOME_BOX_MAX);
    assert_true(outcome_box_has(&b, "r-2"));
    put(&b, "r-4", "j-last", 400); /* full: the oldest quarter ("j-new" first) goes */
    assert_int_equal(b.n, OUTCOME_BOX_MAX - OUTCOME_BOX_MAX / 4 + 1);
    assert_false(outcome_box_has(&b, "r-2"));
    assert_true(outcome_box_has(&b, "r-4"));
    outcome_box_free(&b); /* ASan: nothing leaks */
    assert_int_equal(b.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_runner_takes_its_own),
        cmocka_unit_test(test_expiry_and_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
