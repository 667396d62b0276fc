#include "msg_samples.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *msg_xstrdup(const char *s)
{
    char *c = strdup(s);
    if (c == NULL)
        abort();
    return c;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL)
        abort();
    return p;
}

static char **strs(size_t n, const char *prefix)
{
    char **v = xcalloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s%zu", prefix, i);
        v[i] = msg_xstrdup(buf);
    }
    return v;
}

void msg_sample_spec(dp_job_spec *spec, const char *job_id, size_t n_tests)
{
    memset(spec, 0, sizeof *spec);
    spec->job_id = job_id ? msg_xstrdup(job_id) : NULL;
    spec->profile = msg_xstrdup("python3");
    spec->archive = msg_xstrdup("https://example.com/sub.zip");
    spec->archive_sha256 =
        msg_xstrdup("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    spec->submission_id = msg_xstrdup("sub-42");
    spec->n_tests = n_tests;
    spec->tests = n_tests ? xcalloc(n_tests, sizeof *spec->tests) : NULL;
    for (size_t i = 0; i < n_tests; i++) {
        char name[32];
        snprintf(name, sizeof name, "t%zu", i + 1);
        spec->tests[i].name = msg_xstrdup(name);
        spec->tests[i].stdin_data = msg_xstrdup("5\n\xc3\xa9 unicode");
        spec->tests[i].expected_stdout = msg_xstrdup("10\n");
        spec->tests[i].timeout_ms = 1000 + (uint32_t)i;
        spec->tests[i].compare = (dp_compare)(DP_COMPARE_EXACT + i % 4); /* every mode */
        spec->tests[i].abs_tol = i % 4 == 3 ? 1e-9 : 0;
        spec->tests[i].rel_tol = i % 4 == 3 ? 1e-6 : 0;
        spec->tests[i].score = (double)(i % 3);
    }
    spec->abs_tol = 1e-4;
    spec->rel_tol = 0.5;
    spec->limits.time_ms = 2000;
    spec->limits.wall_ms = 5000;
    spec->limits.memory_kb = 64ull << 20; /* the bound: 64 GiB (results carry 64-bit sizes) */
    spec->limits.processes = 64;
    spec->limits.output_kb = 1024;
    spec->max_attempts = 3;
    spec->callback_url = msg_xstrdup("https://hooks.example.com/done?job=1");
    spec->labels = strs(spec->n_labels = 2, "lbl");
    spec->priority = DP_PRIORITY_HIGH;
}

static void sample_test_results(dp_test_result **out, size_t *n_out, size_t n)
{
    dp_test_result *t = xcalloc(n, sizeof *t);
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "t%zu", i + 1);
        t[i].name = msg_xstrdup(name);
        t[i].verdict = (dp_verdict)(1 + i % 8);
        t[i].exit_code = i % 2 ? -1 : 3;
        t[i].signal = i % 2 ? 9 : 0;
        t[i].time_ms = 17;
        t[i].wall_ms = 4000000000u;
        t[i].memory_kb = 1ull << 40;
        t[i].stdout_excerpt = msg_xstrdup("out\n...");
        t[i].stderr_excerpt = msg_xstrdup("");
        t[i].message = i % 2 ? msg_xstrdup("wrong answer: token 1: expected 5, got 6") : NULL;
    }
    *out = t;
    *n_out = n;
}

