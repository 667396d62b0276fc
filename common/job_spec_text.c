/* The job spec's JSON text, written directly into one buffer (see
 * job_json.h, dp_job_spec_json_text). Every submitted spec is rendered once
 * for PostgreSQL; with test data in it (tens of KB a spec) building a
 * jansson tree and dumping it was about half of dispatchd's CPU, most of it
 * in jansson's per-character dump (docs/bench.md, twenty-fifth session).
 * This is the one writer of the spec's JSON form: dp_job_spec_to_json
 * parses its text into a tree. */
#include "common/job_json.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *p; /* malloc'd; NUL-terminated whenever len < cap */
    size_t len, cap;
    int rc;        /* DP_OK until a write fails */
    char what[48]; /* the field a DP_EINVAL names */
} spec_text;

/* Room for more bytes and a NUL; on failure rc says why and later writes
 * do nothing. */
static int text_reserve(spec_text *t, size_t more)
{
    if (t->rc != DP_OK)
        return -1;
    if (more > SIZE_MAX / 4 - t->len) {
        t->rc = DP_ENOMEM;
        return -1;
    }
    size_t need = t->len + more + 1;
    if (need <= t->cap)
        return 0;
    size_t cap = t->cap != 0 ? t->cap : 512;
    while (cap < need)
        cap *= 2;
    char *p = realloc(t->p, cap);
    if (p == NULL) {
        t->rc = DP_ENOMEM;
        return -1;
    }
    t->p = p;
    t->cap = cap;
    return 0;
}

static void text_raw(spec_text *t, const char *s, size_t n)
{
    if (text_reserve(t, n) == 0) {
        memcpy(t->p + t->len, s, n);
        t->len += n;
    }
}

/* A JSON string of s: '"', '\\' and the C0 controls escaped (the short
 * forms where JSON has them), valid UTF-8 as it is, and each byte of an
 * invalid sequence as U+FFFD, as dp_json_string_lossy does. NULL: null. */
static void text_string(spec_text *t, const char *s)
{
    if (s == NULL) {
        text_raw(t, "null", 4);
        return;
    }
    size_t n = strlen(s);
    if (n > (SIZE_MAX / 4 - 2) / 6) { /* 6n + 2 would wrap: never a spec's */
        if (t->rc == DP_OK)
            t->rc = DP_ENOMEM;
        return;
    }
    if (text_reserve(t, 6 * n + 2) != 0) /* at worst every byte is \u00XX */
        return;
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    char *w = t->p + t->len;
    *w++ = '"';
    while (p < end) {
        unsigned c = *p;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *w++ = (char)c;
            p++;
        } else if (c >= 0x80) {
            size_t k = dp_utf8_seq_len(p, (size_t)(end - p));
            if (k == 0) {
                memcpy(w, "\xef\xbf\xbd", 3);
                w += 3;
                k = 1;
            } else {
                memcpy(w, p, k);
                w += k;
            }
            p += k;
        } else {
            *w++ = '\\';
            switch (c) {
            case '"':
                *w++ = '"';
                break;
            case '\\':
                *w++ = '\\';
                break;
            case '\b':
                *w++ = 'b';
                break;
            case '\f':
                *w++ = 'f';
                break;
            case '\n':
                *w++ = 'n';
                break;
            case '\r':
                *w++ = 'r';
                break;
            case '\t':
                *w++ = 't';
                break;
            default:
                memcpy(w, "u00", 3);
                w[3] = hex[c >> 4];
                w[4] = hex[c & 15];
                w += 5;
            }
            p++;
        }
    }
    *w++ = '"';
    t->len = (size_t)(w - t->p);
    t->p[t->len] = '\0';
}

/* ',' unless first, then "key": (keys are our own ASCII names). */
static void text_key(spec_text *t, int *first, const char *key)
{
    if (!*first)
        text_raw(t, ",", 1);
    *first = 0;
    text_raw(t, "\"", 1);
    text_raw(t, key, strlen(key));
    text_raw(t, "\":", 2);
}

static void text_uint(spec_text *t, uint64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    text_raw(t, buf, (size_t)n);
}

/* A real as "%.17g" (exact when read back), with ".0" when it would read
 * as an integer; a non-finite one has no JSON form: DP_EINVAL naming the
 * field (tests[test].field, or field when test < 0). */
static void text_real(spec_text *t, double v, const char *field, long test)
{
    if (!isfinite(v)) {
        if (t->rc == DP_OK) {
            t->rc = DP_EINVAL;
            if (test >= 0)
                snprintf(t->what, sizeof t->what, "tests[%ld].%s", test, field);
            else
                snprintf(t->what, sizeof t->what, "%s", field);
        }
        return;
    }
    char buf[40];
    int n = snprintf(buf, sizeof buf, "%.17g", v);
    if (strpbrk(buf, ".e") == NULL)
        n += snprintf(buf + n, sizeof buf - (size_t)n, ".0");
    text_raw(t, buf, (size_t)n);
}

