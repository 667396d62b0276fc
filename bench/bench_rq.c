/* bench_rq: Redis-core costs that need a big queue, measured straight on the
 * rq API (no dispatchd, no PostgreSQL), so a million pending jobs loads in
 * seconds.
 *
 *   bench_rq depth DEPTH [LEASES]  lease cost with DEPTH jobs pending: LEASES
 *                                  lease calls in 20 rounds (at most DEPTH/20
 *                                  per round), the queue topped up between
 *   bench_rq sweep LEASED          reclaim cost of one lost runner holding LEASED
 *   bench_rq enqueue JOBS          the enqueue script's cost per job, as the
 *                                  reporter calls it (calls of RQ_BATCH_MAX
 *                                  fresh job ids with a 164-byte spec)
 *   bench_rq cycle JOBS [K]        the hot path's lease, owner check and
 *                                  complete scripts, K jobs per call (8)
 *   bench_rq claims JOBS K R       a leaser's batched claim: R runners' claims
 *                                  of K jobs each in one rq_lease_claim_many
 *                                  (as a leaser holding R messages makes it),
 *                                  Redis's time per job, the owner check and
 *                                  complete between claims (untimed)
 *
 * DISPATCH_REDIS_URL must be set. Each run uses its own key prefix and deletes
 * nothing but resets the server's stats: run it on a throwaway server. Prints
 * one JSON object on stdout. Buffers are all owned by this file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "common/job.h"
#include "common/sha256.h"
#include "dispatch/redis/rq.h"
#include "dispatch/redis/rq_owner.h"

static double brq_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void brq_die(const char *what, const dp_err *err)
{
    fprintf(stderr, "bench_rq: %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

static void brq_cmd(redisContext *raw, const char *cmd)
{
    redisReply *r = redisCommand(raw, cmd);
    if (r == NULL)
        brq_die(cmd, NULL);
    freeReplyObject(r);
}

/* Server-side usec and calls of EVALSHA since the last CONFIG RESETSTAT. */
static void brq_evalsha_stats(redisContext *raw, double *usec, double *calls)
{
    *usec = *calls = 0;
    redisReply *r = redisCommand(raw, "INFO commandstats");
    if (r == NULL || r->type != REDIS_REPLY_STRING)
        brq_die("INFO commandstats", NULL);
    const char *p = strstr(r->str, "cmdstat_evalsha:calls=");
    long long c = 0, u = 0;
    if (p && sscanf(p, "cmdstat_evalsha:calls=%lld,usec=%lld", &c, &u) == 2) {
        *calls = (double)c;
        *usec = (double)u;
    }
    freeReplyObject(r);
}

static int brq_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static rq_conn *brq_connect(const char *url, uint32_t ttl_ms, redisContext **raw)
{
    char prefix[64], hex[17];
    uint8_t rnd[8];
    dp_random_bytes(rnd, sizeof rnd);
    dp_hex_encode(rnd, sizeof rnd, hex);
    snprintf(prefix, sizeof prefix, "{brq-%s}:", hex);
    rq_options opt;
    rq_options_default(&opt);
    opt.alive_ttl_ms = ttl_ms;
    opt.io_timeout_ms = 60000;
    dp_err err = {0};
    rq_conn *c = rq_connect(url, prefix, &opt, &err);
    if (c == NULL)
        brq_die("connect", &err);
    rq_url u;
    if (rq_url_parse(url, &u, &err) != DP_OK)
        brq_die("url", &err);
    *raw = u.unix_path[0] ? redisConnectUnix(u.unix_path) : redisConnect(u.host, u.port);
    if (*raw == NULL || (*raw)->err)
        brq_die("raw connect", NULL);
    return c;
}

static void brq_fill(rq_conn *c, size_t n, const char *stem)
{
    static const char spec[200] = "noop job spec, 200 bytes";
    rq_job_in *in = calloc(RQ_BATCH_MAX, sizeof *in);
    char(*ids)[40] = calloc(RQ_BATCH_MAX, 40);
    dp_err err = {0};
    for (size_t i = 0; i < n; i += RQ_BATCH_MAX) {
        size_t b = n - i < RQ_BATCH_MAX ? n - i : RQ_BATCH_MAX;
        for (size_t j = 0; j < b; j++) {
            snprintf(ids[j], 40, "%s-%zu", stem, i + j);
            in[j] = (rq_job_in){.job_id = ids[j], .spec = spec, .spec_len = sizeof spec};
        }
        if (rq_enqueue(c, in, b, NULL, &err) != DP_OK)
            brq_die("enqueue", &err);
    }
    free(in);
    free(ids);
}

