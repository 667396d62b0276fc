/* The HTTP API's routes (docs/api.md): JSON in, the same messages
 * dispatchctl sends, JSON out. No route decides anything a domain actor
 * decides: the reporter checks specs and ownership, the gateway checks keys. */
#include "dispatch/http_impl.h"

#include "common/clock.h"
#include "common/job_json.h"
#include "dispatch/http_events.h"
#include "dispatch/http_inline.h"
#include "dispatch/http_runners.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_WAIT_DEFAULT_S 30
#define HTTP_WAIT_MAX_S 300
/* Long-poll: the job's events wake a waiting request at once; the re-ask
 * timer (100 ms doubling to 2 s) covers events lost (best effort) or
 * published by another replica. */
#define HTTP_POLL_FIRST_MS 100
#define HTTP_POLL_MAX_MS 2000

static void healthz(http_req *r)
{
    http_ask_status(r, 'h');
}

static void metrics(http_req *r)
{
    http_ask_status(r, 'm');
}

/* Readiness (Redis and PostgreSQL answer, migrations applied): 503 with the
 * reason otherwise; /healthz is liveness. */
static void readyz(http_req *r)
{
    http_ask_status(r, 'r');
}

/* ---- one job ---- */

static int answer_job(http_req *r, dp_msg *rep, unsigned status)
{
    if (rep->type != DP_MSG_JOB) {
        http_answer_reply_error(r, rep);
        return 0;
    }
    http_answer_json(r, status, dp_job_view_to_json(&rep->job));
    return 0;
}

static int on_job(http_req *r, dp_msg *rep)
{
    return answer_job(r, rep, 200);
}

static int on_job_created(http_req *r, dp_msg *rep)
{
    return answer_job(r, rep, 201);
}

static int ask_job(http_req *r, const char *id, http_reply_fn then)
{
    dp_msg m = {.type = DP_MSG_STATUS};
    m.status.job_id = (char *)id;
    return http_forward(r, &m, then);
}

static void get_job(http_req *r)
{
    ask_job(r, r->id, on_job);
}

static int on_cancelled(http_req *r, dp_msg *rep)
{
    if (rep->type != DP_MSG_ACK) {
        http_answer_reply_error(r, rep);
        return 0;
    }
    return ask_job(r, r->id, on_job);
}

static void cancel_job(http_req *r)
{
    dp_msg m = {.type = DP_MSG_CANCEL};
    m.cancel.job_id = r->id;
    http_forward(r, &m, on_cancelled);
}

/* The job's log: read from a file:// log store (a local file, at most
 * DP_MSG_MAX_LOG bytes: the runner caps it); on an http(s) store a 302 to
 * the object, presigned (SigV4, DISPATCH_LOG_URL_EXPIRY_S) when the store
 * has credentials: the log never passes through dispatchd. */
static int on_log_job(http_req *r, dp_msg *rep)
{
    if (rep->type != DP_MSG_JOB) {
        http_answer_reply_error(r, rep);
        return 0;
    }
    const char *url = rep->job.log_url;
    if (url == NULL) {
        http_answer_error(r, 404, "not_found", "job %s has no log yet", r->id);
        return 0;
    }
    if (strncmp(url, "file://", 7) != 0) {
        char signed_url[8192];
        dp_err err = {0};
        if (!logstore_signed(r->srv->store))
            http_answer_redirect(r, url); /* a store read without a signature */
        else if (logstore_presign_get(r->srv->store, url, r->srv->log_url_expiry_s, signed_url,
                                      sizeof signed_url, &err) == DP_OK)
            http_answer_redirect(r, signed_url);
        else
            http_answer_error(r, 500, "internal", "job %s: its log URL: %s", r->id, err.msg);
        return 0;
    }
    FILE *f = fopen(url + 7, "rb");
    char *buf = f != NULL ? malloc(DP_MSG_MAX_LOG + 1) : NULL;
    size_t n = buf != NULL ? fread(buf, 1, DP_MSG_MAX_LOG, f) : 0;
    if (f != NULL)
        fclose(f);
    if (buf == NULL)
        http_answer_error(r, 404, "not_found", "job %s: its log is gone", r->id);
    else
        http_answer_text(r, 200, "text/plain; charset=utf-8", buf, n);
    free(buf);
    return 0;
}

