/* Server-Sent Events for the HTTP API (docs/api.md): GET /api/v1/events and
 * GET /api/v1/jobs/{id}/events. A hub subscribes to the publisher's events
 * (an event sink, called on the publisher's thread): every replica's events
 * with their global ids (the shared stream's, event_stream.h), of which it
 * keeps the last HTTP_SSE_RING, so `Last-Event-ID` from any replica resumes
 * without a gap while the ring still holds it. Each stream is a libmicrohttpd
 * response whose reader writes what is new and otherwise suspends the
 * connection until the hub resumes it: 1,000 open streams cost memory, no
 * thread. A ": ping" comment every HTTP_SSE_PING_MS finds dead clients.
 *
 * Ownership: the hub is the server's (http_api.c): http_hub_quiesce before
 * the daemon stops (ends every stream), http_hub_free after. */
#ifndef DP_HTTP_EVENTS_H
#define DP_HTTP_EVENTS_H

#include "common/err.h"
#include "dispatch/http_impl.h"

#define HTTP_SSE_RING 4096
#define HTTP_SSE_PING_MS 15000

typedef struct http_hub http_hub;

/* Subscribes to the events the publisher publishes under events_url (its
 * in-process name); srv's parked long-polls are woken when their job
 * changes state. */
http_hub *http_hub_start(const char *events_url, http_server *srv, dp_err *err);
void http_hub_quiesce(http_hub *h);
/* Streams still open (after quiesce: not yet finished sending their end). */
size_t http_hub_open_streams(http_hub *h);
void http_hub_free(http_hub *h);

/* The routes. */
void http_events_all(http_req *r);
void http_events_job(http_req *r);

/* The streaming response for a request whose route chose to stream
 * (r->streaming); takes r->answer as its first frame. */
struct MHD_Response *http_stream_response(http_req *r);

#endif
