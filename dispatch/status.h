/* The status actor: /healthz and /metrics (Prometheus text) over nng's HTTP
 * server, when DISPATCH_HTTP_LISTEN is set. It owns its own Redis and
 * PostgreSQL connections and refreshes a snapshot on its tick (queue counts
 * every second, the completed count every 5 s: it scans), so a scrape costs
 * no query. HTTP callbacks run on nng's threads and never block: they ask
 * the actor with an asynchronous call and answer from its callback. */
#ifndef DP_STATUS_H
#define DP_STATUS_H

#include "actors/actor.h"

typedef struct {
    const char *http_url; /* http://host:port */
    const char *redis_url;
    const char *prefix;
    const char *pg_dsn;
} status_config;

actor *status_spawn(const status_config *cfg, dp_err *err);

/* Stops the HTTP server (before actor_destroy: no callback may still run). */
void status_http_stop(actor *a);

#endif
