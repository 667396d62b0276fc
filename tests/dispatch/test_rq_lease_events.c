/* The events the lease and complete scripts put on the shared stream, against
 * the real Redis of ./dev test. The lease script writes each `leased` blob
 * itself (rq_lease_claim_streamed), so this test holds its shape to the
 * wire decoder of messages/ (a field renamed on either side fails here),
 * and checks one event per newly leased job, none for a retry answered from
 * its first try, none without an event ts. The enqueue and complete
 * scripts add the caller's blobs (rq_enqueue_streamed,
 * rq_lease_complete_streamed), in order: the enqueue's before the jobs can
 * be leased, so before their `leased` events. */
#include "dispatch/redis/rq_events.h"
#include "messages/msg.h"
#include "tests/dispatch/rq_test_util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char prefix[64];
    rq_conn *c;
    char runner[DP_ID_MAX];
    dp_msg got[16];
    size_t n_got, n_bad, n_entries;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    t_unique_prefix(f->prefix);
    f->c = t_connect(t_redis_url(), f->prefix, NULL);
    t_register(f->c, "r1", 8, f->runner, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    for (size_t i = 0; i < f->n_got; i++)
        dp_msg_free(&f->got[i]);
    rq_close(f->c);
    free(f);
    return 0;
}

/* Each entry holds an `events` batch (or one `event`): flattened into
 * f->got, one `event` each, in stream order. */
static void on_entry(void *arg, const char *id, const char *data, size_t len)
{
    fx *f = arg;
    (void)id;
    dp_err err = {0};
    dp_msg m;
    if (dp_msg_decode(data, len, &m, &err) != DP_OK) {
        print_message("undecodable entry: %s\n", err.msg);
        f->n_bad++;
        return;
    }
    size_t n = m.type == DP_MSG_EVENTS ? m.events.n_events : m.type == DP_MSG_EVENT ? 1 : 0;
    for (size_t i = 0; i < n && f->n_got < sizeof f->got / sizeof f->got[0]; i++) {
        dp_msg *e = &f->got[f->n_got++];
        *e = (dp_msg){.type = DP_MSG_EVENT};
        dp_msg_event *from = m.type == DP_MSG_EVENTS ? &m.events.events[i] : &m.event;
        e->event = *from;
        memset(from, 0, sizeof *from);
    }
    f->n_entries++;
    dp_msg_free(&m);
}

/* Every entry on the stream so far (from the start; BLOCK 1 ms, as 0 would
 * wait forever once it is read). */
static void read_stream(fx *f)
{
    char after[RQ_EVENT_ID_MAX] = "0-0";
    dp_err err = {0};
    int n;
    while ((n = rq_events_read(f->c, after, 100, 1, on_entry, f, &err)) > 0)
        ;
    if (n < 0)
        fail_msg("read events: %s", err.msg);
}

static size_t lease(fx *f, uint32_t k, const char *req, const char *ts, rq_lease *out)
{
    size_t n = 0;
    dp_err err = {0};
    if (rq_lease_claim_streamed(f->c, f->runner, k, req, ts, DP_MSG_VERSION, out, &n, NULL, &err) !=
        DP_OK)
        fail_msg("lease: %s", err.msg);
    return n;
}

static void test_leased_events_decode(void **state)
{
    fx *f = *state;
    t_enqueue(f->c, "j", 3, 0);
    rq_lease l[4];
    const char *ts = "2026-12-01T05:30:00.123Z";
    assert_int_equal(lease(f, 2, "req-1", ts, l), 2);
    read_stream(f);
    assert_int_equal(f->n_bad, 0);
    assert_int_equal(f->n_got, 2);
    assert_int_equal(f->n_entries, 1); /* one entry per lease call */
    for (size_t i = 0; i < 2; i++) {
        const dp_msg *m = &f->got[i];
        assert_int_equal(m->type, DP_MSG_EVENT);
        assert_string_equal(m->event.job_id, l[i].job_id);
        assert_int_equal(m->event.state, DP_JOB_LEASED);
        assert_int_equal(m->event.verdict, DP_VERDICT_NONE);
        assert_string_equal(m->event.runner_id, f->runner);
        assert_int_equal(m->event.attempt, 1);
        assert_string_equal(m->event.ts, ts);
        assert_null(m->event.message);
    }
    rq_leases_free(l, 2);
}

static void test_retry_and_no_ts_stream_nothing(void **state)
{
    fx *f = *state;
    t_enqueue(f->c, "j", 3, 0);
    rq_lease l[4];
    const char *ts = "2026-12-01T05:30:00.123Z";
    assert_int_equal(lease(f, 2, "req-1", ts, l), 2);
    rq_leases_free(l, 2);
    /* the same request again: the same jobs, already streamed */
    assert_int_equal(lease(f, 2, "req-1", ts, l), 2);
    rq_leases_free(l, 2);
    /* no event ts: the last job leased, nothing streamed */
    assert_int_equal(lease(f, 2, "req-2", NULL, l), 1);
    rq_leases_free(l, 1);
    read_stream(f);
    assert_int_equal(f->n_bad, 0);
    assert_int_equal(f->n_got, 2);
}

