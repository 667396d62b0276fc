/* The per-queue series of /metrics: dispatch_queue_depth{profile, labels,
 * priority} (a gauge; every known queue, empty ones at 0) and
 * dispatch_queue_runners{...} (live runners that can take it: 0 means its
 * jobs wait for a runner, the signal an autoscaler scales a pool on). Kept
 * apart from status.c so that file can change without touching routing. */
#ifndef DP_STATUS_QUEUES_H
#define DP_STATUS_QUEUES_H

#include "common/err.h"
#include "dispatch/redis/rq.h"

/* Prometheus text for the queues, heap (free), or NULL with *err set.
 * *draining gets the live runners that drain (read in the same pass). */
char *status_queue_metrics(rq_conn *rq, uint64_t *draining, dp_err *err);

#endif
