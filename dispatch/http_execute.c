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

#define EXEC_WAIT_BASE_MS 30000 /* queueing, fetch, compile */
#define EXEC_WAIT_MAX_MS 120000 /* a client wanting longer submits and waits itself */
#define EXEC_TEST_DEFAULT_MS 5000
#define EXEC_POLL_MS 500 /* events wake it sooner (http_wake_parked) */

static const struct {
    const char *language, *profile, *file;
} exec_languages[] = {
    {"python", "python3", "main.py"},
    {"python3", "python3", "main.py"},
    {"c", "c", "main.c"},
    {"shell", "shell", "test.sh"},
    {"sh", "shell", "test.sh"},
    {"bash", "shell", "test.sh"},
};

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
        http_answer_error(r, 503, "unavailable", "%s", /* the spec passed the same check */
                          rep->submitted.n_items == 1 && rep->submitted.items[0].error != NULL
                              ? rep->submitted.items[0].error
                              : "refused");
        return 0;
    }
    snprintf(r->id, sizeof r->id, "%s", rep->submitted.items[0].job_id);
    return exec_again(r);
}

/* The request's tests -> spec tests; *wait_ms gets the bounded wait. */
static json_t *spec_tests(json_t *tests, int64_t *wait_ms, dp_err *err)
{
    json_t *out = json_array();
    *wait_ms = EXEC_WAIT_BASE_MS;
    size_t i;
    json_t *t;
    json_array_foreach(tests, i, t)
    {
        json_t *in = json_object_get(t, "stdin"), *exp = json_object_get(t, "expectedStdout"),
               *to = json_object_get(t, "timeoutMs");
        char name[32];
        snprintf(name, sizeof name, "test%zu", i + 1);
        json_t *st = json_pack("{s:s}", "name", name);
        if (!json_is_object(t) || (in != NULL && !json_is_string(in)) ||
            (exp != NULL && !json_is_null(exp) && !json_is_string(exp)) ||
            (to != NULL && (!json_is_integer(to) || json_integer_value(to) <= 0))) {
            json_decref(st);
            json_decref(out);
            dp_err_set(err, DP_EINVAL,
                       "tests[%zu]: want {\"stdin\": string, \"expectedStdout\": string, "
                       "\"timeoutMs\": positive integer}",
                       i);
            return NULL;
        }
        if (in != NULL)
            json_object_set(st, "stdin", in);
        if (exp != NULL && json_is_string(exp))
            json_object_set(st, "expected_stdout", exp);
        if (to != NULL)
            json_object_set(st, "timeout_ms", to);
        *wait_ms += to != NULL ? json_integer_value(to) : EXEC_TEST_DEFAULT_MS;
        json_array_append_new(out, st);
    }
    if (*wait_ms > EXEC_WAIT_MAX_MS)
        *wait_ms = EXEC_WAIT_MAX_MS;
    return out;
}

void http_execute(http_req *r)
{
    json_error_t jerr;
    json_t *doc = json_loadb(r->body != NULL ? r->body : "", r->len, 0, &jerr);
    const char *lang = json_string_value(json_object_get(doc, "language"));
    json_t *source = json_object_get(doc, "source"), *tests = json_object_get(doc, "tests");
    size_t li = sizeof exec_languages / sizeof exec_languages[0];
    for (size_t i = 0; lang != NULL && i < sizeof exec_languages / sizeof exec_languages[0]; i++)
        if (strcmp(lang, exec_languages[i].language) == 0)
            li = i;
    const char *w = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "wait");
    char *end = NULL;
    long asked = w != NULL ? strtol(w, &end, 10) : 0;
    if (w != NULL && (*w == '\0' || *end != '\0' || asked < 1 || asked > EXEC_WAIT_MAX_MS / 1000)) {
        http_answer_error(r, 400, "invalid", "wait: want whole seconds 1..%d, got '%.40s'",
                          EXEC_WAIT_MAX_MS / 1000, w);
    } else if (doc == NULL || !json_is_object(doc)) {
        http_answer_error(r, 400, "invalid", "body: not a JSON object (%s)", jerr.text);
    } else if (li == sizeof exec_languages / sizeof exec_languages[0]) {
        http_answer_error(r, 400, "invalid",
                          "language: want python, python3, c, shell, sh or bash, got '%.40s'",
                          lang != NULL ? lang : "(none)");
    } else if (!json_is_string(source)) {
        http_answer_error(r, 400, "invalid", "source: want a string");
    } else if (!json_is_array(tests) || json_array_size(tests) == 0 ||
               json_array_size(tests) > DP_MAX_TESTS) {
        http_answer_error(r, 400, "invalid", "tests: want an array of 1..%d tests", DP_MAX_TESTS);
    } else {
        dp_err err = {0};
        int64_t wait_ms = 0;
        json_t *st = spec_tests(tests, &wait_ms, &err);
        json_t *spec = st == NULL
                           ? NULL
                           : json_pack("{s:s,s:{s:O},s:o}", "profile", exec_languages[li].profile,
                                       "files", exec_languages[li].file, source, "tests", st);
        dp_job_spec js = {0};
        http_uploads up = {0};
        int rc = spec == NULL ? (st == NULL ? DP_EINVAL : DP_ENOMEM)
                              : http_inline_spec(spec, r->srv->store, &up, r->srv->max_inline, "",
                                                 &js, &err);
        json_decref(spec);
        if (rc != DP_OK) {
            http_answer_error(r, rc == DP_EUNAVAIL ? 503 : 400, dp_code_name(rc), "%s", err.msg);
        } else {
            r->scratch = json_pack("{s:O}", "tests", tests);
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
