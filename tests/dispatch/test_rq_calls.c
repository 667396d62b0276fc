/* Redis calls per job on the hot path (issue 10: Redis CPU is mostly the
 * number of redis.call a script makes), each test against a private
 * redis-server (tests/support) so that INFO commandstats counts only what
 * the test ran: enqueue asks EXISTS once per batch and notes a queue once
 * per call, lease pops a run of jobs from one queue with one LPOP, the
 * owner check reads a job with one HMGET. Each also checks that what the
 * script answers and leaves is what the one-call-per-job scripts did
 * (duplicates and retries in one enqueue, the stale-id bound of a lease,
 * the owner check's tombstones). The event stream's XADDs trim once per
 * batch, and the stream stays capped. */
#include "tests/dispatch/rq_test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/redis/rq_events.h"
#include "dispatch/redis/rq_internal.h"
#include "dispatch/redis/rq_owner.h"
#include "tests/support/redis_server.h"

typedef struct {
    rs_server srv;
    rq_conn *c;
    redisContext *raw;
    char runner[DP_ID_MAX];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    *state = f;
    dp_err err = {0};
    if (f == NULL || rs_start(&f->srv, 0, &err) != DP_OK) {
        if (f != NULL)
            rs_stop(&f->srv);
        fail_msg("private redis-server: %s", f != NULL ? err.msg : "out of memory");
    }
    f->c = t_connect(f->srv.url, NULL, NULL);
    f->raw = t_raw(f->srv.url);
    t_register(f->c, "calls", 64, f->runner, NULL);
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    if (f == NULL)
        return 0;
    rq_close(f->c);
    if (f->raw)
        redisFree(f->raw);
    rs_stop(&f->srv);
    free(f);
    return 0;
}

static void reset_stats(fx *f)
{
    redisReply *r = redisCommand(f->raw, "CONFIG RESETSTAT");
    assert_non_null(r);
    freeReplyObject(r);
}

/* Calls of one command since reset_stats ("lpop"), or of every command a
 * script ran (cmd NULL: all but evalsha and the test's own). */
static long calls(fx *f, const char *cmd)
{
    redisReply *r = redisCommand(f->raw, "INFO commandstats");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    long total = 0;
    for (char *line = strstr(r->str, "cmdstat_"); line != NULL;
         line = strstr(line + 1, "cmdstat_")) {
        char name[64];
        long n = 0;
        if (sscanf(line, "cmdstat_%63[^:]:calls=%ld", name, &n) != 2)
            continue;
        if (cmd != NULL ? strcmp(name, cmd) == 0
                        : strcmp(name, "evalsha") != 0 && strncmp(name, "config", 6) != 0 &&
                              strcmp(name, "info") != 0 && strncmp(name, "script", 6) != 0)
            total += n;
    }
    freeReplyObject(r);
    return total;
}

static void enqueue_ids(fx *f, const char *const *ids, size_t n, size_t want_added)
{
    rq_job_in jobs[128];
    assert_true(n <= 128);
    for (size_t i = 0; i < n; i++)
        jobs[i] = (rq_job_in){.job_id = ids[i], .spec = ids[i], .spec_len = strlen(ids[i])};
    size_t added = 0;
    dp_err err = {0};
    assert_int_equal(rq_enqueue(f->c, jobs, n, &added, &err), DP_OK);
    assert_int_equal(added, want_added);
}

static void test_enqueue(void **state)
{
    fx *f = *state;
    t_enqueue(f->c, "warm", 1, 0); /* the script is loaded, the queue known */
    reset_stats(f);
    t_enqueue(f->c, "j", 100, 0);
    /* per job one HSET; per call one EXISTS, one SADD P queues, one RPUSH,
     * one SADD P ready:n, one TIME (before: EXISTS and SADD per job, 300+) */
    long n = calls(f, NULL);
    assert_int_equal(calls(f, "hset"), 100);
    assert_int_equal(calls(f, "exists"), 1);
    assert_true(n <= 106);
    /* a retried batch: an id already there, one twice, two new ones: each
     * new id added once, in order, as when every id was asked for alone */
    const char *ids[] = {"j-5", "k-1", "k-1", "j-99", "k-2"};
    enqueue_ids(f, ids, 5, 2);
    assert_int_equal(t_int(f->raw, "LLEN {dispatch}:q:n::"), 1 + 100 + 2);
    redisReply *r = redisCommand(f->raw, "LRANGE {dispatch}:q:n:: -2 -1");
    assert_non_null(r);
    assert_int_equal(r->elements, 2);
    assert_string_equal(r->element[0]->str, "k-1");
    assert_string_equal(r->element[1]->str, "k-2");
    freeReplyObject(r);
    /* a batch that is all retries adds nothing */
    enqueue_ids(f, ids, 5, 0);
    assert_int_equal(t_int(f->raw, "LLEN {dispatch}:q:n::"), 103);
}

