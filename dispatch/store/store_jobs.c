/* Job rows: insert, lease/fail/cancel/requeue transitions, reads. */
#include "dispatch/store/store_internal.h"

#include "common/addr_policy.h"
#include "common/job_json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Builds a JSON array with one object per item, or NULL on OOM. */
static json_t *append_or_fail(json_t *arr, json_t *item)
{
    if (arr == NULL || item == NULL || json_array_append_new(arr, item) != 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

static json_t *opt_str(const char *s)
{
    return s == NULL ? json_null() : dp_json_string_lossy(s, strlen(s));
}

/* Runs a batch statement on arr (consumed: decref'd here) and counts the
 * rows it changed into *n_changed (optional). The tail of every mark_*. */
static int call_batch(store_db *db, const char *stmt, json_t *arr, size_t n, const char *what,
                      size_t *n_changed, dp_err *err)
{
    PGresult *res = NULL;
    int rc = store_call_json_n(db, stmt, arr, n, what, &res, err);
    json_decref(arr);
    if (rc == DP_OK && n_changed != NULL)
        *n_changed = store_cmd_rows(res);
    PQclear(res);
    return rc;
}

int store_insert_jobs(store_db *db, const dp_job_spec *specs, size_t n, size_t *n_inserted,
                      dp_err *err)
{
    return store_insert_jobs_owned(db, specs, n, NULL, n_inserted, err);
}

int store_insert_jobs_owned(store_db *db, const dp_job_spec *specs, size_t n, const char *owner_key,
                            size_t *n_inserted, dp_err *err)
{
    if (n_inserted != NULL)
        *n_inserted = 0;
    if (n == 0)
        return DP_OK;
    char **texts = calloc(n, sizeof *texts);
    int rc = texts == NULL ? dp_err_set(err, DP_ENOMEM, "insert jobs: out of memory") : DP_OK;
    for (size_t i = 0; rc == DP_OK && i < n; i++) {
        if (specs[i].job_id == NULL || specs[i].profile == NULL || specs[i].archive == NULL) {
            rc = dp_err_set(err, DP_EINVAL,
                            "store_insert_jobs: specs[%zu]: job_id, profile and archive are "
                            "required",
                            i);
            break;
        }
        rc = dp_job_spec_json_text(&specs[i], &texts[i], NULL, err);
    }
    if (rc == DP_OK)
        rc = store_insert_job_texts(db, (const char *const *)texts, n, owner_key, n_inserted, err);
    for (size_t i = 0; texts != NULL && i < n; i++)
        free(texts[i]);
    free(texts);
    return rc;
}

/* The texts as one JSON array, joined, not parsed again (malloc'd; NULL:
 * out of memory). */
static char *join_texts(const char *const *texts, size_t n)
{
    size_t len = 2 + n;
    for (size_t i = 0; i < n; i++)
        len += strlen(texts[i]);
    char *batch = malloc(len + 1), *w = batch;
    if (batch == NULL)
        return NULL;
    *w++ = '[';
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(texts[i]);
        if (i > 0)
            *w++ = ',';
        memcpy(w, texts[i], k);
        w += k;
    }
    *w++ = ']';
    *w = '\0';
    return batch;
}

static const char *owner_param(const char *owner_key)
{
    return owner_key != NULL && owner_key[0] != '\0' ? owner_key : NULL;
}

int store_insert_job_texts(store_db *db, const char *const *texts, size_t n, const char *owner_key,
                           size_t *n_inserted, dp_err *err)
{
    if (n_inserted != NULL)
        *n_inserted = 0;
    if (n == 0)
        return DP_OK;
    char *batch = join_texts(texts, n);
    if (batch == NULL)
        return dp_err_set(err, DP_ENOMEM, "insert jobs: out of memory building the batch");
    PGresult *res = NULL;
    const char *params[] = {batch, owner_param(owner_key)};
    int rc = store_call(db, ST_INSERT_JOBS, 2, params, "insert jobs", &res, err);
    free(batch);
    if (rc == DP_OK && n_inserted != NULL)
        *n_inserted = store_cmd_rows(res);
    PQclear(res);
    return rc;
}

int store_insert_job_texts_send(store_db *db, const char *const *texts, size_t n,
                                const char *owner_key, dp_err *err)
{
    char *batch = join_texts(texts, n);
    if (batch == NULL)
        return dp_err_set(err, DP_ENOMEM, "insert jobs: out of memory building the batch");
    const char *params[] = {batch, owner_param(owner_key)};
    int rc = store_send(db, ST_INSERT_JOBS, 2, params, "insert jobs", err);
    free(batch);
    return rc;
}

int store_insert_job_texts_wait(store_db *db, const char *const *texts, size_t n,
                                const char *owner_key, dp_err *err)
{
    PGresult *res = NULL;
    int rc = store_wait(db, "insert jobs", &res, err);
    PQclear(res);
    if (rc == DP_EUNAVAIL) /* reconnected and repeated: the insert is idempotent */
        rc = store_insert_job_texts(db, texts, n, owner_key, NULL, err);
    return rc;
}

/* Shared by cancel and requeue: row 0 is (changed count, state before). */
static int transition(store_db *db, const char *stmt, const char *job_id, const char *arg2,
                      const char *what, const char *refused_state, dp_err *err)
{
    if (job_id == NULL)
        return dp_err_set(err, DP_EINVAL, "%s: job_id required", what);
    const char *params[] = {job_id, arg2};
    PGresult *res;
    int rc = store_call(db, stmt, 2, params, what, &res, err);
    if (rc != DP_OK)
        return rc;
    int changed = atoi(PQgetvalue(res, 0, 0)) > 0;
    char state[32];
    snprintf(state, sizeof state, "%s", PQgetisnull(res, 0, 1) ? "" : PQgetvalue(res, 0, 1));
    PQclear(res);
    if (changed)
        return DP_OK;
    if (state[0] == 0)
        return dp_err_set(err, DP_ENOTFOUND, "%s: job %.128s not found", what, job_id);
    if (refused_state == NULL || strcmp(state, refused_state) == 0 ||
        (refused_state[0] == '*' && strcmp(state, "queued") != 0 && strcmp(state, "leased") != 0))
        return dp_err_set(err, DP_ECONFLICT, "%s: job %.128s is already %s", what, job_id, state);
    return DP_OK;
}

int store_mark_cancelled(store_db *db, const char *job_id, const char *message, dp_err *err)
{
    /* Anything but queued/leased ("*") refuses a cancel. */
    return transition(db, ST_MARK_CANCELLED, job_id, message ? message : "cancelled", "cancel job",
                      "*", err);
}

int store_requeue(store_db *db, const char *job_id, int reset_attempts, dp_err *err)
{
    /* Only a completed job refuses; a queued one is already where we want it. */
    return transition(db, ST_REQUEUE, job_id, reset_attempts ? "true" : "false", "requeue job",
                      "completed", err);
}

static uint64_t field_u64(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoull(PQgetvalue(res, row, col), NULL, 10);
}

static int load_tests(store_db *db, dp_job_view *v, const char *attempt, dp_err *err)
{
    const char *params[] = {v->job_id, attempt};
    PGresult *res;
    int rc = store_call(db, ST_GET_TESTS, 2, params, "get job tests", &res, err);
    if (rc != DP_OK)
        return rc;
    int rows = PQntuples(res), oom = 0;
    if (rows > 0 && (v->tests = calloc((size_t)rows, sizeof *v->tests)) == NULL)
        oom = 1;
    for (int r = 0; r < rows && !oom; r++) {
        dp_test_result *t = &v->tests[r];
        v->n_tests = (size_t)r + 1;
        t->name = store_field_dup(res, r, 0, &oom);
        if (!PQgetisnull(res, r, 1))
            dp_verdict_parse(PQgetvalue(res, r, 1), &t->verdict);
        t->exit_code = atoi(PQgetvalue(res, r, 2));
        t->signal = atoi(PQgetvalue(res, r, 3));
        t->time_ms = (uint32_t)field_u64(res, r, 4);
        t->wall_ms = (uint32_t)field_u64(res, r, 5);
        t->memory_kb = field_u64(res, r, 6);
        t->stdout_excerpt = store_field_dup(res, r, 7, &oom);
        t->stderr_excerpt = store_field_dup(res, r, 8, &oom);
        t->message = store_field_dup(res, r, 9, &oom);
    }
    PQclear(res);
    return oom ? dp_err_set(err, DP_ENOMEM, "get job: out of memory") : DP_OK;
}

int store_get_job(store_db *db, const char *job_id, dp_job_view *out, dp_err *err)
{
    memset(out, 0, sizeof *out);
    if (job_id == NULL)
        return dp_err_set(err, DP_EINVAL, "get job: job_id required");
    const char *params[] = {job_id};
    PGresult *res;
    int rc = store_call(db, ST_GET_JOB, 1, params, "get job", &res, err);
    if (rc != DP_OK)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return dp_err_set(err, DP_ENOTFOUND, "get job: job %.128s not found", job_id);
    }
    int oom = 0;
    out->job_id = store_field_dup(res, 0, 0, &oom);
    out->submission_id = store_field_dup(res, 0, 1, &oom);
    out->profile = store_field_dup(res, 0, 2, &oom);
    dp_job_state_parse(PQgetvalue(res, 0, 3), &out->state);
    if (!PQgetisnull(res, 0, 4))
        dp_verdict_parse(PQgetvalue(res, 0, 4), &out->verdict);
    out->score = PQgetisnull(res, 0, 5) ? 0 : strtod(PQgetvalue(res, 0, 5), NULL);
    out->attempts = (uint32_t)field_u64(res, 0, 6);
    out->runner_id = store_field_dup(res, 0, 7, &oom);
    out->message = store_field_dup(res, 0, 8, &oom);
    out->log_url = store_field_dup(res, 0, 9, &oom);
    out->created_at = store_field_dup(res, 0, 10, &oom);
    out->started_at = store_field_dup(res, 0, 11, &oom);
    out->finished_at = store_field_dup(res, 0, 12, &oom);
    char attempt[16] = "";
    if (!PQgetisnull(res, 0, 13))
        snprintf(attempt, sizeof attempt, "%s", PQgetvalue(res, 0, 13));
    if (!PQgetisnull(res, 0, 14) && store_callback_view(PQgetvalue(res, 0, 14), out) != DP_OK)
        oom = 1;
    out->labels = store_field_dup(res, 0, 15, &oom);
    out->priority = store_field_dup(res, 0, 16, &oom);
    PQclear(res);
    if (oom)
        rc = dp_err_set(err, DP_ENOMEM, "get job: out of memory");
    else if (attempt[0] != 0 && out->job_id != NULL)
        rc = load_tests(db, out, attempt, err);
    if (rc != DP_OK)
        dp_job_view_free(out);
    return rc;
}

