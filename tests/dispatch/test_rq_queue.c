/* Queue and lease operations against the real Redis from ./dev test:
 * enqueue, FIFO lease, complete (owner, attempt, idempotence), cancel,
 * requeue, dead list, stats, request-id retries, wake-ups, rebuild. */
#include "tests/dispatch/rq_test_util.h"

#include "dispatch/redis/rq_owner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char prefix[64];
    rq_conn *c;
    redisContext *raw;
    char runner[DP_ID_MAX];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    t_unique_prefix(f->prefix);
    f->c = t_connect(t_redis_url(), f->prefix, NULL);
    f->raw = t_raw(t_redis_url());
    t_register(f->c, "r1", 4, f->runner, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    rq_close(f->c);
    redisFree(f->raw);
    free(f);
    return 0;
}

static size_t lease(fx *f, const char *runner, uint32_t k, const char *req, rq_lease *out)
{
    size_t n = 0;
    dp_err err = {0};
    int rc = rq_lease_claim(f->c, runner, k, req, out, &n, &err);
    if (rc != DP_OK)
        fail_msg("lease: %s", err.msg);
    return n;
}

static void test_enqueue_lease_fifo(void **state)
{
    fx *f = *state;
    t_enqueue(f->c, "j", 5, 0);
    rq_lease l[4];
    size_t n = lease(f, f->runner, 3, NULL, l);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 3; i++) {
        char id[16], spec[16];
        snprintf(id, sizeof id, "j-%zu", i);
        snprintf(spec, sizeof spec, "spec-%zu", i);
        assert_string_equal(l[i].job_id, id);
        assert_int_equal(l[i].attempt, 1);
        assert_int_equal(l[i].spec_len, strlen(spec));
        assert_memory_equal(l[i].spec, spec, l[i].spec_len);
    }
    rq_leases_free(l, n);
    n = lease(f, f->runner, 4, NULL, l);
    assert_int_equal(n, 2);
    assert_string_equal(l[0].job_id, "j-3");
    assert_string_equal(l[1].job_id, "j-4");
    rq_leases_free(l, n);
    assert_int_equal(lease(f, f->runner, 4, NULL, l), 0);
    /* stale ids in pending (a job already leased, an unknown one) are skipped */
    t_enqueue(f->c, "k", 1, 0);
    t_int(f->raw, "LPUSH %sq:n:: j-0 ghost", f->prefix);
    assert_int_equal(lease(f, f->runner, 2, NULL, l), 1);
    assert_string_equal(l[0].job_id, "k-0");
    rq_leases_free(l, 1);
    /* the job hash records the lease */
    redisReply *r =
        redisCommand(f->raw, "HMGET %sjob:j-0 state leased_by attempts leased_at", f->prefix);
    assert_string_equal(r->element[0]->str, "leased");
    assert_string_equal(r->element[1]->str, f->runner);
    assert_string_equal(r->element[2]->str, "1");
    assert_true(strtoll(r->element[3]->str, NULL, 10) > 1600000000000LL);
    freeReplyObject(r);
    assert_int_equal(t_int(f->raw, "SCARD %sjobs:leased", f->prefix), 6);
    assert_int_equal(t_int(f->raw, "SCARD %srunner:%s:jobs", f->prefix, f->runner), 6);
}

static void test_enqueue_duplicate_and_binary_spec(void **state)
{
    fx *f = *state;
    const char spec[] = {'a', 0, 'b', (char)0xff};
    rq_job_in j = {.job_id = "bin", .spec = spec, .spec_len = sizeof spec};
    size_t added = 0;
    dp_err err = {0};
    assert_int_equal(rq_enqueue(f->c, &j, 1, &added, &err), DP_OK);
    assert_int_equal(added, 1);
    /* a retried enqueue of the same id adds nothing */
    assert_int_equal(rq_enqueue(f->c, &j, 1, &added, &err), DP_OK);
    assert_int_equal(added, 0);
    assert_int_equal(t_int(f->raw, "LLEN %sq:n::", f->prefix), 1);
    rq_lease l[1];
    assert_int_equal(lease(f, f->runner, 1, NULL, l), 1);
    assert_int_equal(l[0].spec_len, sizeof spec);
    assert_memory_equal(l[0].spec, spec, sizeof spec);
    rq_leases_free(l, 1);
    /* enqueue of a leased job id leaves the lease alone */
    assert_int_equal(rq_enqueue(f->c, &j, 1, &added, &err), DP_OK);
    assert_int_equal(added, 0);
    assert_int_equal(rq_lease_complete(f->c, f->runner, "bin", 1, &err), DP_OK);
    /* bad input is refused with a message naming it */
    rq_job_in bad = {.job_id = "a b"};
    assert_int_equal(rq_enqueue(f->c, &bad, 1, NULL, &err), DP_EINVAL);
    assert_non_null(strstr(err.msg, "job id"));
    rq_job_in big = {.job_id = "x", .max_attempts = 1000};
    assert_int_equal(rq_enqueue(f->c, &big, 1, NULL, &err), DP_EINVAL);
}

