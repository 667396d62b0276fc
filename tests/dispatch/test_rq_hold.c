/* Results in flight against the real Redis: a job whose owner check passed
 * with a mark (its result went to PostgreSQL) keeps its lease while the
 * mark is younger than result_hold_ms: the reclaim leaves it (and finishes
 * the runner once it is gone or the mark is old), the complete removes it
 * anyway, deregister hands it to the reaper instead of releasing it, an
 * operator's requeue is refused; a sweep never spins on held jobs, in
 * chunks or not (docs/redis.md, "Results in flight"). */
#include "tests/dispatch/rq_test_util.h"

#include "dispatch/redis/rq_owner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The alive TTL: as test_rq_reaper (1 s of slack for a stalled process
 * between a heartbeat and the checks that follow). */
#define TTL_MS 1000
/* The hold. The checks made while a job is held run within a few Redis
 * round trips of the sweep that follows the TTL; the mark is made just
 * before the runner goes silent, so the held sweep comes TTL_MS + 100 after
 * it: HOLD_MS - that = 1.9 s of slack for a loaded machine. Aging it out
 * waits HOLD_MS + 100 from the mark: a lower bound, load only lengthens it. */
#define HOLD_MS 3000

typedef t_fx fx;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int setup_chunk(void **state, uint32_t chunk)
{
    rq_options o;
    rq_options_default(&o);
    o.alive_ttl_ms = TTL_MS;
    o.result_hold_ms = HOLD_MS;
    o.reclaim_chunk = chunk;
    return t_fx_open(state, &o);
}

static int setup(void **state)
{
    return setup_chunk(state, 0);
}
static int setup_chunk2(void **state)
{
    return setup_chunk(state, 2);
}

static int teardown(void **state)
{
    return t_fx_teardown(state);
}

static size_t lease(fx *f, const char *runner, uint32_t k)
{
    return t_lease_n(f->c, runner, k);
}

static rq_reap_report sweep(fx *f)
{
    rq_reap_report rep;
    dp_err err = {0};
    if (rq_reap_sweep(f->c, "reaper-a", 1000, 100, &rep, &err) != DP_OK)
        fail_msg("sweep: %s", err.msg);
    return rep;
}

/* The reporter's owner check for (job, runner, attempt 1), marking. */
static void check_and_mark(fx *f, const char *job, const char *runner, int mark)
{
    rq_owner_item it = {.job_id = job, .runner_id = runner, .attempt = 1, .mark = mark};
    dp_err err = {0};
    assert_int_equal(rq_owner_check(f->c, &it, 1, &err), DP_OK);
    assert_int_equal(it.result, DP_OK);
}

/* 1 when job is leased to runner in Redis. */
static int leased_to(fx *f, const char *job, const char *runner)
{
    redisReply *r = redisCommand(f->raw, "HMGET %sjob:%s state leased_by", f->prefix, job);
    assert_non_null(r);
    int yes = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
              r->element[0]->type == REDIS_REPLY_STRING &&
              strcmp(r->element[0]->str, "leased") == 0 &&
              r->element[1]->type == REDIS_REPLY_STRING && strcmp(r->element[1]->str, runner) == 0;
    freeReplyObject(r);
    return yes;
}

static long long marker_score(fx *f, const char *runner)
{
    return t_int(f->raw, "ZSCORE %srunners:alive ~%s", f->prefix, runner);
}