static void get_log(http_req *r)
{
    ask_job(r, r->id, on_log_job);
}

static void requeue_job(http_req *r)
{
    dp_msg m = {.type = DP_MSG_REQUEUE};
    m.requeue.job_id = r->id;
    http_forward(r, &m, on_cancelled); /* ack, then the job as it is now */
}

/* ---- long-poll: ask, and while not terminal and before the deadline, ask
 * again later; the connection stays suspended meanwhile (no thread). ---- */

static int on_wait(http_req *r, dp_msg *rep);

static int wait_again(http_req *r)
{
    dp_msg m = {.type = DP_MSG_WAIT};
    m.wait.job_id = r->id;
    return http_forward(r, &m, on_wait);
}

static int on_wait(http_req *r, dp_msg *rep)
{
    int64_t left = r->deadline_ms - dp_now_ms();
    if (rep->type != DP_MSG_JOB || dp_job_state_terminal(rep->job.state) || left <= 0)
        return answer_job(r, rep, 200);
    uint32_t step = r->poll_ms;
    r->poll_ms = step * 2 > HTTP_POLL_MAX_MS ? HTTP_POLL_MAX_MS : step * 2;
    /* wake at the deadline, not after */
    return http_park(r, (uint32_t)(left < step ? left : step), wait_again);
}

static void wait_job(http_req *r)
{
    const char *t = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "timeout");
    long secs = HTTP_WAIT_DEFAULT_S;
    if (t != NULL) {
        char *end = NULL;
        secs = strtol(t, &end, 10);
        if (*t == '\0' || *end != '\0' || secs < 0 || secs > HTTP_WAIT_MAX_S) {
            http_answer_error(r, 400, "invalid", "timeout: want whole seconds 0..%d, got '%.40s'",
                              HTTP_WAIT_MAX_S, t);
            return;
        }
    }
    r->deadline_ms = dp_now_ms() + secs * 1000;
    r->poll_ms = HTTP_POLL_FIRST_MS;
    wait_again(r);
}

/* ---- submit: one spec (201 + the job) or an array (per-item id or error) ---- */

static int on_submitted(http_req *r, dp_msg *rep)
{
    if (rep->type != DP_MSG_SUBMITTED) {
        http_answer_reply_error(r, rep);
        return 0;
    }
    json_t *items = json_object_get(r->scratch, "items"); /* index -> item; accepted ones pending */
    json_t *sent = json_object_get(r->scratch, "sent");   /* submit position -> item index */
    for (size_t i = 0; i < rep->submitted.n_items; i++) {
        const dp_submit_item *it = &rep->submitted.items[i];
        json_t *idx = json_array_get(sent, it->index);
        json_t *item = idx != NULL ? json_array_get(items, (size_t)json_integer_value(idx)) : NULL;
        if (item == NULL)
            continue;
        /* What we forward passed the same spec check the reporter makes
         * (dp_job_spec_check), so a refusal here is the server's: PostgreSQL
         * down, no job id. */
        if (it->job_id != NULL && it->warning != NULL)
            json_object_set_new(item, "warning", json_string(it->warning));
        if (it->job_id != NULL)
            json_object_set_new(item, "id", json_string(it->job_id));
        else
            json_object_set_new(item, "error",
                                json_pack("{s:s,s:s}", "code",
                                          it->code != NULL ? it->code : "unavailable", "message",
                                          it->error != NULL ? it->error : "refused"));
        if (it->job_id == NULL && it->code != NULL && strcmp(it->code, DP_MSG_ERR_QUOTA) == 0 &&
            (r->retry_after == 0 || it->retry_s < r->retry_after))
            r->retry_after = it->retry_s > 0 ? it->retry_s : 1; /* the soonest retry */
    }
    if (json_is_true(json_object_get(r->scratch, "single"))) {
        json_t *item = json_array_get(items, 0);
        if (json_object_get(item, "error") != NULL) {
            http_answer_item_error(r, &rep->submitted.items[0]);
            return 0;
        }
        return ask_job(r, json_string_value(json_object_get(item, "id")), on_job_created);
    }
    size_t ok = 0, idx;
    json_t *item;
    json_array_foreach(items, idx, item) ok += json_object_get(item, "id") != NULL;
    if (ok > 0)
        r->retry_after = 0; /* 201: the refused items carry their own code */
    http_answer_json(r,
                     ok > 0               ? 201
                     : r->retry_after > 0 ? 429
                                          : 503,
                     json_pack("{s:O,s:I,s:I}", "items", items, "accepted", (json_int_t)ok,
                               "refused", (json_int_t)(json_array_size(items) - ok)));
    return 0;
}