void msg_sample(dp_msg_type t, dp_msg *m)
{
    memset(m, 0, sizeof *m);
    m->type = t;
    m->id = 0x1122334455667788ull;
    switch (t) {
    case DP_MSG_REGISTER:
        m->reg.registration_token = msg_xstrdup("reg-token-secret");
        m->reg.name = msg_xstrdup("runner-a");
        m->reg.labels = strs(m->reg.n_labels = 3, "label");
        m->reg.capacity = 8;
        m->reg.version = msg_xstrdup("0.1.0");
        m->reg.profiles = strs(m->reg.n_profiles = 2, "prof");
        break;
    case DP_MSG_REGISTERED:
        m->registered.runner_id = msg_xstrdup("r-0123456789abcdef");
        m->registered.runner_token = msg_xstrdup("tok-abcdef");
        m->registered.heartbeat_ms = 1000;
        m->registered.alive_ttl_ms = 2000;
        break;
    case DP_MSG_HEARTBEAT:
        m->heartbeat.runner_id = msg_xstrdup("r-1");
        m->heartbeat.runner_token = msg_xstrdup("tok-1");
        m->heartbeat.free_slots = 3;
        break;
    case DP_MSG_ACK:
        m->ack.count = 12;
        m->ack.draining = true;
        break;
    case DP_MSG_ERROR:
        m->error.code = msg_xstrdup("unknown_runner");
        m->error.message = msg_xstrdup("runner r-1 is not registered");
        break;
    case DP_MSG_LEASE:
        m->lease.runner_id = msg_xstrdup("r-1");
        m->lease.runner_token = msg_xstrdup("tok-1");
        m->lease.max_jobs = 4;
        m->lease.wait_ms = 30000;
        m->lease.request_id = msg_xstrdup("req-7");
        break;
    case DP_MSG_LEASED:
        m->leased.n_jobs = 2;
        m->leased.jobs = xcalloc(2, sizeof *m->leased.jobs);
        for (size_t i = 0; i < 2; i++) {
            char id[32];
            snprintf(id, sizeof id, "job-%zu", i);
            m->leased.jobs[i].job_id = msg_xstrdup(id);
            m->leased.jobs[i].attempt = 2 + (uint32_t)i;
            msg_sample_spec(&m->leased.jobs[i].spec, id, 2 + i);
        }
        break;
    case DP_MSG_NONE:
        m->none.reason = msg_xstrdup("timeout");
        break;
    case DP_MSG_COMPLETE: {
        dp_job_result *r = &m->complete.result;
        m->complete.runner_id = msg_xstrdup("r-1");
        m->complete.runner_token = msg_xstrdup("tok-1");
        r->job_id = msg_xstrdup("job-1");
        r->attempt = 2;
        r->verdict = DP_VERDICT_WA;
        r->score = 66.66666666666667;
        r->message = msg_xstrdup("1 of 3 tests failed");
        sample_test_results(&r->tests, &r->n_tests, 3);
        /* Log bytes include a NUL and high bytes: it is binary. */
        r->log_len = 300;
        r->log = xcalloc(1, r->log_len + 1);
        for (size_t i = 0; i < r->log_len; i++)
            r->log[i] = (char)(i * 7);
        break;
    }
    case DP_MSG_CONFLICT:
        m->conflict.job_id = msg_xstrdup("job-1");
        m->conflict.message = msg_xstrdup("attempt 1 is stale, current is 2");
        break;
    case DP_MSG_NOT_FOUND:
        m->not_found.what = msg_xstrdup("job");
        m->not_found.message = msg_xstrdup("no job job-9");
        break;
    case DP_MSG_DEREGISTER:
        m->deregister.runner_id = msg_xstrdup("r-1");
        m->deregister.runner_token = msg_xstrdup("tok-1");
        m->deregister.release = true;
        break;
    case DP_MSG_SUBMIT:
        m->submit.n_specs = 3;
        m->submit.specs = xcalloc(3, sizeof *m->submit.specs);
        for (size_t i = 0; i < 3; i++)
            msg_sample_spec(&m->submit.specs[i], NULL, i);
        break;
    case DP_MSG_SUBMITTED:
        m->submitted.n_items = 2;
        m->submitted.items = xcalloc(2, sizeof *m->submitted.items);
        m->submitted.items[0].index = 0;
        m->submitted.items[0].job_id = msg_xstrdup("job-a");
        m->submitted.items[0].warning = msg_xstrdup("no runner has registered yet");
        m->submitted.items[1].index = 1;
        m->submitted.items[1].error = msg_xstrdup("spec.prof: required");
        m->submitted.items[1].code = msg_xstrdup("quota");
        m->submitted.items[1].retry_s = 42;
        break;
    case DP_MSG_STATUS:
        m->status.job_id = msg_xstrdup("job-1");
        break;
    case DP_MSG_JOB:
        m->job.job_id = msg_xstrdup("job-1");
        m->job.submission_id = msg_xstrdup("sub-1");
        m->job.profile = msg_xstrdup("c");
        m->job.state = DP_JOB_COMPLETED;
        m->job.verdict = DP_VERDICT_AC;
        m->job.score = 100;
        m->job.attempts = 1;
        m->job.runner_id = msg_xstrdup("r-1");
        m->job.message = msg_xstrdup("all good");
        sample_test_results(&m->job.tests, &m->job.n_tests, 2);
        m->job.log_url = msg_xstrdup("file:///var/log/job-1.log");
        m->job.created_at = msg_xstrdup("2026-01-01T00:00:00Z");
        m->job.started_at = msg_xstrdup("2026-01-01T00:00:01Z");
        m->job.finished_at = msg_xstrdup("2026-01-01T00:00:02Z");
        m->job.callback_state = msg_xstrdup("failed");
        m->job.callback_attempts = 8;
        m->job.callback_error = msg_xstrdup("HTTP 500");
        m->job.labels = msg_xstrdup("gpu,x86_64");
        m->job.priority = msg_xstrdup("high");
        break;
    case DP_MSG_RUNNERS:
        m->runners.n_runners = 2;
        m->runners.runners = xcalloc(2, sizeof *m->runners.runners);
        for (size_t i = 0; i < 2; i++) {
            dp_runner_info *r = &m->runners.runners[i];
            char id[32];
            snprintf(id, sizeof id, "r-%zu", i);
            r->runner_id = msg_xstrdup(id);
            r->name = msg_xstrdup("runner");
            r->alive = 1;
            r->draining = (int)i;
            r->capacity = 4;
            r->leased_jobs = 2;
            r->labels = strs(r->n_labels = 1 + i, "lbl");
            r->version = msg_xstrdup("0.1.0");
            r->last_seen = msg_xstrdup("2026-01-01T00:00:00Z");
        }
        break;
    case DP_MSG_WAKE:
        m->wake.queues = strs(m->wake.n_queues = 2, "python3:gpu");
        break;
    case DP_MSG_QUEUE_STATS:
        m->queue_stats.pending = 1;
        m->queue_stats.leased = 2;
        m->queue_stats.dead = 3;
        m->queue_stats.completed = 1ull << 33;
        m->queue_stats.runners_alive = 5;
        m->queue_stats.n_queues = 2;
        m->queue_stats.queues = xcalloc(2, sizeof *m->queue_stats.queues);
        for (size_t i = 0; i < 2; i++) {
            m->queue_stats.queues[i].profile = msg_xstrdup("python3");
            m->queue_stats.queues[i].labels = msg_xstrdup(i ? "gpu,x86_64" : "");
            m->queue_stats.queues[i].priority = msg_xstrdup(i ? "high" : "low");
            m->queue_stats.queues[i].depth = 1ull << (33 + i);
            m->queue_stats.queues[i].runners = (uint32_t)i;
        }
        break;
    case DP_MSG_CANCEL:
        m->cancel.job_id = msg_xstrdup("job-1");
        break;
    case DP_MSG_REQUEUE:
        m->requeue.job_id = msg_xstrdup("job-1");
        break;
    case DP_MSG_DRAIN:
        m->drain.runner_id = msg_xstrdup("r-1");
        break;
    case DP_MSG_WAIT:
        m->wait.job_id = msg_xstrdup("job-1");
        m->wait.timeout_ms = 60000;
        break;
    case DP_MSG_EVENT:
        m->event.job_id = msg_xstrdup("job-1");
        m->event.state = DP_JOB_FAILED;
        m->event.verdict = DP_VERDICT_SE;
        m->event.runner_id = msg_xstrdup("r-1");
        m->event.attempt = 3;
        m->event.ts = msg_xstrdup("2026-01-01T00:00:00.123Z");
        m->event.message = msg_xstrdup("attempts exhausted");
        m->event.eid = msg_xstrdup("1764547200123-7");
        break;
    case DP_MSG_KEY_CREATE:
        m->key_create.name = msg_xstrdup("grader");
        m->key_create.scopes = 3;
        m->key_create.max_queued = 100;
        m->key_create.per_minute = 600;
        break;
    case DP_MSG_KEY:
        m->key.key_id = msg_xstrdup("0123456789abcdef");
        m->key.name = msg_xstrdup("grader");
        m->key.scopes = 4;
        m->key.key = msg_xstrdup("dpk_0123456789abcdef_00");
        m->key.created_at = msg_xstrdup("2026-01-01T00:00:00.000Z");
        break;
    case DP_MSG_KEYS:
        m->keys.keys = xcalloc(2, sizeof *m->keys.keys);
        m->keys.n_keys = 2;
        for (size_t i = 0; i < 2; i++) {
            m->keys.keys[i].key_id = msg_xstrdup(i ? "fedcba9876543210" : "0123456789abcdef");
            m->keys.keys[i].name = msg_xstrdup(i ? "ops" : "grader");
            m->keys.keys[i].scopes = i ? 4 : 1;
            m->keys.keys[i].revoked = i == 1;
        }
        break;
    case DP_MSG_KEY_REVOKE:
        m->key_revoke.key = msg_xstrdup("grader");
        break;
    case DP_MSG_JOB_LIST:
        m->job_list.state = msg_xstrdup("queued");
        m->job_list.profile = msg_xstrdup("python3");
        m->job_list.limit = 20;
        m->job_list.after = msg_xstrdup("c1.1764547200000000.j-1");
        break;
    case DP_MSG_JOBS:
        m->jobs.jobs = xcalloc(2, sizeof *m->jobs.jobs);
        m->jobs.n_jobs = 2;
        for (size_t i = 0; i < 2; i++) {
            m->jobs.jobs[i].job_id = msg_xstrdup(i ? "job-2" : "job-1");
            m->jobs.jobs[i].profile = msg_xstrdup("c");
            m->jobs.jobs[i].state = i ? DP_JOB_COMPLETED : DP_JOB_QUEUED;
            m->jobs.jobs[i].verdict = i ? DP_VERDICT_AC : DP_VERDICT_NONE;
            m->jobs.jobs[i].created_at = msg_xstrdup("2026-01-01T00:00:00.000Z");
        }
        m->jobs.next = msg_xstrdup("c1.1764547200000000.job-2");
        break;
    case DP_MSG_PROFILES:
        m->profiles.profiles = xcalloc(2, sizeof *m->profiles.profiles);
        m->profiles.n_profiles = 2;
        for (size_t i = 0; i < 2; i++) {
            m->profiles.profiles[i].name = msg_xstrdup(i ? "python3" : "c");
            m->profiles.profiles[i].runners = 1 + (uint32_t)i;
            m->profiles.profiles[i].capacity = 4;
            m->profiles.profiles[i].last_seen = msg_xstrdup("2026-01-01T00:00:00.000Z");
        }
        break;
    case DP_MSG_SLOT_FREE:
        m->slot_free.slot = 3;
        m->slot_free.n_results = 1;
        m->slot_free.results = xcalloc(1, sizeof *m->slot_free.results);
        m->slot_free.results[0].result.job_id = msg_xstrdup("job-7");
        m->slot_free.results[0].result.attempt = 2;
        m->slot_free.results[0].result.verdict = DP_VERDICT_WA;
        m->slot_free.results[0].result.message = msg_xstrdup("test 2: wrong answer");
        sample_test_results(&m->slot_free.results[0].result.tests,
                            &m->slot_free.results[0].result.n_tests, 2);
        break;
    case DP_MSG_PEERS:
        m->peers.urls = strs(3, "inproc://dp-actor/executor-");
        m->peers.n_urls = 3;
        break;
    case DP_MSG_ANSWER: {
        static const uint8_t reply[] = {0x81, 0xa1, 'v', 0x01}; /* any bytes: opaque here */
        m->answer.bytes = xcalloc(1, sizeof reply);
        memcpy(m->answer.bytes, reply, sizeof reply);
        m->answer.len = sizeof reply;
        break;
    }
    case DP_MSG_COMPLETE_LEASE:
        m->complete_lease.runner_id = msg_xstrdup("r-1");
        m->complete_lease.runner_token = msg_xstrdup("tok-1");
        m->complete_lease.n_results = 2;
        m->complete_lease.results = xcalloc(2, sizeof *m->complete_lease.results);
        for (size_t i = 0; i < 2; i++) {
            dp_job_result *r = &m->complete_lease.results[i].result;
            char id[32];
            snprintf(id, sizeof id, "job-%zu", i);
            r->job_id = msg_xstrdup(id);
            r->attempt = 1 + (uint32_t)i;
            r->verdict = i ? DP_VERDICT_SE : DP_VERDICT_AC;
            r->score = i ? 0 : 100;
            r->message = msg_xstrdup(i ? "fetch timed out" : "all tests passed");
            sample_test_results(&r->tests, &r->n_tests, 2 - i);
            m->complete_lease.results[i].retry = i == 1;
        }
        m->complete_lease.max_jobs = 3;
        m->complete_lease.wait_ms = 30000;
        m->complete_lease.request_id = msg_xstrdup("q-1");
        m->complete_lease.early = true;
        break;
    case DP_MSG_COMPLETED_LEASED: {
        static const char *const outs[] = {"ack", "conflict", "not_found", "retry"};
        m->completed_leased.n_outcomes = 4;
        m->completed_leased.outcomes = xcalloc(4, sizeof *m->completed_leased.outcomes);
        for (size_t i = 0; i < 4; i++) {
            char id[32];
            snprintf(id, sizeof id, "job-%zu", i);
            m->completed_leased.outcomes[i].job_id = msg_xstrdup(id);
            m->completed_leased.outcomes[i].attempt = 1 + (uint32_t)i;
            m->completed_leased.outcomes[i].outcome = msg_xstrdup(outs[i]);
            if (i > 0)
                m->completed_leased.outcomes[i].message = msg_xstrdup("why");
        }
        m->completed_leased.n_jobs = 1;
        m->completed_leased.jobs = xcalloc(1, sizeof *m->completed_leased.jobs);
        m->completed_leased.jobs[0].job_id = msg_xstrdup("job-9");
        m->completed_leased.jobs[0].attempt = 1;
        msg_sample_spec(&m->completed_leased.jobs[0].spec, "job-9", 1);
        break;
    }
    case DP_MSG_LEASE_FOR: {
        dp_msg a, b;
        msg_sample(DP_MSG_COMPLETE_LEASE, &a);
        msg_sample(DP_MSG_COMPLETED_LEASED, &b);
        m->lease_for.gateway = 2;
        m->lease_for.req = 1ull << 40;
        m->lease_for.reply_id = 77;
        m->lease_for.lease = a.complete_lease;
        m->lease_for.answer = b.completed_leased;
        m->lease_for.n_checks = a.complete_lease.n_results;
        m->lease_for.checks =
            xcalloc(m->lease_for.n_checks ? m->lease_for.n_checks : 1, sizeof *m->lease_for.checks);
        for (size_t i = 0; i < m->lease_for.n_checks; i++)
            m->lease_for.checks[i].code = (uint32_t)(i % 4);
        m->lease_for.checked_ms = 1765000000000ull;
        m->type = DP_MSG_LEASE_FOR;
        break;
    }
    case DP_MSG_OUTCOMES: {
        dp_msg b;
        msg_sample(DP_MSG_COMPLETED_LEASED, &b);
        m->outcomes.runner_id = msg_xstrdup("r-1");
        m->outcomes.outcomes = b.completed_leased.outcomes; /* moved; the job is freed */
        m->outcomes.n_outcomes = b.completed_leased.n_outcomes;
        b.completed_leased.outcomes = NULL;
        b.completed_leased.n_outcomes = 0;
        dp_msg_free(&b);
        m->type = DP_MSG_OUTCOMES;
        break;
    }
    default: /* list_runners, queue, wake, stopping, leave: no body */
        break;
    }
}
