/* bench_redis_core: Redis commands and round trips per job for enqueue,
 * lease and complete, single and batched, measured with INFO commandstats
 * (which counts the commands scripts run plus the EVALSHA itself) and the
 * library's round-trip counter. Also the idle cost of heartbeats and sweeps.
 *
 * usage: bench_redis_core [JOBS] [BATCH]   (DISPATCH_REDIS_URL must be set)
 * Prints one JSON object on stdout. Uses its own key prefix; run it against
 * a throwaway server (./dev bench): it resets the server's stats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "common/sha256.h"
#include "dispatch/redis/rq.h"

typedef struct {
    long long commands;
    char detail[1024]; /* "name":calls,... */
} bench_stats;

static double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void bench_reset(redisContext *raw)
{
    redisReply *r = redisCommand(raw, "CONFIG RESETSTAT");
    if (r)
        freeReplyObject(r);
}

/* Sums cmdstat_*:calls=N, leaving out the bench's own CONFIG and INFO. */
static bench_stats bench_read(redisContext *raw)
{
    bench_stats s = {0};
    redisReply *r = redisCommand(raw, "INFO commandstats");
    if (r == NULL || r->type != REDIS_REPLY_STRING) {
        fprintf(stderr, "bench: INFO commandstats failed\n");
        exit(1);
    }
    size_t used = 0;
    for (char *line = strtok(r->str, "\r\n"); line; line = strtok(NULL, "\r\n")) {
        char name[64];
        long long calls = 0;
        if (sscanf(line, "cmdstat_%63[^:]:calls=%lld", name, &calls) != 2)
            continue;
        if (strncmp(name, "config", 6) == 0 || strcmp(name, "info") == 0)
            continue;
        s.commands += calls;
        used += (size_t)snprintf(s.detail + used, sizeof s.detail - used, "%s\"%s\":%lld",
                                 used ? "," : "", name, calls);
        if (used >= sizeof s.detail)
            used = sizeof s.detail - 1;
    }
    freeReplyObject(r);
    return s;
}

static void die(const char *what, const dp_err *err)
{
    fprintf(stderr, "bench: %s: %s\n", what, err->msg);
    exit(1);
}

static void emit(const char *name, size_t jobs, bench_stats s, uint64_t trips, double secs,
                 int last)
{
    printf("    \"%s\": {\"commands_per_job\": %.3f, \"round_trips_per_job\": %.3f, "
           "\"jobs_per_s\": %.0f, \"commands\": {%s}}%s\n",
           name, (double)s.commands / (double)jobs, (double)trips / (double)jobs,
           (double)jobs / secs, s.detail, last ? "" : ",");
}

/* One mode: enqueue, lease and complete `jobs` jobs, `batch` at a time. */
static double bench_mode(rq_conn *c, redisContext *raw, const char *runner, size_t jobs,
                         size_t batch, const char *req_stem, const char *label, int last)
{
    dp_err err = {0};
    rq_job_in *in = calloc(batch, sizeof *in);
    rq_lease *ls = calloc(batch, sizeof *ls);
    rq_complete_item *items = calloc(batch, sizeof *items);
    char(*ids)[40] = calloc(batch, 40);
    static const char spec[200] = "msgpack-ish job spec, 200 bytes";
    static unsigned run;
    run++;
    printf("  \"%s\": {\n", label);
    double total = 0;

    bench_reset(raw);
    uint64_t t0 = rq_round_trips(c);
    double s0 = bench_now();
    for (size_t i = 0; i < jobs; i += batch) {
        for (size_t j = 0; j < batch; j++) {
            snprintf(ids[j], 40, "b%u-%zu", run, i + j);
            in[j] = (rq_job_in){.job_id = ids[j], .spec = spec, .spec_len = sizeof spec};
        }
        if (rq_enqueue(c, in, batch, NULL, &err) != DP_OK)
            die("enqueue", &err);
    }
    bench_stats s = bench_read(raw);
    total += (double)s.commands / (double)jobs;
    emit("enqueue", jobs, s, rq_round_trips(c) - t0, bench_now() - s0, 0);

    /* Completes need the leases: keep (id, attempt) of every job. */
    char(*leased)[DP_ID_MAX] = calloc(jobs, DP_ID_MAX);
    uint32_t *att = calloc(jobs, sizeof *att);
    size_t nl = 0;
    bench_reset(raw);
    t0 = rq_round_trips(c);
    s0 = bench_now();
    for (size_t i = 0; nl < jobs; i++) {
        char req[64] = "";
        if (req_stem)
            snprintf(req, sizeof req, "%s-%u-%zu", req_stem, run, i);
        size_t n = 0;
        if (rq_lease_claim(c, runner, (uint32_t)batch, req, ls, &n, &err) != DP_OK)
            die("lease", &err);
        if (n == 0) {
            fprintf(stderr, "bench: queue ran dry after %zu jobs\n", nl);
            exit(1);
        }
        for (size_t j = 0; j < n; j++, nl++) {
            memcpy(leased[nl], ls[j].job_id, DP_ID_MAX);
            att[nl] = ls[j].attempt;
        }
        rq_leases_free(ls, n);
    }
    s = bench_read(raw);
    total += (double)s.commands / (double)jobs;
    emit(req_stem ? "lease_with_request_id" : "lease", jobs, s, rq_round_trips(c) - t0,
         bench_now() - s0, 0);

    bench_reset(raw);
    t0 = rq_round_trips(c);
    s0 = bench_now();
    for (size_t i = 0; i < jobs; i += batch) {
        for (size_t j = 0; j < batch; j++)
            items[j] = (rq_complete_item){.job_id = leased[i + j], .attempt = att[i + j]};
        if (rq_lease_complete_batch(c, runner, items, batch, &err) != DP_OK)
            die("complete", &err);
        for (size_t j = 0; j < batch; j++)
            if (items[j].result != DP_OK || items[j].repeated) {
                fprintf(stderr, "bench: complete of %s refused\n", items[j].job_id);
                exit(1);
            }
    }
    s = bench_read(raw);
    total += (double)s.commands / (double)jobs;
    emit("complete", jobs, s, rq_round_trips(c) - t0, bench_now() - s0, 0);
    printf("    \"total_commands_per_job\": %.3f\n  }%s\n", total, last ? "" : ",");
    free(leased);
    free(att);
    free(in);
    free(ls);
    free(items);
    free(ids);
    return total;
}

