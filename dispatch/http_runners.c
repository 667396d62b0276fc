/* Runners over HTTP (dispatch/http_runners.h, docs/api.md): each route is
 * the nng runner message, sent to gateway-runner; the answers map to HTTP
 * statuses. Nothing here decides what the registrar, leaser or reporter
 * decide. */
#include "dispatch/http_runners.h"

#include "common/job_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* next-job's wait: the leaser caps it further at DISPATCH_LEASE_WAIT_MAX_MS. */
#define RUNNER_WAIT_DEFAULT_S 30
#define RUNNER_WAIT_MAX_S 300
/* Beyond the wait, how long the leaser's answer may take (as the job feeder). */
#define RUNNER_CALL_SLACK_MS 10000

static int send_runner_msg(http_req *r, dp_msg *m, int timeout_ms, http_reply_fn then)
{
    return http_forward_via(r, r->srv->runners, timeout_ms, m, then);
}

/* Refusals: `unknown_runner` (never registered, reaped, deregistered) is
 * 410 telling the runner to register again; the rest as for every route
 * (unauthorized 401, invalid 400, conflict 409, not_found 404, 503). */
static int answer_refusal(http_req *r, const dp_msg *rep)
{
    if (rep->type == DP_MSG_ERROR && rep->error.code != NULL &&
        strcmp(rep->error.code, DP_MSG_ERR_UNKNOWN_RUNNER) == 0)
        http_answer_error(r, 410, DP_MSG_ERR_UNKNOWN_RUNNER,
                          "runner %s is not registered (unknown, reaped after missing heartbeats, "
                          "or deregistered): register again with POST /api/v1/runners/register",
                          r->id);
    else
        http_answer_reply_error(r, rep);
    return 0;
}

/* The runner token the registration handed out, as the bearer credential:
 * whether it is this runner's is the registrar's, leaser's or reporter's
 * word (the same token cache as for nng runners). */
static int has_token(http_req *r)
{
    if (r->key[0] != '\0')
        return 1;
    http_answer_error(r, 401, "unauthorized",
                      "Authorization: want 'Bearer RUNNER_TOKEN' (from the registration)");
    return 0;
}

static json_t *parse_body(http_req *r)
{
    json_error_t jerr;
    json_t *doc = json_loadb(r->body != NULL ? r->body : "", r->len, 0, &jerr);
    if (doc == NULL)
        http_answer_error(r, 400, "invalid", "body: not JSON (line %d: %s)", jerr.line, jerr.text);
    return doc;
}

/* ---- POST /api/v1/runners/register ---- */

static int on_registered(http_req *r, dp_msg *rep)
{
    if (rep->type != DP_MSG_REGISTERED)
        return answer_refusal(r, rep);
    const dp_msg_registered *g = &rep->registered;
    http_answer_json(r, 201,
                     json_pack("{s:s,s:s,s:I,s:I}", "runner_id", g->runner_id, "runner_token",
                               g->runner_token, "heartbeat_ms", (json_int_t)g->heartbeat_ms,
                               "alive_ttl_ms", (json_int_t)g->alive_ttl_ms));
    return 0;
}

void http_runner_register(http_req *r)
{
    json_t *doc = parse_body(r);
    if (doc == NULL)
        return;
    dp_msg m = {.type = DP_MSG_REGISTER};
    dp_err err = {0};
    int rc = http_register_from_json(doc, &m.reg, &err);
    json_decref(doc);
    if (rc != DP_OK) {
        http_answer_error(r, rc == DP_EINVAL ? 400 : 500, rc == DP_EINVAL ? "invalid" : "internal",
                          "%s", err.msg);
        return;
    }
    send_runner_msg(r, &m, r->srv->call_timeout_ms, on_registered);
    dp_msg_free(&m);
}

/* ---- POST /api/v1/runners/{id}/heartbeat[?draining=1] ---- */

static int on_heartbeat_ack(http_req *r, dp_msg *rep)
{
    if (rep->type != DP_MSG_ACK)
        return answer_refusal(r, rep);
    http_answer_text(r, 204, "text/plain", "", 0);
    return 0;
}

void http_runner_heartbeat(http_req *r)
{
    if (!has_token(r))
        return;
    const char *d = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "draining");
    dp_msg m = {.type = DP_MSG_HEARTBEAT};
    m.heartbeat.runner_id = r->id;
    m.heartbeat.runner_token = r->key;
    if (d != NULL && strcmp(d, "1") != 0 && strcmp(d, "true") != 0 && strcmp(d, "0") != 0 &&
        strcmp(d, "false") != 0) {
        http_answer_error(r, 400, "invalid", "draining: want 1, true, 0 or false, got '%.40s'", d);
        return;
    }
    m.heartbeat.draining = d != NULL && (strcmp(d, "1") == 0 || strcmp(d, "true") == 0);
    send_runner_msg(r, &m, r->srv->call_timeout_ms, on_heartbeat_ack);
}