static void test_complete_semantics(void **state)
{
    fx *f = *state;
    char other[DP_ID_MAX];
    t_register(f->c, "r2", 1, other, NULL);
    t_enqueue(f->c, "c", 2, 0);
    rq_lease l[2];
    assert_int_equal(lease(f, f->runner, 2, NULL, l), 2);
    rq_leases_free(l, 2);
    dp_err err = {0};
    /* wrong owner, wrong attempt: conflict; unknown job: not found */
    assert_int_equal(rq_lease_complete(f->c, other, "c-0", 1, &err), DP_ECONFLICT);
    assert_non_null(strstr(err.msg, "c-0"));
    assert_int_equal(rq_lease_complete(f->c, f->runner, "c-0", 2, &err), DP_ECONFLICT);
    assert_int_equal(rq_lease_complete(f->c, f->runner, "nope", 1, &err), DP_ENOTFOUND);
    /* the owner of the current attempt: accepted, then idempotent */
    assert_int_equal(rq_lease_complete(f->c, f->runner, "c-0", 1, &err), DP_OK);
    assert_int_equal(rq_lease_complete(f->c, f->runner, "c-0", 1, &err), DP_OK);
    /* ... but a different owner or attempt after completion is a conflict */
    assert_int_equal(rq_lease_complete(f->c, other, "c-0", 1, &err), DP_ECONFLICT);
    assert_int_equal(rq_lease_complete(f->c, f->runner, "c-0", 2, &err), DP_ECONFLICT);
    /* the tombstone expires, the spec is gone at once */
    assert_int_equal(t_int(f->raw, "SISMEMBER %sjobs:leased c-0", f->prefix), 0);
    assert_int_equal(t_int(f->raw, "SISMEMBER %srunner:%s:jobs c-0", f->prefix, f->runner), 0);
    long long ttl = t_int(f->raw, "PTTL %sjob:c-0", f->prefix);
    assert_true(ttl > 0 && ttl <= RQ_DEFAULT_TOMBSTONE_MS);
    /* batch: per-item results */
    rq_complete_item items[3] = {{.job_id = "c-1", .attempt = 1},
                                 {.job_id = "c-0", .attempt = 1},
                                 {.job_id = "zzz", .attempt = 1}};
    assert_int_equal(rq_lease_complete_batch(f->c, f->runner, items, 3, &err), DP_OK);
    assert_int_equal(items[0].result, DP_OK);
    assert_int_equal(items[0].repeated, 0);
    assert_int_equal(items[1].result, DP_OK);
    assert_int_equal(items[1].repeated, 1);
    assert_int_equal(items[2].result, DP_ENOTFOUND);
    dp_queue_stats st;
    assert_int_equal(rq_stats(f->c, &st, &err), DP_OK);
    assert_int_equal(st.leased, 0);
    assert_int_equal(st.pending, 0);
}

static void test_cancel(void **state)
{
    fx *f = *state;
    t_enqueue(f->c, "x", 3, 0);
    dp_err err = {0};
    /* pending: removed from the list */
    assert_int_equal(rq_cancel(f->c, "x-1", &err), DP_OK);
    assert_int_equal(t_int(f->raw, "LLEN %sq:n::", f->prefix), 2);
    assert_int_equal(rq_cancel(f->c, "x-1", &err), DP_OK); /* again: still fine */
    rq_lease l[3];
    assert_int_equal(lease(f, f->runner, 3, NULL, l), 2);
    assert_string_equal(l[0].job_id, "x-0");
    assert_string_equal(l[1].job_id, "x-2");
    rq_leases_free(l, 2);
    /* leased: removed from the sets; the owner's complete is a conflict */
    assert_int_equal(rq_cancel(f->c, "x-0", &err), DP_OK);
    assert_int_equal(t_int(f->raw, "SISMEMBER %sjobs:leased x-0", f->prefix), 0);
    assert_int_equal(rq_lease_complete(f->c, f->runner, "x-0", 1, &err), DP_ECONFLICT);
    /* completed: cannot be cancelled; unknown: not found */
    assert_int_equal(rq_lease_complete(f->c, f->runner, "x-2", 1, &err), DP_OK);
    assert_int_equal(rq_cancel(f->c, "x-2", &err), DP_ECONFLICT);
    assert_int_equal(rq_cancel(f->c, "x-9", &err), DP_ENOTFOUND);
    /* ...and stays cancelled: an enqueue that was on its way (committed by
     * the submitter, cancelled from the job list before it) adds nothing */
    rq_job_in late = {.job_id = "x-9", .spec = "spec-9", .spec_len = 6};
    size_t added = 1;
    assert_int_equal(rq_enqueue(f->c, &late, 1, &added, &err), DP_OK);
    assert_int_equal(added, 0);
    assert_int_equal(t_int(f->raw, "LLEN %sq:n::", f->prefix), 0);
    assert_int_equal(rq_cancel(f->c, "x-9", &err), DP_OK); /* already cancelled */
}

