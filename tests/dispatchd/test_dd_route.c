/* Long-poll wake-ups with routing, against a real dispatchd, Redis and
 * PostgreSQL: a job wakes only the parked runners that can take it. Eight
 * runners offering profiles b0..b7 park first, then one offering "a"; a job
 * of profile "a" reaches the last-parked "a" runner at once, and the "b"
 * runners are never tried (the Redis script calls the job costs are counted:
 * its enqueue and one lease, not one lease per parked runner). Two runners
 * of one queue: a claim that took all there was spares the other runner's
 * claim, and the lucky runner's next poll parks without a claim until a
 * wake-up, which then serves it; a job whose wake-up was lost reaches such
 * a runner when its dryness ends (1 s), not at the leaser's 5 s poke; and an
 * idle runner's long-poll, parked after its claim, claims no more. */
#include "tests/dispatchd/dd_harness.h"
#include "tests/support/redis_server.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_B 8

typedef struct {
    const char *url;
    char id[DP_ID_MAX], tok[65];
    uint32_t max; /* 0: 1 */
    dp_msg_type got;
    size_t n;
    int64_t done_us;
} parker;

/* A submit of one job naming profile, accepted. */
static void submit(actor_client *admin, const char *profile)
{
    char code[64];
    dd_submit_profile(admin, profile, code, sizeof code);
    if (code[0] != '\0')
        fail_msg("submit of a %s job refused: %s", profile, code);
}

static void *park(void *arg)
{
    parker *p = arg;
    actor_client *c = dd_client(p->url);
    char ids[4][DP_ID_MAX];
    uint32_t att[4];
    p->got = dd_lease(c, p->id, p->tok, p->max ? p->max : 1, 6000, ids, att, &p->n);
    p->done_us = dd_now_us();
    actor_client_close(c);
    return NULL;
}

/* The number of EVALSHA calls the Redis server has run so far. */
static long long evalsha_calls(redisContext *raw)
{
    redisReply *r = redisCommand(raw, "INFO commandstats");
    assert_non_null(r);
    const char *s = r->str != NULL ? strstr(r->str, "cmdstat_evalsha:calls=") : NULL;
    long long n = s != NULL ? atoll(s + strlen("cmdstat_evalsha:calls=")) : 0;
    freeReplyObject(r);
    return n;
}

/* A MONITOR connection to host:port (every command the server runs from now
 * on). Other actors read other keys with SMEMBERS on their own timers (the
 * offered profiles, every second), so counting one key's reads needs this. */
static redisContext *monitor_start(const char *host, int port)
{
    redisContext *m = redisConnect(host, port);
    assert_true(m != NULL && m->err == 0);
    redisReply *r = redisCommand(m, "MONITOR");
    assert_non_null(r);
    freeReplyObject(r);
    return m;
}

/* The commands m saw that contain needle, read until 200 ms pass without
 * one; closes m. */
static int monitor_count(redisContext *m, const char *needle)
{
    struct timeval tv = {0, 200000};
    redisSetTimeout(m, tv);
    int n = 0;
    redisReply *r = NULL;
    while (redisGetReply(m, (void **)&r) == REDIS_OK && r != NULL) {
        n += r->type == REDIS_REPLY_STATUS && r->str != NULL && strstr(r->str, needle) != NULL;
        freeReplyObject(r);
        r = NULL;
    }
    redisFree(m);
    return n;
}

/* A dispatchd on a private Redis (the script calls a test counts are its
 * own), a plain connection to that Redis, a runner client and an admin
 * client. */
typedef struct {
    rs_server rs;
    dd_daemon dd;
    char host[128];
    int port;
    redisContext *raw;
    actor_client *rc, *admin;
} route_fx;

