/* Unit tests for the job feeder's held results (runner/job_feeder_held.c):
 * a result stays held, and is sent again, until an outcome forgets it; the
 * oldest one's age is what results_unacknowledged reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "runner/job_feeder_held.h"

static void hold(feeder_held *h, const char *job_id, uint32_t attempt)
{
    dp_result_item it = {0};
    it.result.job_id = strdup(job_id);
    it.result.attempt = attempt;
    dp_err err = {0};
    assert_int_equal(feeder_held_add(h, &it, &err), DP_OK);
    assert_null(it.result.job_id); /* moved in */
}

static int outcome(feeder_held *h, uint64_t call, const char *job_id, uint32_t attempt,
                   const char *what)
{
    dp_result_outcome o = {.job_id = (char *)job_id, .attempt = attempt, .outcome = (char *)what};
    return feeder_held_outcome(h, call, &o);
}

static void test_held_until_an_outcome_forgets_it(void **state)
{
    (void)state;
    feeder_held h = {0};
    assert_int_equal(feeder_held_oldest_ms(&h), 0);
    int64_t before = dp_now_ms();
    hold(&h, "j-a", 1);
    hold(&h, "j-b", 2);
    assert_in_range(feeder_held_oldest_ms(&h), before, dp_now_ms());
    assert_int_equal(feeder_held_waiting(&h), 2);

    dp_result_item out[4];
    assert_int_equal(feeder_held_peek(&h, out, 1), 1);
    assert_string_equal(out[0].result.job_id, "j-a"); /* oldest first */
    feeder_held_mark(&h, 1, 7);
    assert_int_equal(feeder_held_waiting(&h), 1);
    assert_int_equal(feeder_held_peek(&h, out, 4), 1);
    assert_string_equal(out[0].result.job_id, "j-b");

    /* An outcome from another call, or for another attempt, is ignored. */
    assert_int_equal(outcome(&h, 8, "j-a", 1, DP_OUTCOME_ACK), -1);
    assert_int_equal(outcome(&h, 7, "j-a", 2, DP_OUTCOME_ACK), -1);
    assert_int_equal(h.n, 2);

    /* retry: waiting again, sent unchanged in the next call. */
    assert_int_equal(outcome(&h, 7, "j-a", 1, DP_OUTCOME_RETRY), 0);
    assert_int_equal(feeder_held_waiting(&h), 2);

    /* A failed call puts its results back to waiting. */
    feeder_held_mark(&h, 2, 9);
    assert_int_equal(feeder_held_waiting(&h), 0);
    feeder_held_unsend(&h, 9);
    assert_int_equal(feeder_held_waiting(&h), 2);

    /* ack and conflict forget; the oldest held is then the next one. */
    feeder_held_mark(&h, 2, 10);
    int64_t b_since = h.v[1].since_ms;
    assert_int_equal(outcome(&h, 10, "j-a", 1, DP_OUTCOME_ACK), 1);
    assert_int_equal(h.n, 1);
    assert_int_equal(feeder_held_oldest_ms(&h), b_since);
    assert_int_equal(outcome(&h, 10, "j-b", 2, DP_OUTCOME_CONFLICT), 1);
    assert_int_equal(h.n, 0);
    assert_int_equal(feeder_held_oldest_ms(&h), 0);
    feeder_held_free(&h);
}

static void test_free_releases_what_is_held(void **state)
{
    (void)state;
    feeder_held h = {0};
    for (int i = 0; i < 40; i++) /* past the first growth */
        hold(&h, "j-x", (uint32_t)i + 1);
    feeder_held_mark(&h, 5, 3);
    assert_int_equal(feeder_held_waiting(&h), 35);
    feeder_held_free(&h); /* ASan: nothing leaks */
    assert_int_equal(h.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_held_until_an_outcome_forgets_it),
        cmocka_unit_test(test_free_releases_what_is_held),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
