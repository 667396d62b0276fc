/* Runner registry against the real Redis: registration and tokens,
 * heartbeat (one command), deregister releasing leases, drain, list. */
#include "tests/dispatch/rq_test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/sha256.h"

typedef t_fx fx;

static void test_register_and_tokens(void **state)
{
    fx *f = *state;
    const char *labels[] = {"gpu", "python3"};
    rq_runner_reg reg = {
        .name = "box-1", .labels = labels, .n_labels = 2, .capacity = 3, .version = "1.2.3"};
    char id[DP_ID_MAX], tok[RQ_TOKEN_HEX_LEN + 1];
    dp_err err = {0};
    /* a wrong registration token, of any length, is refused without echoing it */
    assert_int_equal(rq_registry_register(f->c, "secret-reg", "secret-reh", &reg, id, tok, &err),
                     DP_EAUTH);
    assert_null(strstr(err.msg, "secret"));
    assert_int_equal(rq_registry_register(f->c, "secret-reg", "s", &reg, id, tok, &err), DP_EAUTH);
    assert_int_equal(rq_registry_register(f->c, "secret-reg", "secret-reg", &reg, id, tok, &err),
                     DP_OK);
    assert_int_equal(strncmp(id, "r-", 2), 0);
    assert_int_equal(strlen(tok), RQ_TOKEN_HEX_LEN);
    /* only the hash is stored */
    char hash[65];
    dp_sha256_hex(tok, strlen(tok), hash);
    redisReply *r = redisCommand(f->raw, "GET %srunner:%s:token", f->prefix, id);
    assert_string_equal(r->str, hash);
    freeReplyObject(r);
    r = redisCommand(f->raw, "KEYS %s*", f->prefix);
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *d = redisCommand(f->raw, "DUMP %s", r->element[i]->str);
        assert_true(d->type != REDIS_REPLY_STRING || memmem(d->str, d->len, tok, 64) == NULL);
        freeReplyObject(d);
    }
    freeReplyObject(r);
    /* verify: right token ok; wrong token: auth; unknown runner: not found; no token in messages */
    assert_int_equal(rq_registry_verify_token(f->c, id, tok, &err), DP_OK);
    char bad[RQ_TOKEN_HEX_LEN + 1];
    memcpy(bad, tok, sizeof bad);
    bad[10] = bad[10] == 'a' ? 'b' : 'a';
    assert_int_equal(rq_registry_verify_token(f->c, id, bad, &err), DP_EAUTH);
    assert_null(strstr(err.msg, bad));
    assert_int_equal(rq_registry_verify_token(f->c, "r-nobody", tok, &err), DP_ENOTFOUND);
    assert_int_equal(rq_registry_verify_token(f->c, id, "", &err), DP_EAUTH);
    /* two registrations: distinct ids and tokens */
    char id2[DP_ID_MAX], tok2[RQ_TOKEN_HEX_LEN + 1];
    assert_int_equal(rq_registry_register(f->c, "secret-reg", "secret-reg", &reg, id2, tok2, &err),
                     DP_OK);
    assert_string_not_equal(id, id2);
    assert_string_not_equal(tok, tok2);
    assert_int_equal(rq_registry_verify_token(f->c, id2, tok, &err), DP_EAUTH);
    /* bad registrations */
    rq_runner_reg zero = reg;
    zero.capacity = 0;
    assert_int_equal(rq_registry_register(f->c, "secret-reg", "secret-reg", &zero, id2, tok2, &err),
                     DP_EINVAL);
    const char *comma[] = {"a,b"};
    rq_runner_reg cl = reg;
    cl.labels = comma;
    cl.n_labels = 1;
    assert_int_equal(rq_registry_register(f->c, "secret-reg", "secret-reg", &cl, id2, tok2, &err),
                     DP_EINVAL);
    assert_non_null(strstr(err.msg, "label"));
}

static void test_heartbeat(void **state)
{
    fx *f = *state;
    char id[DP_ID_MAX];
    t_register(f->c, "hb", 1, id, NULL);
    dp_err err = {0};
    long long before = t_int(f->raw, "ZSCORE %srunners:alive %s", f->prefix, id);
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
    assert_int_equal(rq_heartbeat(f->c, id, &err), DP_OK);
    long long after = t_int(f->raw, "ZSCORE %srunners:alive %s", f->prefix, id);
    assert_true(after > before);
    /* twice in the same millisecond, or a deadline already further: still OK */
    assert_int_equal(rq_heartbeat(f->c, id, &err), DP_OK);
    assert_int_equal(rq_heartbeat(f->c, id, &err), DP_OK);
    /* unknown runner: not found, and nothing was added */
    assert_int_equal(rq_heartbeat(f->c, "r-unknown", &err), DP_ENOTFOUND);
    assert_int_equal(t_int(f->raw, "ZCARD %srunners:alive", f->prefix), 1);
    assert_int_equal(rq_heartbeat(f->c, "bad id!", &err), DP_EINVAL);
}

