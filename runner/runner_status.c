#include "runner/runner_status.h"

#include "common/clock.h"
#include "runner/runner_link.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RS_MAX_SLOTS 1024

const dp_metric_desc runner_metric_descs[] = {
    {"dispatch_runner_build_info", DP_METRIC_GAUGE,
     "The running dispatch-runner's version (always 1)."},
    {"dispatch_runner_registered", DP_METRIC_GAUGE,
     "1 while the runner is registered with a dispatcher."},
    {"dispatch_runner_link_info", DP_METRIC_GAUGE,
     "The dispatcher URL the runner uses now (always 1)."},
    {"dispatch_runner_link_changes_total", DP_METRIC_COUNTER,
     "Registrations gained or lost (dispatcher restarts, failovers)."},
    {"dispatch_runner_slots", DP_METRIC_GAUGE, "Executor slots (RUNNER_CONCURRENCY)."},
    {"dispatch_runner_slots_busy", DP_METRIC_GAUGE, "Slots running a job now."},
    {"dispatch_runner_jobs_total", DP_METRIC_COUNTER, "Jobs this runner judged, by verdict."},
    {"dispatch_runner_sandbox_duration_seconds", DP_METRIC_HIST,
     "Per job: time in the sandbox (compile and every test)."},
    {"dispatch_runner_fetch_duration_seconds", DP_METRIC_HIST, "Archive downloads."},
    {"dispatch_runner_fetch_bytes_total", DP_METRIC_COUNTER, "Archive bytes downloaded."},
};
const size_t runner_n_metric_descs = sizeof runner_metric_descs / sizeof runner_metric_descs[0];

typedef struct {
    dp_metrics *m;
    uint32_t slots;
    uint8_t *busy; /* per slot index */
    int registered;
    char urls[RUNNER_LINK_LIST_MAX];
    int64_t started_ms;
} rs_state;

enum { RS_STARTED = 'S', RS_DONE = 'D', RS_LINK = 'L' };

static void tell(actor *status, char kind, uint32_t arg, const void *extra, size_t extra_len)
{
    if (status == NULL)
        return;
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, 0) != 0)
        return;
    if (nng_msg_append(m, &kind, 1) != 0 || nng_msg_append(m, &arg, sizeof arg) != 0 ||
        (extra_len > 0 && nng_msg_append(m, extra, extra_len) != 0)) {
        nng_msg_free(m);
        return;
    }
    actor_send(status, m, 1000, NULL); /* best effort: a lost count is not worth a stall */
}

void runner_status_job_started(actor *status, uint32_t slot)
{
    tell(status, RS_STARTED, slot, NULL, 0);
}

void runner_status_job_done(actor *status, uint32_t slot, const dp_metrics *job)
{
    size_t len = 0;
    const void *snap = dp_metrics_snapshot(job, &len);
    tell(status, RS_DONE, slot, snap, len);
}

void runner_status_link(actor *status, int registered)
{
    tell(status, RS_LINK, registered != 0, NULL, 0);
}

static int render(rs_state *s, char **text, size_t *len)
{
    char l[DP_METRICS_LABELS_MAX], url[RUNNER_LINK_LIST_MAX];
    uint32_t busy = 0;
    for (uint32_t i = 0; i < s->slots; i++)
        busy += s->busy[i];
    dp_metrics_set(s->m, "dispatch_runner_build_info",
                   dp_metrics_labels(l, sizeof l, "version", DP_VERSION, (char *)NULL), 1);
    dp_metrics_set(s->m, "dispatch_runner_registered", "", s->registered);
    runner_link_current(s->urls, url, sizeof url);
    /* one series: the URL in use now (older ones are dropped with a reset of the gauge) */
    for (size_t i = 0; i < s->m->n; i++)
        if (strcmp(s->m->s[i].name, "dispatch_runner_link_info") == 0)
            s->m->s[i].value = 0;
    dp_metrics_set(s->m, "dispatch_runner_link_info",
                   dp_metrics_labels(l, sizeof l, "url", url, (char *)NULL), 1);
    dp_metrics_set(s->m, "dispatch_runner_slots", "", s->slots);
    dp_metrics_set(s->m, "dispatch_runner_slots_busy", "", busy);
    return dp_metrics_render(s->m, runner_metric_descs, runner_n_metric_descs, text, len);
}