static void test_reclaim_leaves_a_marked_job_then_takes_it(void **state)
{
    fx *f = *state;
    char a[DP_ID_MAX], b[DP_ID_MAX];
    t_register(f->c, "a", 4, a, NULL);
    t_enqueue(f->c, "h", 3, 0);
    assert_int_equal(lease(f, a, 3), 3);
    check_and_mark(f, "h-0", a, 1);
    check_and_mark(f, "h-1", a, 0); /* checked only: not held */
    int64_t marked = mono_ms();
    t_sleep_ms(TTL_MS + 100);
    uint64_t rt0 = rq_round_trips(f->c);
    rq_reap_report rep = sweep(f);
    /* one ZRANGEBYSCORE, the guard, one reclaim call: no spin on h-0 */
    assert_true(rq_round_trips(f->c) - rt0 <= 4);
    assert_int_equal(rep.runners_expired, 1);
    assert_int_equal(rep.runners_reaped, 0);
    assert_int_equal(rep.jobs_requeued, 2);
    assert_int_equal(rep.jobs_held, 1);
    assert_true(leased_to(f, "h-0", a));
    assert_int_equal(marker_score(f, a), 0); /* the sweep comes back for it */
    assert_int_equal(t_int(f->raw, "SISMEMBER %srunner:%s:jobs h-0", f->prefix, a), 1);
    assert_int_equal(t_int(f->raw, "SISMEMBER %sjobs:leased h-0", f->prefix), 1);
    /* the runner is lost all the same: no heartbeat, no lease */
    dp_err err = {0};
    assert_int_equal(rq_heartbeat(f->c, a, &err), DP_ENOTFOUND);
    /* another runner gets the two others, not h-0 */
    t_register(f->c, "b", 4, b, NULL);
    assert_int_equal(lease(f, b, 4), 2);
    /* swept again while held: still held, still one reclaim call */
    rt0 = rq_round_trips(f->c);
    rep = sweep(f);
    assert_true(rq_round_trips(f->c) - rt0 <= 4);
    assert_int_equal(rep.runners_reaped, 0);
    assert_int_equal(rep.jobs_held, 1);
    assert_int_equal(rep.jobs_requeued, 0);
    assert_true(leased_to(f, "h-0", a));
    if (mono_ms() - marked >= HOLD_MS)
        fail_msg("the held checks took longer than the hold (%d ms): machine too slow", HOLD_MS);
    /* once the mark is older than the hold, the reclaim takes it */
    t_sleep_ms(HOLD_MS + 100 - (mono_ms() - marked));
    assert_int_equal(rq_heartbeat(f->c, b, &err), DP_OK);
    rep = sweep(f);
    assert_int_equal(rep.runners_reaped, 1);
    assert_int_equal(rep.jobs_requeued, 1);
    assert_int_equal(rep.jobs_held, 0);
    assert_int_equal(marker_score(f, a), -1);
    rq_lease l[2];
    size_t n = 0;
    assert_int_equal(rq_lease_claim(f->c, b, 2, NULL, l, &n, &err), DP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(l[0].job_id, "h-0");
    assert_int_equal(l[0].attempt, 2);
    rq_leases_free(l, n);
    /* a fresh mark of attempt 1 means nothing for attempt 2 */
    redisReply *t = redisCommand(f->raw, "TIME");
    assert_non_null(t);
    long long now = atoll(t->element[0]->str) * 1000 + atoll(t->element[1]->str) / 1000;
    freeReplyObject(t);
    t_int(f->raw, "HSET %sjob:h-0 completing 1:%lld", f->prefix, now + 60000);
    t_sleep_ms(TTL_MS + 100);
    rep = sweep(f);
    assert_int_equal(rep.runners_reaped, 1);
    assert_int_equal(rep.jobs_held, 0);
    assert_int_equal(rep.jobs_requeued, 3);
}

static void test_complete_removes_a_held_job(void **state)
{
    fx *f = *state;
    char a[DP_ID_MAX];
    t_register(f->c, "a", 4, a, NULL);
    t_enqueue(f->c, "c", 1, 0);
    assert_int_equal(lease(f, a, 1), 1);
    check_and_mark(f, "c-0", a, 1);
    t_sleep_ms(TTL_MS + 100);
    rq_reap_report rep = sweep(f);
    assert_int_equal(rep.jobs_held, 1);
    assert_int_equal(rep.runners_reaped, 0);
    /* the result was recorded: its release completes it though A is lost */
    dp_err err = {0};
    assert_int_equal(rq_lease_complete(f->c, a, "c-0", 1, &err), DP_OK);
    rep = sweep(f);
    assert_int_equal(rep.runners_reaped, 1);
    assert_int_equal(rep.jobs_requeued + rep.jobs_dead + rep.jobs_held, 0);
    assert_int_equal(marker_score(f, a), -1);
    dp_queue_stats st;
    assert_int_equal(rq_stats(f->c, &st, &err), DP_OK);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.leased, 0);
}

