/* Forwarding envelope between dispatchd's gateway and its domain actors.
 *
 * The gateway holds each client request (ACTOR_DEFER) and passes it on as a
 * one-way actor message: [u64 gateway actor pointer][u64 request id][the
 * client's msgpack bytes]. The domain actor answers the client directly with
 * fwd_reply, which encodes the reply and calls actor_reply on the gateway.
 * In-process only (inproc): the pointer is a handle, never dereferenced by
 * anyone but the runtime. Internal one-way messages (events, wake-ups) use
 * the same layout with both numbers 0.
 *
 * Ownership: fwd_wrap consumes nothing; fwd_open leaves msg with the caller;
 * fwd_reply never takes ownership of reply (it encodes a copy). */
#ifndef DP_FWD_H
#define DP_FWD_H

#include "actors/actor.h"
#include "messages/msg.h"

#include <nng/nng.h>

typedef struct {
    actor *gateway;   /* NULL for an internal message: nobody waits */
    actor_req_id req; /* the gateway's held request */
} fwd_origin;

/* Prepends the origin to msg (in place). */
int fwd_wrap(nng_msg *msg, fwd_origin origin, dp_err *err);

/* Reads the origin and decodes the body into *out (dp_msg_free it). On a
 * decode error out is DP_MSG_INVALID and the origin is still filled so the
 * caller can answer with the error. */
int fwd_open(nng_msg *msg, fwd_origin *origin, dp_msg *out, dp_err *err);

/* fwd_open for a domain actor's handler: frees msg, and on a decode error
 * answers the client with a protocol error. DP_OK when *out holds a message. */
int fwd_receive(nng_msg *msg, fwd_origin *origin, dp_msg *out);

/* Encodes reply and answers the held request; a NULL gateway is a no-op. */
void fwd_reply(fwd_origin origin, const dp_msg *reply);

/* Answers with an error reply {code, message}. */
void fwd_reply_error(fwd_origin origin, uint64_t id, const char *code, const char *message);

/* fwd_reply, then frees m. */
void fwd_reply_take(fwd_origin origin, dp_msg *m);

/* Answers a failed operation by its code: DP_ENOTFOUND -> not_found naming
 * `what` ("job", "runner"), DP_ECONFLICT -> conflict, else an error. */
void fwd_reply_code(fwd_origin origin, uint64_t id, int rc, const char *what, const dp_err *err);

/* Encodes m as an internal one-way message for actor_send. NULL on failure. */
nng_msg *fwd_internal(const dp_msg *m, dp_err *err);

#endif
