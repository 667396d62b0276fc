/* The gateway actor: dispatchd's face to the network. It listens on the
 * runner URL or the admin URL (one gateway per URL, so a runner can never
 * send an admin command), decodes and validates each request, and forwards
 * it (fwd.h) to the domain actor that owns that message type, holding the
 * client's request until that actor answers. A bad request is answered with
 * an `error` reply at once; the daemon keeps serving. */
#ifndef DP_GATEWAY_H
#define DP_GATEWAY_H

#include "actors/actor.h"
#include "dispatch/dd_actor.h"
#include "messages/msg.h"

typedef struct {
    const char *name;       /* "gateway-runner" / "gateway-admin" */
    const char *listen_url; /* tcp://, tls+tcp://, ipc://; NULL: inproc only (the HTTP API's) */
    const char *also_url;   /* optional second URL, e.g. inproc:// for in-process runners */
    dd_routes routes;       /* who takes each type here (NULL: refused), and its scope */
    size_t max_held;        /* requests held at once (long-poll leases count) */
    size_t max_msg_bytes;   /* larger frames are dropped before they are read */
    size_t max_conns;       /* connections beyond this are closed at once */
    /* API keys: when set, every request must carry a live key (envelope
     * "a") with the route's scope, checked against PostgreSQL at pg_dsn
     * (cached); answered `unauthorized` / `forbidden` otherwise. */
    int require_key;
    const char *pg_dsn;
} gateway_config;

/* Spawns the gateway; cfg is copied. ipc sockets are made 0600. */
actor *gateway_spawn(const gateway_config *cfg, dp_err *err);

/* Tells the gateway to answer every new request "shutting down" while the
 * domain actors finish; returns once no request routed on receipt can
 * still be forwarded. Destroy it only after them (they reply through it). */
void gateway_close(actor *gw);

#endif
