/* Unit tests for the job feeder's held results (runner/job_feeder_held.c):
 * a result stays held, and is sent again, until an outcome forgets it; the
 * oldest one's age is what results_unacknowledged reports; a result sent
 * early awaits an outcome that any later answer may carry, by job and
 * attempt, and goes again after the await bound. */
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

static int decided(feeder_held *h, const char *job_id, uint32_t attempt, const char *what)
{
    dp_result_outcome o = {.job_id = (char *)job_id, .attempt = attempt, .outcome = (char *)what};
    return feeder_held_decided(h, &o);
}

static void test_awaiting_until_a_later_answer(void **state)
{
    (void)state;
    feeder_held h = {0};
    hold(&h, "j-a", 1);
    hold(&h, "j-b", 1);
    hold(&h, "j-c", 3);
    assert_int_equal(feeder_held_await_since(&h), 0);
    feeder_held_mark(&h, 2, 5); /* j-a and j-b go in early call 5 */
    feeder_held_await(&h, 5, 1000);
    assert_int_equal(feeder_held_await_since(&h), 1000);
    assert_int_equal(feeder_held_awaiting(&h), 2);
    assert_int_equal(feeder_held_waiting(&h), 1); /* not sent again meanwhile */
    dp_result_item out[4];
    assert_int_equal(feeder_held_peek(&h, out, 4), 1);
    assert_string_equal(out[0].result.job_id, "j-c");

    /* any answer: matched by job and attempt, not by call */
    assert_int_equal(decided(&h, "j-b", 2, DP_OUTCOME_ACK), -1);
    assert_int_equal(decided(&h, "j-b", 1, DP_OUTCOME_ACK), 1);
    assert_int_equal(feeder_held_awaiting(&h), 1);
    /* retry: back to waiting */
    assert_int_equal(decided(&h, "j-a", 1, DP_OUTCOME_RETRY), 0);
    assert_int_equal(feeder_held_awaiting(&h), 0);
    assert_int_equal(feeder_held_waiting(&h), 2);

    /* the bound: only those awaiting since before the cutoff go again */
    feeder_held_mark(&h, 1, 6);
    feeder_held_await(&h, 6, 1000);
    feeder_held_mark(&h, 1, 7);
    feeder_held_await(&h, 7, 3000);
    assert_int_equal(feeder_held_awaiting(&h), 2);
    assert_int_equal(feeder_held_await_since(&h), 1000); /* the longest-awaiting */
    assert_int_equal(feeder_held_unawait(&h, 2000), 1);
    assert_int_equal(feeder_held_waiting(&h), 1);
    assert_int_equal(feeder_held_unawait(&h, INT64_MAX), 1); /* stopping: all */
    assert_int_equal(feeder_held_waiting(&h), 2);
    /* an outcome for a result waiting to go again still forgets it */
    assert_int_equal(decided(&h, "j-c", 3, DP_OUTCOME_NOT_FOUND), 1);
    assert_int_equal(h.n, 1);
    feeder_held_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_held_until_an_outcome_forgets_it),
        cmocka_unit_test(test_free_releases_what_is_held),
        cmocka_unit_test(test_awaiting_until_a_later_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
