/* dispatchd's metric families (docs/operations.md): names, types and help
 * text, in the order /metrics renders them. Internal to the status actor
 * (dispatch/status.c) and the test that checks dashboards against them. */
#ifndef DP_STATUS_METRICS_H
#define DP_STATUS_METRICS_H

#include "common/job.h"
#include "common/metrics.h"

#include <stdint.h>

extern const dp_metric_desc status_metric_descs[];
extern const size_t status_n_metric_descs;

/* The queue as the status actor last read it. */
typedef struct {
    dp_queue_stats q;
    uint64_t runners_draining;
    int up;          /* Redis and PostgreSQL answered the last refresh */
    double uptime_s; /* since dispatchd started */
    size_t missed;   /* actors that gave no snapshot to this scrape */
} status_gauges;

/* The gauges the status actor owns, into m. */
void status_metrics_gauges(dp_metrics *m, const status_gauges *g);

#endif
