/* Forwarding envelope between dispatchd's gateways and its domain actors.
 *
 * A gateway holds each client request (ACTOR_DEFER) and passes it on as a
 * one-way actor message: [u64 gateway number][u64 request id][the client's
 * wire bytes]. The domain actor answers the client directly with fwd_reply,
 * which encodes the reply and calls actor_reply on that gateway. Gateways
 * get their number from a directory written once each at start
 * (fwd_gateway_enter, on the gateway's own thread before it handles
 * anything), so no pointer travels in a message. Messages between actors of
 * this process carry gateway number 0 and a body in the in-process catalogue
 * (dp_msg_encode_internal).
 *
 * Ownership: fwd_wrap consumes nothing; fwd_open trims the header off msg,
 * which stays the caller's;
 * fwd_reply never takes ownership of reply (it encodes a copy). */
#ifndef DP_FWD_H
#define DP_FWD_H

#include "actors/actor.h"
#include "messages/msg.h"

#include <nng/nng.h>
#include <stdbool.h>

typedef struct {
    uint32_t gateway; /* 0 for a message from another actor: nobody waits */
    actor_req_id req; /* the gateway's held request */
    /* Who asked, where the gateway checks API keys: the key's id ("" when
     * the socket needs none: a local ipc operator, who may do anything) and
     * its DP_SCOPE_* bits. */
    char key_id[20];
    unsigned scopes;
} fwd_origin;

/* Whether the requester may see or touch a job submitted with owner_key
 * (NULL: submitted without a key): a key without read or admin scope sees
 * only its own jobs. */
bool fwd_may_see(fwd_origin o, const char *owner_key);

/* Whether the requester may change such a job (cancel): the local operator,
 * an admin key, or the key that submitted it; read scope is not enough. */
bool fwd_may_touch(fwd_origin o, const char *owner_key);

#define FWD_MAX_GATEWAYS 8

/* Enters gw in the directory: its number (1..FWD_MAX_GATEWAYS), or 0 when
 * the directory is full. fwd_gateway_leave(number) when it stops. */
uint32_t fwd_gateway_enter(actor *gw);
void fwd_gateway_leave(uint32_t number);

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