/* One `event` wire message as a stream blob (heap: free). */
static void *event_blob(const char *job_id, dp_job_state state, dp_verdict verdict,
                        const char *runner_id, const char *ts, size_t *len)
{
    dp_msg m = {.type = DP_MSG_EVENT};
    m.event = (dp_msg_event){.job_id = (char *)job_id,
                             .state = state,
                             .verdict = verdict,
                             .runner_id = (char *)runner_id,
                             .attempt = runner_id != NULL ? 1 : 0,
                             .ts = (char *)ts};
    dp_err err = {0};
    void *b = NULL;
    assert_int_equal(dp_msg_encode_buf(&m, &b, len, &err), DP_OK);
    return b;
}

static void test_complete_streams_blobs(void **state)
{
    fx *f = *state;
    t_enqueue(f->c, "j", 2, 0);
    rq_lease l[2];
    assert_int_equal(lease(f, 2, "req-1", NULL, l), 2);
    const void *v[2];
    size_t len[2];
    for (size_t i = 0; i < 2; i++)
        v[i] = event_blob(l[i].job_id, DP_JOB_COMPLETED, DP_VERDICT_AC, f->runner,
                          "2026-12-01T05:31:00.000Z", &len[i]);
    rq_complete_item items[2] = {{.job_id = l[0].job_id, .attempt = 1},
                                 {.job_id = l[1].job_id, .attempt = 1}};
    rq_blobs blobs = {v, len, 2};
    dp_err err = {0};
    assert_int_equal(rq_lease_complete_streamed(f->c, f->runner, items, 2, &blobs, &err), DP_OK);
    assert_int_equal(items[0].result, DP_OK);
    assert_int_equal(items[1].result, DP_OK);
    /* without events: the completes only */
    assert_int_equal(rq_lease_complete_streamed(f->c, f->runner, items, 2, NULL, &err), DP_OK);
    read_stream(f);
    assert_int_equal(f->n_bad, 0);
    assert_int_equal(f->n_got, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(f->got[i].type, DP_MSG_EVENT);
        assert_string_equal(f->got[i].event.job_id, l[i].job_id);
        assert_int_equal(f->got[i].event.state, DP_JOB_COMPLETED);
        assert_int_equal(f->got[i].event.verdict, DP_VERDICT_AC);
        free((void *)v[i]);
    }
    rq_leases_free(l, 2);
}

/* Event i of an entry has the global id "<ms>-<seq * 64 + i>": increasing
 * along the stream and within the batch. */
static void test_event_ids_of_entries(void **state)
{
    (void)state;
    char a[RQ_EVENT_ID_MAX], b[RQ_EVENT_ID_MAX], c[RQ_EVENT_ID_MAX];
    assert_int_equal(rq_event_id_of("1700000000000-0", 0, a), 0);
    assert_string_equal(a, "1700000000000-0");
    assert_int_equal(rq_event_id_of("1700000000000-0", RQ_EVENTS_PER_ENTRY - 1, b), 0);
    assert_int_equal(rq_event_id_of("1700000000000-1", 0, c), 0);
    uint64_t va, vb, vc;
    assert_int_equal(rq_event_id_parse(a, &va), 0);
    assert_int_equal(rq_event_id_parse(b, &vb), 0);
    assert_int_equal(rq_event_id_parse(c, &vc), 0);
    assert_true(va < vb && vb < vc);
    assert_int_equal(rq_event_id_of("1700000000000-0", RQ_EVENTS_PER_ENTRY, a), -1);
    assert_int_equal(rq_event_id_of("1700000000000-16384", 0, a), -1); /* seq too large */
    assert_int_equal(rq_event_id_of("nope", 0, a), -1);
}

static void test_enqueue_streams_blobs_first(void **state)
{
    fx *f = *state;
    char ids[2][16];
    rq_job_in jobs[2];
    void *v[2];
    size_t len[2];
    for (size_t i = 0; i < 2; i++) {
        snprintf(ids[i], sizeof ids[i], "q-%zu", i);
        jobs[i] = (rq_job_in){.job_id = ids[i], .spec = "spec", .spec_len = 4};
        v[i] = event_blob(ids[i], DP_JOB_QUEUED, DP_VERDICT_NONE, NULL, "2026-12-01T05:32:00.000Z",
                          &len[i]);
    }
    rq_blobs blobs = {(const void *const *)v, len, 2};
    dp_err err = {0};
    size_t added = 0;
    assert_int_equal(rq_enqueue_streamed(f->c, jobs, 2, &blobs, &added, &err), DP_OK);
    assert_int_equal(added, 2);
    rq_lease l[2];
    assert_int_equal(lease(f, 2, "req-q", "2026-12-01T05:32:00.001Z", l), 2);
    read_stream(f);
    assert_int_equal(f->n_bad, 0);
    assert_int_equal(f->n_got, 4);
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(f->got[i].event.job_id, ids[i]);
        assert_int_equal(f->got[i].event.state, DP_JOB_QUEUED);
        assert_int_equal(f->got[2 + i].event.state, DP_JOB_LEASED);
        free(v[i]);
    }
    rq_leases_free(l, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_leased_events_decode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_and_no_ts_stream_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_complete_streams_blobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enqueue_streams_blobs_first, setup, teardown),
        cmocka_unit_test(test_event_ids_of_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