static void test_deregister_releases_leases(void **state)
{
    fx *f = *state;
    char id[DP_ID_MAX], tok[RQ_TOKEN_HEX_LEN + 1];
    t_register(f->c, "dr", 4, id, tok);
    t_enqueue(f->c, "d", 4, 0);
    rq_lease l[3];
    size_t n = 0;
    dp_err err = {0};
    assert_int_equal(rq_lease_claim(f->c, id, 3, NULL, l, &n, &err), DP_OK);
    assert_int_equal(n, 3);
    rq_leases_free(l, n);
    assert_int_equal(rq_lease_complete(f->c, id, "d-0", 1, &err), DP_OK);
    uint32_t released = 0;
    assert_int_equal(rq_deregister(f->c, id, &released, &err), DP_OK);
    assert_int_equal(released, 2);
    dp_queue_stats st;
    assert_int_equal(rq_stats(f->c, &st, &err), DP_OK);
    assert_int_equal(st.pending, 3);
    assert_int_equal(st.leased, 0);
    assert_int_equal(st.runners_alive, 0);
    /* released jobs go first, and count a new attempt when leased again */
    char id2[DP_ID_MAX];
    t_register(f->c, "dr2", 4, id2, NULL);
    assert_int_equal(rq_lease_claim(f->c, id2, 2, NULL, l, &n, &err), DP_OK);
    assert_int_equal(n, 2);
    int saw_d3 = 0;
    for (size_t i = 0; i < n && i < 2; i++) {
        if (strcmp(l[i].job_id, "d-3") == 0)
            saw_d3 = 1;
        else
            assert_int_equal(l[i].attempt, 2);
    }
    assert_false(saw_d3);
    rq_leases_free(l, n);
    /* the old runner is gone: its token, heartbeat, completes */
    assert_int_equal(rq_registry_verify_token(f->c, id, tok, &err), DP_ENOTFOUND);
    assert_int_equal(rq_heartbeat(f->c, id, &err), DP_ENOTFOUND);
    assert_int_equal(rq_lease_complete(f->c, id, "d-1", 1, &err), DP_ECONFLICT);
    assert_int_equal(rq_deregister(f->c, id, NULL, &err), DP_ENOTFOUND);
}

static void test_drain(void **state)
{
    fx *f = *state;
    char id[DP_ID_MAX];
    t_register(f->c, "dn", 4, id, NULL);
    t_enqueue(f->c, "n", 3, 0);
    rq_lease l[2];
    size_t n = 0;
    dp_err err = {0};
    assert_int_equal(rq_lease_claim(f->c, id, 1, NULL, l, &n, &err), DP_OK);
    rq_leases_free(l, n);
    assert_int_equal(rq_drain(f->c, id, 1, &err), DP_OK);
    assert_int_equal(rq_lease_claim(f->c, id, 2, NULL, l, &n, &err), DP_OK);
    assert_int_equal(n, 0);
    /* it finishes what it holds */
    assert_int_equal(rq_lease_complete(f->c, id, "n-0", 1, &err), DP_OK);
    assert_int_equal(rq_drain(f->c, id, 0, &err), DP_OK);
    assert_int_equal(rq_lease_claim(f->c, id, 2, NULL, l, &n, &err), DP_OK);
    assert_int_equal(n, 2);
    rq_leases_free(l, n);
    assert_int_equal(rq_drain(f->c, "r-unknown", 1, &err), DP_ENOTFOUND);
}

static void test_runner_list(void **state)
{
    fx *f = *state;
    char a[DP_ID_MAX], b[DP_ID_MAX];
    t_register(f->c, "alpha", 2, a, NULL);
    t_register(f->c, "beta", 5, b, NULL);
    t_enqueue(f->c, "L", 1, 0);
    rq_lease l[1];
    size_t n = 0;
    dp_err err = {0};
    assert_int_equal(rq_lease_claim(f->c, b, 1, NULL, l, &n, &err), DP_OK);
    rq_leases_free(l, n);
    assert_int_equal(rq_drain(f->c, a, 1, &err), DP_OK);
    dp_runner_info *list = NULL;
    assert_int_equal(rq_runner_list(f->c, &list, &n, &err), DP_OK);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        dp_runner_info *r = &list[i];
        int is_a = strcmp(r->runner_id, a) == 0;
        assert_string_equal(r->name, is_a ? "alpha" : "beta");
        assert_int_equal(r->capacity, is_a ? 2 : 5);
        assert_int_equal(r->draining, is_a);
        assert_int_equal(r->leased_jobs, is_a ? 0 : 1);
        assert_true(r->alive);
        assert_int_equal(r->n_labels, 2);
        assert_string_equal(r->labels[0], "python3");
        assert_string_equal(r->labels[1], "c");
        assert_string_equal(r->version, "test-1");
        assert_int_equal(strlen(r->last_seen), 24);
        assert_int_equal(r->last_seen[23], 'Z');
    }
    rq_runner_list_free(list, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_register_and_tokens, t_fx_setup, t_fx_teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat, t_fx_setup, t_fx_teardown),
        cmocka_unit_test_setup_teardown(test_deregister_releases_leases, t_fx_setup, t_fx_teardown),
        cmocka_unit_test_setup_teardown(test_drain, t_fx_setup, t_fx_teardown),
        cmocka_unit_test_setup_teardown(test_runner_list, t_fx_setup, t_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