static void brq_register(rq_conn *c, char runner[DP_ID_MAX])
{
    char tok[RQ_TOKEN_HEX_LEN + 1];
    rq_runner_reg reg = {.name = "bench", .capacity = 10000, .version = "bench"};
    dp_err err = {0};
    if (rq_registry_register(c, "t", "t", &reg, runner, tok, &err) != DP_OK)
        brq_die("register", &err);
}

/* Server-side EVALSHA usec per call since the last CONFIG RESETSTAT. */
static double brq_usec_per_call(redisContext *raw)
{
    double usec, calls;
    brq_evalsha_stats(raw, &usec, &calls);
    return calls > 0 ? usec / calls : 0;
}

/* Lease cost with DEPTH pending, in ROUNDS rounds of K = min(LEASES / ROUNDS,
 * DEPTH / 20) jobs: K lease-one + complete-one cycles (as a runner slot does),
 * then K lease-only calls, each phase timed by Redis (EVALSHA usec since a
 * CONFIG RESETSTAT). Between rounds, outside the timed phases, the leased jobs
 * are completed and K*2 new jobs top the queue up, so every round starts at
 * DEPTH pending with nothing leased: every depth gets the same number of
 * samples and the same leased sets, and only the depth differs (one pass of
 * DEPTH/20 leases had 20x fewer samples at 10k than at 1M, and a leased set
 * 20x larger at 1M). Figures are medians over rounds. */
static int brq_depth(const char *url, size_t depth, size_t leases)
{
    enum { ROUNDS = 20 };
    size_t k = leases / ROUNDS < depth / 20 ? leases / ROUNDS : depth / 20;
    if (k == 0)
        brq_die("depth: fewer than 20 leases or a depth under 20", NULL);
    redisContext *raw;
    rq_conn *c = brq_connect(url, 600000, &raw);
    double t0 = brq_now();
    brq_fill(c, depth, "d");
    double fill_s = brq_now() - t0;
    char runner[DP_ID_MAX];
    brq_register(c, runner);
    double *wall = calloc(k * ROUNDS, sizeof *wall), lc[ROUNDS], lo[ROUNDS];
    rq_lease *held = calloc(k, sizeof *held);
    dp_err err = {0};
    for (int r = 0; r < ROUNDS; r++) {
        brq_cmd(raw, "CONFIG RESETSTAT");
        for (size_t i = 0; i < k; i++) {
            rq_lease l;
            size_t n = 0;
            double s = brq_now();
            if (rq_lease_claim(c, runner, 1, NULL, &l, &n, &err) != DP_OK || n != 1)
                brq_die("lease", &err);
            wall[(size_t)r * k + i] = (brq_now() - s) * 1e6;
            if (rq_lease_complete(c, runner, l.job_id, l.attempt, &err) != DP_OK)
                brq_die("complete", &err);
            rq_leases_free(&l, 1);
        }
        lc[r] = brq_usec_per_call(raw) * 2; /* a lease and a complete per job */
        brq_cmd(raw, "CONFIG RESETSTAT");
        for (size_t i = 0; i < k; i++) {
            size_t n = 0;
            if (rq_lease_claim(c, runner, 1, NULL, &held[i], &n, &err) != DP_OK || n != 1)
                brq_die("lease", &err);
        }
        lo[r] = brq_usec_per_call(raw);
        for (size_t i = 0; i < k; i++) {
            if (rq_lease_complete(c, runner, held[i].job_id, held[i].attempt, &err) != DP_OK)
                brq_die("complete", &err);
            rq_leases_free(&held[i], 1);
        }
        char stem[16];
        snprintf(stem, sizeof stem, "t%d", r);
        brq_fill(c, 2 * k, stem);
    }
    qsort(wall, k * ROUNDS, sizeof *wall, brq_cmp);
    qsort(lc, ROUNDS, sizeof *lc, brq_cmp);
    qsort(lo, ROUNDS, sizeof *lo, brq_cmp);
    printf("{\"depth\": %zu, \"fill_s\": %.2f, \"fill_jobs_per_s\": %.0f, \"leases\": %zu, "
           "\"rounds\": %d, \"lease_wall_us_median\": %.1f, \"lease_wall_us_p99\": %.1f, "
           "\"lease_redis_us_per_call\": %.2f, \"lease_complete_redis_us_per_job\": %.2f}\n",
           depth, fill_s, (double)depth / fill_s, k * ROUNDS * 2, (int)ROUNDS, wall[k * ROUNDS / 2],
           wall[k * ROUNDS * 99 / 100], (lo[ROUNDS / 2 - 1] + lo[ROUNDS / 2]) / 2,
           (lc[ROUNDS / 2 - 1] + lc[ROUNDS / 2]) / 2);
    free(wall);
    free(held);
    rq_close(c);
    redisFree(raw);
    return 0;
}

