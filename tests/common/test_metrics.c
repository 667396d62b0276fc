/* common/metrics: series, histogram buckets, merge of snapshots, the
 * Prometheus text. */
#include "common/err.h"
#include "common/metrics.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_counter_and_labels(void **st)
{
    (void)st;
    dp_metrics *m = dp_metrics_new();
    char l[DP_METRICS_LABELS_MAX];
    dp_metrics_labels(l, sizeof l, "profile", "c", "verdict", "A\"C\\\n", (char *)NULL);
    assert_string_equal(l, "profile=\"c\",verdict=\"A\\\"C\\\\\\n\"");
    dp_metrics_inc(m, "x_total", l, 1);
    dp_metrics_inc(m, "x_total", l, 2);
    dp_metrics_inc(m, "x_total", "", 5);
    assert_int_equal(m->n, 2);
    assert_true(*dp_metrics_counter(m, "x_total", l) == 3);
    /* the same series with another kind is refused, not mixed */
    assert_null(dp_metrics_gauge(m, "x_total", ""));
    /* full: refused and counted, never grown */
    char name[32];
    for (int i = 0; i < DP_METRICS_MAX + 10; i++) {
        snprintf(name, sizeof name, "s%d", i);
        dp_metrics_inc(m, name, "", 1);
    }
    assert_int_equal(m->n, DP_METRICS_MAX);
    assert_int_equal(m->dropped, 12);
    dp_metrics_free(m);
}

static void test_hist_buckets(void **st)
{
    (void)st;
    dp_hist h = {0};
    dp_hist_observe(&h, 0.0005); /* on the bound: le="0.0005" */
    dp_hist_observe(&h, 0.0006);
    dp_hist_observe(&h, 1e9);
    dp_hist_observe(&h, -1); /* a clock step: counted as 0 */
    assert_int_equal(h.buckets[0], 2);
    assert_int_equal(h.buckets[1], 1);
    assert_int_equal(h.buckets[DP_HIST_N], 1);
    assert_int_equal(h.count, 4);
}

static void test_merge_and_render(void **st)
{
    (void)st;
    dp_metrics *a = dp_metrics_new(), *b = dp_metrics_new(), *all = dp_metrics_new();
    dp_metrics_inc(a, "jobs_total", "verdict=\"AC\"", 2);
    dp_metrics_observe(a, "lat_seconds", "", 0.002);
    dp_metrics_inc(b, "jobs_total", "verdict=\"AC\"", 1);
    dp_metrics_observe(b, "lat_seconds", "", 3);
    dp_metrics_set(b, "depth", "", 7);
    dp_err err = {0};
    size_t len = 0;
    const void *snap = dp_metrics_snapshot(a, &len);
    assert_int_equal(dp_metrics_merge(all, snap, len, &err), DP_OK);
    snap = dp_metrics_snapshot(b, &len);
    assert_int_equal(dp_metrics_merge(all, snap, len, &err), DP_OK);
    assert_int_equal(dp_metrics_merge(all, snap, len - 1, &err), DP_EPROTO);
    static const dp_metric_desc descs[] = {
        {"jobs_total", DP_METRIC_COUNTER, "Jobs."},
        {"lat_seconds", DP_METRIC_HIST, "Latency."},
        {"depth", DP_METRIC_GAUGE, "Depth."},
        {"never_seen_total", DP_METRIC_COUNTER, "Nothing yet."},
    };
    char *text = NULL;
    size_t tlen = 0;
    assert_int_equal(dp_metrics_render(all, descs, 4, &text, &tlen), DP_OK);
    assert_non_null(strstr(text, "# HELP jobs_total Jobs.\n# TYPE jobs_total counter\n"
                                 "jobs_total{verdict=\"AC\"} 3\n"));
    assert_non_null(strstr(text, "lat_seconds_bucket{le=\"0.0025\"} 1\n"));
    assert_non_null(strstr(text, "lat_seconds_bucket{le=\"2.5\"} 1\n"));
    assert_non_null(strstr(text, "lat_seconds_bucket{le=\"5\"} 2\n"));
    assert_non_null(strstr(text, "lat_seconds_bucket{le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(text, "lat_seconds_sum 3.002\nlat_seconds_count 2\n"));
    assert_non_null(strstr(text, "depth 7\n"));
    assert_non_null(strstr(text, "# TYPE never_seen_total counter\n"));
    assert_null(dp_metrics_undescribed(all, descs, 4));
    assert_string_equal(dp_metrics_undescribed(all, descs, 1), "lat_seconds");
    free(text);
    dp_metrics_free(a);
    dp_metrics_free(b);
    dp_metrics_free(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_and_labels),
        cmocka_unit_test(test_hist_buckets),
        cmocka_unit_test(test_merge_and_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
