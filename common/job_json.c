/* JSON <-> job domain types; see job_json.h for the rules and ownership. */
#include "common/job_json.h"

#include "common/sha256.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parsing helpers ---------------------------------------------------- */

/* Optional string field: *out stays NULL when absent or null. max_len counts
 * bytes. Strings with embedded NUL (json_t built with JSON_ALLOW_NUL or by
 * hand) are rejected: every consumer treats them as C strings. */
static int get_string(const json_t *obj, const char *key, const char *field, size_t max_len,
                      int required, char **out, dp_err *err)
{
    *out = NULL;
    const json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        if (required)
            return dp_err_set(err, DP_EINVAL, "%s: required", field);
        return DP_OK;
    }
    if (!json_is_string(v))
        return dp_err_set(err, DP_EINVAL, "%s: must be a string", field);
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (strlen(s) != len)
        return dp_err_set(err, DP_EINVAL, "%s: must not contain NUL bytes", field);
    if (required && len == 0)
        return dp_err_set(err, DP_EINVAL, "%s: must not be empty", field);
    if (len > max_len)
        return dp_err_set(err, DP_EINVAL, "%s: longer than %zu bytes", field, max_len);
    *out = strdup(s);
    if (*out == NULL)
        return dp_err_set(err, DP_ENOMEM, "%s: out of memory", field);
    return DP_OK;
}

/* Optional positive integer field in 1..max; *out stays 0 when absent. */
static int get_uint(const json_t *obj, const char *key, const char *field, uint64_t max,
                    uint64_t *out, dp_err *err)
{
    *out = 0;
    const json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return DP_OK;
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || (uint64_t)json_integer_value(v) > max)
        return dp_err_set(err, DP_EINVAL, "%s: must be a positive integer <= %" PRIu64, field, max);
    *out = (uint64_t)json_integer_value(v);
    return DP_OK;
}

/* Rejects keys not in allowed (NULL-terminated). */
static int check_keys(const json_t *obj, const char *const *allowed, const char *where, dp_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        int ok = 0;
        for (size_t i = 0; allowed[i] != NULL && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok)
            return dp_err_set(err, DP_EINVAL, "%s%.*s: unknown field", where, 100, key);
    }
    return DP_OK;
}

static int parse_limits(const json_t *obj, dp_limits *lim, dp_err *err)
{
    static const char *const keys[] = {"time_ms",   "wall_ms",   "memory_kb",
                                       "processes", "output_kb", NULL};
    if (!json_is_object(obj))
        return dp_err_set(err, DP_EINVAL, "limits: must be an object");
    int rc = check_keys(obj, keys, "limits.", err);
    uint64_t v;
    if (rc == DP_OK &&
        (rc = get_uint(obj, "time_ms", "limits.time_ms", DP_TIMEOUT_MS_MAX, &v, err)) == DP_OK)
        lim->time_ms = (uint32_t)v;
    if (rc == DP_OK &&
        (rc = get_uint(obj, "wall_ms", "limits.wall_ms", DP_WALL_MS_MAX, &v, err)) == DP_OK)
        lim->wall_ms = (uint32_t)v;
    if (rc == DP_OK &&
        (rc = get_uint(obj, "memory_kb", "limits.memory_kb", DP_MEMORY_KB_MAX, &v, err)) == DP_OK)
        lim->memory_kb = v;
    if (rc == DP_OK &&
        (rc = get_uint(obj, "processes", "limits.processes", DP_PROCESSES_MAX, &v, err)) == DP_OK)
        lim->processes = (uint32_t)v;
    if (rc == DP_OK &&
        (rc = get_uint(obj, "output_kb", "limits.output_kb", DP_OUTPUT_KB_MAX, &v, err)) == DP_OK)
        lim->output_kb = v;
    return rc;
}