static void route_start(route_fx *f)
{
    memset(f, 0, sizeof *f);
    dp_err err = {0};
    if (rs_start(&f->rs, 0, &err) != DP_OK) {
        rs_stop(&f->rs);
        fail_msg("private redis-server: %s", err.msg);
    }
    dd_init(&f->dd, f->rs.url, NULL);
    dd_start(&f->dd);
    snprintf(f->host, sizeof f->host, "127.0.0.1");
    f->port = 6379;
    if (sscanf(f->rs.url, "redis://%127[^:]:%d", f->host, &f->port) != 2)
        fail_msg("cannot read %s", f->rs.url);
    f->raw = redisConnect(f->host, f->port);
    assert_true(f->raw != NULL && f->raw->err == 0);
    f->rc = dd_client(f->dd.runner_url);
    f->admin = dd_client(f->dd.admin_url);
}

static void route_stop(route_fx *f)
{
    redisFree(f->raw);
    actor_client_close(f->rc);
    actor_client_close(f->admin);
    dd_fini(&f->dd);
    rs_stop(&f->rs);
}

static void test_wake_only_runners_that_can_take_it(void **state)
{
    (void)state;
    route_fx f;
    route_start(&f);
    parker a = {.url = f.dd.runner_url}, b[N_B];
    dd_register_offering(f.rc, "runner-a", "a", a.id, a.tok);
    for (int i = 0; i < N_B; i++) {
        b[i] = (parker){.url = f.dd.runner_url};
        char name[32], prof[8];
        snprintf(name, sizeof name, "runner-b%d", i);
        snprintf(prof, sizeof prof, "b%d", i); /* each its own queue: no shortcut */
        dd_register_offering(f.rc, name, prof, b[i].id, b[i].tok);
    }
    /* Every queue exists (a queue's first job wakes everyone: '*'). */
    char ids[4][DP_ID_MAX];
    uint32_t att[4];
    size_t n = 0;
    submit(f.admin, "a");
    assert_int_equal(dd_lease(f.rc, a.id, a.tok, 1, 0, ids, att, &n), DP_MSG_LEASED);
    for (int i = 0; i < N_B; i++) {
        char prof[8];
        snprintf(prof, sizeof prof, "b%d", i);
        submit(f.admin, prof);
        assert_int_equal(dd_lease(f.rc, b[i].id, b[i].tok, 1, 0, ids, att, &n), DP_MSG_LEASED);
    }
    /* The b runners park first, the a runner last. */
    pthread_t tb[N_B], ta;
    for (int i = 0; i < N_B; i++)
        assert_int_equal(pthread_create(&tb[i], NULL, park, &b[i]), 0);
    dd_sleep_ms(500);
    assert_int_equal(pthread_create(&ta, NULL, park, &a), 0);
    dd_sleep_ms(500); /* all parked: the leases wait 6 s */
    long long before = evalsha_calls(f.raw);
    int64_t t0 = dd_now_us();
    submit(f.admin, "a");
    pthread_join(ta, NULL);
    long long after = evalsha_calls(f.raw);
    assert_int_equal(a.got, DP_MSG_LEASED);
    assert_int_equal(a.n, 1);
    /* Woken by the wake-up, not by the leaser's 5 s poke: 2.5 s is slack for
     * a loaded machine (it takes milliseconds). */
    assert_true(a.done_us - t0 < 2500000);
    /* The enqueue and a's lease, not one lease per parked runner (that
     * would be 2 + 8). One more is slack for the leaser's 5 s poke landing in
     * this window (it would try each b runner once, though: 8 more). */
    if (after - before > 3)
        fail_msg("the job cost %lld script calls", after - before);
    for (int i = 0; i < N_B; i++) {
        pthread_join(tb[i], NULL);
        assert_int_equal(b[i].got, DP_MSG_NONE); /* they waited out their 6 s */
    }
    route_stop(&f);
}

/* The wait for p's parked lease, which must end with one job, from a wake-up
 * (2.5 s: slack for a loaded machine; the leaser's poke comes at 5 s). */
static void join_one_job(pthread_t t, parker *p, int64_t t0)
{
    pthread_join(t, NULL);
    assert_int_equal(p->got, DP_MSG_LEASED);
    assert_int_equal(p->n, 1);
    assert_true(p->done_us - t0 < 2500000);
}

