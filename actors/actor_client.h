/* Talking to actors: request/reply calls and acknowledged one-way sends,
 * by actor pointer (same process) or by URL (inproc://, ipc://, tcp://).
 *
 * Message ownership: every request/message passed in is consumed, also on
 * error. On success *reply is the handler's reply body, owned by the caller
 * (nng_msg_free it). On error *reply is NULL and err names the actor's error
 * (its code and message travel back), or the transport failure:
 *   DP_EUNAVAIL nobody listens at the URL; DP_ETIMEOUT no answer in time;
 *   DP_EFULL    the actor's mailbox is full (back-pressure: retry later);
 *   DP_ECLOSED  the actor stopped before answering.
 * timeout_ms > 0, or ACTOR_FOREVER. Requests are never resent on a timer
 * (so a long-held deferred request is not duplicated). Over tcp:// and
 * ipc:// (the runtime's own transport) a call whose connection breaks
 * ends DP_EUNAVAIL and the next call connects again; over tls+tcp:// nng
 * resends it at once on the next connection. */
#ifndef DP_ACTOR_CLIENT_H
#define DP_ACTOR_CLIENT_H

#include <nng/nng.h>

#include "common/err.h"

#define ACTOR_FOREVER (-1)
#define ACTOR_DEFAULT_MAX_MSG_BYTES (4u << 20) /* largest reply or request by default */

typedef struct actor_client actor_client;
typedef struct actor_future actor_future;

/* A connection to url, reused across calls; thread-safe (calls may run
 * concurrently). Connects before returning (DP_EUNAVAIL if nobody listens)
 * and reconnects later (over tcp/ipc on the next call, over tls+tcp by
 * itself). Owned by the caller: actor_client_close it. */
actor_client *actor_client_open(const char *url, dp_err *err);
void actor_client_close(actor_client *c);

/* The first half of actor_client_close: ends every call in flight
 * (DP_ECLOSED; returns once their callbacks have), and every later call
 * fails with DP_ECLOSED; c stays valid until actor_client_close. For a
 * client other threads may still call while it is being stopped. */
void actor_client_shutdown(actor_client *c);

int actor_client_call(actor_client *c, nng_msg *req, nng_msg **reply, int timeout_ms, dp_err *err);

/* One-way: returns once the actor has queued msg (its handler gets reply ==
 * NULL), DP_EFULL when its mailbox is full. */
int actor_client_send(actor_client *c, nng_msg *msg, int timeout_ms, dp_err *err);

/* Starts a call without waiting; many may be in flight on one client. NULL
 * + err if it cannot start (req consumed either way). The future is owned
 * by the caller until actor_future_wait, which frees it. */
actor_future *actor_client_call_start(actor_client *c, nng_msg *req, int timeout_ms, dp_err *err);

/* Waits for a started call; returns like actor_client_call; frees f. The
 * client may be closed before (the call then ends with DP_ECLOSED). */
int actor_future_wait(actor_future *f, nng_msg **reply, dp_err *err);

/* Result of an async call, exactly once, on the thread that finished it (a
 * tcp/ipc link's I/O thread, an nng worker over tls+tcp, the answering
 * thread for an actor of this process; never the caller's): code as
 * actor_client_call returns it; reply owned by the callback (NULL on
 * error); errmsg (NULL on success) valid during the call only. Keep it
 * short and non-blocking: e.g. actor_reply() to answer a request the
 * calling actor deferred, so a forwarding actor needs no thread per call. */
typedef void (*actor_reply_fn)(void *arg, int code, nng_msg *reply, const char *errmsg);

/* Starts a call whose result goes to cb. 0, or an error (req consumed,
 * cb not called). actor_client_close waits for pending callbacks, so
 * never close the client from inside one. */
int actor_client_call_async(actor_client *c, nng_msg *req, int timeout_ms, actor_reply_fn cb,
                            void *arg, dp_err *err);

/* One-shot by URL: connect, call, disconnect. Use a client for repeats. */
int actor_call_url(const char *url, nng_msg *req, nng_msg **reply, int timeout_ms, dp_err *err);
int actor_send_url(const char *url, nng_msg *msg, int timeout_ms, dp_err *err);

#endif