/* A runner holding LEASED jobs stops heartbeating; time the sweep that reclaims them. */
static int brq_sweep(const char *url, size_t leased)
{
    redisContext *raw;
    const uint32_t ttl_ms = 200;
    rq_conn *c = brq_connect(url, ttl_ms, &raw);
    brq_fill(c, leased, "s");
    char runner[DP_ID_MAX];
    brq_register(c, runner);
    rq_lease *ls = calloc(RQ_LEASE_MAX, sizeof *ls);
    dp_err err = {0};
    for (size_t got = 0; got < leased;) {
        size_t want = leased - got < RQ_LEASE_MAX ? leased - got : RQ_LEASE_MAX, n = 0;
        if (rq_lease_claim(c, runner, (uint32_t)want, NULL, ls, &n, &err) != DP_OK || n == 0)
            brq_die("lease", &err);
        rq_leases_free(ls, n);
        got += n;
    }
    free(ls);
    usleep((ttl_ms + 100) * 1000);
    brq_cmd(raw, "CONFIG RESETSTAT");
    /* Redis's own record of every command's duration: the longest script
     * call of the reclaim is what other clients waited for at most. */
    brq_cmd(raw, "CONFIG SET slowlog-log-slower-than 0");
    brq_cmd(raw, "CONFIG SET slowlog-max-len 100000");
    brq_cmd(raw, "SLOWLOG RESET");
    rq_reap_report rep = {0};
    double s = brq_now();
    if (rq_reap_sweep(c, "bench", 5000, 100, &rep, &err) != DP_OK)
        brq_die("sweep", &err);
    double ms = (brq_now() - s) * 1e3;
    double usec, calls;
    brq_evalsha_stats(raw, &usec, &calls);
    long long longest_us = 0;
    redisReply *sl = redisCommand(raw, "SLOWLOG GET 100000");
    for (size_t i = 0; sl != NULL && sl->type == REDIS_REPLY_ARRAY && i < sl->elements; i++) {
        redisReply *e = sl->element[i];
        if (e->type == REDIS_REPLY_ARRAY && e->elements >= 4 &&
            e->element[3]->type == REDIS_REPLY_ARRAY && e->element[3]->elements > 0 &&
            strcasecmp(e->element[3]->element[0]->str, "evalsha") == 0 &&
            e->element[2]->integer > longest_us)
            longest_us = e->element[2]->integer;
    }
    freeReplyObject(sl);
    brq_cmd(raw, "CONFIG SET slowlog-log-slower-than 10000");
    /* An empty sweep: what every reaper tick costs when nobody is lost. */
    s = brq_now();
    rq_reap_report idle = {0};
    if (rq_reap_sweep(c, "bench", 5000, 100, &idle, &err) != DP_OK)
        brq_die("sweep", &err);
    double idle_ms = (brq_now() - s) * 1e3;
    printf("{\"leased\": %zu, \"requeued\": %u, \"sweep_ms\": %.3f, \"sweep_redis_us\": %.0f, "
           "\"sweep_us_per_job\": %.3f, \"longest_script_call_ms\": %.3f, "
           "\"empty_sweep_ms\": %.3f}\n",
           leased, rep.jobs_requeued, ms, usec, ms * 1e3 / (double)leased, (double)longest_us / 1e3,
           idle_ms);
    rq_close(c);
    redisFree(raw);
    return rep.jobs_requeued == leased ? 0 : 1;
}

/* n fresh jobs as the reporter enqueues a no-op submit's (new ids, a
 * 164-byte spec), into in and ids (the caller's, n entries each). */