static size_t lease(fx *f, uint32_t k, const char *req, rq_lease *out)
{
    size_t n = 0;
    dp_err err = {0};
    assert_int_equal(rq_lease_claim(f->c, f->runner, k, req, out, &n, &err), DP_OK);
    return n;
}

static void test_lease_run(void **state)
{
    fx *f = *state;
    t_enqueue(f->c, "j", 40, 0);
    rq_lease l[16];
    reset_stats(f);
    assert_int_equal(lease(f, 16, "a", l), 16);
    /* the jobs in FIFO order, as before */
    for (size_t i = 0; i < 16; i++) {
        char want[16];
        snprintf(want, sizeof want, "j-%zu", i);
        assert_string_equal(l[i].job_id, want);
        assert_int_equal(l[i].attempt, 1);
    }
    rq_leases_free(l, 16);
    /* All normal work: the slots of the 8:3:1 sequence all fall to the one
     * queue, so the 16 jobs are two runs (the low slot's SINTER splits
     * them): 2 LPOPs, not 16; per job one HMGET and one HSET; per call
     * the runner's HMGET, the EXISTS of the ready sets, TIME, the SINTERs,
     * the SADDs and the runner's HSET. */
    assert_int_equal(calls(f, "lpop"), 2);
    assert_int_equal(calls(f, "hset"), 16 + 1);
    assert_true(calls(f, NULL) <= 2 * 16 + 11);
}

/* Claims of three runners (one of them twice), of an unknown one and of one
 * whose hash is broken (not a hash: its claim fails) are one script call,
 * each claim answered as it would be alone, in order: DP_ENOTFOUND and
 * DP_EIO for those two cost the others nothing, and their
 * `leased` events share one stream entry. Resent whole (its answer lost),
 * each gets the same jobs back and nothing is streamed again. */
static void test_lease_many_one_call(void **state)
{
    fx *f = *state;
    char r2[DP_ID_MAX], r3[DP_ID_MAX];
    t_register(f->c, "calls-2", 8, r2, NULL);
    t_register(f->c, "calls-3", 8, r3, NULL);
    t_enqueue(f->c, "m", 20, 0);
    redisReply *b = redisCommand(f->raw, "SET {dispatch}:runner:r-broken not-a-hash");
    assert_non_null(b);
    freeReplyObject(b);
    rq_lease l[6][8];
    rq_claim q[6] = {
        {.runner_id = f->runner, .k = 3, .request_id = "q-1", .out = l[0]},
        {.runner_id = r2, .k = 4, .request_id = "q-2", .out = l[1]},
        {.runner_id = "r-nobody", .k = 4, .request_id = "q-5", .out = l[4]},
        {.runner_id = f->runner, .k = 2, .request_id = "q-3", .out = l[2]},
        {.runner_id = r3, .k = 8, .request_id = "q-4", .out = l[3]},
        {.runner_id = "r-broken", .k = 2, .request_id = "q-6", .out = l[5]},
    };
    size_t want[6] = {3, 4, 0, 2, 8, 0};
    char ids[6][8][16];
    reset_stats(f);
    assert_int_equal(rq_lease_claim_many(f->c, q, 6, "2026-12-04T00:00:00Z", 1), 4);
    assert_int_equal(calls(f, "evalsha"), 1);
    assert_int_equal(calls(f, "xadd"), 1); /* 17 events: one entry holds RQ_EVENTS_PER_ENTRY */
    assert_int_equal(q[2].rc, DP_ENOTFOUND);
    assert_int_equal(q[5].rc, DP_EIO);
    assert_non_null(strstr(q[5].err.msg, "WRONGTYPE"));
    size_t next = 0;
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(q[i].n_out, want[i]);
        for (size_t j = 0; j < q[i].n_out; j++) {
            snprintf(ids[i][j], sizeof ids[i][j], "m-%zu", next++);
            assert_string_equal(q[i].out[j].job_id, ids[i][j]);
            assert_int_equal(q[i].out[j].attempt, 1);
        }
        rq_leases_free(q[i].out, q[i].n_out);
    }
    reset_stats(f);
    assert_int_equal(rq_lease_claim_many(f->c, q, 6, "2026-12-04T00:00:00Z", 1), 4);
    assert_int_equal(calls(f, "xadd"), 0);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(q[i].n_out, want[i]);
        for (size_t j = 0; j < q[i].n_out; j++)
            assert_string_equal(q[i].out[j].job_id, ids[i][j]);
        rq_leases_free(q[i].out, q[i].n_out);
    }
    assert_int_equal(t_int(f->raw, "LLEN {dispatch}:q:n::"), 3);
}

