/* Faults, each against a private redis-server (tests/support): SCRIPT FLUSH
 * mid-run, a server restart mid-run (leases survive through the AOF), a
 * FLUSHALL followed by the rebuild helpers, and a full workout after which
 * every key in the server must hash to the prefix's one cluster slot. */
#include "tests/dispatch/rq_test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/support/redis_server.h"

typedef struct {
    rs_server srv;
    rq_conn *c;
    redisContext *raw;
} fx;

static int start(void **state, int appendonly)
{
    fx *f = calloc(1, sizeof *f);
    *state = f;
    dp_err err = {0};
    if (rs_start(&f->srv, appendonly, &err) != DP_OK) {
        rs_stop(&f->srv);
        fail_msg("private redis-server: %s", err.msg);
    }
    f->c = t_connect(f->srv.url, NULL, NULL);
    f->raw = t_raw(f->srv.url);
    return 0;
}

static int setup_plain(void **state)
{
    return start(state, 0);
}

static int setup_aof(void **state)
{
    return start(state, 1);
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

static void raw_ok(redisContext *c, const char *cmd)
{
    redisReply *r = redisCommand(c, cmd);
    if (r == NULL || r->type == REDIS_REPLY_ERROR)
        fail_msg("%s: %s", cmd, r ? r->str : c->errstr);
    freeReplyObject(r);
}

static void test_script_flush(void **state)
{
    fx *f = *state;
    char id[DP_ID_MAX];
    t_register(f->c, "sf", 4, id, NULL);
    t_enqueue(f->c, "a", 4, 0);
    rq_lease l[2];
    size_t n = 0;
    dp_err err = {0};
    assert_int_equal(rq_lease_claim(f->c, id, 2, NULL, l, &n, &err), DP_OK);
    rq_leases_free(l, n);
    raw_ok(f->raw, "SCRIPT FLUSH");
    /* every script the library uses after the flush is reloaded on NOSCRIPT */
    assert_int_equal(rq_lease_complete(f->c, id, "a-0", 1, &err), DP_OK);
    assert_int_equal(rq_lease_claim(f->c, id, 2, NULL, l, &n, &err), DP_OK);
    assert_int_equal(n, 2);
    rq_leases_free(l, n);
    raw_ok(f->raw, "SCRIPT FLUSH");
    t_enqueue(f->c, "b", 1, 0);
    assert_int_equal(t_int(f->raw, "LLEN {dispatch}:q:n::"), 1);
    /* pipelined claims after a flush (NOSCRIPT for every one): made one at
     * a time, so a request id claimed before gets its jobs back, once */
    t_enqueue(f->c, "c", 3, 0);
    char id2[DP_ID_MAX];
    t_register(f->c, "sf2", 4, id2, NULL);
    rq_lease p[4], q[4];
    rq_claim first = {.runner_id = id, .k = 2, .request_id = "q-p", .out = p};
    assert_int_equal(rq_lease_claim_many(f->c, &first, 1, NULL, 0), 1);
    assert_int_equal(first.n_out, 2);
    rq_leases_free(p, first.n_out);
    raw_ok(f->raw, "SCRIPT FLUSH");
    rq_claim both[2] = {
        {.runner_id = id, .k = 2, .request_id = "q-p", .out = p},
        {.runner_id = id2, .k = 4, .request_id = "q-q", .out = q},
    };
    assert_int_equal(rq_lease_claim_many(f->c, both, 2, NULL, 0), 2);
    assert_int_equal(both[0].n_out, 2);
    assert_string_equal(p[0].job_id, "b-0");
    assert_int_equal(both[1].n_out, 2); /* what is left: c-1, c-2 */
    assert_string_equal(q[0].job_id, "c-1");
    rq_leases_free(p, both[0].n_out);
    rq_leases_free(q, both[1].n_out);
}

static void test_restart_mid_run(void **state)
{
    fx *f = *state;
    char id[DP_ID_MAX];
    t_register(f->c, "rs", 4, id, NULL);
    t_enqueue(f->c, "r", 10, 0);
    rq_lease l[3];
    size_t n = 0;
    dp_err err = {0};
    assert_int_equal(rq_lease_claim(f->c, id, 3, "q1", l, &n, &err), DP_OK);
    assert_int_equal(n, 3);
    rq_leases_free(l, n);
    /* a connection that must not wait sees a clear "unavailable" */
    rq_options fast;
    rq_options_default(&fast);
    fast.reconnect_wait_ms = 0;
    rq_conn *c2 = t_connect(f->srv.url, NULL, &fast);
    redisFree(f->raw);
    f->raw = NULL;
    /* stop the server; start it again shortly after, on the same port */
    assert_int_equal(rs_restart(&f->srv, &err), DP_OK);
    f->raw = t_raw(f->srv.url);
    /* the old connection is dead: the next call reconnects (backoff) and
     * reloads its scripts; the data came back from the AOF */
    assert_int_equal(rq_lease_complete(f->c, id, "r-0", 1, &err), DP_OK);
    assert_int_equal(rq_heartbeat(f->c, id, &err), DP_OK);
    /* a lease retried with its request id after the restart: same jobs */
    assert_int_equal(rq_lease_claim(f->c, id, 3, "q1", l, &n, &err), DP_OK);
    assert_int_equal(n, 2);
    rq_leases_free(l, n);
    assert_int_equal(rq_lease_claim(f->c, id, 3, "q2", l, &n, &err), DP_OK);
    assert_int_equal(n, 3);
    assert_string_equal(l[0].job_id, "r-3");
    rq_leases_free(l, n);
    dp_queue_stats st;
    assert_int_equal(rq_stats(c2, &st, &err), DP_OK); /* c2 reconnects too */
    assert_int_equal(st.pending, 4);
    assert_int_equal(st.leased, 5);
    /* down for good: fail fast, saying where, and no call hangs */
    rs_stop(&f->srv);
    int rc = rq_stats(c2, &st, &err);
    if (rc == DP_OK)
        rc = rq_stats(c2, &st, &err);
    assert_int_equal(rc, DP_EUNAVAIL);
    assert_non_null(strstr(err.msg, "127.0.0.1"));
    rq_close(c2);
}

static void test_connection_killed(void **state)
{
    fx *f = *state;
    char id[DP_ID_MAX];
    t_register(f->c, "ck", 4, id, NULL);
    t_enqueue(f->c, "k", 4, 0);
    rq_lease l[2];
    size_t n = 0;
    dp_err err = {0};
    /* the server drops every client but ours: retry-safe calls reconnect
     * and go through */
    raw_ok(f->raw, "CLIENT KILL TYPE normal SKIPME yes");
    assert_int_equal(rq_lease_claim(f->c, id, 2, "kq", l, &n, &err), DP_OK);
    assert_int_equal(n, 2);
    rq_leases_free(l, n);
    raw_ok(f->raw, "CLIENT KILL TYPE normal SKIPME yes");
    assert_int_equal(rq_lease_complete(f->c, id, "k-0", 1, &err), DP_OK);
    /* a lease without request id is not retried blindly: either it went
     * through before the kill, or the caller hears "outcome unknown" */
    raw_ok(f->raw, "CLIENT KILL TYPE normal SKIPME yes");
    int rc = rq_lease_claim(f->c, id, 1, NULL, l, &n, &err);
    if (rc == DP_OK)
        rq_leases_free(l, n);
    else {
        assert_int_equal(rc, DP_EUNAVAIL);
        assert_non_null(strstr(err.msg, "outcome unknown"));
    }
    assert_int_equal(rq_heartbeat(f->c, id, &err), DP_OK);
}

static void test_flush_and_rebuild(void **state)
{
    fx *f = *state;
    char id[DP_ID_MAX];
    t_register(f->c, "fl", 4, id, NULL);
    t_enqueue(f->c, "f", 3, 0);
    rq_lease l[1];
    size_t n = 0;
    dp_err err = {0};
    assert_int_equal(rq_lease_claim(f->c, id, 1, NULL, l, &n, &err), DP_OK);
    rq_leases_free(l, n);
    raw_ok(f->raw, "FLUSHALL");
    raw_ok(f->raw, "SCRIPT FLUSH");
    /* the runner learns it must re-register */
    assert_int_equal(rq_heartbeat(f->c, id, &err), DP_ENOTFOUND);
    assert_int_equal(rq_lease_claim(f->c, id, 1, NULL, l, &n, &err), DP_ENOTFOUND);
    /* the dispatcher rebuilds from PostgreSQL: pending jobs with their
     * attempts, leased jobs for re-registered runners */
    char id2[DP_ID_MAX];
    t_register(f->c, "fl2", 4, id2, NULL);
    rq_job_in held = {.job_id = "f-0", .spec = "s", .spec_len = 1, .attempts = 1};
    assert_int_equal(rq_rebuild_leased(f->c, id2, &held, &err), DP_OK);
    rq_job_in pend[2] = {{.job_id = "f-1", .spec = "s", .spec_len = 1},
                         {.job_id = "f-2", .spec = "s", .spec_len = 1, .attempts = 1}};
    size_t added = 0;
    assert_int_equal(rq_enqueue(f->c, pend, 2, &added, &err), DP_OK);
    assert_int_equal(added, 2);
    assert_int_equal(rq_lease_complete(f->c, id2, "f-0", 1, &err), DP_OK);
    assert_int_equal(rq_lease_claim(f->c, id2, 1, NULL, l, &n, &err), DP_OK);
    assert_string_equal(l[0].job_id, "f-1");
    assert_int_equal(l[0].attempt, 1);
    rq_leases_free(l, n);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Every operation once (and the reaper), under one prefix. */
static void workout(const char *url, const char *prefix)
{
    rq_options o;
    rq_options_default(&o);
    /* a alone heartbeats after the sleep and must stay alive through the
     * sweep (one round trip later): 1 s of slack for a loaded machine; the
     * sleep outlasts the TTL for b (a lower bound, load only lengthens it) */
    o.alive_ttl_ms = 1000;
    rq_conn *c = t_connect(url, prefix, &o);
    dp_err err = {0};
    char a[DP_ID_MAX], b[DP_ID_MAX], d[DP_ID_MAX];
    t_register(c, "a", 4, a, NULL);
    t_register(c, "b", 4, b, NULL);
    t_register(c, "d", 4, d, NULL);
    t_enqueue(c, "w", 12, 1);
    /* routing keys too: a labelled high-priority queue, a runner's queue set */
    const char *lab[] = {"c"};
    rq_job_in lj = {.job_id = "lab",
                    .spec = "x",
                    .spec_len = 1,
                    .profile = "python3",
                    .labels = lab,
                    .n_labels = 1,
                    .priority = DP_PRIORITY_HIGH};
    assert_int_equal(rq_enqueue(c, &lj, 1, NULL, &err), DP_OK);
    const char *offered[] = {"python3"};
    assert_int_equal(rq_profiles_add(c, offered, 1, &err), DP_OK);
    rq_lease l[4];
    size_t n = 0;
    assert_int_equal(rq_lease_claim(c, a, 4, "req-a", l, &n, &err), DP_OK);
    assert_int_equal(rq_lease_complete(c, a, l[0].job_id, 1, &err), DP_OK);
    rq_leases_free(l, n);
    assert_int_equal(rq_lease_claim(c, b, 4, NULL, l, &n, &err), DP_OK);
    rq_leases_free(l, n);
    assert_int_equal(rq_lease_claim(c, d, 2, NULL, l, &n, &err), DP_OK);
    rq_leases_free(l, n);
    assert_int_equal(rq_cancel(c, "w-11", &err), DP_OK);
    assert_int_equal(rq_requeue(c, "w-5", &err), DP_OK);
    assert_int_equal(rq_drain(c, b, 1, &err), DP_OK);
    assert_int_equal(rq_deregister(c, d, NULL, &err), DP_OK);
    rq_wake *wk = rq_wake_subscribe(url, prefix, &err);
    assert_non_null(wk);
    sleep_ms(1100);
    assert_int_equal(rq_heartbeat(c, a, &err), DP_OK);
    rq_reap_report rep;
    assert_int_equal(rq_reap_sweep(c, "reaper-1", 2000, 10, &rep, &err), DP_OK);
    assert_int_equal(rep.runners_reaped, 1); /* b, whose jobs hit max_attempts 1 */
    assert_true(rep.jobs_dead > 0);
    rq_dead_job dj[8];
    assert_int_equal(rq_dead_peek(c, dj, 8, &n, &err), DP_OK);
    assert_true(n > 0);
    const char *ack[] = {dj[0].job_id};
    assert_int_equal(rq_dead_ack(c, ack, 1, &err), DP_OK);
    uint64_t moved = 0;
    assert_int_equal(rq_requeue_dead(c, &moved, &err), DP_OK);
    rq_job_in rj = {.job_id = "rebuilt", .spec = "x", .spec_len = 1, .attempts = 1};
    assert_int_equal(rq_rebuild_leased(c, a, &rj, &err), DP_OK);
    dp_runner_info *list = NULL;
    assert_int_equal(rq_runner_list(c, &list, &n, &err), DP_OK);
    rq_runner_list_free(list, n);
    dp_queue_stats st;
    assert_int_equal(rq_stats(c, &st, &err), DP_OK);
    assert_int_equal(rq_queue_depths(c, 100, 1, &st, &err), DP_OK);
    assert_true(st.n_queues >= 2);
    dp_queue_stats_free(&st);
    rq_wake_close(wk);
    rq_close(c);
}

static void check_one_slot(redisContext *raw, const char *tag, size_t min_keys)
{
    unsigned want = rs_key_slot(tag, strlen(tag));
    size_t keys = 0;
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(raw, "SCAN %s COUNT 1000", cursor);
        assert_non_null(r);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            redisReply *k = r->element[1]->element[i];
            if (rs_key_slot(k->str, k->len) != want)
                fail_msg("key %s is in slot %u, not %u", k->str, rs_key_slot(k->str, k->len), want);
            keys++;
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    if (keys < min_keys)
        fail_msg("only %zu keys after the workout: the check proves nothing", keys);
}

static void test_all_keys_one_slot(void **state)
{
    fx *f = *state;
    workout(f->srv.url, RQ_DEFAULT_PREFIX);
    check_one_slot(f->raw, "dispatch", 15);
    raw_ok(f->raw, "FLUSHALL");
    workout(f->srv.url, "acme:{q7}:");
    check_one_slot(f->raw, "q7", 15);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_script_flush, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_restart_mid_run, setup_aof, teardown),
        cmocka_unit_test_setup_teardown(test_connection_killed, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_flush_and_rebuild, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_all_keys_one_slot, setup_plain, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