static void test_a_dry_queue_costs_no_claims(void **state)
{
    (void)state;
    route_fx f;
    route_start(&f);
    parker a = {.url = f.dd.runner_url, .max = 4}, b = {.url = f.dd.runner_url, .max = 4};
    dd_register_offering(f.rc, "runner-a", "a", a.id, a.tok);
    dd_register_offering(f.rc, "runner-b", "a", b.id, b.tok);
    char ids[4][DP_ID_MAX];
    uint32_t att[4];
    size_t n = 0;
    submit(f.admin, "a"); /* the queue exists */
    assert_int_equal(dd_lease(f.rc, a.id, a.tok, 1, 0, ids, att, &n), DP_MSG_LEASED);
    pthread_t tb, ta;
    int64_t parked_us = dd_now_us();
    assert_int_equal(pthread_create(&tb, NULL, park, &b), 0);
    dd_sleep_ms(300);
    assert_int_equal(pthread_create(&ta, NULL, park, &a), 0);
    dd_sleep_ms(300); /* both parked, b first */
    long long c0 = evalsha_calls(f.raw);
    int64_t t0 = dd_now_us();
    submit(f.admin, "a");
    join_one_job(tb, &b, t0);
    long long c1 = evalsha_calls(f.raw);
    /* The enqueue and b's claim, which took all there was: a is not tried
     * (it was: 3). Exact unless the leaser's 5 s poke (which tries a parked
     * runner once more) could have come: 4.5 s after parking. */
    if (dd_now_us() - parked_us < 4500000 && c1 - c0 != 2)
        fail_msg("the job cost %lld script calls, not 2", c1 - c0);
    /* b polls again: its queue is empty since its claim, so it parks without
     * a claim (before: it tried a's claim again, 1 call), and without reading
     * its queue ids again (kept since its last request: before, an SMEMBERS).
     * Exact while b's dryness is believed (1 s after its claim) and before the
     * poke (which forgets the kept ids). */
    int64_t b_claimed = b.done_us;
    redisContext *mon = monitor_start(f.host, f.port);
    b.got = DP_MSG_NONE;
    b.n = 0;
    assert_int_equal(pthread_create(&tb, NULL, park, &b), 0);
    dd_sleep_ms(300);
    long long c2 = evalsha_calls(f.raw);
    int exact = dd_now_us() - b_claimed < 900000 && dd_now_us() - parked_us < 4500000;
    char key[DP_ID_MAX + 16];
    snprintf(key, sizeof key, "%s:queues\"", b.id);
    int reads = monitor_count(mon, key);
    if (exact && (c2 != c1 || reads != 0))
        fail_msg("b's poll made %lld script calls and read its queues %d times, not 0", c2 - c1,
                 reads);
    /* A wake-up serves the line oldest first: a, then b, whose dryness the
     * wake-up ended. */
    t0 = dd_now_us();
    submit(f.admin, "a");
    join_one_job(ta, &a, t0);
    t0 = dd_now_us();
    submit(f.admin, "a");
    join_one_job(tb, &b, t0);
    route_stop(&f);
}

/* A job pushed the way the enqueue script pushes one, without its wake-up
 * (a lost one): a copy of job `like` under id `id` (db's Redis, prefix). */