static void submit(http_req *r)
{
    json_error_t jerr;
    json_t *doc = json_loadb(r->body != NULL ? r->body : "", r->len, 0, &jerr);
    if (doc == NULL) {
        http_answer_error(r, 400, "invalid", "body: not JSON (line %d: %s)", jerr.line, jerr.text);
        return;
    }
    int single = json_is_object(doc);
    size_t n = single ? 1 : json_array_size(doc);
    if (!single && (!json_is_array(doc) || n == 0 || n > DP_SPEC_BATCH_MAX)) {
        json_decref(doc);
        http_answer_error(r, 400, "invalid", "body: want a job spec or an array of 1..%d",
                          DP_SPEC_BATCH_MAX);
        return;
    }
    dp_job_spec *specs = calloc(n, sizeof *specs);
    r->scratch = json_pack("{s:b,s:[],s:[]}", "single", single, "items", "sent");
    if (specs == NULL || r->scratch == NULL) {
        free(specs);
        json_decref(doc);
        http_answer_error(r, 500, "internal", "out of memory");
        return;
    }
    json_t *items = json_object_get(r->scratch, "items"),
           *sent = json_object_get(r->scratch, "sent");
    size_t k = 0;
    http_uploads up = {0};
    for (size_t i = 0; i < n; i++) {
        const json_t *obj = single ? doc : json_array_get(doc, i);
        dp_err err = {0};
        json_t *item = json_pack("{s:I}", "index", (json_int_t)i);
        int rc = http_inline_spec((json_t *)obj, r->srv->store, &up, r->srv->max_inline, "",
                                  &specs[k], &err);
        if (rc == DP_ENOMEM) {
            json_decref(item);
            json_decref(doc);
            dp_job_specs_free(specs, k);
            http_uploads_free(&up);
            http_answer_error(r, 500, "internal", "out of memory");
            return;
        }
        if (rc == DP_OK) {
            json_array_append_new(sent, json_integer((json_int_t)i));
            k++;
        } else {
            json_object_set_new(item, "error",
                                json_pack("{s:s,s:s}", "code", "invalid", "message", err.msg));
        }
        json_array_append_new(items, item);
    }
    json_decref(doc);
    if (k == 0) {
        free(specs);
        http_uploads_free(&up);
        if (single) {
            json_t *e = json_object_get(json_array_get(items, 0), "error");
            http_answer_error(r, 400, "invalid", "%s",
                              json_string_value(json_object_get(e, "message")));
        } else {
            http_answer_json(r, 400,
                             json_pack("{s:{s:s,s:s},s:O}", "error", "code", "invalid", "message",
                                       "no item of the batch is a valid job spec", "items", items));
        }
        return;
    }
    dp_msg m = {.type = DP_MSG_SUBMIT};
    m.submit.specs = specs;
    m.submit.n_specs = k;
    /* inline files are stored first, off this thread; a store that fails
     * refuses the whole request (503): nothing half-submitted */
    http_forward_stored(r, &up, &m, on_submitted);
    http_uploads_free(&up);
    dp_job_specs_free(specs, k);
}

/* ---- the queue and the runners ---- */

static int on_queue(http_req *r, dp_msg *rep)
{
    if (rep->type != DP_MSG_QUEUE_STATS)
        http_answer_reply_error(r, rep);
    else
        http_answer_json(r, 200, dp_queue_stats_to_json(&rep->queue_stats));
    return 0;
}