static void test_requeue_and_dead(void **state)
{
    fx *f = *state;
    t_enqueue(f->c, "q", 2, 1);
    rq_lease l[2];
    assert_int_equal(lease(f, f->runner, 1, NULL, l), 1);
    rq_leases_free(l, 1);
    dp_err err = {0};
    /* leased -> head of pending; the old attempt's complete is a conflict */
    assert_int_equal(rq_requeue(f->c, "q-0", &err), DP_OK);
    assert_int_equal(rq_requeue(f->c, "q-0", &err), DP_OK); /* already pending */
    assert_int_equal(rq_lease_complete(f->c, f->runner, "q-0", 1, &err), DP_ECONFLICT);
    assert_int_equal(lease(f, f->runner, 1, NULL, l), 1);
    assert_string_equal(l[0].job_id, "q-0");
    assert_int_equal(l[0].attempt, 2);
    rq_leases_free(l, 1);
    assert_int_equal(rq_requeue(f->c, "nope", &err), DP_ENOTFOUND);
    assert_int_equal(rq_lease_complete(f->c, f->runner, "q-0", 2, &err), DP_OK);
    assert_int_equal(rq_requeue(f->c, "q-0", &err), DP_ECONFLICT);
    /* dead jobs: made by the reaper (see test_rq_reaper); here, by hand */
    redisReply *r = redisCommand(f->raw, "HSET %sjob:q-1 state dead reason because", f->prefix);
    freeReplyObject(r);
    t_int(f->raw, "LREM %sq:n:: 0 q-1", f->prefix);
    t_int(f->raw, "RPUSH %sjobs:dead q-1", f->prefix);
    rq_dead_job d[4];
    size_t n = 0;
    assert_int_equal(rq_dead_peek(f->c, d, 4, &n, &err), DP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(d[0].job_id, "q-1");
    assert_string_equal(d[0].reason, "because");
    uint64_t moved = 0;
    assert_int_equal(rq_requeue_dead(f->c, &moved, &err), DP_OK);
    assert_int_equal(moved, 1);
    assert_int_equal(t_int(f->raw, "HGET %sjob:q-1 attempts", f->prefix), 0);
    assert_int_equal(rq_dead_peek(f->c, d, 4, &n, &err), DP_OK);
    assert_int_equal(n, 0);
    /* single requeue of a dead job, and dead ack */
    assert_int_equal(lease(f, f->runner, 1, NULL, l), 1);
    rq_leases_free(l, 1);
    r = redisCommand(f->raw, "HSET %sjob:q-1 state dead reason again", f->prefix);
    freeReplyObject(r);
    t_int(f->raw, "SREM %sjobs:leased q-1", f->prefix);
    t_int(f->raw, "RPUSH %sjobs:dead q-1", f->prefix);
    assert_int_equal(rq_requeue(f->c, "q-1", &err), DP_OK);
    assert_int_equal(t_int(f->raw, "LLEN %sjobs:dead", f->prefix), 0);
    assert_int_equal(t_int(f->raw, "LLEN %sq:n::", f->prefix), 1);
    assert_int_equal(lease(f, f->runner, 1, NULL, l), 1);
    rq_leases_free(l, 1);
    r = redisCommand(f->raw, "HSET %sjob:q-1 state dead reason third", f->prefix);
    freeReplyObject(r);
    t_int(f->raw, "RPUSH %sjobs:dead q-1", f->prefix);
    const char *ack[] = {"q-1"};
    assert_int_equal(rq_dead_ack(f->c, ack, 1, &err), DP_OK);
    assert_int_equal(t_int(f->raw, "EXISTS %sjob:q-1", f->prefix), 0);
    assert_int_equal(t_int(f->raw, "LLEN %sjobs:dead", f->prefix), 0);
}

static void test_lease_request_id_retry(void **state)
{
    fx *f = *state;
    t_enqueue(f->c, "rid", 5, 0);
    rq_lease a[3], b[3];
    assert_int_equal(lease(f, f->runner, 3, "req-1", a), 3);
    /* the same request again (its answer was lost): the same jobs */
    assert_int_equal(lease(f, f->runner, 3, "req-1", b), 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(a[i].job_id, b[i].job_id);
        assert_int_equal(a[i].attempt, b[i].attempt);
        assert_memory_equal(a[i].spec, b[i].spec, a[i].spec_len);
    }
    rq_leases_free(b, 3);
    assert_int_equal(t_int(f->raw, "LLEN %sq:n::", f->prefix), 2);
    /* a job completed since is not handed out again */
    dp_err err = {0};
    assert_int_equal(rq_lease_complete(f->c, f->runner, a[0].job_id, 1, &err), DP_OK);
    assert_int_equal(lease(f, f->runner, 3, "req-1", b), 2);
    rq_leases_free(b, 2);
    rq_leases_free(a, 3);
    /* a new request id gets new jobs */
    assert_int_equal(lease(f, f->runner, 3, "req-2", b), 2);
    assert_string_equal(b[0].job_id, "rid-3");
    rq_leases_free(b, 2);
    assert_int_equal(rq_lease_claim(f->c, f->runner, 1, "bad id", b, &(size_t){0}, &err),
                     DP_EINVAL);
    assert_int_equal(rq_lease_claim(f->c, f->runner, 0, NULL, b, &(size_t){0}, &err), DP_EINVAL);
    assert_int_equal(rq_lease_claim(f->c, "r-unknown", 1, NULL, b, &(size_t){0}, &err),
                     DP_ENOTFOUND);
}

/* The claim got 3 jobs, the first of them `first`; frees them. */
static void expect_three(const rq_claim *q, const char *first)
{
    assert_int_equal(q->rc, DP_OK);
    assert_int_equal(q->n_out, 3);
    assert_string_equal(q->out[0].job_id, first);
    rq_leases_free(q->out, 3);
}

/* Several runners' claims in one pipelined round trip: each gets its own
 * jobs (none twice), FIFO across the calls; the same request ids again give
 * back the same jobs; an unknown runner and a claim without a request id
 * fail alone (the NOSCRIPT fallback: test_rq_fault). */
static void test_lease_claim_many(void **state)
{
    fx *f = *state;
    char r2[DP_ID_MAX];
    t_register(f->c, "r2", 4, r2, NULL);
    t_enqueue(f->c, "j", 9, 0);
    rq_lease a[3], b[3], x[3], y[3];
    rq_claim q[4] = {
        {.runner_id = f->runner, .k = 3, .request_id = "q-a", .out = a},
        {.runner_id = "r-nobody", .k = 3, .request_id = "q-x", .out = x},
        {.runner_id = r2, .k = 3, .request_id = "q-b", .out = b},
        {.runner_id = r2, .k = 3, .request_id = NULL, .out = y},
    };
    assert_int_equal(rq_lease_claim_many(f->c, q, 4, NULL, 0), 2);
    assert_int_equal(q[0].rc, DP_OK);
    assert_int_equal(q[1].rc, DP_ENOTFOUND);
    assert_int_equal(q[2].rc, DP_OK);
    assert_int_equal(q[3].rc, DP_EINVAL);
    assert_int_equal(q[0].n_out, 3);
    assert_int_equal(q[2].n_out, 3);
    const char *want[6] = {"j-0", "j-1", "j-2", "j-3", "j-4", "j-5"};
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(a[i].job_id, want[i]);
        assert_string_equal(b[i].job_id, want[3 + i]);
        assert_int_equal(a[i].attempt, 1);
    }
    rq_leases_free(a, 3);
    rq_leases_free(b, 3);
    /* the same requests again (an answer lost): the same jobs, no new ones */
    assert_int_equal(rq_lease_claim_many(f->c, q, 3, NULL, 0), 2);
    assert_int_equal(q[0].n_out, 3);
    assert_string_equal(a[0].job_id, "j-0");
    assert_string_equal(b[2].job_id, "j-5");
    rq_leases_free(a, 3);
    rq_leases_free(b, 3);
    /* one round trip for both; a runner twice in one call: the second is
     * refused (a resend could not tell its request from the first) */
    uint64_t rt0 = rq_round_trips(f->c);
    assert_int_equal(rq_lease_claim_many(f->c, q, 3, NULL, 0), 2);
    assert_int_equal(rq_round_trips(f->c) - rt0, 1);
    rq_leases_free(a, q[0].n_out);
    rq_leases_free(b, q[2].n_out);
    /* one runner twice in a call (a runner has several calls in flight):
     * each request keeps its own record, so the pipeline run again (a
     * resend) gives both the same jobs */
    rq_claim twice[2] = {
        {.runner_id = r2, .k = 3, .request_id = "q-b", .out = b},
        {.runner_id = r2, .k = 3, .request_id = "q-d", .out = y},
    };
    for (int round = 0; round < 2; round++) {
        assert_int_equal(rq_lease_claim_many(f->c, twice, 2, NULL, 0), 2);
        expect_three(&twice[0], "j-3");
        expect_three(&twice[1], "j-6");
    }
    /* more claims of one runner than its records keep: refused beyond them */
    rq_lease none[RQ_LEASE_REQS_KEPT + 1][1];
    rq_claim many[RQ_LEASE_REQS_KEPT + 1];
    char ids[RQ_LEASE_REQS_KEPT + 1][16];
    for (int i = 0; i <= RQ_LEASE_REQS_KEPT; i++) {
        snprintf(ids[i], sizeof ids[i], "q-m%d", i);
        many[i] = (rq_claim){.runner_id = f->runner, .k = 1, .request_id = ids[i], .out = none[i]};
    }
    assert_int_equal(rq_lease_claim_many(f->c, many, RQ_LEASE_REQS_KEPT + 1, NULL, 0),
                     RQ_LEASE_REQS_KEPT);
    assert_int_equal(many[RQ_LEASE_REQS_KEPT].rc, DP_EINVAL);
    assert_int_equal(many[0].n_out, 0); /* nothing is pending */
    /* an error reply for one script (a runner key that is not a hash): the
     * pipeline is redone one call each under the same request ids, so the
     * others get what they got, not more */
    char bad[128];
    snprintf(bad, sizeof bad, "SET %srunner:r-bad x", f->prefix);
    t_int(f->raw, bad);
    rq_claim mixed[3] = {
        {.runner_id = f->runner, .k = 3, .request_id = "q-a", .out = a},
        {.runner_id = "r-bad", .k = 3, .request_id = "q-z", .out = x},
        {.runner_id = r2, .k = 3, .request_id = "q-b", .out = b},
    };
    assert_int_equal(rq_lease_claim_many(f->c, mixed, 3, NULL, 0), 2);
    assert_int_not_equal(mixed[1].rc, DP_OK);
    expect_three(&mixed[0], "j-0");
    expect_three(&mixed[2], "j-3");
    assert_int_equal(t_lease_n(f->c, f->runner, 4), 0); /* all 9 are leased, once */
}

