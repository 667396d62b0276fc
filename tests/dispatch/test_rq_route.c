/* Routing and priority in the Redis core, against the real Redis from
 * ./dev test: labels (a runner must carry all of a job's labels), profiles
 * (a runner takes only the profiles it offers), the 8:3:1 weighted round
 * robin across priorities with its fairness bound, reclaim into the job's
 * own queue, queue depths and who can take them, the offered-profile set,
 * and when a claim reports its runner's queues dry (empty: the leaser then
 * waits for a wake-up instead of claiming again). */
#include "tests/dispatch/rq_test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef t_fx fx;

/* Registers a runner offering profiles (NULL: every profile) with labels,
 * comma-separated strings ("" for none). */
static void reg(fx *f, const char *profiles, const char *labels, char id[DP_ID_MAX])
{
    char pbuf[256], lbuf[256];
    const char *pv[16], *lv[16];
    size_t np = 0, nl = 0;
    snprintf(pbuf, sizeof pbuf, "%s", profiles ? profiles : "");
    snprintf(lbuf, sizeof lbuf, "%s", labels);
    char *save = NULL;
    for (char *t = strtok_r(pbuf, ",", &save); t && np < 16; t = strtok_r(NULL, ",", &save))
        pv[np++] = t;
    for (char *t = strtok_r(lbuf, ",", &save); t && nl < 16; t = strtok_r(NULL, ",", &save))
        lv[nl++] = t;
    rq_runner_reg r = {.name = "route",
                       .labels = lv,
                       .n_labels = nl,
                       .capacity = 100,
                       .version = "t",
                       .profiles = profiles ? pv : NULL,
                       .n_profiles = np};
    char tok[RQ_TOKEN_HEX_LEN + 1];
    dp_err err = {0};
    if (rq_registry_register(f->c, "regtok", "regtok", &r, id, tok, &err) != DP_OK)
        fail_msg("register: %s", err.msg);
}

/* Enqueues one job id with profile, labels ("a,b" or "") and priority. */
static void put(fx *f, const char *id, const char *profile, const char *labels, uint32_t prio)
{
    char lbuf[256];
    const char *lv[16];
    size_t nl = 0;
    snprintf(lbuf, sizeof lbuf, "%s", labels);
    char *save = NULL;
    for (char *t = strtok_r(lbuf, ",", &save); t && nl < 16; t = strtok_r(NULL, ",", &save))
        lv[nl++] = t;
    rq_job_in j = {.job_id = id,
                   .spec = id,
                   .spec_len = strlen(id),
                   .profile = profile,
                   .labels = lv,
                   .n_labels = nl,
                   .priority = prio};
    dp_err err = {0};
    size_t added = 0;
    if (rq_enqueue(f->c, &j, 1, &added, &err) != DP_OK)
        fail_msg("enqueue %s: %s", id, err.msg);
    assert_int_equal(added, 1);
}

/* Leases up to k for runner; the ids go to out (k <= 64), returns how many. */
static size_t take(fx *f, const char *runner, uint32_t k, char out[][DP_ID_MAX])
{
    rq_lease l[64];
    size_t n = 0;
    dp_err err = {0};
    if (rq_lease_claim(f->c, runner, k, NULL, l, &n, &err) != DP_OK)
        fail_msg("lease: %s", err.msg);
    for (size_t i = 0; i < n; i++)
        memcpy(out[i], l[i].job_id, DP_ID_MAX); /* both DP_ID_MAX, NUL-terminated */
    rq_leases_free(l, n);
    return n;
}

/* take() with a request id (NULL: none), reporting dry. */
static size_t take_dry(fx *f, const char *runner, uint32_t k, const char *req, int *dry)
{
    rq_lease l[64];
    size_t n = 0;
    dp_err err = {0};
    *dry = -1;
    if (rq_lease_claim_streamed(f->c, runner, k, req, NULL, 0, l, &n, dry, &err) != DP_OK)
        fail_msg("lease: %s", err.msg);
    rq_leases_free(l, n);
    return n;
}

/* A claim says dry exactly when every queue its runner can take is empty
 * afterwards: not when it stopped at k (more may wait), not for a queue it
 * cannot take, not for a retry answered from its record or a draining
 * runner (neither looked at the queues). */