static void brq_fresh_jobs(rq_job_in *in, char (*ids)[DP_ID_MAX], size_t n)
{
    static const char spec[] = "{\"job_id\": \"j-4873199f476ef11be9db57a0cdebd1f5\", \"archive\": "
                               "\"file:///nonexistent/noop.zip\", \"profile\": \"shell\", "
                               "\"max_attempts\": 3, \"submission_id\": \"bench-enqueue\"}";
    for (size_t j = 0; j < n; j++) {
        if (dp_new_id("j-", ids[j], DP_ID_MAX) != 0)
            brq_die("job id", NULL);
        in[j] = (rq_job_in){.job_id = ids[j],
                            .spec = spec,
                            .spec_len = sizeof spec - 1,
                            .max_attempts = 3,
                            .profile = "shell"};
    }
}

/* JOBS fresh jobs enqueued RQ_BATCH_MAX per call, untimed; in and ids are
 * the caller's scratch (RQ_BATCH_MAX entries each). */
static void brq_enqueue_fresh(rq_conn *c, size_t jobs, rq_job_in *in, char (*ids)[DP_ID_MAX])
{
    dp_err err = {0};
    for (size_t i = 0; i < jobs; i += RQ_BATCH_MAX) {
        size_t b = jobs - i < RQ_BATCH_MAX ? jobs - i : RQ_BATCH_MAX;
        brq_fresh_jobs(in, ids, b);
        if (rq_enqueue(c, in, b, NULL, &err) != DP_OK)
            brq_die("enqueue", &err);
    }
}

/* JOBS fresh jobs enqueued RQ_BATCH_MAX per call, each call timed by Redis
 * (EVALSHA usec since a CONFIG RESETSTAT): the script's own cost without
 * PostgreSQL beside it, for comparing changes to rq_enqueue.lua. The median
 * call, per job. */
static int brq_enqueue(const char *url, size_t jobs)
{
    size_t calls = (jobs + RQ_BATCH_MAX - 1) / RQ_BATCH_MAX;
    if (calls == 0)
        brq_die("enqueue: no jobs", NULL);
    redisContext *raw;
    rq_conn *c = brq_connect(url, 600000, &raw);
    rq_job_in *in = calloc(RQ_BATCH_MAX, sizeof *in);
    char(*ids)[DP_ID_MAX] = calloc(RQ_BATCH_MAX, DP_ID_MAX);
    double *us = calloc(calls, sizeof *us);
    if (in == NULL || ids == NULL || us == NULL)
        brq_die("enqueue: out of memory", NULL);
    dp_err err = {0};
    double t0 = brq_now();
    for (size_t k = 0; k < calls; k++) {
        size_t b = jobs - k * RQ_BATCH_MAX < RQ_BATCH_MAX ? jobs - k * RQ_BATCH_MAX : RQ_BATCH_MAX;
        brq_fresh_jobs(in, ids, b);
        brq_cmd(raw, "CONFIG RESETSTAT");
        if (rq_enqueue(c, in, b, NULL, &err) != DP_OK)
            brq_die("enqueue", &err);
        us[k] = brq_usec_per_call(raw) / (double)b;
    }
    double s = brq_now() - t0;
    qsort(us, calls, sizeof *us, brq_cmp);
    printf("{\"jobs\": %zu, \"calls\": %zu, \"enqueue_redis_us_per_job\": %.3f, "
           "\"jobs_per_s\": %.0f}\n",
           jobs, calls, us[calls / 2], (double)jobs / s);
    free(in);
    free(ids);
    free(us);
    rq_close(c);
    redisFree(raw);
    return 0;
}

/* The hot path's three scripts as dispatchd calls them for a no-op job:
 * JOBS fresh jobs enqueued, then, K at a time, a lease with a request id
 * and `leased` events (the leaser's), an owner check that marks them and a
 * complete with one event blob (the reporter's), each call timed by Redis
 * (EVALSHA usec since a CONFIG RESETSTAT). Medians over calls, per job, so
 * that a change to one script is compared alone. */