/* The results a runner sends with its request for work are owner-checked
 * in the call that claims for it (rq_claim.checks), each as
 * rq_owner_check would answer it alone: its own leased attempt passes and
 * is marked in flight, a stale attempt and another runner's job conflict,
 * an identical repeat of an accepted complete passes, an unknown job is
 * not found, a check without a mark (a retry's) is decided alike and marks
 * nothing; a claim that fails in the call still has its checks answered.
 * One round trip in all. */
static void test_lease_claim_checks(void **state)
{
    fx *f = *state;
    char r2[DP_ID_MAX];
    t_register(f->c, "r2", 4, r2, NULL);
    t_enqueue(f->c, "j", 6, 0);
    rq_lease got[4];
    assert_int_equal(lease(f, f->runner, 4, NULL, got), 4); /* j-0..j-3, attempt 1 */
    rq_leases_free(got, 4);
    dp_err err = {0};
    assert_int_equal(rq_lease_complete(f->c, f->runner, "j-1", 1, &err), DP_OK);
    char bad[128];
    snprintf(bad, sizeof bad, "SET %srunner:r-bad x", f->prefix);
    t_int(f->raw, bad);
    rq_owner_item mine[9] = {
        {.job_id = "j-0", .runner_id = f->runner, .attempt = 1, .mark = 1},
        {.job_id = "j-2", .runner_id = f->runner, .attempt = 2, .mark = 1},
        {.job_id = "j-1", .runner_id = f->runner, .attempt = 1, .mark = 1},
        {.job_id = "j-nope", .runner_id = f->runner, .attempt = 1, .mark = 1},
        {.job_id = "j-3", .runner_id = f->runner, .attempt = 1, .mark = 0},
        /* checks without a mark (a retry's) are decided the same way */
        {.job_id = "j-1", .runner_id = f->runner, .attempt = 1, .mark = 0},
        {.job_id = "j-3", .runner_id = f->runner, .attempt = 2, .mark = 0},
        {.job_id = "j-3", .runner_id = r2, .attempt = 1, .mark = 0},
        {.job_id = "j-nope", .runner_id = f->runner, .attempt = 1, .mark = 0},
    };
    rq_owner_item theirs[1] = {{.job_id = "j-2", .runner_id = r2, .attempt = 1, .mark = 1}};
    rq_owner_item bads[1] = {{.job_id = "j-0", .runner_id = "r-bad", .attempt = 1, .mark = 1}};
    rq_lease a[2], b[2], x[2];
    rq_claim q[3] = {
        {.runner_id = f->runner,
         .k = 1,
         .request_id = "q-a",
         .out = a,
         .checks = mine,
         .n_checks = 9},
        {.runner_id = "r-bad",
         .k = 1,
         .request_id = "q-x",
         .out = x,
         .checks = bads,
         .n_checks = 1},
        {.runner_id = r2, .k = 2, .request_id = "q-b", .out = b, .checks = theirs, .n_checks = 1},
    };
    uint64_t rt0 = rq_round_trips(f->c);
    assert_int_equal(rq_lease_claim_many(f->c, q, 3, NULL, 0), 2);
    assert_int_equal(rq_round_trips(f->c) - rt0, 1);
    assert_int_not_equal(q[1].rc, DP_OK); /* its runner key is not a hash */
    for (int i = 0; i < 3; i++)
        assert_int_equal(q[i].checked, 1);
    assert_int_equal(mine[0].result, DP_OK);
    assert_int_equal(mine[1].result, DP_ECONFLICT);
    assert_int_equal(mine[2].result, DP_OK); /* the tombstone of its own complete */
    assert_int_equal(mine[3].result, DP_ENOTFOUND);
    assert_int_equal(mine[4].result, DP_OK);
    assert_int_equal(mine[5].result, DP_OK);        /* its own complete's tombstone */
    assert_int_equal(mine[6].result, DP_ECONFLICT); /* not its attempt */
    assert_int_equal(mine[7].result, DP_ECONFLICT); /* not its runner */
    assert_int_equal(mine[8].result, DP_ENOTFOUND);
    assert_int_equal(theirs[0].result, DP_ECONFLICT);
    assert_int_equal(bads[0].result, DP_ECONFLICT); /* j-0 is r1's */
    /* j-0's check marked it (twice: by r1's own item; r-bad's is refused) */
    char cmd[160];
    snprintf(cmd, sizeof cmd, "HEXISTS %sjob:j-0 completing", f->prefix);
    assert_int_equal(t_int(f->raw, cmd), 1);
    snprintf(cmd, sizeof cmd, "HEXISTS %sjob:j-3 completing", f->prefix);
    assert_int_equal(t_int(f->raw, cmd), 0);
    snprintf(cmd, sizeof cmd, "HEXISTS %sjob:j-2 completing", f->prefix);
    assert_int_equal(t_int(f->raw, cmd), 0);
    /* the claims still took their jobs, in order, after the checks */
    assert_int_equal(q[0].n_out, 1);
    assert_string_equal(a[0].job_id, "j-4");
    assert_int_equal(q[2].n_out, 1);
    assert_string_equal(b[0].job_id, "j-5");
    assert_int_equal(mine[4].max_attempts, 3);
    rq_leases_free(a, q[0].n_out);
    rq_leases_free(b, q[2].n_out);
    /* a result id the checks cannot carry leaves them to the caller; the
     * claim goes on (nothing is pending now) */
    rq_owner_item odd[1] = {{.job_id = "j 6", .runner_id = f->runner, .attempt = 1, .mark = 1}};
    rq_claim one = {.runner_id = f->runner,
                    .k = 1,
                    .request_id = "q-c",
                    .out = a,
                    .checks = odd,
                    .n_checks = 1};
    assert_int_equal(rq_lease_claim_many(f->c, &one, 1, NULL, 0), 1);
    assert_int_equal(one.checked, 0);
    assert_int_equal(one.n_out, 0);
}

