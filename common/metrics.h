/* Counters, gauges and fixed-bucket histograms for ONE owner thread: each
 * actor keeps its own registry (no locks, nothing shared); a status actor
 * merges snapshots of them and renders the Prometheus text format.
 *
 * A series is (name, labels): labels are preformatted Prometheus label
 * pairs (`profile="c",verdict="AC"`, "" for none; dp_metrics_labels escapes
 * values). A registry holds at most DP_METRICS_MAX series; the ones beyond
 * are counted in `dropped`, never allocated (a label set from untrusted
 * input cannot grow memory). Pointers a registry returns stay valid until it
 * is freed or reset.
 *
 * Histograms have one fixed set of bucket bounds for every latency
 * (dp_hist_bounds, seconds, 0.5 ms .. 10 min): written once, never
 * configured, so snapshots of different actors always merge.
 *
 * Snapshots are the registry's series as flat bytes (no pointers), for a
 * message between actors of one process; dp_metrics_merge checks them. */
#ifndef DP_METRICS_H
#define DP_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct dp_err;

#define DP_METRICS_MAX 256
#define DP_METRICS_NAME_MAX 64
#define DP_METRICS_LABELS_MAX 160
#define DP_HIST_N 20 /* finite bucket bounds; a +Inf bucket follows */

extern const double dp_hist_bounds[DP_HIST_N];

typedef enum { DP_METRIC_COUNTER = 1, DP_METRIC_GAUGE, DP_METRIC_HIST } dp_metric_kind;

typedef struct dp_hist {
    uint64_t buckets[DP_HIST_N + 1]; /* per bucket (not cumulative); the last is +Inf */
    uint64_t count;
    double sum;
} dp_hist;

typedef struct {
    char name[DP_METRICS_NAME_MAX];
    char labels[DP_METRICS_LABELS_MAX];
    uint64_t hash; /* of name and labels: the lookup compares it first */
    uint32_t kind; /* dp_metric_kind */
    double value;  /* counter, gauge */
    dp_hist hist;  /* histogram */
} dp_series;

typedef struct dp_metrics {
    size_t n;
    uint64_t dropped; /* series refused because the registry was full */
    dp_series s[DP_METRICS_MAX];
} dp_metrics;

/* Heap, zeroed; NULL when out of memory. */
dp_metrics *dp_metrics_new(void);
void dp_metrics_free(dp_metrics *m);
void dp_metrics_reset(dp_metrics *m);

/* The series' value (created at 0 when new); NULL when the registry is
 * full or the name/labels do not fit, or the series exists with another kind. */
double *dp_metrics_counter(dp_metrics *m, const char *name, const char *labels);
double *dp_metrics_gauge(dp_metrics *m, const char *name, const char *labels);
dp_hist *dp_metrics_hist(dp_metrics *m, const char *name, const char *labels);

/* Shorthands (no-ops when the series cannot be had; m may be NULL). */
void dp_metrics_inc(dp_metrics *m, const char *name, const char *labels, double by);
void dp_metrics_set(dp_metrics *m, const char *name, const char *labels, double v);
void dp_metrics_observe(dp_metrics *m, const char *name, const char *labels, double seconds);
void dp_hist_observe(dp_hist *h, double v);

/* Monotonic seconds, for durations to observe. */
double dp_metrics_now(void);

/* Label pairs: dp_metrics_labels(out, n, "profile", p, "verdict", v, NULL).
 * Values are escaped (\\, \", \n) and cut to fit; returns out. */
char *dp_metrics_labels(char *out, size_t n, const char *key, ...);

/* The snapshot: m->s, m->n * sizeof(dp_series) bytes (borrowed from m). */
const void *dp_metrics_snapshot(const dp_metrics *m, size_t *len);

/* Adds a snapshot into `into`: counters and histograms add, gauges add
 * (owners of one gauge keep it in one actor). DP_EPROTO when the bytes are
 * not a snapshot (length, strings, kinds). */
int dp_metrics_merge(dp_metrics *into, const void *snap, size_t len, struct dp_err *err);

/* One metric family as rendered: HELP and TYPE once, then its series. */
typedef struct {
    const char *name;
    dp_metric_kind kind;
    const char *help;
} dp_metric_desc;

/* Appends the Prometheus text (format 0.0.4) of every family in descs, in
 * that order, to *buf (heap, grown with realloc; *len its length). A family
 * with no series is rendered with HELP and TYPE only. Series whose name has
 * no desc are not rendered (tests find them: dp_metrics_undescribed).
 * DP_ENOMEM on allocation failure (*buf stays valid). */
int dp_metrics_render(const dp_metrics *m, const dp_metric_desc *descs, size_t n_descs, char **buf,
                      size_t *len);

/* Appends formatted text to *buf (the same growable buffer). */
int dp_metrics_appendf(char **buf, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The first series name with no desc, or NULL. */
const char *dp_metrics_undescribed(const dp_metrics *m, const dp_metric_desc *descs,
                                   size_t n_descs);

#endif