static int brq_cycle(const char *url, size_t jobs, size_t k)
{
    if (k == 0 || k > RQ_LEASE_MAX || jobs < k)
        brq_die("cycle: K must be 1..RQ_LEASE_MAX and at most JOBS", NULL);
    redisContext *raw;
    rq_conn *c = brq_connect(url, 600000, &raw);
    rq_job_in *in = calloc(RQ_BATCH_MAX, sizeof *in);
    char(*ids)[DP_ID_MAX] = calloc(RQ_BATCH_MAX, DP_ID_MAX);
    size_t calls = jobs / k;
    double *lu = calloc(calls, sizeof *lu), *ou = calloc(calls, sizeof *ou),
           *cu = calloc(calls, sizeof *cu);
    rq_lease *got = calloc(k, sizeof *got);
    rq_owner_item *own = calloc(k, sizeof *own);
    rq_complete_item *done = calloc(k, sizeof *done);
    if (in == NULL || ids == NULL || lu == NULL || ou == NULL || cu == NULL || got == NULL ||
        own == NULL || done == NULL)
        brq_die("cycle: out of memory", NULL);
    dp_err err = {0};
    brq_enqueue_fresh(c, jobs, in, ids);
    char runner[DP_ID_MAX];
    brq_register(c, runner);
    static const char blob[] = "an event blob of about a hundred bytes, as the reporter's "
                               "completed events are, opaque to the script";
    const void *bv[1] = {blob};
    size_t bl[1] = {sizeof blob - 1};
    rq_blobs events = {.v = bv, .len = bl, .n = 1};
    for (size_t r = 0; r < calls; r++) {
        char req[48];
        snprintf(req, sizeof req, "bench-%zu", r);
        size_t n = 0;
        brq_cmd(raw, "CONFIG RESETSTAT");
        if (rq_lease_claim_streamed(c, runner, (uint32_t)k, req, "2026-12-03T00:00:00.000Z", 1, got,
                                    &n, NULL, &err) != DP_OK ||
            n != k)
            brq_die("cycle: lease", &err);
        lu[r] = brq_usec_per_call(raw) / (double)k;
        for (size_t i = 0; i < k; i++) {
            own[i] = (rq_owner_item){
                .job_id = got[i].job_id, .runner_id = runner, .attempt = got[i].attempt, .mark = 1};
            done[i] = (rq_complete_item){.job_id = got[i].job_id, .attempt = got[i].attempt};
        }
        brq_cmd(raw, "CONFIG RESETSTAT");
        if (rq_owner_check(c, own, k, &err) != DP_OK)
            brq_die("cycle: owner check", &err);
        ou[r] = brq_usec_per_call(raw) / (double)k;
        brq_cmd(raw, "CONFIG RESETSTAT");
        if (rq_lease_complete_streamed(c, runner, done, k, &events, &err) != DP_OK)
            brq_die("cycle: complete", &err);
        cu[r] = brq_usec_per_call(raw) / (double)k;
        for (size_t i = 0; i < k; i++)
            if (own[i].result != DP_OK || done[i].result != DP_OK)
                brq_die("cycle: a job was refused", NULL);
        rq_leases_free(got, n);
    }
    qsort(lu, calls, sizeof *lu, brq_cmp);
    qsort(ou, calls, sizeof *ou, brq_cmp);
    qsort(cu, calls, sizeof *cu, brq_cmp);
    printf("{\"jobs\": %zu, \"k\": %zu, \"lease_us_per_job\": %.3f, \"owner_check_us_per_job\": "
           "%.3f, \"complete_us_per_job\": %.3f, \"sum_us_per_job\": %.3f}\n",
           jobs, k, lu[calls / 2], ou[calls / 2], cu[calls / 2],
           lu[calls / 2] + ou[calls / 2] + cu[calls / 2]);
    free(in);
    free(ids);
    free(lu);
    free(ou);
    free(cu);
    free(got);
    free(own);
    free(done);
    rq_close(c);
    redisFree(raw);
    return 0;
}

