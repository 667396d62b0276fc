#include "common/metrics.h"

#include "common/err.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Seconds. Sub-millisecond for Redis and PostgreSQL round trips, minutes for
 * submit-to-verdict under a backlog. */
const double dp_hist_bounds[DP_HIST_N] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                          0.1,    0.25,  0.5,    1,     2.5,  5,     10,
                                          15,     30,    60,     120,   300,  600};

dp_metrics *dp_metrics_new(void)
{
    return calloc(1, sizeof(dp_metrics));
}

void dp_metrics_free(dp_metrics *m)
{
    free(m);
}

void dp_metrics_reset(dp_metrics *m)
{
    if (m != NULL) {
        m->n = 0;
        m->dropped = 0;
    }
}

static uint64_t series_hash(const char *name, const char *labels)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (const char *p = labels; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return h;
}

static dp_series *series(dp_metrics *m, const char *name, const char *labels, uint32_t kind)
{
    if (m == NULL)
        return NULL;
    if (labels == NULL)
        labels = "";
    uint64_t h = series_hash(name, labels);
    for (size_t i = 0; i < m->n; i++) {
        dp_series *s = &m->s[i];
        if (s->hash == h && strcmp(s->name, name) == 0 && strcmp(s->labels, labels) == 0)
            return s->kind == kind ? s : NULL;
    }
    if (m->n == DP_METRICS_MAX || strlen(name) >= DP_METRICS_NAME_MAX ||
        strlen(labels) >= DP_METRICS_LABELS_MAX) {
        m->dropped++;
        return NULL;
    }
    dp_series *s = &m->s[m->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->labels, sizeof s->labels, "%s", labels);
    s->hash = h;
    s->kind = kind;
    return s;
}

double *dp_metrics_counter(dp_metrics *m, const char *name, const char *labels)
{
    dp_series *s = series(m, name, labels, DP_METRIC_COUNTER);
    return s != NULL ? &s->value : NULL;
}

double *dp_metrics_gauge(dp_metrics *m, const char *name, const char *labels)
{
    dp_series *s = series(m, name, labels, DP_METRIC_GAUGE);
    return s != NULL ? &s->value : NULL;
}

dp_hist *dp_metrics_hist(dp_metrics *m, const char *name, const char *labels)
{
    dp_series *s = series(m, name, labels, DP_METRIC_HIST);
    return s != NULL ? &s->hist : NULL;
}

void dp_metrics_inc(dp_metrics *m, const char *name, const char *labels, double by)
{
    double *v = dp_metrics_counter(m, name, labels);
    if (v != NULL)
        *v += by;
}

void dp_metrics_set(dp_metrics *m, const char *name, const char *labels, double val)
{
    double *v = dp_metrics_gauge(m, name, labels);
    if (v != NULL)
        *v = val;
}

void dp_hist_observe(dp_hist *h, double v)
{
    if (h == NULL)
        return;
    if (!(v >= 0)) /* NaN or negative (a clock step): counted as 0 */
        v = 0;
    size_t i = 0;
    while (i < DP_HIST_N && v > dp_hist_bounds[i])
        i++;
    h->buckets[i]++;
    h->count++;
    h->sum += v;
}

double dp_metrics_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void dp_metrics_observe(dp_metrics *m, const char *name, const char *labels, double seconds)
{
    dp_hist_observe(dp_metrics_hist(m, name, labels), seconds);
}

char *dp_metrics_labels(char *out, size_t n, const char *key, ...)
{
    size_t at = 0;
    out[0] = '\0';
    va_list ap;
    va_start(ap, key);
    for (const char *k = key; k != NULL; k = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        if (v == NULL)
            v = "";
        char esc[DP_METRICS_LABELS_MAX];
        size_t e = 0;
        for (const char *p = v; *p && e + 2 < sizeof esc; p++) {
            if (*p == '\\' || *p == '"' || *p == '\n') {
                esc[e++] = '\\';
                esc[e++] = *p == '\n' ? 'n' : *p;
            } else {
                esc[e++] = *p;
            }
        }
        esc[e] = '\0';
        int w = snprintf(out + at, n - at, "%s%s=\"%s\"", at ? "," : "", k, esc);
        if (w < 0 || (size_t)w >= n - at) {
            out[at] = '\0'; /* the pair does not fit: left out whole */
            break;
        }
        at += (size_t)w;
    }
    va_end(ap);
    return out;
}

const void *dp_metrics_snapshot(const dp_metrics *m, size_t *len)
{
    *len = m->n * sizeof(dp_series);
    return m->s;
}

