/* The reaper against the real Redis: reclaim of an expired runner, the
 * attempt limit, a racing heartbeat, two reapers on one dead runner, the
 * sweep guard, the cost of an idle sweep, reclaims in chunks and a reclaim
 * left unfinished by a dead reaper. */
#include "tests/dispatch/rq_test_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The alive TTL. A runner the test heartbeats must stay alive through the
 * few Redis round trips that follow (a few ms; the checks expect exactly
 * the silent runner to be expired): 1 s is the slack for a stalled process
 * on a loaded 2-core machine (300 ms was not always enough under ASan).
 * The silent ones are waited out with TTL_MS + 100: a lower bound, load
 * only lengthens it. */
#define TTL_MS 1000

typedef t_fx fx;

static int setup(void **state)
{
    rq_options o;
    rq_options_default(&o);
    o.alive_ttl_ms = TTL_MS;
    return t_fx_open(state, &o);
}

static int teardown(void **state)
{
    return t_fx_teardown(state);
}

static size_t lease(fx *f, const char *runner, uint32_t k)
{
    return t_lease_n(f->c, runner, k);
}

static rq_reap_report sweep(fx *f, const char *owner)
{
    rq_reap_report rep;
    dp_err err = {0};
    if (rq_reap_sweep(f->c, owner, 1000, 100, &rep, &err) != DP_OK)
        fail_msg("sweep: %s", err.msg);
    return rep;
}

