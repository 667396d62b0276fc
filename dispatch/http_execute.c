/* POST /execute (docs/api.md): the executor-service call users already
 * make. {"language","source","tests":[{"stdin","expectedStdout","timeoutMs"}]}
 * becomes a job with the source as an inline file of the language's profile,
 * submitted and waited for like GET /api/v1/jobs/{id}/wait (no thread
 * waits), then answered as {"jobId","ok","results":[...]}; 504 with the job
 * id when it runs past the wait (30 s plus the tests' timeouts, at most
 * 120 s; `?wait=S` asks for less). */
#include "dispatch/http_impl.h"

#include "common/clock.h"
#include "common/job_json.h"
#include "dispatch/http_inline.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXEC_POLL_MS 500 /* events wake it sooner (http_wake_parked) */

static json_t *result_of(const dp_job_view *job, size_t i, json_t *want)
{
    json_t *expected = json_object_get(want, "expectedStdout");
    if (i >= job->n_tests) /* not run: a compile error, a bad spec */
        return json_pack("{s:s,s:s,s:n,s:b,s:n,s:O,s:b}", "stdout", "", "stderr",
                         job->message != NULL ? job->message : "", "exitCode", "timedOut", 0,
                         "signal", "expectedStdout", expected != NULL ? expected : json_null(),
                         "passed", 0);
    const dp_test_result *t = &job->tests[i];
    const char *sig = t->signal > 0 ? sigabbrev_np(t->signal) : NULL;
    char signame[32];
    snprintf(signame, sizeof signame, "SIG%s", sig != NULL ? sig : "?");
    json_t *o = json_object();
    json_object_set_new(
        o, "stdout",
        dp_json_string_lossy(t->stdout_excerpt != NULL ? t->stdout_excerpt : "",
                             t->stdout_excerpt != NULL ? strlen(t->stdout_excerpt) : 0));
    json_object_set_new(
        o, "stderr",
        dp_json_string_lossy(t->stderr_excerpt != NULL ? t->stderr_excerpt : "",
                             t->stderr_excerpt != NULL ? strlen(t->stderr_excerpt) : 0));
    json_object_set_new(o, "exitCode",
                        t->exit_code >= 0 ? json_integer(t->exit_code) : json_null());
    json_object_set_new(o, "timedOut", json_boolean(t->verdict == DP_VERDICT_TLE));
    json_object_set_new(o, "signal", t->signal > 0 ? json_string(signame) : json_null());
    json_object_set_new(o, "expectedStdout",
                        expected != NULL ? json_incref(expected) : json_null());
    json_object_set_new(o, "passed", json_boolean(t->verdict == DP_VERDICT_AC));
    json_object_set_new(o, "verdict", json_string(dp_verdict_name(t->verdict)));
    json_object_set_new(o, "timeMs", json_integer(t->time_ms));
    json_object_set_new(o, "memoryKb", json_integer((json_int_t)t->memory_kb));
    return o;
}

static int answer_results(http_req *r, const dp_job_view *job)
{
    json_t *want = json_object_get(r->scratch, "tests");
    json_t *results = json_array();
    int all = json_array_size(want) > 0;
    for (size_t i = 0; i < json_array_size(want); i++) {
        json_t *res = result_of(job, i, json_array_get(want, i));
        all = all && json_is_true(json_object_get(res, "passed"));
        json_array_append_new(results, res);
    }
    const char *v = dp_verdict_name(job->verdict);
    http_answer_json(r, 200,
                     json_pack("{s:s,s:b,s:o,s:s?,s:s?}", "jobId", job->job_id, "ok", all,
                               "results", results, "verdict", v, "message", job->message));
    return 0;
}

static int on_exec_wait(http_req *r, dp_msg *rep);

static int exec_again(http_req *r)
{
    dp_msg m = {.type = DP_MSG_WAIT};
    m.wait.job_id = r->id;
    return http_forward(r, &m, on_exec_wait);
}

static int on_exec_wait(http_req *r, dp_msg *rep)
{
    if (rep->type != DP_MSG_JOB) {
        http_answer_reply_error(r, rep);
        return 0;
    }
    if (dp_job_state_terminal(rep->job.state))
        return answer_results(r, &rep->job);
    int64_t left = r->deadline_ms - dp_now_ms();
    if (left <= 0) {
        http_answer_json(r, 504,
                         json_pack("{s:{s:s,s:s},s:s}", "error", "code", "timeout", "message",
                                   "the job runs past the wait: ask GET /api/v1/jobs/{id}", "jobId",
                                   r->id));
        return 0;
    }
    return http_park(r, (uint32_t)(left < EXEC_POLL_MS ? left : EXEC_POLL_MS), exec_again);
}

static int on_exec_submitted(http_req *r, dp_msg *rep)
{
    if (rep->type != DP_MSG_SUBMITTED) {
        http_answer_reply_error(r, rep);
        return 0;
    }
    if (rep->submitted.n_items != 1 || rep->submitted.items[0].job_id == NULL) {
        if (rep->submitted.n_items == 1)
            http_answer_item_error(r, &rep->submitted.items[0]); /* quota: 429 */
        else
            http_answer_error(r, 503, "unavailable", "refused");
        return 0;
    }
    snprintf(r->id, sizeof r->id, "%s", rep->submitted.items[0].job_id);
    return exec_again(r);
}

void http_execute(http_req *r)
{
    json_error_t jerr;
    json_t *doc = json_loadb(r->body != NULL ? r->body : "", r->len, 0, &jerr);
    const char *w = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "wait");
    char *end = NULL;
    long asked = w != NULL ? strtol(w, &end, 10) : 0;
    if (w != NULL &&
        (*w == '\0' || *end != '\0' || asked < 1 || asked > HTTP_EXEC_WAIT_MAX_MS / 1000)) {
        http_answer_error(r, 400, "invalid", "wait: want whole seconds 1..%d, got '%.40s'",
                          HTTP_EXEC_WAIT_MAX_MS / 1000, w);
    } else if (doc == NULL || !json_is_object(doc)) {
        http_answer_error(r, 400, "invalid", "body: not a JSON object (%s)", jerr.text);
    } else {
        dp_err err = {0};
        int64_t wait_ms = 0;
        json_t *spec = NULL;
        dp_job_spec js = {0};
        http_uploads up = {0};
        int rc = http_execute_spec(doc, &spec, &wait_ms, &err);
        if (rc == DP_OK)
            rc = http_inline_spec(spec, r->srv->store, &up, r->srv->max_inline, "", &js, &err);
        json_decref(spec);
        if (rc != DP_OK) {
            http_answer_error(r, rc == DP_EUNAVAIL ? 503 : 400, dp_code_name(rc), "%s", err.msg);
        } else {
            r->scratch = json_pack("{s:O}", "tests", json_object_get(doc, "tests"));
            r->deadline_ms = dp_now_ms() + (asked > 0 ? asked * 1000 : wait_ms);
            dp_msg m = {.type = DP_MSG_SUBMIT};
            m.submit.specs = &js;
            m.submit.n_specs = 1;
            http_forward_stored(r, &up, &m, on_exec_submitted);
            dp_job_spec_free(&js);
        }
        http_uploads_free(&up);
    }
    json_decref(doc);
}