static void get_queue(http_req *r)
{
    dp_msg m = {.type = DP_MSG_QUEUE};
    http_forward(r, &m, on_queue);
}

static int on_runners(http_req *r, dp_msg *rep)
{
    if (rep->type != DP_MSG_RUNNERS) {
        http_answer_reply_error(r, rep);
        return 0;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < rep->runners.n_runners; i++)
        json_array_append_new(arr, dp_runner_info_to_json(&rep->runners.runners[i]));
    http_answer_json(r, 200, json_pack("{s:o}", "runners", arr));
    return 0;
}

static int on_drained(http_req *r, dp_msg *rep)
{
    if (rep->type != DP_MSG_ACK)
        http_answer_reply_error(r, rep);
    else
        http_answer_json(r, 200, json_pack("{s:s,s:b}", "runner_id", r->id, "draining", 1));
    return 0;
}

static void drain_runner(http_req *r)
{
    dp_msg m = {.type = DP_MSG_DRAIN};
    m.drain.runner_id = r->id;
    http_forward(r, &m, on_drained);
}

static void get_runners(http_req *r)
{
    dp_msg m = {.type = DP_MSG_LIST_RUNNERS};
    http_forward(r, &m, on_runners);
}

/* GET /api/v1: the routes this server serves (the OpenAPI test compares
 * docs/openapi.yaml with it); public, like /healthz. */
static void list_routes(http_req *r)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < http_n_routes; i++)
        json_array_append_new(arr, json_pack("{s:s,s:s}", "method", http_routes[i].method, "path",
                                             http_routes[i].pattern));
    http_answer_json(r, 200, json_pack("{s:o}", "routes", arr));
}

const http_route http_routes[] = {
    {"GET", "/", http_static_index, 0, 0, 0},
    {"GET", "/ui/{id}", http_static_file, 0, 0, 0},
    {"GET", "/api/v1", list_routes, 0, 0, 0},
    {"GET", "/healthz", healthz, 0, 0, 0},
    {"GET", "/metrics", metrics, 0, 0, 0},
    {"POST", "/api/v1/jobs", submit, 1, 0, 0},
    {"GET", "/api/v1/jobs/{id}", get_job, 0, 0, 0},
    {"POST", "/api/v1/jobs/{id}/cancel", cancel_job, 0, 0, 0},
    {"GET", "/api/v1/jobs/{id}/wait", wait_job, 0, 0, 1},
    {"POST", "/api/v1/jobs/{id}/requeue", requeue_job, 0, 0, 0},
    {"GET", "/api/v1/jobs/{id}/log", get_log, 0, 0, 0},
    {"GET", "/api/v1/queue", get_queue, 0, 0, 0},
    {"GET", "/api/v1/runners", get_runners, 0, 0, 0},
    {"POST", "/api/v1/runners/{id}/drain", drain_runner, 0, 0, 0},
    {"POST", "/execute", http_execute, 1, 0, 1},
    {"GET", "/api/v1/events", http_events_all, 0, 1, 1},
    {"GET", "/api/v1/jobs/{id}/events", http_events_job, 0, 1, 1},
    /* runners over HTTP (dispatch/http_runners.h): a runner token (checked by the
     * route), never an API key */
    {"POST", "/api/v1/runners/register", http_runner_register, 1, 0, 0},
    {"POST", "/api/v1/runners/{id}/heartbeat", http_runner_heartbeat, 0, 0, 0},
    {"GET", "/api/v1/runners/{id}/next-job", http_runner_next_job, 0, 0, 0},
    {"PUT", "/api/v1/runners/{id}/jobs/{job}/complete", http_runner_complete, 1, 0, 0},
    {"POST", "/api/v1/runners/{id}/deregister", http_runner_deregister, 0, 0, 0},
    {"GET", "/readyz", readyz, 0, 0, 0},
    {"GET", "/api/v1/jobs", http_list_jobs, 0, 0, 0},
    {"GET", "/api/v1/profiles", http_list_profiles, 0, 0, 0},
};
const size_t http_n_routes = sizeof http_routes / sizeof http_routes[0];
