/* Job domain types -> JSON (what dispatchctl --json and the store print);
 * see job_json.h. */
#include "common/job_json.h"

#include "common/sha256.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- building helpers ---------------------------------------------------- */

size_t dp_utf8_seq_len(const unsigned char *p, size_t left)
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
        size_t n = dp_utf8_seq_len(p + i, len - i);
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
        size_t n = dp_utf8_seq_len(p + i, len - i);
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
    if (tr->message != NULL)
        put(t, "message", str_or_null(tr->message), &bad);
    return finish(t, bad);
}

/* Whole scores print as integers ("score": 100), as README.md shows. */
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
    if (v->callback_state != NULL) {
        json_t *cb = json_object();
        if (cb != NULL) {
            put(cb, "state", str_or_null(v->callback_state), &bad);
            put(cb, "attempts", json_integer(v->callback_attempts), &bad);
            put(cb, "last_error", str_or_null(v->callback_error), &bad);
        }
        put(o, "callback", cb, &bad);
    }
    /* Always present, as the queue shows them: [] and "normal" by default. */
    json_t *labels = json_array();
    for (const char *p = v->labels; labels != NULL && p != NULL && *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (len > 0 && json_array_append_new(labels, json_stringn(p, len)) != 0)
            bad = 1;
        p = comma != NULL ? comma + 1 : p + len;
    }
    put(o, "labels", labels, &bad);
    put(o, "priority", json_string(v->priority != NULL ? v->priority : "normal"), &bad);
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
    if (s->n_queues > 0) {
        json_t *qs = json_array();
        for (size_t i = 0; qs != NULL && i < s->n_queues; i++) {
            const dp_queue_depth *q = &s->queues[i];
            json_t *row = json_object();
            if (row == NULL) {
                bad = 1;
                break;
            }
            put(row, "profile", str_or_null(q->profile), &bad);
            put(row, "labels", str_or_null(q->labels), &bad);
            put(row, "priority", str_or_null(q->priority), &bad);
            put(row, "depth", json_integer((json_int_t)q->depth), &bad);
            put(row, "runners", json_integer((json_int_t)q->runners), &bad);
            if (json_array_append_new(qs, row) != 0)
                bad = 1;
        }
        put(o, "queues", qs, &bad);
    }
    return finish(o, bad);
}