static int brq_claims(const char *url, size_t jobs, size_t k, size_t runners)
{
    if (k == 0 || k > RQ_LEASE_MAX || runners == 0 || runners > 64 || jobs < k * runners)
        brq_die("claims: K must be 1..RQ_LEASE_MAX, R 1..64, K x R at most JOBS", NULL);
    redisContext *raw;
    rq_conn *c = brq_connect(url, 600000, &raw);
    rq_job_in *in = calloc(RQ_BATCH_MAX, sizeof *in);
    char(*ids)[DP_ID_MAX] = calloc(RQ_BATCH_MAX, DP_ID_MAX);
    size_t calls = jobs / (k * runners), per = k * runners;
    double *lu = calloc(calls, sizeof *lu), *wall = calloc(calls, sizeof *wall);
    rq_lease *got = calloc(per, sizeof *got);
    rq_claim *q = calloc(runners, sizeof *q);
    char(*rid)[DP_ID_MAX] = calloc(runners, DP_ID_MAX);
    char(*req)[48] = calloc(runners, 48);
    rq_owner_item *own = calloc(per, sizeof *own);
    rq_complete_item *done = calloc(per, sizeof *done);
    if (in == NULL || ids == NULL || lu == NULL || wall == NULL || got == NULL || q == NULL ||
        rid == NULL || req == NULL || own == NULL || done == NULL)
        brq_die("claims: out of memory", NULL);
    dp_err err = {0};
    brq_enqueue_fresh(c, jobs, in, ids);
    for (size_t i = 0; i < runners; i++)
        brq_register(c, rid[i]);
    double script_calls = 0; /* EVALSHAs per batched claim: 1, or R as a pipeline */
    for (size_t r = 0; r < calls; r++) {
        for (size_t i = 0; i < runners; i++) {
            snprintf(req[i], 48, "bench-%zu-%zu", r, i);
            q[i] = (rq_claim){
                .runner_id = rid[i], .k = (uint32_t)k, .request_id = req[i], .out = got + i * k};
        }
        brq_cmd(raw, "CONFIG RESETSTAT");
        double t0 = brq_now();
        if (rq_lease_claim_many(c, q, runners, "2026-12-04T00:00:00.000Z", 1) != runners)
            for (size_t i = 0; i < runners; i++)
                if (q[i].rc != DP_OK)
                    brq_die("claims: lease", &q[i].err);
        wall[r] = (brq_now() - t0) * 1e6 / (double)per;
        double usec, n_calls;
        brq_evalsha_stats(raw, &usec, &n_calls);
        lu[r] = usec / (double)per;
        script_calls += n_calls;
        for (size_t i = 0; i < runners; i++) {
            if (q[i].n_out != k)
                brq_die("claims: a claim came short", NULL);
            for (size_t j = 0; j < k; j++) {
                rq_lease *l = &got[i * k + j];
                own[i * k + j] = (rq_owner_item){
                    .job_id = l->job_id, .runner_id = rid[i], .attempt = l->attempt, .mark = 1};
                done[i * k + j] = (rq_complete_item){
                    .job_id = l->job_id, .attempt = l->attempt, .runner_id = rid[i]};
            }
        }
        if (rq_owner_check(c, own, per, &err) != DP_OK)
            brq_die("claims: owner check", &err);
        if (rq_lease_complete_streamed(c, rid[0], done, per, NULL, &err) != DP_OK)
            brq_die("claims: complete", &err);
        for (size_t i = 0; i < per; i++)
            if (own[i].result != DP_OK || done[i].result != DP_OK)
                brq_die("claims: a job was refused", NULL);
        rq_leases_free(got, per);
    }
    qsort(lu, calls, sizeof *lu, brq_cmp);
    qsort(wall, calls, sizeof *wall, brq_cmp);
    printf("{\"jobs\": %zu, \"k\": %zu, \"runners\": %zu, \"script_calls_per_claim\": %.2f, "
           "\"lease_us_per_job\": %.3f, \"lease_wall_us_per_job\": %.3f}\n",
           calls * per, k, runners, script_calls / (double)calls, lu[calls / 2], wall[calls / 2]);
    free(in);
    free(ids);
    free(lu);
    free(wall);
    free(got);
    free(q);
    free(rid);
    free(req);
    free(own);
    free(done);
    rq_close(c);
    redisFree(raw);
    return 0;
}

int main(int argc, char **argv)
{
    const char *url = getenv("DISPATCH_REDIS_URL");
    if (url == NULL || *url == '\0' || argc < 3) {
        fprintf(stderr, "usage: bench_rq depth DEPTH [LEASES] | sweep LEASED | enqueue JOBS | "
                        "cycle JOBS [K] | claims JOBS K R "
                        "(DISPATCH_REDIS_URL set)\n");
        return 64;
    }
    size_t n = strtoul(argv[2], NULL, 10);
    if (strcmp(argv[1], "depth") == 0)
        return brq_depth(url, n, argc > 3 ? strtoul(argv[3], NULL, 10) : 5000);
    if (strcmp(argv[1], "sweep") == 0)
        return brq_sweep(url, n);
    if (strcmp(argv[1], "enqueue") == 0)
        return brq_enqueue(url, n);
    if (strcmp(argv[1], "cycle") == 0)
        return brq_cycle(url, n, argc > 3 ? strtoul(argv[3], NULL, 10) : 8);
    if (strcmp(argv[1], "claims") == 0 && argc > 4)
        return brq_claims(url, n, strtoul(argv[3], NULL, 10), strtoul(argv[4], NULL, 10));
    fprintf(stderr, "bench_rq: unknown mode %s\n", argv[1]);
    return 64;
}