/* A runner's retry records: its last RQ_LEASE_REQS_KEPT requests that got
 * jobs are answered again with their jobs, however many came since; the
 * records stay bounded (2 x RQ_LEASE_REQS_KEPT fields at most). */
static void test_lease_records_bounded(void **state)
{
    fx *f = *state;
    t_enqueue(f->c, "k", 40, 0);
    char req[40][16];
    rq_lease l[1];
    for (int i = 0; i < 40; i++) {
        snprintf(req[i], sizeof req[i], "q-r%d", i);
        assert_int_equal(lease(f, f->runner, 1, req[i], l), 1);
        rq_leases_free(l, 1);
    }
    for (int i = 40 - RQ_LEASE_REQS_KEPT; i < 40; i++) {
        char want[16];
        snprintf(want, sizeof want, "k-%d", i);
        assert_int_equal(lease(f, f->runner, 1, req[i], l), 1);
        assert_string_equal(l[0].job_id, want);
        rq_leases_free(l, 1);
    }
    char cmd[256];
    snprintf(cmd, sizeof cmd, "HLEN %srunner:%s", f->prefix, f->runner);
    long long before = t_int(f->raw, cmd);
    assert_true(before > 0);
    /* fields other than the records: a dozen or so; the records at most 16 */
    assert_true(before <= 16 + 2 * RQ_LEASE_REQS_KEPT);
}