static void test_dry(void **state)
{
    fx *f = *state;
    char py[DP_ID_MAX], any[DP_ID_MAX];
    int dry = -1;
    reg(f, "python3", "", py);
    reg(f, NULL, "", any);
    /* nothing pending anywhere */
    assert_int_equal(take_dry(f, py, 4, NULL, &dry), 0);
    assert_int_equal(dry, 1);
    put(f, "d1", "python3", "", DP_PRIORITY_NORMAL);
    put(f, "d2", "python3", "", DP_PRIORITY_HIGH);
    put(f, "d3", "python3", "", DP_PRIORITY_LOW);
    put(f, "c1", "c", "", DP_PRIORITY_NORMAL);
    /* stopped at k: two of py's queues still hold a job */
    assert_int_equal(take_dry(f, py, 1, NULL, &dry), 1);
    assert_int_equal(dry, 0);
    /* the rest of py's (across priorities); c1 is not py's to take */
    assert_int_equal(take_dry(f, py, 4, "req-1", &dry), 2);
    assert_int_equal(dry, 1);
    /* the same request again: its record, not the queues */
    assert_int_equal(take_dry(f, py, 4, "req-1", &dry), 2);
    assert_int_equal(dry, 0);
    /* exactly what was left (k reached): not known to be dry */
    assert_int_equal(take_dry(f, any, 1, NULL, &dry), 1);
    assert_int_equal(dry, 0);
    assert_int_equal(take_dry(f, any, 1, NULL, &dry), 0);
    assert_int_equal(dry, 1);
    /* a draining runner claims nothing and says nothing of the queues */
    put(f, "d4", "python3", "", DP_PRIORITY_NORMAL);
    dp_err err = {0};
    assert_int_equal(rq_drain(f->c, py, 1, &err), DP_OK);
    assert_int_equal(take_dry(f, py, 4, NULL, &dry), 0);
    assert_int_equal(dry, 0);
}

static void test_labels(void **state)
{
    fx *f = *state;
    char plain[DP_ID_MAX], gpu_only[DP_ID_MAX], both[DP_ID_MAX], ids[64][DP_ID_MAX];
    reg(f, "python3", "", plain);
    reg(f, "python3", "gpu", gpu_only);
    put(f, "need-both", "python3", "x86_64,gpu", DP_PRIORITY_NORMAL);
    put(f, "need-none", "python3", "", DP_PRIORITY_NORMAL);
    /* the job waits: neither runner carries both labels */
    assert_int_equal(take(f, plain, 10, ids), 1);
    assert_string_equal(ids[0], "need-none");
    assert_int_equal(take(f, gpu_only, 10, ids), 0);
    assert_int_equal(take(f, plain, 10, ids), 0);
    /* ... and the queue says no live runner can take it */
    dp_queue_stats st = {0};
    dp_err err = {0};
    assert_int_equal(rq_queue_depths(f->c, 100, 0, &st, &err), DP_OK);
    assert_int_equal(st.pending, 1);
    assert_int_equal(st.n_queues, 1);
    assert_string_equal(st.queues[0].profile, "python3");
    assert_string_equal(st.queues[0].labels, "gpu,x86_64"); /* sorted */
    assert_string_equal(st.queues[0].priority, "normal");
    assert_int_equal(st.queues[0].depth, 1);
    assert_int_equal(st.queues[0].runners, 0);
    dp_queue_stats_free(&st);
    /* a runner with both labels (and more) registers and takes it */
    reg(f, "python3,c", "x86_64,gpu,big", both);
    assert_int_equal(rq_queue_depths(f->c, 100, 0, &st, &err), DP_OK);
    assert_int_equal(st.queues[0].runners, 1);
    dp_queue_stats_free(&st);
    assert_int_equal(take(f, both, 10, ids), 1);
    assert_string_equal(ids[0], "need-both");
    /* label order and duplicates name the same queue */
    char q1[RQ_QID_MAX], q2[RQ_QID_MAX];
    const char *a[] = {"b", "a"}, *b[] = {"a", "b", "a"};
    assert_int_equal(rq_queue_id("p", a, 2, q1, &err), DP_OK);
    assert_int_equal(rq_queue_id("p", b, 3, q2, &err), DP_OK);
    assert_string_equal(q1, "p:a,b");
    assert_string_equal(q2, "p:a,b");
    const char *bad[] = {"has space"};
    assert_int_equal(rq_queue_id("p", bad, 1, q1, &err), DP_EINVAL);
    assert_non_null(strstr(err.msg, "has space"));
}