int dp_metrics_merge(dp_metrics *into, const void *snap, size_t len, dp_err *err)
{
    if (len % sizeof(dp_series) != 0 || len / sizeof(dp_series) > DP_METRICS_MAX)
        return dp_err_set(err, DP_EPROTO, "metrics snapshot: %zu bytes is not a snapshot", len);
    for (size_t i = 0; i < len / sizeof(dp_series); i++) {
        dp_series copy; /* the bytes may sit anywhere in a message body: no alignment assumed */
        memcpy(&copy, (const char *)snap + i * sizeof copy, sizeof copy);
        const dp_series *s = &copy;
        if (memchr(s->name, '\0', sizeof s->name) == NULL ||
            memchr(s->labels, '\0', sizeof s->labels) == NULL || s->kind < DP_METRIC_COUNTER ||
            s->kind > DP_METRIC_HIST)
            return dp_err_set(err, DP_EPROTO, "metrics snapshot: series %zu is malformed", i);
        dp_series *d = series(into, s->name, s->labels, s->kind);
        if (d == NULL)
            continue; /* full, or a kind clash: counted in dropped */
        d->value += s->value;
        for (size_t b = 0; b <= DP_HIST_N; b++)
            d->hist.buckets[b] += s->hist.buckets[b];
        d->hist.count += s->hist.count;
        d->hist.sum += s->hist.sum;
    }
    return DP_OK;
}

int dp_metrics_appendf(char **buf, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0)
        return DP_EINVAL;
    char *nb = realloc(*buf, *len + (size_t)need + 1);
    if (nb == NULL)
        return DP_ENOMEM;
    *buf = nb;
    va_start(ap, fmt);
    vsnprintf(nb + *len, (size_t)need + 1, fmt, ap);
    va_end(ap);
    *len += (size_t)need;
    return DP_OK;
}

/* Integers as integers (counts), everything else with enough digits. */
static const char *num(double v, char out[40])
{
    if (isinf(v))
        snprintf(out, 40, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(out, 40, "%.0f", v);
    else
        snprintf(out, 40, "%.9g", v);
    return out;
}

static int render_hist(const dp_series *s, char **buf, size_t *len)
{
    char a[40];
    const char *sep = s->labels[0] ? "," : "";
    uint64_t cum = 0;
    int rc = DP_OK;
    for (size_t b = 0; b <= DP_HIST_N && rc == DP_OK; b++) {
        cum += s->hist.buckets[b];
        rc = dp_metrics_appendf(buf, len, "%s_bucket{%s%sle=\"%s\"} %llu\n", s->name, s->labels,
                                sep, b < DP_HIST_N ? num(dp_hist_bounds[b], a) : "+Inf",
                                (unsigned long long)cum);
    }
    const char *lo = s->labels[0] ? "{" : "", *lc = s->labels[0] ? "}" : "";
    if (rc == DP_OK)
        rc = dp_metrics_appendf(buf, len, "%s_sum%s%s%s %s\n%s_count%s%s%s %llu\n", s->name, lo,
                                s->labels, lc, num(s->hist.sum, a), s->name, lo, s->labels, lc,
                                (unsigned long long)s->hist.count);
    return rc;
}

int dp_metrics_render(const dp_metrics *m, const dp_metric_desc *descs, size_t n_descs, char **buf,
                      size_t *len)
{
    static const char *const type_name[] = {"", "counter", "gauge", "histogram"};
    int rc = DP_OK;
    for (size_t d = 0; d < n_descs && rc == DP_OK; d++) {
        const dp_metric_desc *f = &descs[d];
        rc = dp_metrics_appendf(buf, len, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                                type_name[f->kind]);
        for (size_t i = 0; i < m->n && rc == DP_OK; i++) {
            const dp_series *s = &m->s[i];
            if (strcmp(s->name, f->name) != 0 || s->kind != (uint32_t)f->kind)
                continue;
            char a[40];
            if (s->kind == DP_METRIC_HIST)
                rc = render_hist(s, buf, len);
            else if (s->labels[0])
                rc = dp_metrics_appendf(buf, len, "%s{%s} %s\n", s->name, s->labels,
                                        num(s->value, a));
            else
                rc = dp_metrics_appendf(buf, len, "%s %s\n", s->name, num(s->value, a));
        }
    }
    return rc;
}

const char *dp_metrics_undescribed(const dp_metrics *m, const dp_metric_desc *descs, size_t n_descs)
{
    for (size_t i = 0; i < m->n; i++) {
        size_t d = 0;
        while (d < n_descs && strcmp(descs[d].name, m->s[i].name) != 0)
            d++;
        if (d == n_descs)
            return m->s[i].name;
    }
    return NULL;
}