/* ---- GET /api/v1/runners/{id}/next-job?wait=S[&request_id=ID] ---- */

static int on_leased(http_req *r, dp_msg *rep)
{
    if (rep->type == DP_MSG_NONE || (rep->type == DP_MSG_LEASED && rep->leased.n_jobs == 0)) {
        http_answer_text(r, 204, "text/plain", "", 0);
        return 0;
    }
    if (rep->type != DP_MSG_LEASED)
        return answer_refusal(r, rep);
    const dp_leased_job *j = &rep->leased.jobs[0]; /* max_jobs is 1 */
    char *spec = NULL;
    size_t spec_len = 0;
    dp_err err = {0};
    if (dp_job_spec_json_text(&j->spec, &spec, &spec_len, &err) != DP_OK) {
        http_answer_error(r, 500, "internal", "job %s: %s", j->job_id, err.msg);
        return 0;
    }
    json_t *out = json_pack("{s:s,s:I,s:s}", "job_id", j->job_id, "attempt", (json_int_t)j->attempt,
                            "archive_url", j->spec.archive);
    if (out != NULL && j->spec.archive_sha256 != NULL)
        json_object_set_new(out, "archive_sha256", json_string(j->spec.archive_sha256));
    http_answer_json_with(r, 200, out, "spec", spec, spec_len);
    free(spec);
    return 0;
}

static int id_safe(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < DP_ID_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

void http_runner_next_job(http_req *r)
{
    if (!has_token(r))
        return;
    const char *w = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "wait");
    const char *req = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "request_id");
    long secs = RUNNER_WAIT_DEFAULT_S;
    if (w != NULL) {
        char *end = NULL;
        secs = strtol(w, &end, 10);
        if (*w == '\0' || *end != '\0' || secs < 0 || secs > RUNNER_WAIT_MAX_S) {
            http_answer_error(r, 400, "invalid", "wait: want whole seconds 0..%d, got '%.40s'",
                              RUNNER_WAIT_MAX_S, w);
            return;
        }
    }
    if (req != NULL && !id_safe(req)) {
        http_answer_error(r, 400, "invalid",
                          "request_id: want 1..%d characters of [A-Za-z0-9_.-], got '%.40s'",
                          DP_ID_MAX - 1, req);
        return;
    }
    dp_msg m = {.type = DP_MSG_LEASE};
    m.lease.runner_id = r->id;
    m.lease.runner_token = r->key;
    m.lease.max_jobs = 1;
    m.lease.wait_ms = (uint32_t)secs * 1000;
    m.lease.request_id = (char *)req;
    /* The connection is suspended meanwhile: a waiting runner costs no thread. */
    send_runner_msg(r, &m, (int)m.lease.wait_ms + RUNNER_CALL_SLACK_MS, on_leased);
}

/* ---- PUT /api/v1/runners/{id}/jobs/{job}/complete ---- */

static int on_complete_ack(http_req *r, dp_msg *rep)
{
    if (rep->type != DP_MSG_ACK)
        return answer_refusal(r, rep);
    http_answer_text(r, 204, "text/plain", "", 0);
    return 0;
}

void http_runner_complete(http_req *r)
{
    if (!has_token(r))
        return;
    json_t *doc = parse_body(r);
    if (doc == NULL)
        return;
    dp_msg m = {.type = DP_MSG_COMPLETE};
    dp_err err = {0};
    int rc = http_result_from_json(doc, r->job, &m.complete.result, &m.complete.retry, &err);
    json_decref(doc);
    if (rc != DP_OK) {
        http_answer_error(r, rc == DP_EINVAL ? 400 : 500, rc == DP_EINVAL ? "invalid" : "internal",
                          "%s", err.msg);
        return;
    }
    m.complete.runner_id = r->id;
    m.complete.runner_token = r->key;
    send_runner_msg(r, &m, r->srv->call_timeout_ms, on_complete_ack);
    m.complete.runner_id = m.complete.runner_token = NULL; /* the request's own */
    dp_msg_free(&m);
}

/* ---- POST /api/v1/runners/{id}/deregister ---- */

static int on_deregistered(http_req *r, dp_msg *rep)
{
    if (rep->type != DP_MSG_ACK)
        return answer_refusal(r, rep);
    http_answer_json(
        r, 200, json_pack("{s:s,s:I}", "runner_id", r->id, "released", (json_int_t)rep->ack.count));
    return 0;
}

void http_runner_deregister(http_req *r)
{
    if (!has_token(r))
        return;
    dp_msg m = {.type = DP_MSG_DEREGISTER};
    m.deregister.runner_id = r->id;
    m.deregister.runner_token = r->key;
    m.deregister.release = true; /* its leased jobs go back to the head of pending now */
    send_runner_msg(r, &m, r->srv->call_timeout_ms, on_deregistered);
}
