/* The runner's own HTTP server (RUNNER_HTTP_LISTEN, http://host:port):
 * GET /metrics (Prometheus text), /healthz (liveness), /readyz (registered
 * with a dispatcher), answered by the runner status actor
 * (runner/runner_status.h). libmicrohttpd, one internal thread, at most 32
 * connections; everything else is 404, other methods 405. */
#ifndef DP_RUNNER_HTTP_H
#define DP_RUNNER_HTTP_H

#include "actors/actor.h"

typedef struct runner_http runner_http;

/* status is borrowed (must outlive the server). DP_EINVAL naming
 * RUNNER_HTTP_LISTEN when the URL is bad or the address cannot be bound. */
runner_http *runner_http_start(const char *listen_url, actor *status, dp_err *err);
void runner_http_stop(runner_http *h); /* NULL is fine */

#endif
