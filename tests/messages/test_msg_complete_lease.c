/* complete_lease / completed_leased: the batch message of the hot path
 * (runner results + a lease in one). Its rules, its bounds, and that the
 * decoder refuses what validation refuses, so a dispatcher never sees a
 * batch it could not answer item by item. */
#include "messages/msg.h"
#include "msg_samples.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* m must be refused by validate and by the encoder, naming `field`. */
static void refused(const dp_msg *m, const char *field)
{
    dp_err err = {0};
    int rc = dp_msg_validate(m, &err);
    if (rc != DP_EINVAL)
        fail_msg("%s: validate gave %d, wanted DP_EINVAL", field, rc);
    if (strstr(err.msg, field) == NULL)
        fail_msg("error \"%s\" does not name %s", err.msg, field);
    nng_msg *nm = (nng_msg *)1;
    assert_int_equal(dp_msg_encode(m, &nm, NULL), DP_EINVAL);
    assert_null(nm);
}

static void accepted(const dp_msg *m)
{
    dp_err err = {0};
    if (dp_msg_validate(m, &err) != DP_OK)
        fail_msg("refused: %s", err.msg);
}

static void test_request_rules(void **state)
{
    (void)state;
    dp_msg m;
    msg_sample(DP_MSG_COMPLETE_LEASE, &m);
    accepted(&m);
    dp_msg_complete_lease *c = &m.complete_lease;

    /* results only (no free slot) and a lease only are both fine */
    uint32_t max = c->max_jobs;
    c->max_jobs = 0;
    accepted(&m);
    size_t n = c->n_results;
    refused(
        &(dp_msg){.type = DP_MSG_COMPLETE_LEASE,
                  .complete_lease = {.runner_id = c->runner_id, .runner_token = c->runner_token}},
        "neither results nor a lease");
    /* an early runner's outcomes poll asks for nothing but waits; without
     * the wait (or not early) it asks for nothing at all */
    refused(&(dp_msg){.type = DP_MSG_COMPLETE_LEASE,
                      .complete_lease = {.runner_id = c->runner_id,
                                         .runner_token = c->runner_token,
                                         .early = true}},
            "neither results nor a lease");
    accepted(&(dp_msg){.type = DP_MSG_COMPLETE_LEASE,
                       .complete_lease = {.runner_id = c->runner_id,
                                          .runner_token = c->runner_token,
                                          .wait_ms = 1000,
                                          .early = true}});
    c->n_results = 0;
    c->max_jobs = max;
    accepted(&m);
    c->n_results = n;

    c->max_jobs = DP_MSG_MAX_LEASE + 1;
    refused(&m, "complete_lease.max");
    c->max_jobs = max;

    char *tok = c->runner_token;
    c->runner_token = NULL;
    refused(&m, "complete_lease.rtok");
    c->runner_token = tok;

    /* each result is checked as a lone complete would be */
    c->results[1].result.attempt = 0;
    refused(&m, "complete_lease.res[1].res.att");
    c->results[1].result.attempt = 2;
    dp_verdict v = c->results[0].result.verdict;
    c->results[0].result.verdict = DP_VERDICT_NONE;
    refused(&m, "complete_lease.res[0].res.vd");
    c->results[0].result.verdict = v;
    c->results[0].result.score = 101;
    refused(&m, "complete_lease.res[0].res.score");
    c->results[0].result.score = 100;

    /* the same job twice: which one would its outcome answer? */
    char *second = c->results[1].result.job_id;
    c->results[1].result.job_id = c->results[0].result.job_id;
    refused(&m, "appears twice");
    c->results[1].result.job_id = second;
    accepted(&m);
    dp_msg_free(&m);
}

static void test_reply_rules(void **state)
{
    (void)state;
    dp_msg m;
    msg_sample(DP_MSG_COMPLETED_LEASED, &m);
    accepted(&m);
    dp_result_outcome *o = &m.completed_leased.outcomes[2];
    char *was = o->outcome;
    o->outcome = "maybe";
    refused(&m, "completed_leased.outs[2].o");
    o->outcome = NULL;
    refused(&m, "completed_leased.outs[2].o");
    o->outcome = was;
    m.completed_leased.jobs[0].attempt = 0;
    refused(&m, "leased.jobs[0].att");
    m.completed_leased.jobs[0].attempt = 1;
    /* a spec's own check names its field under the job's path */
    char *archive = m.completed_leased.jobs[0].spec.archive;
    m.completed_leased.jobs[0].spec.archive = "ftp://example.com/a.zip";
    refused(&m, "leased.jobs[0].spec.archive");
    m.completed_leased.jobs[0].spec.archive = archive;
    accepted(&m);
    /* an empty answer (no results were sent, nothing to lease) is valid */
    accepted(&(dp_msg){.type = DP_MSG_COMPLETED_LEASED});
    dp_msg_free(&m);
}

/* The largest batch (DP_MSG_MAX_RESULTS results) crosses the wire intact;
 * one more is refused before anything is sent (the decoder applies the same
 * schema bound to untrusted bytes: test_msg_hostile, test_msg_random). */
static void test_result_count_bound(void **state)
{
    (void)state;
    dp_msg m = {.type = DP_MSG_COMPLETE_LEASE};
    dp_msg_complete_lease *c = &m.complete_lease;
    c->runner_id = msg_xstrdup("r-1");
    c->runner_token = msg_xstrdup("tok-1");
    c->n_results = DP_MSG_MAX_RESULTS;
    c->results = calloc(DP_MSG_MAX_RESULTS, sizeof *c->results);
    assert_non_null(c->results);
    for (size_t i = 0; i < c->n_results; i++) {
        char id[32];
        snprintf(id, sizeof id, "job-%zu", i);
        c->results[i].result.job_id = msg_xstrdup(id);
        c->results[i].result.attempt = 1;
        c->results[i].result.verdict = DP_VERDICT_AC;
    }
    /* the largest batch goes through both ways */
    dp_err err = {0};
    nng_msg *nm = NULL;
    assert_int_equal(dp_msg_encode(&m, &nm, &err), DP_OK);
    dp_msg got;
    assert_int_equal(dp_msg_decode_nng(nm, &got, &err), DP_OK);
    assert_int_equal(got.complete_lease.n_results, DP_MSG_MAX_RESULTS);
    assert_true(dp_msg_equal(&m, &got));
    dp_msg_free(&got);
    nng_msg_free(nm);
    /* one more is refused by the encoder, naming the array */
    c->n_results = DP_MSG_MAX_RESULTS + 1;
    dp_result_item *more = realloc(c->results, c->n_results * sizeof *more);
    assert_non_null(more);
    c->results = more;
    memset(&c->results[DP_MSG_MAX_RESULTS], 0, sizeof *more);
    c->results[DP_MSG_MAX_RESULTS].result.job_id = msg_xstrdup("job-x");
    c->results[DP_MSG_MAX_RESULTS].result.attempt = 1;
    c->results[DP_MSG_MAX_RESULTS].result.verdict = DP_VERDICT_AC;
    nm = NULL;
    assert_int_equal(dp_msg_encode(&m, &nm, &err), DP_EINVAL);
    assert_non_null(strstr(err.msg, "res"));
    dp_msg_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_rules),
        cmocka_unit_test(test_reply_rules),
        cmocka_unit_test(test_result_count_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