void store_unfinished_free(store_unfinished_job *jobs, size_t n)
{
    for (size_t i = 0; jobs != NULL && i < n; i++) {
        dp_job_spec_free(&jobs[i].spec);
        free(jobs[i].runner_id);
        free(jobs[i].created_at);
    }
    free(jobs);
}

int store_list_unfinished(store_db *db, store_cursor *cursor, size_t limit,
                          store_unfinished_job **out, size_t *n, dp_err *err)
{
    *out = NULL;
    *n = 0;
    if (limit == 0 || limit > 10000)
        return dp_err_set(err, DP_EINVAL, "list unfinished: limit must be 1..10000, not %zu",
                          limit);
    char limit_text[24];
    snprintf(limit_text, sizeof limit_text, "%zu", limit);
    const char *params[] = {cursor->created_at[0] ? cursor->created_at : "-infinity",
                            cursor->job_id, limit_text};
    PGresult *res;
    int rc = store_call(db, ST_LIST_UNFINISHED, 3, params, "list unfinished", &res, err);
    if (rc != DP_OK)
        return rc;
    int rows = PQntuples(res), oom = 0;
    store_unfinished_job *jobs = rows > 0 ? calloc((size_t)rows, sizeof *jobs) : NULL;
    if (rows > 0 && jobs == NULL)
        oom = 1;
    int r = 0;
    for (; r < rows && !oom && rc == DP_OK; r++) {
        store_unfinished_job *j = &jobs[r];
        const char *spec = PQgetvalue(res, r, 4);
        dp_err perr;
        dp_callback_policy_trust(1); /* accepted at submit, whatever the policy is now */
        rc = dp_job_spec_from_text(spec, strlen(spec), &j->spec, &perr);
        dp_callback_policy_trust(0);
        if (rc != DP_OK) {
            /* A stored spec that no longer parses is a bug or a hand edit:
             * say which job, so an operator can fix or fail it. */
            rc = dp_err_set(err, DP_EIO, "list unfinished: job %.128s: stored spec: %s",
                            PQgetvalue(res, r, 0), perr.msg);
            break;
        }
        free(j->spec.job_id);
        j->spec.job_id = store_field_dup(res, r, 0, &oom);
        dp_job_state_parse(PQgetvalue(res, r, 1), &j->state);
        j->attempts = (uint32_t)field_u64(res, r, 2);
        j->runner_id = store_field_dup(res, r, 3, &oom);
        j->created_at = store_field_dup(res, r, 5, &oom);
    }
    if (rc == DP_OK && oom)
        rc = dp_err_set(err, DP_ENOMEM, "list unfinished: out of memory");
    if (rc == DP_OK && rows > 0) {
        snprintf(cursor->created_at, sizeof cursor->created_at, "%s", PQgetvalue(res, rows - 1, 6));
        snprintf(cursor->job_id, sizeof cursor->job_id, "%s", PQgetvalue(res, rows - 1, 0));
    }
    PQclear(res);
    if (rc != DP_OK) {
        store_unfinished_free(jobs, (size_t)rows);
        return rc;
    }
    *out = jobs;
    *n = (size_t)rows;
    return DP_OK;
}