static int rs_handle(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    rs_state *s = state;
    (void)ctx;
    size_t n = nng_msg_len(msg);
    const uint8_t *b = nng_msg_body(msg);
    char kind = n > 0 ? (char)b[0] : 0;
    uint32_t arg = 0;
    if (n >= 1 + sizeof arg)
        memcpy(&arg, b + 1, sizeof arg);
    if (reply == NULL) { /* pushed by the runner's actors */
        if (kind == RS_STARTED && arg < s->slots)
            s->busy[arg] = 1;
        else if (kind == RS_DONE && n >= 5 && arg < s->slots) {
            s->busy[arg] = 0;
            dp_metrics_merge(s->m, b + 5, n - 5, NULL);
        } else if (kind == RS_LINK && n >= 5) {
            if (s->registered != (int)arg)
                dp_metrics_inc(s->m, "dispatch_runner_link_changes_total", "", 1);
            s->registered = (int)arg;
        }
        nng_msg_free(msg);
        return 0;
    }
    nng_msg_free(msg);
    char *text = NULL;
    size_t len = 0;
    uint8_t ok = 1;
    int rc = DP_OK;
    if (kind == 'm')
        rc = render(s, &text, &len);
    else if (kind == 'r') {
        ok = (uint8_t)(s->registered != 0);
        rc = dp_metrics_appendf(&text, &len, "%s\n",
                                ok ? "ready" : "not ready: not registered with a dispatcher");
    } else
        rc = dp_metrics_appendf(&text, &len, "ok\n");
    if (rc != DP_OK || nng_msg_alloc(reply, 0) != 0 || nng_msg_append(*reply, &ok, 1) != 0 ||
        nng_msg_append(*reply, text, len) != 0) {
        if (*reply != NULL)
            nng_msg_free(*reply);
        *reply = NULL;
        free(text);
        return DP_ENOMEM;
    }
    free(text);
    return 0;
}

int runner_status_query(actor *status, char kind, char **text, size_t *len, int *ok, dp_err *err)
{
    nng_msg *q = NULL, *r = NULL;
    *text = NULL;
    *len = 0;
    *ok = 0;
    if (nng_msg_alloc(&q, 0) != 0)
        return dp_err_set(err, DP_ENOMEM, "out of memory");
    if (nng_msg_append(q, &kind, 1) != 0) {
        nng_msg_free(q);
        return dp_err_set(err, DP_ENOMEM, "out of memory");
    }
    int rc = actor_call(status, q, &r, 2000, err);
    if (rc != 0)
        return rc;
    size_t n = nng_msg_len(r);
    if (n < 1 || (*text = malloc(n)) == NULL) {
        nng_msg_free(r);
        return dp_err_set(err, DP_ENOMEM, "status: empty or unallocated reply");
    }
    *ok = ((uint8_t *)nng_msg_body(r))[0];
    memcpy(*text, (uint8_t *)nng_msg_body(r) + 1, n - 1);
    (*text)[n - 1] = '\0';
    *len = n - 1;
    nng_msg_free(r);
    return DP_OK;
}

static void rs_stop(void *state, actor_ctx *ctx)
{
    rs_state *s = state;
    (void)ctx;
    dp_metrics_free(s->m);
    free(s->busy);
    free(s);
}

actor *runner_status_spawn(uint32_t slots, const char *dispatch_urls, dp_err *err)
{
    rs_state *s = calloc(1, sizeof *s);
    if (s == NULL || slots > RS_MAX_SLOTS || (s->m = dp_metrics_new()) == NULL ||
        (s->busy = calloc(slots ? slots : 1, 1)) == NULL) {
        if (s != NULL) {
            dp_metrics_free(s->m);
            free(s);
        }
        dp_err_set(err, DP_ENOMEM, "runner status: out of memory or too many slots");
        return NULL;
    }
    s->slots = slots;
    snprintf(s->urls, sizeof s->urls, "%s", dispatch_urls);
    s->started_ms = dp_now_ms();
    /* series an alert may look for exist from the start */
    dp_metrics_inc(s->m, "dispatch_runner_link_changes_total", "", 0);
    dp_metrics_inc(s->m, "dispatch_runner_fetch_bytes_total", "", 0);
    dp_metrics_hist(s->m, "dispatch_runner_sandbox_duration_seconds", "");
    dp_metrics_hist(s->m, "dispatch_runner_fetch_duration_seconds", "");
    actor_opts o = {
        .name = "runner-status",
        .state = s,
        .handler = rs_handle,
        .on_stop = rs_stop,
        .mailbox = 1024,
    };
    return actor_spawn_owned(&o, err);
}
