/* The gateway actor: dispatchd's face to the network. It listens on the
 * runner URL or the admin URL (one gateway per URL, so a runner can never
 * send an admin command), decodes and validates each request, and forwards
 * it (fwd.h) to the domain actor that owns that message type, holding the
 * client's request until that actor answers. A bad request is answered with
 * an `error` reply at once; the daemon keeps serving. */
#ifndef DP_GATEWAY_H
#define DP_GATEWAY_H

#include "actors/actor.h"
#include "messages/msg.h"

typedef struct {
    const char *name;       /* "gateway-runner" / "gateway-admin" */
    const char *listen_url; /* tcp://, tls+tcp://, ipc:// */
    const char *also_url;   /* optional second URL, e.g. inproc:// for in-process runners */
    /* routes[type] = the actor that handles that type here; NULL = refused */
    actor *routes[DP_MSG_TYPE_COUNT];
    size_t max_held; /* requests held at once (long-poll leases count) */
} gateway_config;

/* Spawns the gateway; cfg is copied. ipc sockets are made 0600. */
actor *gateway_spawn(const gateway_config *cfg, dp_err *err);

/* Tells the gateway to answer every new request "shutting down" while the
 * domain actors finish; destroy it only after them (they reply through it). */
void gateway_close(actor *gw);

#endif