int store_count_completed(store_db *db, uint64_t *out, dp_err *err)
{
    *out = 0;
    PGresult *res;
    int rc = store_call(db, ST_COUNT_COMPLETED, 0, NULL, "count completed", &res, err);
    if (rc != DP_OK)
        return rc;
    *out = field_u64(res, 0, 0);
    PQclear(res);
    return DP_OK;
}

int store_upsert_runner(store_db *db, const dp_runner_info *info, dp_err *err)
{
    if (info->runner_id == NULL)
        return dp_err_set(err, DP_EINVAL, "upsert runner: runner_id required");
    json_t *labels = json_array();
    for (size_t i = 0; labels != NULL && i < info->n_labels; i++)
        labels = append_or_fail(labels, opt_str(info->labels[i]));
    char *labels_text = labels ? json_dumps(labels, JSON_COMPACT) : NULL;
    json_decref(labels);
    if (labels_text == NULL)
        return dp_err_set(err, DP_ENOMEM, "upsert runner: out of memory");
    char capacity[16];
    snprintf(capacity, sizeof capacity, "%" PRIu32, info->capacity);
    const char *state = !info->alive ? "gone" : info->draining ? "draining" : "active";
    const char *params[] = {info->runner_id, info->name,    labels_text,
                            capacity,        info->version, state};
    PGresult *res;
    int rc = store_call(db, ST_UPSERT_RUNNER, 6, params, "upsert runner", &res, err);
    free(labels_text);
    PQclear(res);
    return rc;
}

