/* The public HTTP API on DISPATCH_HTTP_LISTEN (docs/api.md): libmicrohttpd,
 * one polling thread (epoll), connections suspended while a reply or a
 * timer is awaited, so waiting clients cost no thread. Requests become the
 * same messages dispatchctl sends, through the HTTP gateway (an inproc-only
 * gateway that requires API keys); /healthz and /metrics ask the status
 * actor.
 *
 * Ownership: strings in the config are borrowed during http_api_start. The
 * server is the caller's: http_api_stop frees it. */
#ifndef DP_HTTP_API_H
#define DP_HTTP_API_H

#include "common/err.h"

#include <stddef.h>

typedef struct {
    const char *listen_url;  /* http://host:port */
    const char *gateway_url; /* the HTTP gateway's inproc URL */
    const char *runners_url; /* gateway-runner's inproc URL: runners over HTTP */
    const char *status_url;  /* the status actor's inproc URL */
    const char *events_url;  /* the publisher's (inproc) URL: SSE */
    const char *log_store;   /* URL template: inline files are stored there too */
    size_t max_body;         /* request bodies above this: 413 */
    size_t max_inline;       /* inline files of one spec, decoded bytes */
    unsigned idle_s;         /* a connection idle (or trickling) this long is closed */
    /* presigned log URLs (S3 store) live this long; 0: 300 */
    unsigned log_url_expiry_s;
} http_api_config;

typedef struct http_server http_server;

http_server *http_api_start(const http_api_config *cfg, dp_err *err);

/* Answers what is still waiting (503), then stops the daemon. Before the
 * gateway and the status actor stop. NULL is a no-op. */
void http_api_stop(http_server *s);

#endif