/* An idle runner's poll (nothing pending anywhere): the runner's HMGET and
 * one EXISTS of the ready sets; no SINTER, no TIME, nothing written. */
static void test_lease_empty_poll(void **state)
{
    fx *f = *state;
    rq_lease l[4];
    reset_stats(f);
    assert_int_equal(lease(f, 4, "idle", l), 0);
    assert_int_equal(calls(f, "sinter"), 0);
    assert_int_equal(calls(f, "time"), 0);
    assert_int_equal(calls(f, "hset"), 0);
    assert_int_equal(calls(f, NULL), 2);
}

/* stale ids ahead of a job: a lease of k takes at most 4k + 64 turns (a
 * popped id or a queue found empty each), exactly as one LPOP per turn did */
static void stale_case(fx *f, int ghosts, size_t want_jobs, int want_ready, long want_left)
{
    redisReply *r = redisCommand(f->raw, "FLUSHALL");
    freeReplyObject(r);
    t_register(f->c, "calls", 64, f->runner, NULL);
    const char *ids[] = {"real"};
    enqueue_ids(f, ids, 1, 1);
    for (int i = 0; i < ghosts; i++)
        t_int(f->raw, "LPUSH {dispatch}:q:n:: ghost-%d", i % 3);
    rq_lease l[2];
    size_t n = lease(f, 2, NULL, l);
    rq_leases_free(l, n);
    assert_int_equal(n, want_jobs);
    assert_int_equal(t_int(f->raw, "SISMEMBER {dispatch}:ready:n :"), want_ready);
    assert_int_equal(t_int(f->raw, "LLEN {dispatch}:q:n::"), want_left);
}

static void test_lease_stale_bound(void **state)
{
    fx *f = *state;
    /* k = 2: 72 turns. 70 ghosts + the job + the empty list: all fit */
    stale_case(f, 70, 1, 0, 0);
    /* 71 ghosts + the job: no turn left to find the list empty: it stays ready */
    stale_case(f, 71, 1, 1, 0);
    /* 72 ghosts: the job stays queued for the next lease */
    stale_case(f, 72, 0, 1, 1);
    stale_case(f, 100, 0, 1, 29);
}

static void test_owner_check(void **state)
{
    fx *f = *state;
    t_enqueue(f->c, "j", 16, 0);
    rq_lease l[16];
    assert_int_equal(lease(f, 16, NULL, l), 16);
    dp_err err = {0};
    assert_int_equal(rq_lease_complete(f->c, f->runner, "j-0", 1, &err), DP_OK);
    rq_owner_item it[16];
    for (size_t i = 0; i < 16; i++)
        it[i] =
            (rq_owner_item){.job_id = l[i].job_id, .runner_id = f->runner, .attempt = 1, .mark = 1};
    it[1].runner_id = "r-other"; /* not the owner */
    it[2].attempt = 2;           /* not the attempt */
    it[3].job_id = "ghost";      /* no such job */
    reset_stats(f);
    assert_int_equal(rq_owner_check(f->c, it, 16, &err), DP_OK);
    assert_int_equal(it[0].result, DP_OK); /* the repeat of an accepted complete */
    assert_int_equal(it[1].result, DP_ECONFLICT);
    assert_int_equal(it[2].result, DP_ECONFLICT);
    assert_int_equal(it[3].result, DP_ENOTFOUND);
    for (size_t i = 4; i < 16; i++) {
        assert_int_equal(it[i].result, DP_OK);
        assert_int_equal(it[i].max_attempts, 3);
    }
    /* per item one HMGET (the tombstone: its WRONGTYPE error, then GET), one
     * HSET per passing mark, one TIME per call; no TYPE (before: per item) */
    assert_int_equal(calls(f, "type"), 0);
    assert_int_equal(calls(f, "hmget"), 16);
    assert_int_equal(calls(f, "get"), 1);
    assert_int_equal(calls(f, "hset"), 12);
    assert_int_equal(calls(f, NULL), 16 + 1 + 12 + 1);
    redisReply *r = redisCommand(f->raw, "HGET {dispatch}:job:j-5 completing");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_true(strncmp(r->str, "1:", 2) == 0);
    freeReplyObject(r);
    assert_int_equal(t_int(f->raw, "HEXISTS {dispatch}:job:j-1 completing"), 0);
    rq_leases_free(l, 16);
}

