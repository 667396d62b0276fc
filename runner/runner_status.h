/* The runner's status actor: what its HTTP server (runner/runner_http.h,
 * RUNNER_HTTP_LISTEN) answers on /metrics, /healthz and /readyz.
 * It owns the runner's metrics registry (common/metrics.h); the other
 * actors push to it with one-way in-process messages, since they are busy
 * inside jobs when a scrape comes: an executor says when a job starts and,
 * when it ends, sends that job's counts (verdict, sandbox time, fetch bytes
 * and time); the session says when the runner registers or loses its
 * dispatcher. One message per event, never per scrape.
 * Frames (internal to runner_status.c): a kind byte, then its fields. */
#ifndef DP_RUNNER_STATUS_H
#define DP_RUNNER_STATUS_H

#include "actors/actor.h"
#include "common/metrics.h"

#include <stdint.h>

actor *runner_status_spawn(uint32_t slots, const char *dispatch_urls, dp_err *err);

/* One-way, from any actor; a NULL status is a no-op (no HTTP configured). */
void runner_status_job_started(actor *status, uint32_t slot);
/* job: that job's series (borrowed; the caller resets it for the next). */
void runner_status_job_done(actor *status, uint32_t slot, const dp_metrics *job);
void runner_status_link(actor *status, int registered);

/* Blocking, from a thread that is no actor of the runner (the HTTP server):
 * kind 'm' metrics, 'h' liveness, 'r' readiness (registered). *text is
 * heap (free it); *ok 1 when healthy/ready. */
int runner_status_query(actor *status, char kind, char **text, size_t *len, int *ok, dp_err *err);

extern const dp_metric_desc runner_metric_descs[];
extern const size_t runner_n_metric_descs;

#endif