static void test_profiles(void **state)
{
    fx *f = *state;
    char py[DP_ID_MAX], c[DP_ID_MAX], ids[64][DP_ID_MAX];
    int offered = 1, any = 1;
    dp_err err = {0};
    assert_int_equal(rq_profile_offered(f->c, "python3", &offered, &any, &err), DP_OK);
    assert_false(offered);
    assert_false(any);
    reg(f, "python3", "", py);
    reg(f, "c,cpp17", "", c);
    assert_int_equal(rq_profile_offered(f->c, "cpp17", &offered, &any, &err), DP_OK);
    assert_true(offered);
    assert_true(any);
    assert_int_equal(rq_profile_offered(f->c, "java", &offered, &any, &err), DP_OK);
    assert_false(offered);
    for (int i = 0; i < 4; i++) {
        char id[32];
        snprintf(id, sizeof id, "py-%d", i);
        put(f, id, "python3", "", DP_PRIORITY_NORMAL);
        snprintf(id, sizeof id, "c-%d", i);
        put(f, id, i % 2 ? "c" : "cpp17", "", DP_PRIORITY_NORMAL);
    }
    size_t n = take(f, py, 20, ids);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++)
        assert_memory_equal(ids[i], "py-", 3);
    n = take(f, c, 20, ids);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++)
        assert_memory_equal(ids[i], "c-", 2);
    /* a queue that appears after registration joins the runner's set */
    char **qs = NULL;
    size_t nq = 0;
    assert_int_equal(rq_runner_queues(f->c, py, &qs, &nq, &err), DP_OK);
    assert_int_equal(nq, 1);
    rq_strings_free(qs, nq);
    put(f, "py-late", "python3", "", DP_PRIORITY_HIGH);
    put(f, "py-lab", "python3", "gpu", DP_PRIORITY_HIGH);
    assert_int_equal(rq_runner_queues(f->c, py, &qs, &nq, &err), DP_OK);
    assert_int_equal(nq, 1); /* the same queue id (priority is not part of it) */
    rq_strings_free(qs, nq);
    assert_int_equal(take(f, py, 20, ids), 1);
    assert_string_equal(ids[0], "py-late");
    assert_int_equal(take(f, c, 20, ids), 0);
}

/* The guarantee: while low work is eligible, a runner takes at least one
 * low job in every 12 it takes (and 3 normal), however much high work
 * waits; with nothing else waiting, low work takes every slot. */
static void test_priority_fairness(void **state)
{
    fx *f = *state;
    char r[DP_ID_MAX], ids[64][DP_ID_MAX];
    reg(f, NULL, "", r);
    char id[32];
    for (int i = 0; i < 200; i++) {
        snprintf(id, sizeof id, "h-%d", i);
        put(f, id, "p", "", DP_PRIORITY_HIGH);
    }
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof id, "n-%d", i);
        put(f, id, "p", "", DP_PRIORITY_NORMAL);
        if (i % 2)
            continue;
        snprintf(id, sizeof id, "l-%d", i / 2);
        put(f, id, "p", "", DP_PRIORITY_LOW);
    }
    /* One at a time, then in batches of 5: the bound holds either way. */
    char order[260];
    size_t got = 0;
    while (got < 260) {
        size_t n = take(f, r, got < 120 ? 1 : 5, ids);
        assert_true(n > 0);
        for (size_t i = 0; i < n; i++)
            order[got++] = ids[i][0];
    }
    assert_int_equal(take(f, r, 5, ids), 0);
    /* High goes first. */
    assert_int_equal(order[0], 'h');
    int low_left = 20, normal_left = 40;
    for (size_t i = 0; i + 12 <= 260; i++) {
        int low = 0, normal = 0;
        for (size_t k = i; k < i + 12; k++) {
            low += order[k] == 'l';
            normal += order[k] == 'n';
        }
        if (low_left > 0)
            assert_true(low >= 1);
        if (normal_left >= 3)
            assert_true(normal >= 3 || normal_left < 3);
        low_left -= order[i] == 'l';
        normal_left -= order[i] == 'n';
    }
    /* High work is not starved either: in the first 120 leases, with all
     * three waiting, the shares are exactly 8:3:1. */
    int h = 0, n = 0, l = 0;
    for (size_t i = 0; i < 120; i++) {
        h += order[i] == 'h';
        n += order[i] == 'n';
        l += order[i] == 'l';
    }
    assert_int_equal(h, 80);
    assert_int_equal(n, 30);
    assert_int_equal(l, 10);
}

/* A reaped runner's jobs go back to their own queue at their own priority,
 * and another runner with the labels takes them; one without does not. */