/* Commands are written in RESP by rq_append (not hiredis's formatter):
 * empty, binary and CR LF-bearing arguments, lengths of one to six digits
 * and commands of 3 to 1,002 arguments arrive byte for byte, alone and in a
 * pipeline. */
static void test_argv_bytes(void **state)
{
    fx *f = *state;
    dp_err err = {0};
    static char big[123456];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7);
    const char odd[] = {'a', '\r', '\n', '\0', '$', '*', '\r'};
    rq_args a = {0};
    rq_args_str(&a, "RPUSH");
    rq_args_str(&a, "argv-test");
    rq_args_add(&a, "", 0);
    rq_args_add(&a, odd, sizeof odd);
    rq_args_add(&a, big, sizeof big);
    for (uint64_t i = 0; i < 997; i++)
        rq_args_u64(&a, i * 1000003);
    redisReply *r = NULL;
    assert_int_equal(rq_call(f->c, "argv test", &a, RQ_NO_RETRY, &r, &err), DP_OK);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->integer, 1000);
    freeReplyObject(r);
    rq_args_free(&a);
    redisReply *l = redisCommand(f->raw, "LRANGE argv-test 0 -1");
    assert_int_equal(l->elements, 1000);
    assert_int_equal(l->element[0]->len, 0);
    assert_int_equal(l->element[1]->len, sizeof odd);
    assert_memory_equal(l->element[1]->str, odd, sizeof odd);
    assert_int_equal(l->element[2]->len, sizeof big);
    assert_memory_equal(l->element[2]->str, big, sizeof big);
    assert_string_equal(l->element[999]->str, "996002988");
    freeReplyObject(l);
    /* two commands in one pipeline */
    rq_args p[2] = {{0}, {0}};
    rq_args_str(&p[0], "SET");
    rq_args_str(&p[0], "argv-one");
    rq_args_add(&p[0], odd, sizeof odd);
    rq_args_str(&p[1], "GET");
    rq_args_str(&p[1], "argv-one");
    redisReply *out[2] = {NULL, NULL};
    assert_int_equal(rq_pipeline(f->c, "argv pipeline", p, 2, out, &err), DP_OK);
    assert_int_equal(out[1]->len, sizeof odd);
    assert_memory_equal(out[1]->str, odd, sizeof odd);
    freeReplyObject(out[0]);
    freeReplyObject(out[1]);
    rq_args_free(&p[0]);
    rq_args_free(&p[1]);
}

/* Only a batch's last XADD carries MAXLEN ~: the stream still ends each
 * batch at about RQ_EVENTS_MAXLEN entries (whole nodes of 100 trimmed). */
static void test_events_cap(void **state)
{
    fx *f = *state;
    enum { BATCH = 1000, BATCHES = RQ_EVENTS_MAXLEN / BATCH + 12 };
    static const char blob[] = "an event";
    const void *blobs[BATCH];
    size_t lens[BATCH];
    for (size_t i = 0; i < BATCH; i++) {
        blobs[i] = blob;
        lens[i] = sizeof blob - 1;
    }
    dp_err err = {0};
    reset_stats(f);
    for (int b = 0; b < BATCHES; b++) {
        assert_int_equal(rq_events_add(f->c, blobs, lens, BATCH, &err), DP_OK);
        long len = t_int(f->raw, "XLEN {dispatch}:events");
        long want = (long)(b + 1) * BATCH;
        if (want > RQ_EVENTS_MAXLEN)
            want = RQ_EVENTS_MAXLEN;
        assert_true(len >= want);
        assert_true(len < want + 100 || len <= RQ_EVENTS_MAXLEN);
    }
    assert_int_equal(calls(f, "xadd"), (long)BATCHES * BATCH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_enqueue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_empty_poll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_many_one_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_stale_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owner_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_argv_bytes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