static void test_deregister_and_requeue_respect_the_mark(void **state)
{
    fx *f = *state;
    char a[DP_ID_MAX];
    t_register(f->c, "a", 4, a, NULL);
    t_enqueue(f->c, "d", 3, 0);
    assert_int_equal(lease(f, a, 3), 3);
    check_and_mark(f, "d-0", a, 1);
    int64_t marked = mono_ms();
    dp_err err = {0};
    /* an operator's requeue is refused while the result is in flight */
    assert_int_equal(rq_requeue(f->c, "d-0", &err), DP_EUNAVAIL);
    assert_non_null(strstr(err.msg, "being recorded"));
    assert_true(leased_to(f, "d-0", a));
    /* a graceful stop releases the two others and hands d-0 to the reaper */
    uint32_t released = 0;
    assert_int_equal(rq_deregister(f->c, a, &released, &err), DP_OK);
    assert_int_equal(released, 2);
    assert_true(leased_to(f, "d-0", a));
    assert_int_equal(marker_score(f, a), 0);
    assert_int_equal(t_int(f->raw, "EXISTS %srunner:%s", f->prefix, a), 0);
    rq_reap_report rep = sweep(f);
    assert_int_equal(rep.jobs_held, 1);
    assert_true(leased_to(f, "d-0", a));
    if (mono_ms() - marked >= HOLD_MS)
        fail_msg("the held checks took longer than the hold (%d ms): machine too slow", HOLD_MS);
    t_sleep_ms(HOLD_MS + 100 - (mono_ms() - marked));
    rep = sweep(f);
    assert_int_equal(rep.runners_reaped, 1);
    assert_int_equal(rep.jobs_requeued, 1);
    dp_queue_stats st;
    assert_int_equal(rq_stats(f->c, &st, &err), DP_OK);
    assert_int_equal(st.pending, 3);
    assert_int_equal(st.leased, 0);
    /* an unmarked leased job is requeued at once, as before */
    char b[DP_ID_MAX];
    t_register(f->c, "b", 4, b, NULL);
    rq_lease l[1];
    size_t n = 0;
    assert_int_equal(rq_lease_claim(f->c, b, 1, NULL, l, &n, &err), DP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(rq_requeue(f->c, l[0].job_id, &err), DP_OK);
    rq_leases_free(l, n);
}

/* Chunks of 2 with 5 jobs of which 3 are held: more held jobs than a chunk,
 * and the sweep still ends (each call takes a chunk or empties the set). */
static void test_chunks_never_spin_on_held_jobs(void **state)
{
    fx *f = *state;
    char a[DP_ID_MAX];
    t_register(f->c, "a", 8, a, NULL);
    t_enqueue(f->c, "k", 5, 0);
    assert_int_equal(lease(f, a, 5), 5);
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "k-%d", i);
        check_and_mark(f, id, a, 1);
    }
    t_sleep_ms(TTL_MS + 100);
    uint64_t rt0 = rq_round_trips(f->c);
    rq_reap_report rep = sweep(f);
    /* ZRANGEBYSCORE, the guard, at most 2 reclaim calls (2 jobs, then 0 + held) */
    assert_true(rq_round_trips(f->c) - rt0 <= 5);
    assert_int_equal(rep.jobs_requeued, 2);
    assert_int_equal(rep.jobs_held, 3);
    assert_int_equal(rep.runners_reaped, 0);
    assert_int_equal(t_int(f->raw, "SCARD %srunner:%s:jobs", f->prefix, a), 3);
    rep = sweep(f);
    assert_int_equal(rep.jobs_held, 3);
    assert_int_equal(rep.jobs_requeued, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reclaim_leaves_a_marked_job_then_takes_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_complete_removes_a_held_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deregister_and_requeue_respect_the_mark, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_chunks_never_spin_on_held_jobs, setup_chunk2,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
