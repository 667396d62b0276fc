/* The HTTP API's parts (docs/api.md), shared by dispatch/http_*.c only.
 *
 * http_api.c   the libmicrohttpd daemon: accepts, bounds bodies (413 before
 *              a body is read whole, 415), closes idle connections, matches
 *              a route and calls it.
 * http_core.c  one request's life: answer it now, or forward a message to
 *              the HTTP gateway (dispatch/gateway.c, keys checked there) and
 *              answer from the reply, with the connection suspended meanwhile
 *              (no thread waits); the error JSON and its status.
 * http_routes.c  the routes: JSON <-> the same msgpack messages dispatchctl
 *              sends, so HTTP and dispatchctl always agree.
 * http_execute.c POST /execute; http_inline.c inline files -> a stored zip;
 * http_events.c  Server-Sent Events from the publisher.
 *
 * Threads: the daemon's one polling thread runs every route and every
 * on_reply; a reply arrives on the thread that answered (an actor's, or
 * nng's), which only keeps it in the request and resumes the connection
 * (http_take_reply then runs on the polling thread). Timers run `again` on
 * nng's threads. A request is touched by one thread at a time: the polling
 * thread until it suspends the connection, the callback or timer until it
 * resumes it.
 *
 * Ownership: an http_req belongs to the daemon (freed when MHD reports the
 * request completed); its body and answer are its own heap buffers. */
#ifndef DP_HTTP_IMPL_H
#define DP_HTTP_IMPL_H

#include "actors/actor.h"
#include "actors/actor_client.h"
#include "dispatch/http_inline.h"
#include "dispatch/logstore/logstore.h"
#include "messages/msg.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct http_req http_req;
typedef struct http_server http_server;

/* A route's start: called once the body is in. Answers (http_answer_*) or
 * forwards (http_forward); returns nothing: a request not answered by the
 * time the route returns must have been forwarded. */
typedef void (*http_route_fn)(http_req *r);

/* A forwarded message's reply, on an nng thread: fill the answer and
 * return 0, or return what http_forward / http_park returned (1: still
 * pending; the request is no longer yours). rep is decoded. */
typedef int (*http_reply_fn)(http_req *r, dp_msg *rep);

typedef struct {
    const char *method;  /* "GET", "POST" */
    const char *pattern; /* "/api/v1/jobs/{id}/cancel": one {id} and one {job} at most */
    http_route_fn fn;
    int body;   /* 1: takes a JSON body */
    int stream; /* 1: the route answers with a stream (SSE) */
    /* 1: the route waits on events (SSE, a long-poll, /execute): while it
     * runs the publisher follows the event stream (event_sinks_want) */
    int events;
} http_route;

extern const http_route http_routes[];

/* POST /execute (http_execute.c). */
void http_execute(http_req *r);
/* The dashboard's files (http_static.c): GET / and GET /ui/{id}. */
void http_static_index(http_req *r);
void http_static_file(http_req *r);
extern const size_t http_n_routes;

struct http_server {
    struct MHD_Daemon *daemon;
    actor_client *gateway; /* the HTTP gateway's inproc URL */
    actor_client *status;  /* the status actor: /healthz, /metrics */
    actor_client *runners; /* gateway-runner's inproc URL: runners over HTTP */
    actor *stasher;        /* writes inline files to the log store (dispatch/stasher.h) */
    actor_client *stash;
    size_t max_body;
    logstore *store;   /* inline files (dispatch/http_inline.h); polling thread only */
    size_t max_inline; /* bytes of inline files per spec */
    /* GET .../log on a signed store: presigned URL lifetime. Presigning
     * (any thread) reads only what logstore_open set. */
    unsigned log_url_expiry_s;
    int call_timeout_ms;
    _Atomic int stopping;
    pthread_mutex_t mu;    /* guards the parked list */
    http_req *parked;      /* waiting on a timer (long-poll) */
    _Atomic int suspended; /* connections suspended now */
    _Atomic int live;      /* requests not yet completed (answer sent): stop waits for 0 */
    struct http_hub *hub;  /* SSE (dispatch/http_events.h) */
    char events_name[128]; /* the publisher's in-process name: listeners count there */
};

