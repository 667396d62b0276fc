#include "common/job.h"

#include "common/clock.h"
#include "common/err.h"

#include "common/sha256.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>

static const char *const verdict_names[] = {NULL, "AC",  "WA", "TLE", "MLE",
                                            "RE", "OLE", "CE", "SE"};
static const char *const state_names[] = {"queued", "leased", "completed", "failed", "cancelled"};

const char *dp_verdict_name(dp_verdict v)
{
    if ((unsigned)v >= sizeof verdict_names / sizeof verdict_names[0])
        return NULL;
    return verdict_names[v];
}

int dp_verdict_parse(const char *s, dp_verdict *out)
{
    for (size_t i = 1; s != NULL && i < sizeof verdict_names / sizeof verdict_names[0]; i++) {
        if (strcmp(s, verdict_names[i]) == 0) {
            *out = (dp_verdict)i;
            return DP_OK;
        }
    }
    return DP_EINVAL;
}

static const char *const compare_names[] = {NULL, "exact", "lines", "tokens", "float", "custom"};

const char *dp_compare_name(dp_compare c)
{
    if ((unsigned)c >= sizeof compare_names / sizeof compare_names[0])
        return NULL;
    return compare_names[c];
}

int dp_compare_parse(const char *s, dp_compare *out)
{
    for (size_t i = 1; s != NULL && i < sizeof compare_names / sizeof compare_names[0]; i++) {
        if (strcmp(s, compare_names[i]) == 0) {
            *out = (dp_compare)i;
            return DP_OK;
        }
    }
    return DP_EINVAL;
}

const char *dp_job_state_name(dp_job_state s)
{
    if ((unsigned)s >= sizeof state_names / sizeof state_names[0])
        return "unknown";
    return state_names[s];
}

int dp_job_state_parse(const char *s, dp_job_state *out)
{
    for (size_t i = 0; s != NULL && i < sizeof state_names / sizeof state_names[0]; i++) {
        if (strcmp(s, state_names[i]) == 0) {
            *out = (dp_job_state)i;
            return DP_OK;
        }
    }
    return DP_EINVAL;
}

int dp_job_state_terminal(dp_job_state s)
{
    return s == DP_JOB_COMPLETED || s == DP_JOB_FAILED || s == DP_JOB_CANCELLED;
}

void dp_test_case_free(dp_test_case *tc)
{
    if (tc == NULL)
        return;
    free(tc->name);
    free(tc->stdin_data);
    free(tc->expected_stdout);
    memset(tc, 0, sizeof *tc);
}

void dp_test_result_free(dp_test_result *tr)
{
    if (tr == NULL)
        return;
    free(tr->name);
    free(tr->stdout_excerpt);
    free(tr->stderr_excerpt);
    free(tr->message);
    memset(tr, 0, sizeof *tr);
}

void dp_job_spec_free(dp_job_spec *spec)
{
    if (spec == NULL)
        return;
    free(spec->job_id);
    free(spec->profile);
    free(spec->archive);
    free(spec->archive_sha256);
    free(spec->submission_id);
    free(spec->callback_url);
    for (size_t i = 0; i < spec->n_tests; i++)
        dp_test_case_free(&spec->tests[i]);
    free(spec->tests);
    for (size_t i = 0; i < spec->n_labels; i++)
        free(spec->labels[i]);
    free(spec->labels);
    memset(spec, 0, sizeof *spec);
}

void dp_job_result_free(dp_job_result *res)
{
    if (res == NULL)
        return;
    free(res->job_id);
    free(res->message);
    for (size_t i = 0; i < res->n_tests; i++)
        dp_test_result_free(&res->tests[i]);
    free(res->tests);
    free(res->log);
    memset(res, 0, sizeof *res);
}

void dp_job_view_free(dp_job_view *v)
{
    if (v == NULL)
        return;
    free(v->job_id);
    free(v->submission_id);
    free(v->profile);
    free(v->runner_id);
    free(v->message);
    for (size_t i = 0; i < v->n_tests; i++)
        dp_test_result_free(&v->tests[i]);
    free(v->tests);
    free(v->log_url);
    free(v->created_at);
    free(v->started_at);
    free(v->callback_state);
    free(v->callback_error);
    free(v->labels);
    free(v->priority);
    free(v->finished_at);
    memset(v, 0, sizeof *v);
}

void dp_runner_info_free(dp_runner_info *r)
{
    if (r == NULL)
        return;
    free(r->runner_id);
    free(r->name);
    for (size_t i = 0; i < r->n_labels; i++)
        free(r->labels[i]);
    free(r->labels);
    free(r->version);
    free(r->last_seen);
    memset(r, 0, sizeof *r);
}

/* Random bytes for ids from a per-thread pool filled ~100 ids at a time: one
 * getrandom per id was 3.6 % of dispatchd's CPU in the no-op bench (the
 * submitter makes one id per job; a syscall is dear on a VM). The pool
 * holds nothing secret (ids are names, not keys: keys use dp_random_bytes
 * directly). A forked child empties its copy (pthread_atfork), so it never
 * repeats its parent's ids. */
static _Thread_local uint8_t id_pool[1024];
static _Thread_local size_t id_pool_left;
static pthread_once_t id_pool_once = PTHREAD_ONCE_INIT;

static void id_pool_forget(void)
{
    id_pool_left = 0; /* the forking thread's pool, the child's only thread */
}

static void id_pool_register(void)
{
    (void)pthread_atfork(NULL, NULL, id_pool_forget);
}

static int id_random(uint8_t *out, size_t n)
{
    (void)pthread_once(&id_pool_once, id_pool_register);
    if (id_pool_left < n) {
        if (dp_random_bytes(id_pool, sizeof id_pool) != 0)
            return -1;
        id_pool_left = sizeof id_pool;
    }
    id_pool_left -= n;
    memcpy(out, id_pool + id_pool_left, n); /* from the top: each byte once */
    return 0;
}

int dp_new_id(const char *prefix, char *out, size_t out_len)
{
    uint8_t raw[16];
    size_t plen = strlen(prefix);
    if (out_len < plen + 33 || id_random(raw + 6, sizeof raw - 6) != 0)
        return -1;
    /* The wall clock's milliseconds, big-endian, first (dp_new_id in job.h). */
    uint64_t ms = (uint64_t)dp_wall_ms();
    for (int i = 5; i >= 0; i--, ms >>= 8)
        raw[i] = (uint8_t)ms;
    memcpy(out, prefix, plen);
    dp_hex_encode(raw, sizeof raw, out + plen);
    return 0;
}

void dp_queue_stats_free(dp_queue_stats *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_queues; i++) {
        free(s->queues[i].profile);
        free(s->queues[i].labels);
        free(s->queues[i].priority);
    }
    free(s->queues);
    s->queues = NULL;
    s->n_queues = 0;
}

static const char *const dp_priority_names[] = {"normal", "high", "low"};

const char *dp_priority_name(uint32_t p)
{
    return p < 3 ? dp_priority_names[p] : NULL;
}

int dp_priority_parse(const char *s, uint32_t *out)
{
    for (uint32_t i = 0; s != NULL && i < 3; i++)
        if (strcmp(s, dp_priority_names[i]) == 0) {
            *out = i;
            return DP_OK;
        }
    return DP_EINVAL;
}

int dp_label_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > DP_LABEL_MAX || !isalnum((unsigned char)s[0]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && strchr("_.-", s[i]) == NULL)
            return 0;
    return 1;
}