static void test_reclaim_own_queue(void **state)
{
    fx *f = *state;
    char a[DP_ID_MAX], b[DP_ID_MAX], plain[DP_ID_MAX], ids[64][DP_ID_MAX];
    reg(f, "p", "gpu", a);
    put(f, "g-hi", "p", "gpu", DP_PRIORITY_HIGH);
    put(f, "g-lo", "p", "gpu", DP_PRIORITY_LOW);
    assert_int_equal(take(f, a, 10, ids), 2);
    /* its deadline passes */
    t_int(f->raw, "ZADD %srunners:alive XX 1 %s", f->prefix, a);
    rq_reap_report rep = {0};
    dp_err err = {0};
    assert_int_equal(rq_reap_runner(f->c, a, &rep, &err), DP_OK);
    assert_int_equal(rep.jobs_requeued, 2);
    assert_int_equal(t_int(f->raw, "LLEN %sq:h:p:gpu", f->prefix), 1);
    assert_int_equal(t_int(f->raw, "LLEN %sq:l:p:gpu", f->prefix), 1);
    reg(f, "p", "", plain);
    assert_int_equal(take(f, plain, 10, ids), 0);
    reg(f, "p", "gpu,ssd", b);
    assert_int_equal(take(f, b, 1, ids), 1);
    assert_string_equal(ids[0], "g-hi");
    assert_int_equal(take(f, b, 1, ids), 1);
    assert_string_equal(ids[0], "g-lo");
    /* deregister and requeue also use the job's own queue */
    assert_int_equal(rq_requeue(f->c, "g-lo", &err), DP_OK);
    assert_int_equal(t_int(f->raw, "LLEN %sq:l:p:gpu", f->prefix), 1);
    uint32_t released = 0;
    assert_int_equal(rq_deregister(f->c, b, &released, &err), DP_OK);
    assert_int_equal(released, 1);
    assert_int_equal(t_int(f->raw, "LLEN %sq:h:p:gpu", f->prefix), 1);
    /* cancel finds a job in its own queue */
    assert_int_equal(rq_cancel(f->c, "g-hi", &err), DP_OK);
    assert_int_equal(t_int(f->raw, "LLEN %sq:h:p:gpu", f->prefix), 0);
    dp_queue_stats st = {0};
    assert_int_equal(rq_stats(f->c, &st, &err), DP_OK);
    assert_int_equal(st.pending, 1);
}

/* The lease does not look at every queue: with 300 queues the runner cannot
 * take, its lease still finds the one it can (the SINTER of its eligible
 * set with the ready set). */
static void test_many_queues(void **state)
{
    fx *f = *state;
    char r[DP_ID_MAX], ids[64][DP_ID_MAX];
    reg(f, "mine", "", r);
    char id[32], lab[32];
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof id, "o-%d", i);
        snprintf(lab, sizeof lab, "l%d", i);
        put(f, id, "other", lab, DP_PRIORITY_HIGH);
    }
    put(f, "m-0", "mine", "", DP_PRIORITY_LOW);
    assert_int_equal(take(f, r, 5, ids), 1);
    assert_string_equal(ids[0], "m-0");
    char **qs = NULL;
    size_t nq = 0;
    dp_err err = {0};
    assert_int_equal(rq_runner_queues(f->c, r, &qs, &nq, &err), DP_OK);
    assert_int_equal(nq, 1);
    rq_strings_free(qs, nq);
}

/* An upgrade: jobs an older dispatchd left in the single pending list move
 * into their own queues (read from the JSON spec), and a runner registered
 * by it (no profiles field) is told to register again. */
static void test_migrate_legacy(void **state)
{
    fx *f = *state;
    t_int(f->raw,
          "HSET %sjob:old-1 state queued attempts 0 max_attempts 3 spec "
          "{\"profile\":\"c\",\"archive\":\"file:///a.zip\",\"labels\":[\"x86_64\",\"gpu\"],"
          "\"priority\":\"high\"}",
          f->prefix);
    t_int(f->raw, "HSET %sjob:old-2 state queued attempts 0 max_attempts 3 spec notjson",
          f->prefix);
    t_int(f->raw, "RPUSH %sjobs:pending old-1 old-2 ghost", f->prefix);
    uint64_t left = 9;
    dp_err err = {0};
    assert_int_equal(rq_migrate_pending(f->c, &left, &err), DP_OK);
    assert_int_equal(left, 0);
    assert_int_equal(t_int(f->raw, "LLEN %sq:h:c:gpu,x86_64", f->prefix), 1);
    assert_int_equal(t_int(f->raw, "LLEN %sq:n::", f->prefix),
                     1); /* unreadable: the default queue */
    char r[DP_ID_MAX], ids[64][DP_ID_MAX];
    reg(f, "c", "gpu,x86_64", r);
    assert_int_equal(take(f, r, 5, ids), 1);
    assert_string_equal(ids[0], "old-1");
    t_int(f->raw, "HDEL %srunner:%s profiles", f->prefix, r);
    rq_lease l[1];
    size_t n = 0;
    assert_int_equal(rq_lease_claim(f->c, r, 1, NULL, l, &n, &err), DP_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_labels, t_fx_setup, t_fx_teardown),
        cmocka_unit_test_setup_teardown(test_profiles, t_fx_setup, t_fx_teardown),
        cmocka_unit_test_setup_teardown(test_priority_fairness, t_fx_setup, t_fx_teardown),
        cmocka_unit_test_setup_teardown(test_reclaim_own_queue, t_fx_setup, t_fx_teardown),
        cmocka_unit_test_setup_teardown(test_many_queues, t_fx_setup, t_fx_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_legacy, t_fx_setup, t_fx_teardown),
        cmocka_unit_test_setup_teardown(test_dry, t_fx_setup, t_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