static int parse_test(const json_t *obj, size_t idx, dp_test_case *tc, dp_err *err)
{
    static const char *const keys[] = {"name",       "stdin",   "expected_stdout",
                                       "timeout_ms", "compare", NULL};
    char where[48], field[64];
    snprintf(where, sizeof where, "tests[%zu].", idx);
    if (!json_is_object(obj))
        return dp_err_set(err, DP_EINVAL, "tests[%zu]: must be an object", idx);
    int rc = check_keys(obj, keys, where, err);
    if (rc != DP_OK)
        return rc;
    snprintf(field, sizeof field, "%sname", where);
    if ((rc = get_string(obj, "name", field, DP_TEST_NAME_MAX, 0, &tc->name, err)) != DP_OK)
        return rc;
    if (tc->name == NULL) {
        /* Unnamed tests get their 1-based position, as the runner reports them. */
        char buf[24];
        snprintf(buf, sizeof buf, "t%zu", idx + 1);
        if ((tc->name = strdup(buf)) == NULL)
            return dp_err_set(err, DP_ENOMEM, "%s: out of memory", field);
    }
    snprintf(field, sizeof field, "%sstdin", where);
    if ((rc = get_string(obj, "stdin", field, DP_TEST_DATA_MAX, 0, &tc->stdin_data, err)) != 0)
        return rc;
    snprintf(field, sizeof field, "%sexpected_stdout", where);
    if ((rc = get_string(obj, "expected_stdout", field, DP_TEST_DATA_MAX, 0, &tc->expected_stdout,
                         err)) != DP_OK)
        return rc;
    snprintf(field, sizeof field, "%stimeout_ms", where);
    uint64_t v;
    if ((rc = get_uint(obj, "timeout_ms", field, DP_TIMEOUT_MS_MAX, &v, err)) != DP_OK)
        return rc;
    tc->timeout_ms = (uint32_t)v;
    const json_t *cmp = json_object_get(obj, "compare");
    if (cmp != NULL && !json_is_null(cmp)) {
        const char *s = json_string_value(cmp);
        if (s != NULL && strcmp(s, "exact") == 0)
            tc->compare = DP_COMPARE_EXACT;
        else if (s != NULL && strcmp(s, "lines") == 0)
            tc->compare = DP_COMPARE_LINES;
        else
            return dp_err_set(err, DP_EINVAL, "%scompare: must be \"exact\" or \"lines\"", where);
    }
    return DP_OK;
}

static int parse_tests(const json_t *arr, dp_job_spec *out, dp_err *err)
{
    if (!json_is_array(arr))
        return dp_err_set(err, DP_EINVAL, "tests: must be an array");
    size_t n = json_array_size(arr);
    if (n > DP_MAX_TESTS)
        return dp_err_set(err, DP_EINVAL, "tests: more than %d tests", DP_MAX_TESTS);
    if (n == 0)
        return DP_OK;
    out->tests = calloc(n, sizeof *out->tests);
    if (out->tests == NULL)
        return dp_err_set(err, DP_ENOMEM, "tests: out of memory");
    for (size_t i = 0; i < n; i++) {
        out->n_tests = i + 1; /* so dp_job_spec_free sees the partial one */
        int rc = parse_test(json_array_get(arr, i), i, &out->tests[i], err);
        if (rc != DP_OK)
            return rc;
    }
    return DP_OK;
}

