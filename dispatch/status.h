/* The status actor: what /healthz (liveness), /readyz (readiness) and
 * /metrics (Prometheus text, docs/operations.md) answer, when
 * DISPATCH_HTTP_LISTEN is set (the HTTP API, dispatch/http_api.h, serves
 * them). It owns its own Redis and PostgreSQL connections and reads the
 * queue's counts when a probe or a scrape asks (at most once a second; the
 * completed count at most every 5 s, and the per-queue series and the
 * draining runners once per scrape: they scan), never on a timer: an idle
 * system with nobody looking costs Redis and PostgreSQL nothing here. The job counters and latency
 * histograms live in the actors that count them (reporter, leaser, registrar: each its own
 * registry, common/metrics.h); a scrape asks each for a snapshot (dd_metrics_gather) and merges
 * them: nothing is shared, and the job's path pays only a few additions. Protocol: a one-byte
 * request, 'h' (liveness), 'r' (readiness) or 'm' (metrics); the reply is one byte (1: healthy /
 * ready), then the text. */
#ifndef DP_STATUS_H
#define DP_STATUS_H

#include "actors/actor.h"

#define STATUS_MAX_SOURCES 8

typedef struct {
    const char *redis_url;
    const char *prefix;
    const char *pg_dsn;
    actor *sources[STATUS_MAX_SOURCES]; /* dd actors whose metrics a scrape gathers (borrowed) */
    size_t n_sources;
} status_config;

actor *status_spawn(const status_config *cfg, dp_err *err);

#endif