int main(int argc, char **argv)
{
    const char *url = getenv("DISPATCH_REDIS_URL");
    if (url == NULL || *url == '\0') {
        fprintf(stderr, "bench: DISPATCH_REDIS_URL is not set\n");
        return 1;
    }
    size_t jobs = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
    size_t batch = argc > 2 ? strtoul(argv[2], NULL, 10) : 100;
    if (jobs == 0 || batch == 0 || batch > RQ_LEASE_MAX || jobs % batch != 0) {
        fprintf(stderr, "bench: JOBS must be a multiple of BATCH (1..%u)\n", RQ_LEASE_MAX);
        return 64;
    }
    char prefix[64];
    uint8_t rnd[8];
    char hex[17];
    dp_random_bytes(rnd, sizeof rnd);
    dp_hex_encode(rnd, sizeof rnd, hex);
    snprintf(prefix, sizeof prefix, "{bench-%s}:", hex);
    dp_err err = {0};
    rq_conn *c = rq_connect(url, prefix, NULL, &err);
    if (c == NULL)
        die("connect", &err);
    rq_url u;
    rq_url_parse(url, &u, &err);
    redisContext *raw =
        u.unix_path[0] ? redisConnectUnix(u.unix_path) : redisConnect(u.host, u.port);
    if (raw == NULL || raw->err) {
        fprintf(stderr, "bench: raw connect failed\n");
        return 1;
    }
    char runner[DP_ID_MAX], tok[RQ_TOKEN_HEX_LEN + 1];
    rq_runner_reg reg = {.name = "bench", .capacity = 1000, .version = "bench"};
    if (rq_registry_register(c, "t", "t", &reg, runner, tok, &err) != DP_OK)
        die("register", &err);
    printf("{\n");
    /* Warm-up loads every script, so SCRIPT LOAD is not counted below. */
    bench_mode(c, raw, runner, batch, batch, "warm", "warmup", 0);

    char label[32];
    snprintf(label, sizeof label, "batch_%zu", batch);
    double single = bench_mode(c, raw, runner, jobs, 1, NULL, "single", 0);
    double single_req = bench_mode(c, raw, runner, jobs, 1, "req", "single_with_request_id", 0);
    double batched = bench_mode(c, raw, runner, jobs, batch, NULL, label, 0);

    /* Idle cost: a heartbeat and an idle sweep, in commands. */
    bench_reset(raw);
    for (int i = 0; i < 100; i++) {
        /* Real heartbeats are seconds apart; two in one millisecond cost a
         * second command (ZSCORE) to tell "not later" from "unknown". */
        struct timespec gap = {0, 2000000};
        nanosleep(&gap, NULL);
        if (rq_heartbeat(c, runner, &err) != DP_OK)
            die("heartbeat", &err);
    }
    bench_stats hb = bench_read(raw);
    bench_reset(raw);
    rq_reap_report rep;
    for (int i = 0; i < 100; i++)
        if (rq_reap_sweep(c, "bench", 2000, 100, &rep, &err) != DP_OK)
            die("sweep", &err);
    bench_stats sw = bench_read(raw);
    double hb_cmds = hb.commands / 100.0, sw_cmds = sw.commands / 100.0;
    printf("  \"idle\": {\"commands_per_heartbeat\": %.2f, \"commands_per_idle_sweep\": %.2f, "
           "\"commands_per_s_per_runner_100_runners\": %.3f, "
           "\"commands_per_s_per_runner_10_runners\": %.3f},\n",
           hb_cmds, sw_cmds,
           hb_cmds / (RQ_DEFAULT_HEARTBEAT_MS / 1000.0) +
               sw_cmds / (RQ_DEFAULT_SWEEP_MS / 1000.0) / 100.0,
           hb_cmds / (RQ_DEFAULT_HEARTBEAT_MS / 1000.0) +
               sw_cmds / (RQ_DEFAULT_SWEEP_MS / 1000.0) / 10.0);
    printf("  \"summary\": {\"jobs\": %zu, \"batch\": %zu, \"single\": %.2f, "
           "\"single_with_request_id\": %.2f, \"batched\": %.2f, \"budget\": 12}\n}\n",
           jobs, batch, single, single_req, batched);
    redisFree(raw);
    rq_close(c);
    return 0;
}