static int parse_spec(const json_t *obj, dp_job_spec *out, dp_err *err)
{
    static const char *const keys[] = {"job_id",         "profile",       "archive",
                                       "archive_sha256", "submission_id", "tests",
                                       "limits",         "max_attempts",  NULL};
    if (!json_is_object(obj))
        return dp_err_set(err, DP_EINVAL, "spec: must be a JSON object");
    int rc = check_keys(obj, keys, "", err);
    if (rc != DP_OK)
        return rc;
    if ((rc = get_string(obj, "job_id", "job_id", DP_ID_MAX - 1, 0, &out->job_id, err)) != 0)
        return rc;
    if ((rc = get_string(obj, "profile", "profile", DP_PROFILE_NAME_MAX, 1, &out->profile, err)) !=
        DP_OK)
        return rc;
    if ((rc = get_string(obj, "archive", "archive", DP_URL_MAX, 1, &out->archive, err)) != 0)
        return rc;
    if ((rc = get_string(obj, "archive_sha256", "archive_sha256", DP_SHA256_HEX_LEN, 0,
                         &out->archive_sha256, err)) != DP_OK)
        return rc;
    for (char *p = out->archive_sha256; p != NULL && *p != 0; p++)
        *p = (char)tolower((unsigned char)*p); /* producers may send upper-case hex */
    if ((rc = get_string(obj, "submission_id", "submission_id", DP_ID_MAX - 1, 0,
                         &out->submission_id, err)) != DP_OK)
        return rc;
    const json_t *tests = json_object_get(obj, "tests");
    if (tests != NULL && !json_is_null(tests) && (rc = parse_tests(tests, out, err)) != DP_OK)
        return rc;
    const json_t *limits = json_object_get(obj, "limits");
    if (limits != NULL && !json_is_null(limits) &&
        (rc = parse_limits(limits, &out->limits, err)) != DP_OK)
        return rc;
    uint64_t v;
    if ((rc = get_uint(obj, "max_attempts", "max_attempts", DP_MAX_ATTEMPTS_LIMIT, &v, err)) != 0)
        return rc;
    out->max_attempts = (uint32_t)v;
    return dp_job_spec_check(out, "", err); /* the meaning: one check for every path */
}

int dp_job_spec_from_json(const json_t *obj, dp_job_spec *out, dp_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = parse_spec(obj, out, err);
    if (rc != DP_OK)
        dp_job_spec_free(out);
    return rc;
}