static void text_test(spec_text *t, const dp_test_case *tc, long i)
{
    int first = 1;
    text_raw(t, "{", 1);
    text_key(t, &first, "name");
    text_string(t, tc->name);
    if (tc->stdin_data != NULL) {
        text_key(t, &first, "stdin");
        text_string(t, tc->stdin_data);
    }
    if (tc->expected_stdout != NULL) {
        text_key(t, &first, "expected_stdout");
        text_string(t, tc->expected_stdout);
    }
    if (tc->timeout_ms != 0) {
        text_key(t, &first, "timeout_ms");
        text_uint(t, tc->timeout_ms);
    }
    if (tc->compare != DP_COMPARE_DEFAULT) {
        text_key(t, &first, "compare");
        text_string(t, dp_compare_name(tc->compare));
    }
    if (tc->abs_tol != 0) {
        text_key(t, &first, "abs_tol");
        text_real(t, tc->abs_tol, "abs_tol", i);
    }
    if (tc->rel_tol != 0) {
        text_key(t, &first, "rel_tol");
        text_real(t, tc->rel_tol, "rel_tol", i);
    }
    if (tc->score != 1.0) {
        text_key(t, &first, "score");
        text_real(t, tc->score, "score", i);
    }
    text_raw(t, "}", 1);
}

static void text_limits(spec_text *t, const dp_limits *l)
{
    int first = 1;
    text_raw(t, "{", 1);
    const struct {
        const char *key;
        uint64_t v;
    } f[] = {{"time_ms", l->time_ms},
             {"wall_ms", l->wall_ms},
             {"memory_kb", l->memory_kb},
             {"processes", l->processes},
             {"output_kb", l->output_kb}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].v != 0) {
            text_key(t, &first, f[i].key);
            text_uint(t, f[i].v);
        }
    text_raw(t, "}", 1);
}

int dp_job_spec_json_text(const dp_job_spec *spec, char **out, size_t *len, dp_err *err)
{
    *out = NULL;
    if (len != NULL)
        *len = 0;
    spec_text t = {0};
    int first = 1;
    text_raw(&t, "{", 1);
    const struct {
        const char *key, *v;
        int always;
    } head[] = {{"job_id", spec->job_id, 0},
                {"profile", spec->profile, 1},
                {"archive", spec->archive, 1},
                {"archive_sha256", spec->archive_sha256, 0},
                {"submission_id", spec->submission_id, 0}};
    for (size_t i = 0; i < sizeof head / sizeof head[0]; i++)
        if (head[i].always || head[i].v != NULL) {
            text_key(&t, &first, head[i].key);
            text_string(&t, head[i].v);
        }
    if (spec->n_tests > 0) {
        text_key(&t, &first, "tests");
        text_raw(&t, "[", 1);
        for (size_t i = 0; i < spec->n_tests; i++) {
            if (i > 0)
                text_raw(&t, ",", 1);
            text_test(&t, &spec->tests[i], (long)i);
        }
        text_raw(&t, "]", 1);
    }
    const dp_limits *l = &spec->limits;
    if (l->time_ms || l->wall_ms || l->memory_kb || l->processes || l->output_kb) {
        text_key(&t, &first, "limits");
        text_limits(&t, l);
    }
    if (spec->max_attempts != 0) {
        text_key(&t, &first, "max_attempts");
        text_uint(&t, spec->max_attempts);
    }
    if (spec->abs_tol != 0) {
        text_key(&t, &first, "abs_tol");
        text_real(&t, spec->abs_tol, "abs_tol", -1);
    }
    if (spec->rel_tol != 0) {
        text_key(&t, &first, "rel_tol");
        text_real(&t, spec->rel_tol, "rel_tol", -1);
    }
    if (spec->callback_url != NULL) {
        text_key(&t, &first, "callback_url");
        text_string(&t, spec->callback_url);
    }
    if (spec->n_labels > 0) {
        text_key(&t, &first, "labels");
        text_raw(&t, "[", 1);
        for (size_t i = 0; i < spec->n_labels; i++) {
            if (i > 0)
                text_raw(&t, ",", 1);
            text_string(&t, spec->labels[i]);
        }
        text_raw(&t, "]", 1);
    }
    const char *prio =
        spec->priority != DP_PRIORITY_NORMAL ? dp_priority_name(spec->priority) : NULL;
    if (prio != NULL) {
        text_key(&t, &first, "priority");
        text_string(&t, prio);
    }
    text_raw(&t, "}", 1);
    if (t.rc != DP_OK) {
        free(t.p);
        return t.rc == DP_EINVAL
                   ? dp_err_set(err, DP_EINVAL, "job spec %s: not a finite number", t.what)
                   : dp_err_set(err, DP_ENOMEM, "job spec as JSON: out of memory");
    }
    t.p[t.len] = '\0';             /* text_reserve keeps room for it */
    if (t.cap > 2 * (t.len + 1)) { /* a submit holds a thousand of these: no slack */
        char *fit = realloc(t.p, t.len + 1);
        if (fit != NULL)
            t.p = fit;
    }
    *out = t.p;
    if (len != NULL)
        *len = t.len;
    return DP_OK;
}

json_t *dp_job_spec_to_json(const dp_job_spec *spec)
{
    char *text;
    size_t len;
    if (dp_job_spec_json_text(spec, &text, &len, NULL) != DP_OK)
        return NULL;
    json_t *j = json_loadb(text, len, 0, NULL);
    free(text);
    return j;
}