static void test_wake(void **state)
{
    fx *f = *state;
    dp_err err = {0};
    rq_wake *w = rq_wake_subscribe(t_redis_url(), f->prefix, &err);
    if (w == NULL)
        fail_msg("subscribe: %s", err.msg);
    assert_true(rq_wake_fd(w) >= 0);
    assert_int_equal(rq_wake_read(w, 0, &err), 0);
    t_enqueue(f->c, "w", 10, 0); /* empty -> non-empty: one publish per batch */
    /* ... naming the queue, and '*' as the queue is new (every waiter looks) */
    int got = rq_wake_read(w, 2000, &err);
    if (got < 2)
        got += rq_wake_read(w, 2000, &err);
    assert_int_equal(got, 2);
    t_enqueue(f->c, "u", 1, 0); /* not empty before, known queue: no publish */
    assert_int_equal(rq_wake_read(w, 100, &err), 0);
    rq_lease drain[11];
    assert_int_equal(lease(f, f->runner, 11, NULL, drain), 11);
    rq_leases_free(drain, 11);
    t_enqueue(f->c, "x", 10, 0); /* empty again -> non-empty: the queue id alone */
    assert_int_equal(rq_wake_read(w, 2000, &err), 1);
    const char *ids[4];
    int all = 1;
    assert_int_equal(rq_wake_queues(w, ids, 4, &all), 1);
    assert_int_equal(all, 0);
    assert_string_equal(ids[0], ":");
    t_enqueue(f->c, "v", 1, 0); /* not empty before: no publish */
    assert_int_equal(rq_wake_read(w, 100, &err), 0);
    rq_lease l[11];
    assert_int_equal(lease(f, f->runner, 11, NULL, l), 11);
    rq_leases_free(l, 11);
    assert_int_equal(rq_requeue(f->c, "x-3", &err), DP_OK); /* requeue wakes too */
    assert_int_equal(rq_wake_read(w, 2000, &err), 1);
    rq_wake_close(w);
}

