/* Long-poll wake-ups with routing, against a real dispatchd, Redis and
 * PostgreSQL: a job wakes only the parked runners that can take it. Eight
 * runners offering profiles b0..b7 park first, then one offering "a"; a job
 * of profile "a" reaches the last-parked "a" runner at once, and the "b"
 * runners are never tried (the Redis script calls the job costs are counted:
 * its enqueue and one lease, not one lease per parked runner). Two runners
 * of one queue: a claim that took all there was spares the other runner's
 * claim, and the lucky runner's next poll parks without a claim until a
 * wake-up, which then serves it; a job whose wake-up was lost reaches such
 * a runner when its dryness ends (1 s), not at the leaser's 5 s poke, even
 * when a wake-up for another queue ends the dryness first; an idle runner's
 * long-poll, parked after its claim, claims no more; a request resent after
 * its answer was lost gets its jobs though its runner is dry; and a queue
 * whose '*' wake-up was lost, learnt at the poke, stays learnt. */
#include "dispatch/redis/rq.h"
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
    uint32_t max;           /* 0: 1 */
    const char *req;        /* its request id, or NULL */
    char ids[4][DP_ID_MAX]; /* what it got */
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
    uint32_t att[4];
    p->got = dd_lease_req(c, p->id, p->tok, p->max ? p->max : 1, 6000, p->req, p->ids, att, &p->n);
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
    parker a = {.url = f.dd.runner_url, .max = 4}, b = {.url = f.dd.runner_url, .max = 4},
           z = {.url = f.dd.runner_url};
    dd_register_offering(f.rc, "runner-a", "a", a.id, a.tok);
    dd_register_offering(f.rc, "runner-b", "a", b.id, b.tok);
    dd_register_offering(f.rc, "runner-z", "z", z.id, z.tok); /* no queue of its own */
    char ids[4][DP_ID_MAX];
    uint32_t att[4];
    size_t n = 0;
    submit(f.admin, "a"); /* the queue exists */
    assert_int_equal(dd_lease(f.rc, a.id, a.tok, 1, 0, ids, att, &n), DP_MSG_LEASED);
    /* z parks first and takes the leaser's first poke (at its next tick,
     * which also drops the queue sets read before it); the next one comes
     * 5 s later */
    pthread_t tb, ta, tz;
    assert_int_equal(pthread_create(&tz, NULL, park, &z), 0);
    dd_sleep_ms(300);
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
    pthread_join(tz, NULL);
    assert_int_equal(z.got, DP_MSG_NONE);
    route_stop(&f);
}

