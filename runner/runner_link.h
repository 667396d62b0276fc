/* What a runner's actors share about their link to the dispatcher: the
 * process-wide stop flag (set once by the signal-handling main thread, read
 * by the actors; the only shared mutable word in dispatch-runner) and small
 * helpers for request/reply over an actor_client with msgpack messages. */
#ifndef DP_RUNNER_LINK_H
#define DP_RUNNER_LINK_H

#include "actors/actor.h"
#include "messages/msg.h"

#include <stdatomic.h>
#include <stdint.h>

#define RUNNER_LINK_MAX_URLS 8
#define RUNNER_LINK_LIST_MAX 1024 /* the whole DISPATCH_URL list, with its NUL */
/* Client-side call deadlines. A replica that stalls (SIGSTOP) still accepts
 * connections, so only a call's own deadline finds it; these bound how long
 * a runner waits on it before going on on the next replica (the session's
 * heartbeats: 5 s). A lease waits its long-poll plus this slack (the
 * leaser answers at its deadline; a replica that stalled fences the claims
 * of requests that waited through the stall, dispatch/leaser.c)... */
#define RUNNER_CALL_SLACK_MS 3000
/* ...and a complete this long (a group commit and a Redis release take
 * milliseconds; repeating a complete elsewhere is idempotent). */
#define RUNNER_COMPLETE_TIMEOUT_MS 6000

/* Sends req (borrowed; its id is set) over *link and decodes the answer
 * into *reply (dp_msg_free it). url is one dispatcher URL or a
 * comma-separated list of replicas: all links of the process use the same
 * one and move to the next together once it stops answering (refuses a
 * connection, a call times out, or a probe each second finds nobody
 * listening); a call waiting on a replica given up ends with DP_EUNAVAIL.
 * The link is opened on first use and again after it could not be (the
 * dispatcher may start after the runner). Transport failures return
 * DP_EUNAVAIL / DP_ETIMEOUT. */
int runner_link_call(actor_client **link, const char *url, dp_msg *req, dp_msg *reply,
                     int timeout_ms, dp_err *err);

/* The replica of the list the links use now (for the runner's metrics). */
void runner_link_current(const char *list, char *out, size_t cap);

/* Checks a DISPATCH_URL value: one URL or up to RUNNER_LINK_MAX_URLS
 * comma-separated, each with one of schemes; err names which is wrong. */
int runner_link_check_urls(const char *what, const char *list, const char *schemes, dp_err *err);

/* Sleeps ms milliseconds, waking early (returns 1) once *stopping is set. */
int runner_link_sleep(const atomic_int *stopping, uint32_t ms);

/* Exponential backoff with jitter: base * 2^n capped at cap, times 0.5..1.5. */
uint32_t runner_link_backoff(uint32_t n, uint32_t base_ms, uint32_t cap_ms);

/* In-process messages (dp_msg_encode_internal) between the runner's actors.
 * m is borrowed. Actors address each other by their inproc URL (a `peers`
 * message), never by a pointer inside a message. */

/* One-way to a (a pointer the caller was configured with) or to a client. */
int runner_link_tell(actor *a, const dp_msg *m, dp_err *err);
int runner_link_tell_client(actor_client *c, const dp_msg *m, dp_err *err);

/* A call that returns once a has handled m. */
int runner_link_command(actor *a, const dp_msg *m, int timeout_ms, dp_err *err);

/* Sends `to` a `peers` message with the inproc URLs of peers (in order). */
int runner_link_send_peers(actor *to, actor *const *peers, size_t n, dp_err *err);

/* Opens a client per URL of p, appended to out[*n] (at most max in all).
 * The clients are the caller's: runner_link_close_peers. */
int runner_link_open_peers(const dp_msg_peers *p, actor_client **out, size_t max, size_t *n,
                           dp_err *err);
void runner_link_close_peers(actor_client **peers, size_t n);

#endif