static void push_without_wake(redisContext *raw, const char *prefix, const char *like,
                              const char *id)
{
    redisReply *j = redisCommand(raw, "HMGET %sjob:%s spec max_attempts queue prio", prefix, like);
    assert_true(j != NULL && j->type == REDIS_REPLY_ARRAY && j->elements == 4);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(j->element[i]->type, REDIS_REPLY_STRING);
    const char *qid = j->element[2]->str, *prio = j->element[3]->str;
    redisReply *r = redisCommand(raw,
                                 "HSET %sjob:%s spec %b max_attempts %s attempts 0 state queued "
                                 "queue %s prio %s",
                                 prefix, id, j->element[0]->str, (size_t)j->element[0]->len,
                                 j->element[1]->str, qid, prio);
    assert_true(r != NULL && r->type == REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    r = redisCommand(raw, "RPUSH %sq:%s:%s %s", prefix, prio, qid, id);
    assert_true(r != NULL && r->type == REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    r = redisCommand(raw, "SADD %sready:%s %s", prefix, prio, qid);
    assert_true(r != NULL && r->type == REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    freeReplyObject(j);
}

static void test_a_lost_wake_costs_the_dry_bound(void **state)
{
    (void)state;
    route_fx f;
    route_start(&f);
    parker a = {.url = f.dd.runner_url, .max = 4}, b = {.url = f.dd.runner_url, .max = 4};
    dd_register_offering(f.rc, "runner-a", "a", a.id, a.tok);
    dd_register_offering(f.rc, "runner-b", "b", b.id, b.tok); /* no queue of its own */
    submit(f.admin, "a");                                     /* the queue exists */
    /* b parks first: the leaser's first poke comes at its next tick (20 ms),
     * finds nothing b can take, and the next one comes 5 s later. */
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&tb, NULL, park, &b), 0);
    dd_sleep_ms(300);
    char ids[4][DP_ID_MAX];
    uint32_t att[4];
    size_t n = 0;
    assert_int_equal(dd_lease(f.rc, a.id, a.tok, 4, 0, ids, att, &n), DP_MSG_LEASED);
    assert_int_equal(n, 1); /* it took all there was: a is dry */
    /* a's poll parks without a claim; the job's wake-up is lost */
    assert_int_equal(pthread_create(&ta, NULL, park, &a), 0);
    dd_sleep_ms(50);
    char lost[DP_ID_MAX];
    snprintf(lost, sizeof lost, "%.*sx", (int)strlen(ids[0]) - 1, ids[0]);
    int64_t t0 = dd_now_us();
    push_without_wake(f.raw, f.dd.prefix, ids[0], lost);
    pthread_join(ta, NULL);
    assert_int_equal(a.got, DP_MSG_LEASED);
    assert_int_equal(a.n, 1);
    /* a's dryness ends 1 s after its claim: 2.5 s is slack for a loaded
     * machine, well before the next poke (about 4.6 s from here). */
    if (a.done_us - t0 >= 2500000)
        fail_msg("the job without a wake-up took %lld ms", (long long)(a.done_us - t0) / 1000);
    pthread_join(tb, NULL);
    assert_int_equal(b.got, DP_MSG_NONE);
    route_stop(&f);
}

static void test_an_idle_long_poll_claims_once(void **state)
{
    (void)state;
    route_fx f;
    route_start(&f);
    parker a = {.url = f.dd.runner_url, .max = 4};
    dd_register_offering(f.rc, "runner-a", "a", a.id, a.tok);
    /* its queue exists, empty: a long-poll has something to claim from */
    char ids[4][DP_ID_MAX];
    uint32_t att[4];
    size_t n = 0;
    submit(f.admin, "a");
    assert_int_equal(dd_lease(f.rc, a.id, a.tok, 4, 0, ids, att, &n), DP_MSG_LEASED);
    pthread_t ta;
    assert_int_equal(pthread_create(&ta, NULL, park, &a), 0);
    dd_sleep_ms(300); /* parked, then claimed once by the first poke (nothing) */
    long long c0 = evalsha_calls(f.raw);
    dd_sleep_ms(2500);
    long long c1 = evalsha_calls(f.raw);
    /* None: a wake-up or the next poke (5 s) is what tries it again. One is
     * slack for the first poke landing late on a loaded machine; a request
     * tried each time its runner's dryness ends would make 2 or more. */
    if (c1 - c0 > 1)
        fail_msg("an idle long-poll made %lld script calls in 2.5 s", c1 - c0);
    pthread_join(ta, NULL);
    assert_int_equal(a.got, DP_MSG_NONE);
    route_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wake_only_runners_that_can_take_it),
        cmocka_unit_test(test_a_dry_queue_costs_no_claims),
        cmocka_unit_test(test_a_lost_wake_costs_the_dry_bound),
        cmocka_unit_test(test_an_idle_long_poll_claims_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