/* Runs a command on raw that must answer an integer; returns it. */
static long long raw_int(redisContext *raw, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(raw, fmt, ap);
    va_end(ap);
    assert_true(r != NULL && r->type == REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* A job pushed the way the enqueue script pushes one, without its wake-up
 * (a lost one): a copy of job `like` under id `id` (db's Redis, prefix), in
 * like's queue, or in queue qid when not NULL. */
static void push_without_wake(redisContext *raw, const char *prefix, const char *like,
                              const char *id, const char *qid)
{
    redisReply *j = redisCommand(raw, "HMGET %sjob:%s spec max_attempts queue prio", prefix, like);
    assert_true(j != NULL && j->type == REDIS_REPLY_ARRAY && j->elements == 4);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(j->element[i]->type, REDIS_REPLY_STRING);
    const char *prio = j->element[3]->str;
    if (qid == NULL)
        qid = j->element[2]->str;
    raw_int(raw, "HSET %sjob:%s spec %b max_attempts %s attempts 0 state queued queue %s prio %s",
            prefix, id, j->element[0]->str, (size_t)j->element[0]->len, j->element[1]->str, qid,
            prio);
    raw_int(raw, "RPUSH %sq:%s:%s %s", prefix, prio, qid, id);
    raw_int(raw, "SADD %sready:%s %s", prefix, prio, qid);
    freeReplyObject(j);
}

/* A new queue qid whose '*' wake-up was lost: noted in the queue index and
 * in runner rid's queue set as the enqueue script notes one, and job `id` (a
 * copy of `like`) pushed there without a wake-up. */
static void push_to_new_queue_without_wake(redisContext *raw, const char *prefix, const char *like,
                                           const char *id, const char *rid, const char *qid)
{
    assert_int_equal(raw_int(raw, "SADD %squeues %s", prefix, qid), 1);
    raw_int(raw, "SADD %srunner:%s:queues %s", prefix, rid, qid);
    push_without_wake(raw, prefix, like, id, qid);
}

/* A dry runner's parked poll, and a job for it pushed without its wake-up
 * (a lost one): the job reaches it when its claim comes, 1 s after it
 * parked, not at the leaser's 5 s poke. With other_wake, a wake-up for
 * another queue, where nobody waits, comes first and ends the dryness
 * (before, only the end of the dryness tried such a request: after that
 * wake-up nobody's claim noted a dry runner again, and it waited for the
 * poke). */
static void lost_wake_reaches_a_dry_runner(int other_wake)
{
    route_fx f;
    route_start(&f);
    parker a = {.url = f.dd.runner_url, .max = 4}, z = {.url = f.dd.runner_url};
    char c_id[DP_ID_MAX], c_tok[65];
    dd_register_offering(f.rc, "runner-a", "a", a.id, a.tok);
    dd_register_offering(f.rc, "runner-c", "c", c_id, c_tok);
    dd_register_offering(f.rc, "runner-z", "z", z.id, z.tok); /* no queue of its own */
    char ids[4][DP_ID_MAX];
    uint32_t att[4];
    size_t n = 0;
    submit(f.admin, "c"); /* c's queue exists, empty (a job there wakes, no '*') */
    assert_int_equal(dd_lease(f.rc, c_id, c_tok, 4, 0, ids, att, &n), DP_MSG_LEASED);
    submit(f.admin, "a"); /* a's queue exists */
    /* z parks first and takes the leaser's first poke (at its next tick);
     * the next one comes 5 s later */
    pthread_t ta, tz;
    assert_int_equal(pthread_create(&tz, NULL, park, &z), 0);
    dd_sleep_ms(300);
    assert_int_equal(dd_lease(f.rc, a.id, a.tok, 4, 0, ids, att, &n), DP_MSG_LEASED);
    assert_int_equal(n, 1); /* it took all there was: a is dry */
    assert_int_equal(pthread_create(&ta, NULL, park, &a), 0);
    dd_sleep_ms(50); /* a parked without a claim */
    char lost[DP_ID_MAX];
    snprintf(lost, sizeof lost, "%.*sx", (int)strlen(ids[0]) - 1, ids[0]);
    int64_t t0 = dd_now_us();
    push_without_wake(f.raw, f.dd.prefix, ids[0], lost, NULL);
    if (other_wake)
        submit(f.admin, "c");
    pthread_join(ta, NULL);
    assert_int_equal(a.got, DP_MSG_LEASED);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.ids[0], lost);
    pthread_join(tz, NULL); /* first: a failure must leave no thread writing to z */
    assert_int_equal(z.got, DP_MSG_NONE);
    /* 1 s after it parked: 2.5 s is slack for a loaded machine, well before
     * the poke (about 4.6 s from here). */
    if (a.done_us - t0 >= 2500000)
        fail_msg("the job without a wake-up took %lld ms", (long long)(a.done_us - t0) / 1000);
    route_stop(&f);
}

static void test_a_lost_wake_costs_the_dry_bound(void **state)
{
    (void)state;
    lost_wake_reaches_a_dry_runner(0);
}

static void test_a_lost_wake_costs_the_bound_after_another_wake(void **state)
{
    (void)state;
    lost_wake_reaches_a_dry_runner(1);
}

/* a's queue made with one job, a took it (ids[0]), and a's long-poll is
 * parked (300 ms given) on thread *t. */
static void take_then_park(route_fx *f, parker *a, char (*ids)[DP_ID_MAX], pthread_t *t)
{
    uint32_t att[4];
    size_t n = 0;
    submit(f->admin, "a");
    assert_int_equal(dd_lease(f->rc, a->id, a->tok, 4, 0, ids, att, &n), DP_MSG_LEASED);
    assert_int_equal(pthread_create(t, NULL, park, a), 0);
    dd_sleep_ms(300);
}

static void test_an_idle_long_poll_claims_once(void **state)
{
    (void)state;
    route_fx f;
    route_start(&f);
    parker a = {.url = f.dd.runner_url, .max = 4};
    dd_register_offering(f.rc, "runner-a", "a", a.id, a.tok);
    char ids[4][DP_ID_MAX];
    pthread_t ta;
    take_then_park(&f, &a, ids, &ta); /* then claimed once by the first poke (nothing) */
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

/* A request resent after its answer was lost gets the jobs its first try
 * got, though that claim left its runner dry: at once when it cannot wait
 * (wait 0; before, it was answered `none` without a claim and its jobs
 * stayed leased to a live runner), within 1 s when it long-polls. */
static void test_a_resent_request_gets_its_jobs_while_dry(void **state)
{
    (void)state;
    route_fx f;
    route_start(&f);
    parker a = {.url = f.dd.runner_url, .max = 4, .req = "q-resent-2"};
    dd_register_offering(f.rc, "runner-a", "a", a.id, a.tok);
    char ids[4][DP_ID_MAX], again[4][DP_ID_MAX];
    uint32_t att[4];
    size_t n = 0, m = 0;
    submit(f.admin, "a");
    submit(f.admin, "a");
    assert_int_equal(dd_lease_req(f.rc, a.id, a.tok, 4, 0, "q-resent-1", ids, att, &n),
                     DP_MSG_LEASED);
    assert_int_equal(n, 2); /* all there was: a is dry; the answer is "lost" */
    assert_int_equal(dd_lease_req(f.rc, a.id, a.tok, 4, 0, "q-resent-1", again, att, &m),
                     DP_MSG_LEASED);
    assert_int_equal(m, 2);
    for (size_t i = 0; i < 2; i++)
        assert_true(strcmp(again[i], ids[0]) == 0 || strcmp(again[i], ids[1]) == 0);
    /* the same with a long-poll, under a request that got one job */
    submit(f.admin, "a");
    assert_int_equal(dd_lease_req(f.rc, a.id, a.tok, 4, 0, a.req, ids, att, &n), DP_MSG_LEASED);
    assert_int_equal(n, 1);
    int64_t t0 = dd_now_us();
    pthread_t ta;
    assert_int_equal(pthread_create(&ta, NULL, park, &a), 0);
    pthread_join(ta, NULL);
    assert_int_equal(a.got, DP_MSG_LEASED);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.ids[0], ids[0]);
    if (a.done_us - t0 >= 2500000) /* 1 s, and slack for a loaded machine */
        fail_msg("the resent long-poll got its job after %lld ms",
                 (long long)(a.done_us - t0) / 1000);
    route_stop(&f);
}

/* A queue whose '*' wake-up was lost is learnt at the poke: a runner's
 * queue set read before it is not kept again after (before, a parked
 * request's old set went back to the leaser's cache when the poke answered
 * it, and the runner's later polls used it: a job of the new queue, wake-up
 * and all, waited for the next poke). */
static void test_the_poke_drops_stale_queue_sets(void **state)
{
    (void)state;
    route_fx f;
    route_start(&f);
    parker a = {.url = f.dd.runner_url, .max = 4};
    char c_id[DP_ID_MAX], c_tok[65];
    dd_register_offering(f.rc, "runner-a", "a", a.id, a.tok);
    dd_register_offering(f.rc, "runner-c", "c", c_id, c_tok); /* "c" is offered */
    char ids[4][DP_ID_MAX];
    uint32_t att[4];
    size_t n = 0;
    pthread_t ta;
    take_then_park(&f, &a, ids, &ta); /* with the set {a:}, after the first poke */
    /* c's queue appears, its '*' lost, with 5 jobs (more than a takes at
     * once), and a's set has it, as if a offered "c" too */
    char qid[RQ_QID_MAX], lost[5][DP_ID_MAX];
    dp_err err = {0};
    assert_int_equal(rq_queue_id("c", NULL, 0, qid, &err), DP_OK);
    for (int i = 0; i < 5; i++)
        snprintf(lost[i], sizeof lost[i], "%.*s%d", (int)strlen(ids[0]) - 1, ids[0], i);
    push_to_new_queue_without_wake(f.raw, f.dd.prefix, ids[0], lost[0], a.id, qid);
    for (int i = 1; i < 5; i++)
        push_without_wake(f.raw, f.dd.prefix, lost[0], lost[i], NULL);
    raw_int(f.raw, "SADD %srunner:%s:queues %s", f.dd.prefix, c_id, qid);
    /* the next poke (5 s after the first) claims for a: the script reads a's
     * set in Redis, which has c's queue; it takes 4, so a is not dry */
    pthread_join(ta, NULL);
    assert_int_equal(a.got, DP_MSG_LEASED);
    assert_int_equal(a.n, 4);
    assert_int_equal(dd_lease(f.rc, c_id, c_tok, 4, 0, ids, att, &n), DP_MSG_LEASED);
    assert_int_equal(n, 1); /* c's queue is empty again */
    /* a polls again: it claims (nothing) and parks; then a job of c's queue
     * comes with its wake-up (no '*': the queue is known). a's set must have
     * the queue for that wake-up to reach it. */
    a.got = DP_MSG_NONE;
    assert_int_equal(pthread_create(&ta, NULL, park, &a), 0);
    dd_sleep_ms(300);
    int64_t t0 = dd_now_us();
    submit(f.admin, "c");
    pthread_join(ta, NULL);
    assert_int_equal(a.got, DP_MSG_LEASED);
    if (a.done_us - t0 >= 2500000) /* a wake-up: milliseconds; the poke is 5 s */
        fail_msg("a job of the new queue reached a after %lld ms",
                 (long long)(a.done_us - t0) / 1000);
    route_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wake_only_runners_that_can_take_it),
        cmocka_unit_test(test_a_dry_queue_costs_no_claims),
        cmocka_unit_test(test_a_lost_wake_costs_the_dry_bound),
        cmocka_unit_test(test_an_idle_long_poll_claims_once),
        cmocka_unit_test(test_a_lost_wake_costs_the_bound_after_another_wake),
        cmocka_unit_test(test_a_resent_request_gets_its_jobs_while_dry),
        cmocka_unit_test(test_the_poke_drops_stale_queue_sets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