static void test_stats_and_rebuild(void **state)
{
    fx *f = *state;
    dp_err err = {0};
    t_enqueue(f->c, "s", 3, 0);
    rq_job_in again = {.job_id = "reb", .spec = "x", .spec_len = 1, .attempts = 2};
    assert_int_equal(rq_enqueue(f->c, &again, 1, NULL, &err), DP_OK);
    rq_job_in held = {.job_id = "held", .spec = "y", .spec_len = 1, .attempts = 1};
    assert_int_equal(rq_rebuild_leased(f->c, f->runner, &held, &err), DP_OK);
    assert_int_equal(rq_rebuild_leased(f->c, f->runner, &held, &err), DP_OK);
    assert_int_equal(rq_rebuild_leased(f->c, "r-gone", &held, &err), DP_ENOTFOUND);
    dp_queue_stats st;
    assert_int_equal(rq_stats(f->c, &st, &err), DP_OK);
    assert_int_equal(st.pending, 4);
    assert_int_equal(st.leased, 1);
    assert_int_equal(st.dead, 0);
    assert_int_equal(st.runners_alive, 1);
    /* the rebuilt lease belongs to the runner: it can complete it */
    assert_int_equal(rq_lease_complete(f->c, f->runner, "held", 1, &err), DP_OK);
    rq_lease l[4];
    assert_int_equal(lease(f, f->runner, 4, NULL, l), 4);
    assert_string_equal(l[3].job_id, "reb");
    assert_int_equal(l[3].attempt, 3); /* attempts carried over */
    rq_leases_free(l, 4);
}