static void test_reclaim_expired_runner(void **state)
{
    fx *f = *state;
    char dead[DP_ID_MAX], live[DP_ID_MAX];
    t_register(f->c, "dies", 4, dead, NULL);
    t_register(f->c, "lives", 4, live, NULL);
    t_enqueue(f->c, "e", 5, 0);
    assert_int_equal(lease(f, dead, 3), 3);
    assert_int_equal(lease(f, live, 1), 1);
    t_sleep_ms(TTL_MS + 100);
    dp_err err = {0};
    assert_int_equal(rq_heartbeat(f->c, live, &err), DP_OK);
    rq_reap_report rep = sweep(f, "reaper-a");
    assert_int_equal(rep.runners_expired, 1);
    assert_int_equal(rep.runners_reaped, 1);
    assert_int_equal(rep.jobs_requeued, 3);
    assert_int_equal(rep.jobs_dead, 0);
    dp_queue_stats st;
    assert_int_equal(rq_stats(f->c, &st, &err), DP_OK);
    assert_int_equal(st.pending, 4);
    assert_int_equal(st.leased, 1); /* the live runner's job was not touched */
    assert_int_equal(st.runners_alive, 1);
    /* the old owner: conflict on complete, must re-register */
    assert_int_equal(rq_lease_complete(f->c, dead, "e-0", 1, &err), DP_ECONFLICT);
    assert_int_equal(rq_heartbeat(f->c, dead, &err), DP_ENOTFOUND);
    rq_lease l[4];
    size_t n = 0;
    assert_int_equal(rq_lease_claim(f->c, dead, 1, NULL, l, &n, &err), DP_ENOTFOUND);
    /* reclaimed jobs go first, with the attempt counted */
    assert_int_equal(rq_lease_claim(f->c, live, 3, NULL, l, &n, &err), DP_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(l[i].attempt, 2);
    assert_int_equal(rq_lease_complete(f->c, live, l[0].job_id, 2, &err), DP_OK);
    rq_leases_free(l, n);
    /* `runners` still shows the lost runner, not alive, with last_seen */
    dp_runner_info *list = NULL;
    assert_int_equal(rq_runner_list(f->c, &list, &n, &err), DP_OK);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(list[i].alive, strcmp(list[i].runner_id, live) == 0);
    rq_runner_list_free(list, n);
    assert_true(t_int(f->raw, "PTTL %srunner:%s", f->prefix, dead) > 0);
    /* a second sweep finds nothing (the live runner heartbeats) */
    assert_int_equal(rq_heartbeat(f->c, live, &err), DP_OK);
    rep = sweep(f, "reaper-a");
    assert_int_equal(rep.runners_expired, 0);
}

static void test_attempts_exhausted(void **state)
{
    fx *f = *state;
    t_enqueue(f->c, "x", 1, 2);
    dp_err err = {0};
    for (int round = 1; round <= 2; round++) {
        char id[DP_ID_MAX];
        t_register(f->c, "r", 1, id, NULL);
        assert_int_equal(lease(f, id, 1), 1);
        t_sleep_ms(TTL_MS + 100);
        rq_reap_report rep = sweep(f, "reaper-a");
        assert_int_equal(rep.runners_reaped, 1);
        assert_int_equal(rep.jobs_requeued, round == 1 ? 1 : 0);
        assert_int_equal(rep.jobs_dead, round == 2 ? 1 : 0);
    }
    rq_dead_job d[2];
    size_t n = 0;
    assert_int_equal(rq_dead_peek(f->c, d, 2, &n, &err), DP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(d[0].job_id, "x-0");
    assert_int_equal(d[0].attempts, 2);
    assert_non_null(strstr(d[0].reason, "was lost during attempt 2 of 2"));
    dp_queue_stats st;
    assert_int_equal(rq_stats(f->c, &st, &err), DP_OK);
    assert_int_equal(st.dead, 1);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.leased, 0);
    /* requeue --dead gives it a fresh set of attempts */
    uint64_t moved = 0;
    assert_int_equal(rq_requeue_dead(f->c, &moved, &err), DP_OK);
    assert_int_equal(moved, 1);
    char id[DP_ID_MAX];
    t_register(f->c, "r", 1, id, NULL);
    rq_lease l[1];
    assert_int_equal(rq_lease_claim(f->c, id, 1, NULL, l, &n, &err), DP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(l[0].attempt, 1);
    rq_leases_free(l, n);
}

static void test_heartbeat_races_reaper(void **state)
{
    fx *f = *state;
    char id[DP_ID_MAX];
    t_register(f->c, "late", 1, id, NULL);
    t_enqueue(f->c, "h", 1, 0);
    assert_int_equal(lease(f, id, 1), 1);
    t_sleep_ms(TTL_MS + 100);
    /* the heartbeat lands after the runner looked expired: the script's own
     * clock check keeps it */
    dp_err err = {0};
    assert_int_equal(rq_heartbeat(f->c, id, &err), DP_OK);
    rq_reap_report rep = {0};
    assert_int_equal(rq_reap_runner(f->c, id, &rep, &err), DP_OK);
    assert_int_equal(rep.runners_reaped, 0);
    assert_int_equal(rq_lease_complete(f->c, id, "h-0", 1, &err), DP_OK);
    /* reaping an unknown runner is a no-op */
    assert_int_equal(rq_reap_runner(f->c, "r-nobody", &rep, &err), DP_OK);
    assert_int_equal(rep.runners_reaped, 0);
}

typedef struct {
    const char *url, *prefix, *runner;
    const rq_options *opt;
    pthread_barrier_t *go;
    rq_reap_report rep;
    int rc;
} reaper_arg;

static void *reaper_thread(void *p)
{
    reaper_arg *a = p;
    dp_err err = {0};
    rq_conn *c = rq_connect(a->url, a->prefix, a->opt, &err);
    if (c == NULL) {
        a->rc = err.code;
        return NULL;
    }
    pthread_barrier_wait(a->go);
    a->rc = rq_reap_runner(c, a->runner, &a->rep, &err);
    rq_close(c);
    return NULL;
}

static void test_two_reapers_one_dead_runner(void **state)
{
    fx *f = *state;
    enum { JOBS = 300 };
    char id[DP_ID_MAX];
    t_register(f->c, "victim", JOBS, id, NULL);
    t_enqueue(f->c, "t", JOBS, 0);
    assert_int_equal(lease(f, id, JOBS), JOBS);
    t_sleep_ms(TTL_MS + 100);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 2);
    reaper_arg a[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        a[i] = (reaper_arg){
            .url = t_redis_url(), .prefix = f->prefix, .runner = id, .opt = &f->opt, .go = &go};
        assert_int_equal(pthread_create(&th[i], NULL, reaper_thread, &a[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    assert_int_equal(a[0].rc, DP_OK);
    assert_int_equal(a[1].rc, DP_OK);
    /* exactly one of them reaped, each job once */
    assert_int_equal(a[0].rep.runners_reaped + a[1].rep.runners_reaped, 1);
    assert_int_equal(a[0].rep.jobs_requeued + a[1].rep.jobs_requeued, JOBS);
    assert_int_equal(t_int(f->raw, "LLEN %sq:n::", f->prefix), JOBS);
    char prefix_key[128];
    snprintf(prefix_key, sizeof prefix_key, "%sq:n::", f->prefix);
    redisReply *r = redisCommand(f->raw, "LRANGE %s 0 -1", prefix_key);
    char seen[JOBS] = {0};
    for (size_t i = 0; i < r->elements; i++) {
        int k = atoi(r->element[i]->str + 2);
        assert_true(k >= 0 && k < JOBS);
        assert_int_equal(seen[k], 0);
        seen[k] = 1;
    }
    freeReplyObject(r);
    assert_int_equal(t_int(f->raw, "SCARD %sjobs:leased", f->prefix), 0);
}

static void test_sweep_guard_and_idle_cost(void **state)
{
    fx *f = *state;
    /* idle: one round trip, one command */
    uint64_t before = rq_round_trips(f->c);
    rq_reap_report rep = sweep(f, "reaper-a");
    assert_int_equal(rq_round_trips(f->c) - before, 1);
    assert_int_equal(rep.runners_expired, 0);
    char id[DP_ID_MAX];
    t_register(f->c, "g", 1, id, NULL);
    t_sleep_ms(TTL_MS + 100);
    /* another replica holds the guard: this one stays out */
    redisReply *r = redisCommand(f->raw, "SET %sreaper:lock reaper-b PX 5000", f->prefix);
    freeReplyObject(r);
    rep = sweep(f, "reaper-a");
    assert_int_equal(rep.runners_expired, 1);
    assert_int_equal(rep.locked_out, 1);
    assert_int_equal(rep.runners_reaped, 0);
    rep = sweep(f, "reaper-b"); /* the holder goes on */
    assert_int_equal(rep.locked_out, 0);
    assert_int_equal(rep.runners_reaped, 1);
    dp_err err = {0};
    assert_int_equal(rq_reap_sweep(f->c, "bad owner", 10, 10, &rep, &err), DP_EINVAL);
}

/* A runner lost with many leases is reclaimed in script calls of at most
 * reclaim_chunk jobs (so Redis is never blocked long), and all of them come
 * back. */
static void test_reclaim_in_chunks(void **state)
{
    fx *f = *state;
    f->opt.reclaim_chunk = 10;
    rq_conn *c = t_connect(t_redis_url(), f->prefix, &f->opt);
    char dead[DP_ID_MAX];
    t_register(c, "many", 100, dead, NULL);
    t_enqueue(c, "m", 95, 0);
    rq_lease l[RQ_LEASE_MAX];
    size_t n = 0;
    dp_err err = {0};
    assert_int_equal(rq_lease_claim(c, dead, 95, NULL, l, &n, &err), DP_OK);
    rq_leases_free(l, n);
    assert_int_equal(n, 95);
    t_sleep_ms(TTL_MS + 100);
    uint64_t before = rq_round_trips(c);
    rq_reap_report rep;
    assert_int_equal(rq_reap_sweep(c, "reaper-a", 1000, 100, &rep, &err), DP_OK);
    /* sweep + lock + loading the reclaim script on this new connection +
     * 10 reclaim calls (95 jobs, 10 a call) */
    assert_int_equal(rq_round_trips(c) - before, 13);
    assert_int_equal(rep.runners_reaped, 1);
    assert_int_equal(rep.jobs_requeued, 95);
    dp_queue_stats st;
    assert_int_equal(rq_stats(c, &st, &err), DP_OK);
    assert_int_equal(st.pending, 95);
    assert_int_equal(st.leased, 0);
    redisReply *r = redisCommand(f->raw, "ZCARD %srunners:alive", f->prefix);
    assert_int_equal(r->integer, 0); /* no marker left */
    freeReplyObject(r);
    rq_close(c);
}

/* A reaper that died after its first reclaim call left the runner out of
 * the living (its marker '~<id>' in the alive set, token gone, hash lost)
 * with jobs still held: the runner is never seen alive (heartbeat and lease
 * refused, not counted alive), and the next sweep finishes the reclaim. */
static void test_unfinished_reclaim_is_finished(void **state)
{
    fx *f = *state;
    char dead[DP_ID_MAX];
    t_register(f->c, "half", 10, dead, NULL);
    t_enqueue(f->c, "h", 6, 0);
    assert_int_equal(lease(f, dead, 6), 6);
    /* what the first call of a chunked reclaim leaves behind */
    redisReply *r = redisCommand(f->raw, "ZREM %srunners:alive %s", f->prefix, dead);
    freeReplyObject(r);
    r = redisCommand(f->raw, "ZADD %srunners:alive 0 ~%s", f->prefix, dead);
    freeReplyObject(r);
    r = redisCommand(f->raw, "DEL %srunner:%s:token", f->prefix, dead);
    freeReplyObject(r);
    r = redisCommand(f->raw, "HSET %srunner:%s lost 1", f->prefix, dead);
    freeReplyObject(r);
    dp_err err = {0};
    assert_int_equal(rq_heartbeat(f->c, dead, &err), DP_ENOTFOUND);
    rq_lease l[4];
    size_t n = 0;
    assert_int_equal(rq_lease_claim(f->c, dead, 1, NULL, l, &n, &err), DP_ENOTFOUND);
    dp_queue_stats st;
    assert_int_equal(rq_stats(f->c, &st, &err), DP_OK);
    assert_int_equal(st.runners_alive, 0);
    rq_reap_report rep = sweep(f, "reaper-b");
    assert_int_equal(rep.runners_reaped, 1);
    assert_int_equal(rep.jobs_requeued, 6);
    assert_int_equal(rq_stats(f->c, &st, &err), DP_OK);
    assert_int_equal(st.pending, 6);
    assert_int_equal(st.leased, 0);
    r = redisCommand(f->raw, "ZCARD %srunners:alive", f->prefix);
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reclaim_expired_runner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attempts_exhausted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_races_reaper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_reapers_one_dead_runner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_guard_and_idle_cost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reclaim_in_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unfinished_reclaim_is_finished, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