int store_add_events(store_db *db, const store_event *events, size_t n, dp_err *err)
{
    if (n == 0)
        return DP_OK;
    json_t *arr = json_array();
    for (size_t i = 0; i < n && arr != NULL; i++) {
        const store_event *e = &events[i];
        if (e->job_id == NULL) {
            json_decref(arr);
            return dp_err_set(err, DP_EINVAL, "add events: events[%zu]: job_id required", i);
        }
        arr = append_or_fail(arr, json_pack("{s:o, s:I, s:s, s:I, s:o, s:o}", "job_id",
                                            opt_str(e->job_id), "ts_ms", (json_int_t)e->ts_ms,
                                            "state", dp_job_state_name(e->state), "attempt",
                                            (json_int_t)e->attempt, "runner_id",
                                            opt_str(e->runner_id), "message", opt_str(e->message)));
    }
    PGresult *res;
    int rc = store_call_json(db, ST_ADD_EVENTS, arr, "add events", &res, err);
    json_decref(arr);
    PQclear(res);
    return rc;
}

int store_job_owner(store_db *db, const char *job_id, char *owner, size_t len, dp_err *err)
{
    if (len > 0)
        owner[0] = '\0';
    const char *params[] = {job_id};
    PGresult *res;
    int rc = store_call(db, ST_JOB_OWNER, 1, params, "job owner", &res, err);
    if (rc != DP_OK)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return dp_err_set(err, DP_ENOTFOUND, "job %s is unknown", job_id);
    }
    if (!PQgetisnull(res, 0, 0))
        snprintf(owner, len, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return DP_OK;
}

int store_requeue_retry(store_db *db, const char *job_id, uint32_t attempt, const char *runner_id,
                        const char *message, size_t *n_changed, dp_err *err)
{
    if (n_changed != NULL)
        *n_changed = 0;
    if (job_id == NULL)
        return dp_err_set(err, DP_EINVAL, "requeue after a runner failure: job_id required");
    char att[16];
    snprintf(att, sizeof att, "%" PRIu32, attempt);
    const char *params[] = {job_id, att, runner_id, message};
    PGresult *res;
    int rc =
        store_call(db, ST_REQUEUE_RETRY, 4, params, "requeue after a runner failure", &res, err);
    if (rc == DP_OK && n_changed != NULL)
        *n_changed = store_cmd_rows(res);
    if (rc == DP_OK)
        PQclear(res);
    return rc;
}

int store_mark_requeued(store_db *db, const store_event *events, size_t n, size_t *n_changed,
                        dp_err *err)
{
    if (n_changed != NULL)
        *n_changed = 0;
    if (n == 0)
        return DP_OK;
    json_t *arr = json_array();
    for (size_t i = 0; i < n && arr != NULL; i++) {
        if (events[i].job_id == NULL) {
            json_decref(arr);
            return dp_err_set(err, DP_EINVAL, "store_mark_requeued: events[%zu]: job_id required",
                              i);
        }
        arr = append_or_fail(
            arr, json_pack("{s:o, s:I, s:o, s:o}", "job_id", opt_str(events[i].job_id), "attempt",
                           (json_int_t)events[i].attempt, "runner_id", opt_str(events[i].runner_id),
                           "message", opt_str(events[i].message)));
    }
    return call_batch(db, ST_MARK_REQUEUED, arr, n, "mark requeued", n_changed, err);
}