struct http_req {
    http_server *srv;
    struct MHD_Connection *conn;
    const http_route *route;
    char id[DP_ID_MAX + 1];         /* the path's {id} */
    char job[DP_ID_MAX + 1];        /* the path's {job} */
    char key[DP_MSG_MAX_TOKEN + 1]; /* Authorization: Bearer KEY ("" when none) */
    char *body;
    size_t len, cap;
    int started; /* the route ran */
    /* an answer the route made whole (its own headers; http_static.c), sent
     * with `status` as soon as the route returns: such a route never suspends */
    struct MHD_Response *response;
    int suspended;     /* suspended by the polling thread, which alone writes this */
    _Atomic int armed; /* suspended and not yet resumed: whoever clears it resumes */
    /* the answer */
    unsigned status;
    char *answer;
    size_t answer_len;
    const char *content_type;
    /* route state */
    http_reply_fn on_reply;
    /* a reply kept for the polling thread (on_call fills them, then sets
     * has_reply and resumes; http_take_reply takes them) */
    _Atomic int has_reply;
    int reply_code;
    nng_msg *reply_msg;
    char reply_err[DP_ERR_MSG_MAX];
    json_t *scratch;     /* a route's own JSON (batch items), released with the request */
    int64_t deadline_ms; /* long-poll */
    uint32_t poll_ms;    /* next re-ask interval */
    nng_aio *timer;
    int (*again)(http_req *r);
    http_req *park_next, *park_prev;
    /* SSE (dispatch/http_events.h): answered with a stream that starts
     * after event sse_from, the answer (if any) its first frame */
    int streaming, sse_ended;
    uint64_t sse_from;
    int sse_resumed;      /* sse_from came from Last-Event-ID */
    int sse_asleep;       /* the publisher slept when the request came (http_events.c) */
    uint64_t sse_gen;     /* the hub's wake-ups then */
    uint64_t sse_req_id;  /* when it came, as an event id (http_events.c) */
    int listening;        /* counted in the hub's listeners (route->events) until freed */
    uint32_t retry_after; /* > 0: a Retry-After header (seconds), with 429 */
    char *location;       /* a redirect's Location (http_answer_redirect), or NULL */
};

/* Answers. json is consumed (json_decref'd). */
void http_answer_json(http_req *r, unsigned status, json_t *json);
/* The object json (consumed) with one more member, key: raw, raw being JSON
 * text already (raw_len bytes, borrowed) spliced in as it is: a job spec's
 * text (dp_job_spec_json_text) is not parsed into a tree to be dumped again. */
void http_answer_json_with(http_req *r, unsigned status, json_t *json, const char *key,
                           const char *raw, size_t raw_len);
/* 302 to url (copied), with it in the body too: {"url": ...}. */
void http_answer_redirect(http_req *r, const char *url);
void http_answer_text(http_req *r, unsigned status, const char *type, const char *text, size_t len);
/* {"error":{"code":..,"message":..}} */
void http_answer_error(http_req *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* An error / not_found / conflict reply as the right status. */
void http_answer_reply_error(http_req *r, const dp_msg *rep);

/* A submit item's refusal as the answer: 429 + Retry-After for "quota",
 * else 503 (the spec passed the same check the reporter makes, so another
 * refusal is the server's). */
void http_answer_item_error(http_req *r, const dp_submit_item *it);

/* GET /api/v1/jobs, GET /api/v1/profiles (http_list.c). */
void http_list_jobs(http_req *r);
void http_list_profiles(http_req *r);

/* Sends m (its auth set to the request's key; m stays the caller's) through
 * the HTTP gateway; on_reply gets the answer. Suspends the connection when
 * called from the polling thread; from a reply callback it is already. */
int http_forward(http_req *r, dp_msg *m, http_reply_fn on_reply);

/* The same to another gateway (gateway-runner for runners over HTTP), m as
 * it is (no API key), with a reply timeout of timeout_ms. */
int http_forward_via(http_req *r, actor_client *to, int timeout_ms, dp_msg *m,
                     http_reply_fn on_reply);
/* http_forward after the stasher (dispatch/stasher.h) has stored up's
 * archives (at once when up is empty); a store that fails is a 503 and
 * nothing is submitted. up stays the caller's (its bytes are copied). */
int http_forward_stored(http_req *r, http_uploads *up, dp_msg *m, http_reply_fn on_reply);

/* Asks the status actor (its one-byte protocol): answered as text. */
void http_ask_status(http_req *r, char kind);

/* Long-poll: suspends the connection and calls `again` after ms (an nng
 * timer, no thread), from on_reply or `again` itself. `again` returns
 * like an http_reply_fn. Returns 1 (pending), or 0 with an answer set. */
int http_park(http_req *r, uint32_t ms, int (*again)(http_req *r));

/* On the polling thread, the connection resumed with a kept reply: runs
 * the route's on_reply for it (which may forward again or park, and so
 * suspend again). */
void http_take_reply(http_req *r);

/* On the polling thread, called again by the daemon after a resume: the
 * request is its own again. */
void http_resumed(http_req *r);

/* From a reply callback or timer: the answer (or a kept reply) is set, let
 * the daemon take it. After this the request is no longer the caller's. */
void http_resume(http_req *r);

/* Releases everything r holds. */
void http_req_free(http_req *r);

/* State changes (evs[0..n)): parked requests about their jobs ask again now. */
void http_wake_parked(http_server *s, const dp_msg_event *evs, size_t n);

/* Stop: every parked request answered 503 and resumed (before the daemon stops). */
void http_unpark_all(http_server *s);

#endif
