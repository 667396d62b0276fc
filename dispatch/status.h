/* The status actor: what /healthz and /metrics (Prometheus text) answer,
 * when DISPATCH_HTTP_LISTEN is set (the HTTP API, dispatch/http_api.h,
 * serves them). It owns its own Redis and PostgreSQL connections and
 * refreshes a snapshot on its tick (queue counts every second, the
 * completed count every 5 s: it scans), so a scrape costs no query.
 * Protocol: a one-byte request, 'h' (health) or 'm' (metrics); the reply is
 * one byte (1: healthy), then the text. */
#ifndef DP_STATUS_H
#define DP_STATUS_H

#include "actors/actor.h"

typedef struct {
    const char *redis_url;
    const char *prefix;
    const char *pg_dsn;
} status_config;

actor *status_spawn(const status_config *cfg, dp_err *err);

#endif