static json_t *load_text(const char *text, size_t len, dp_err *err)
{
    if (text == NULL) {
        dp_err_set(err, DP_EINVAL, "spec: no text");
        return NULL;
    }
    if (len > DP_SPEC_TEXT_MAX) {
        dp_err_set(err, DP_EINVAL, "spec: longer than %u bytes", DP_SPEC_TEXT_MAX);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        dp_err_set(err, DP_EINVAL, "spec: invalid JSON at line %d column %d: %s", jerr.line,
                   jerr.column, jerr.text);
    return root;
}

int dp_job_spec_from_text(const char *text, size_t len, dp_job_spec *out, dp_err *err)
{
    memset(out, 0, sizeof *out);
    json_t *root = load_text(text, len, err);
    if (root == NULL)
        return DP_EINVAL;
    int rc = dp_job_spec_from_json(root, out, err);
    json_decref(root);
    return rc;
}

void dp_job_specs_free(dp_job_spec *specs, size_t n)
{
    for (size_t i = 0; specs != NULL && i < n; i++)
        dp_job_spec_free(&specs[i]);
    free(specs);
}

int dp_job_specs_from_text(const char *text, size_t len, dp_job_spec **out, size_t *n, dp_err *err)
{
    *out = NULL;
    *n = 0;
    json_t *root = load_text(text, len, err);
    if (root == NULL)
        return DP_EINVAL;
    int is_array = json_is_array(root);
    size_t count = is_array ? json_array_size(root) : 1;
    int rc = DP_OK;
    if (count == 0 || count > DP_SPEC_BATCH_MAX) {
        rc = dp_err_set(err, DP_EINVAL, "spec: a batch holds 1 to %d specs, not %zu",
                        DP_SPEC_BATCH_MAX, count);
        goto done;
    }
    dp_job_spec *specs = calloc(count, sizeof *specs);
    if (specs == NULL) {
        rc = dp_err_set(err, DP_ENOMEM, "spec: out of memory");
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        dp_err one;
        dp_err_clear(&one);
        rc = dp_job_spec_from_json(is_array ? json_array_get(root, i) : root, &specs[i], &one);
        if (rc != DP_OK) {
            if (is_array)
                dp_err_set(err, rc, "[%zu] %s", i, one.msg);
            else
                dp_err_set(err, rc, "%s", one.msg);
            dp_job_specs_free(specs, i);
            goto done;
        }
    }
    *out = specs;
    *n = count;
done:
    json_decref(root);
    return rc;
}

/* ---- building helpers ---------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid. NUL is
 * treated as invalid so it gets replaced. */
static size_t utf8_seq_len(const unsigned char *p, size_t left)
{
    unsigned c = p[0];
    if (c >= 0x01 && c < 0x80)
        return 1;
    size_t n;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, min = 0x10000;
    else
        return 0;
    if (left < n)
        return 0;
    unsigned cp = c & (0x3fu >> (n - 1));
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

json_t *dp_json_string_lossy(const char *s, size_t len)
{
    if (s == NULL)
        return json_null();
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, bad = 0;
    while (i < len) {
        size_t n = utf8_seq_len(p + i, len - i);
        bad += n == 0;
        i += n == 0 ? 1 : n;
    }
    if (bad == 0)
        return json_stringn_nocheck(s, len);
    /* Each bad byte becomes the 3-byte U+FFFD. */
    char *buf = malloc(len + bad * 2 + 1);
    if (buf == NULL)
        return NULL;
    size_t o = 0;
    i = 0;
    while (i < len) {
        size_t n = utf8_seq_len(p + i, len - i);
        if (n == 0) {
            memcpy(buf + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(buf + o, s + i, n);
            o += n;
            i += n;
        }
    }
    json_t *j = json_stringn_nocheck(buf, o);
    free(buf);
    return j;
}

static json_t *str_or_null(const char *s)
{
    return s == NULL ? json_null() : dp_json_string_lossy(s, strlen(s));
}

/* Sets key to v (stealing it); records a failure in *bad instead of failing
 * at once so the builders stay linear. */
static void put(json_t *o, const char *key, json_t *v, int *bad)
{
    if (v == NULL || json_object_set_new(o, key, v) != 0)
        *bad = 1;
}

static json_t *finish(json_t *o, int bad)
{
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- builders ------------------------------------------------------------ */

json_t *dp_job_spec_to_json(const dp_job_spec *spec)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int bad = 0;
    if (spec->job_id != NULL)
        put(o, "job_id", str_or_null(spec->job_id), &bad);
    put(o, "profile", str_or_null(spec->profile), &bad);
    put(o, "archive", str_or_null(spec->archive), &bad);
    if (spec->archive_sha256 != NULL)
        put(o, "archive_sha256", str_or_null(spec->archive_sha256), &bad);
    if (spec->submission_id != NULL)
        put(o, "submission_id", str_or_null(spec->submission_id), &bad);
    if (spec->n_tests > 0) {
        json_t *arr = json_array();
        for (size_t i = 0; arr != NULL && i < spec->n_tests; i++) {
            const dp_test_case *tc = &spec->tests[i];
            json_t *t = json_object();
            if (t == NULL || json_array_append_new(arr, t) != 0) {
                bad = 1;
                break;
            }
            put(t, "name", str_or_null(tc->name), &bad);
            if (tc->stdin_data != NULL)
                put(t, "stdin", str_or_null(tc->stdin_data), &bad);
            if (tc->expected_stdout != NULL)
                put(t, "expected_stdout", str_or_null(tc->expected_stdout), &bad);
            if (tc->timeout_ms != 0)
                put(t, "timeout_ms", json_integer(tc->timeout_ms), &bad);
            if (tc->compare != DP_COMPARE_DEFAULT)
                put(t, "compare", json_string(tc->compare == DP_COMPARE_LINES ? "lines" : "exact"),
                    &bad);
        }
        put(o, "tests", arr, &bad);
    }
    const dp_limits *l = &spec->limits;
    if (l->time_ms || l->wall_ms || l->memory_kb || l->processes || l->output_kb) {
        json_t *lim = json_object();
        if (lim != NULL && l->time_ms)
            put(lim, "time_ms", json_integer(l->time_ms), &bad);
        if (lim != NULL && l->wall_ms)
            put(lim, "wall_ms", json_integer(l->wall_ms), &bad);
        if (lim != NULL && l->memory_kb)
            put(lim, "memory_kb", json_integer((json_int_t)l->memory_kb), &bad);
        if (lim != NULL && l->processes)
            put(lim, "processes", json_integer(l->processes), &bad);
        if (lim != NULL && l->output_kb)
            put(lim, "output_kb", json_integer((json_int_t)l->output_kb), &bad);
        put(o, "limits", lim, &bad);
    }
    if (spec->max_attempts != 0)
        put(o, "max_attempts", json_integer(spec->max_attempts), &bad);
    return finish(o, bad);
}

json_t *dp_test_result_to_json(const dp_test_result *tr)
{
    json_t *t = json_object();
    if (t == NULL)
        return NULL;
    int bad = 0;
    put(t, "name", str_or_null(tr->name), &bad);
    put(t, "verdict", str_or_null(dp_verdict_name(tr->verdict)), &bad);
    put(t, "exit_code", json_integer(tr->exit_code), &bad);
    put(t, "signal", tr->signal != 0 ? json_integer(tr->signal) : json_null(), &bad);
    put(t, "time_ms", json_integer(tr->time_ms), &bad);
    put(t, "wall_ms", json_integer(tr->wall_ms), &bad);
    put(t, "memory_kb", json_integer((json_int_t)tr->memory_kb), &bad);
    put(t, "stdout", str_or_null(tr->stdout_excerpt), &bad);
    put(t, "stderr", str_or_null(tr->stderr_excerpt), &bad);
    return finish(t, bad);
}

/* Whole scores print as integers ("score": 100), as INTERFACE.md shows. */
static json_t *score_json(dp_verdict verdict, double score)
{
    if (verdict == DP_VERDICT_NONE)
        return json_null();
    if (score >= 0 && score <= 1e9 && score == (double)(json_int_t)score)
        return json_integer((json_int_t)score);
    return json_real(score);
}

json_t *dp_job_view_to_json(const dp_job_view *v)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int bad = 0;
    put(o, "job_id", str_or_null(v->job_id), &bad);
    put(o, "submission_id", str_or_null(v->submission_id), &bad);
    put(o, "profile", str_or_null(v->profile), &bad);
    put(o, "state", json_string(dp_job_state_name(v->state)), &bad);
    put(o, "verdict", str_or_null(dp_verdict_name(v->verdict)), &bad);
    put(o, "score", score_json(v->verdict, v->score), &bad);
    put(o, "attempts", json_integer(v->attempts), &bad);
    put(o, "runner_id", str_or_null(v->runner_id), &bad);
    put(o, "message", str_or_null(v->message), &bad);
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < v->n_tests; i++) {
        if (json_array_append_new(arr, dp_test_result_to_json(&v->tests[i])) != 0)
            bad = 1;
    }
    put(o, "tests", arr, &bad);
    put(o, "log_url", str_or_null(v->log_url), &bad);
    put(o, "created_at", str_or_null(v->created_at), &bad);
    put(o, "started_at", str_or_null(v->started_at), &bad);
    put(o, "finished_at", str_or_null(v->finished_at), &bad);
    return finish(o, bad);
}

json_t *dp_runner_info_to_json(const dp_runner_info *r)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int bad = 0;
    put(o, "runner_id", str_or_null(r->runner_id), &bad);
    put(o, "name", str_or_null(r->name), &bad);
    put(o, "alive", json_boolean(r->alive), &bad);
    put(o, "draining", json_boolean(r->draining), &bad);
    put(o, "capacity", json_integer(r->capacity), &bad);
    put(o, "leased_jobs", json_integer(r->leased_jobs), &bad);
    json_t *labels = json_array();
    for (size_t i = 0; labels != NULL && i < r->n_labels; i++) {
        if (json_array_append_new(labels, str_or_null(r->labels[i])) != 0)
            bad = 1;
    }
    put(o, "labels", labels, &bad);
    put(o, "version", str_or_null(r->version), &bad);
    put(o, "last_seen", str_or_null(r->last_seen), &bad);
    return finish(o, bad);
}

json_t *dp_queue_stats_to_json(const dp_queue_stats *s)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int bad = 0;
    put(o, "pending", json_integer((json_int_t)s->pending), &bad);
    put(o, "leased", json_integer((json_int_t)s->leased), &bad);
    put(o, "dead", json_integer((json_int_t)s->dead), &bad);
    put(o, "completed", json_integer((json_int_t)s->completed), &bad);
    put(o, "runners_alive", json_integer((json_int_t)s->runners_alive), &bad);
    return finish(o, bad);
}