/* The field of job id's hash, into out (empty for nil). */
static void job_field(fx *f, const char *id, const char *field, char *out, size_t len)
{
    redisReply *r = redisCommand(f->raw, "HGET %sjob:%s %s", f->prefix, id, field);
    assert_non_null(r);
    snprintf(out, len, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
}

/* One call holding jobs of several kinds (queue, priority, attempts, max
 * attempts), interleaved as a rebuild's are: each job lands with its own
 * kind's fields and in its own queue, in order (the script finds a queue's
 * group once while the queue stays the same, rq_enqueue.lua: a group
 * carried over to the next kind shows here). */
static void test_enqueue_kinds_in_one_call(void **state)
{
    fx *f = *state;
    const char *gpu[] = {"gpu"};
    rq_job_in a = {.spec = "a", .spec_len = 1, .profile = "pa"},
              b = {.spec = "b",
                   .spec_len = 1,
                   .profile = "pb",
                   .attempts = 2,
                   .max_attempts = 5,
                   .priority = DP_PRIORITY_HIGH},
              c = {.spec = "c",
                   .spec_len = 1,
                   .profile = "pa",
                   .labels = gpu,
                   .n_labels = 1,
                   .attempts = 1,
                   .priority = DP_PRIORITY_LOW};
    rq_job_in in[7] = {a, a, b, a, b, c, c};
    const char *ids[7] = {"k-0", "k-1", "k-2", "k-3", "k-4", "k-5", "k-6"};
    const char *want_queue[7] = {"pa:", "pa:", "pb:", "pa:", "pb:", "pa:gpu", "pa:gpu"};
    const char *want_prio[7] = {"n", "n", "h", "n", "h", "l", "l"};
    const char *want_attempts[7] = {"0", "0", "2", "0", "2", "1", "1"};
    const char *want_max[7] = {"3", "3", "5", "3", "5", "3", "3"};
    for (size_t i = 0; i < 7; i++)
        in[i].job_id = ids[i];
    dp_err err = {0};
    size_t added = 0;
    assert_int_equal(rq_enqueue(f->c, in, 7, &added, &err), DP_OK);
    assert_int_equal(added, 7);
    char v[64];
    for (size_t i = 0; i < 7; i++) {
        job_field(f, ids[i], "queue", v, sizeof v);
        assert_string_equal(v, want_queue[i]);
        job_field(f, ids[i], "prio", v, sizeof v);
        assert_string_equal(v, want_prio[i]);
        job_field(f, ids[i], "attempts", v, sizeof v);
        assert_string_equal(v, want_attempts[i]);
        job_field(f, ids[i], "max_attempts", v, sizeof v);
        assert_string_equal(v, want_max[i]);
        job_field(f, ids[i], "spec", v, sizeof v);
        assert_int_equal(v[0], ((const char *)in[i].spec)[0]);
    }
    /* each queue holds its jobs in call order */
    assert_int_equal(t_int(f->raw, "LLEN %sq:n:pa:", f->prefix), 3);
    assert_int_equal(t_int(f->raw, "LLEN %sq:h:pb:", f->prefix), 2);
    assert_int_equal(t_int(f->raw, "LLEN %sq:l:pa:gpu", f->prefix), 2);
    redisReply *r = redisCommand(f->raw, "LRANGE %sq:n:pa: 0 -1", f->prefix);
    assert_non_null(r);
    assert_int_equal(r->elements, 3);
    assert_string_equal(r->element[0]->str, "k-0");
    assert_string_equal(r->element[1]->str, "k-1");
    assert_string_equal(r->element[2]->str, "k-3");
    freeReplyObject(r);
    /* the same call again adds nothing (a resend after a lost reply) */
    assert_int_equal(rq_enqueue(f->c, in, 7, &added, &err), DP_OK);
    assert_int_equal(added, 0);
    assert_int_equal(t_int(f->raw, "LLEN %sq:n:pa:", f->prefix), 3);
}

/* One script call completes several runners' jobs (the reporter's batch):
 * each item is checked against its own owner and leaves its owner's set. */
static void test_complete_batch_of_several_runners(void **state)
{
    fx *f = *state;
    char other[DP_ID_MAX];
    t_register(f->c, "r2", 4, other, NULL);
    t_enqueue(f->c, "m", 3, 0);
    rq_lease l[2];
    assert_int_equal(lease(f, f->runner, 2, NULL, l), 2); /* m-0, m-1 */
    rq_leases_free(l, 2);
    assert_int_equal(lease(f, other, 1, NULL, l), 1); /* m-2 */
    rq_leases_free(l, 1);
    rq_complete_item items[] = {{.job_id = "m-0", .attempt = 1},
                                {.job_id = "m-2", .attempt = 1, .runner_id = other},
                                {.job_id = "m-1", .attempt = 1, .runner_id = other},
                                {.job_id = "m-1", .attempt = 1, .runner_id = f->runner}};
    dp_err err = {0};
    assert_int_equal(rq_lease_complete_batch(f->c, f->runner, items, 4, &err), DP_OK);
    assert_int_equal(items[0].result, DP_OK);
    assert_int_equal(items[1].result, DP_OK);
    assert_int_equal(items[2].result, DP_ECONFLICT); /* not its owner */
    assert_int_equal(items[3].result, DP_OK);
    dp_queue_stats st;
    assert_int_equal(rq_stats(f->c, &st, &err), DP_OK);
    assert_int_equal(st.leased, 0);
    assert_int_equal(t_int(f->raw, "SCARD %srunner:%s:jobs", f->prefix, f->runner), 0);
    assert_int_equal(t_int(f->raw, "SCARD %srunner:%s:jobs", f->prefix, other), 0);
    rq_complete_item bad = {.job_id = "m-0", .attempt = 1, .runner_id = "no spaces"};
    assert_int_equal(rq_lease_complete_batch(f->c, f->runner, &bad, 1, &err), DP_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_enqueue_lease_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enqueue_duplicate_and_binary_spec, setup, teardown),
        cmocka_unit_test_setup_teardown(test_complete_semantics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_complete_batch_of_several_runners, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requeue_and_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_request_id_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_claim_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_claim_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_records_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wake, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_and_rebuild, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enqueue_kinds_in_one_call, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
