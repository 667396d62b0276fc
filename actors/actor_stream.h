/* The actor runtime's own stream transport for tcp:// and ipc:// (internal
 * to actors/; docs/actors.md, "The runner <-> dispatchd wire").
 *
 * Why not nng: one nng req/rep round trip over loopback TCP cost 245 us of
 * CPU and 21 context switches, against 50 us and 2 over a plain TCP
 * connection (bench_hop reqrep_tcp / tcp_raw); at the runner wire's ~7 jobs
 * per message that was a sixth of the system's CPU per job. Here a
 * connection is a socket, one thread per listening actor reads it with
 * epoll, and replies and requests are written by the thread that makes
 * them. tls+tcp:// stays on nng (its TLS).
 *
 * On the wire, after a greeting (ACTOR_STREAM_HELLO, 8 bytes, each way:
 * client first) every message is a frame:
 *   u32 body length, big-endian (1 .. limit)
 *   u32 call id, big-endian (chosen by the client; the reply carries it)
 *   body: the actor frame (actor_frame.h): kind byte + the sender's bytes
 *         for a request, status byte + bytes for a reply.
 * A frame above the receiver's limit, or a greeting that is not ours,
 * closes the connection; every call in flight on it ends DP_EUNAVAIL.
 * Nothing is resent: a call whose connection broke fails, and the caller
 * decides (the runner resends what was not acknowledged).
 *
 * Ownership: a listener set belongs to its actor (actor_stream_listen ..
 * actor_stream_close); a client link belongs to its actor_client. */
#ifndef DP_ACTOR_STREAM_H
#define DP_ACTOR_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "actors/actor_client.h"
#include "common/err.h"

typedef struct actor actor;

#define ACTOR_STREAM_HELLO "DPACTOR1"
#define ACTOR_STREAM_HELLO_LEN 8u
#define ACTOR_STREAM_HDR 8u
/* Unsent bytes a connection may hold: a listener stops reading a peer
 * whose replies pile up past ACTOR_STREAM_PAUSE_BYTES (it stopped reading)
 * and closes it past ACTOR_STREAM_MAX_BACKLOG; a client refuses a call
 * (DP_EFULL) that would pass it. */
#define ACTOR_STREAM_PAUSE_BYTES (256u << 10)
#define ACTOR_STREAM_MAX_BACKLOG (16u << 20)

/* 1 for a URL this transport serves (tcp://, ipc://), else 0. */
int actor_stream_handles(const char *url);

/* --- addresses (actor_stream_addr.c) --- */

/* A listening socket for url (non-blocking, close-on-exec; an ipc socket
 * file is 0600 before anyone can connect, and a stale one is replaced).
 * *resolved (owned by the caller) is url with a tcp port 0 replaced by the
 * port the kernel picked. The fd, or -1 with err. */
int actor_stream_listen_fd(const char *url, char **resolved, dp_err *err);

/* A connected, greeted socket to url within timeout_ms (non-blocking,
 * close-on-exec, TCP_NODELAY): the fd, or -1 with err (DP_EUNAVAIL when
 * nobody answers; DP_EINVAL for a URL that cannot be parsed). */
int actor_stream_connect(const char *url, int timeout_ms, dp_err *err);

/* Writes all of buf to a blocking or non-blocking fd, waiting up to
 * timeout_ms in total for room: 0, or -1 (errno set). */
int actor_stream_write_all(int fd, const void *buf, size_t len, int timeout_ms);

/* --- buffers (actor_stream_buf.c) --- */

/* A connection's input: the bytes read so far, whole frames cut out of the
 * front (in: malloc'd, owned by the holder; actor_stream_input_free). */
typedef struct {
    unsigned char *in;
    size_t len, cap;
} actor_stream_input;

/* One whole frame: its call id and body (1 .. body limit bytes, borrowed
 * for the call). */
typedef void (*actor_stream_frame_fn)(void *arg, uint32_t id, const unsigned char *body,
                                      size_t len);

/* Room for the next read: chunk bytes, or the whole of the frame that
 * starts the input when it is bigger and within body_limit (header_first:
 * the input starts at a frame; false before the greeting). 0, or -1 out of
 * memory. */
int actor_stream_input_room(actor_stream_input *r, bool header_first, size_t body_limit,
                            size_t chunk);

/* Hands every whole frame of the input to fn, in order, and keeps the
 * partial rest. -1 for a body length of 0 or above body_limit (the frames
 * before it were handed out): the peer broke the protocol and the
 * connection must end. */
int actor_stream_input_frames(actor_stream_input *r, size_t body_limit, actor_stream_frame_fn fn,
                              void *arg);

/* Drops the first n bytes (the greeting). */
void actor_stream_input_drop(actor_stream_input *r, size_t n);

/* Frees an empty input's buffer once it grew past keep (a big frame went by). */
void actor_stream_input_trim(actor_stream_input *r, size_t keep);

void actor_stream_input_free(actor_stream_input *r);

struct iovec;

/* Appends the bytes of iov[0..n) after the first `skip` to a send backlog
 * (*buf, owned by its holder, holds bytes *off .. *len of capacity *cap;
 * sent bytes before *off are dropped first). 0, or -1 out of memory
 * (nothing appended). The client's and the listener's backlogs both. */
int actor_stream_backlog_add(unsigned char **buf, size_t *len, size_t *off, size_t *cap,
                             const struct iovec *iov, int n, size_t skip);

static inline void actor_stream_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static inline uint32_t actor_stream_get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* --- the listening side (actor_stream_server.c) --- */

typedef struct actor_stream_server actor_stream_server;

/* Starts serving url for a (its thread starts once, with the first URL;
 * *srv is created then). Frames become calls on a's local slots, run on
 * a's thread, or on the serving thread for calls_on_receipt. *resolved as
 * actor_stream_listen_fd. 0, or err. */
int actor_stream_listen(actor_stream_server **srv, actor *a, const char *url, char **resolved,
                        dp_err *err);

/* Starts the serving thread (once the actor's on_start succeeded: until
 * then connections wait in the listen backlog). 0 for NULL. */
int actor_stream_start(actor_stream_server *srv, dp_err *err);

/* Stops the serving thread, lets unsent replies leave (up to linger_ms),
 * ends the calls still held for its connections (their replies are
 * dropped), closes every socket, removes ipc files, frees *srv. NULL is
 * fine. Not from the serving thread. */
void actor_stream_close(actor_stream_server **srv, int linger_ms);

/* --- one-way pushes to subscribers (actor_stream_push.c) --- */

typedef struct actor_stream_push actor_stream_push;

/* Told the number of greeted subscribers after it changed (push thread). */
typedef void (*actor_stream_push_count_fn)(void *arg, size_t subscribers);

/* Listens on url (as actor_stream_listen_fd; *resolved, when resolved is
 * not NULL, is the caller's) for subscribers: peers that connect and greet
 * (actor_stream_connect) and then only read. A subscriber's unsent bytes
 * stay under limit: past it, it misses whole frames. on_count may be NULL.
 * NULL + err. */
actor_stream_push *actor_stream_push_listen(const char *url, size_t limit,
                                            actor_stream_push_count_fn on_count, void *arg,
                                            char **resolved, dp_err *err);

/* The greeted subscribers now (any thread). A subscriber counts before
 * its greeting is answered: a frame sent once it is answered reaches it. */
size_t actor_stream_push_count(actor_stream_push *p);

/* One frame of body (copied; 1 .. UINT32_MAX bytes, else it goes nowhere)
 * to every greeted subscriber, without waiting for any: the number it went
 * to (sent, or queued behind that subscriber's earlier frames). Any thread. */
size_t actor_stream_push_send(actor_stream_push *p, const void *body, size_t len);

/* Stops the push thread, closes every socket, removes an ipc file, frees p.
 * NULL is fine. */
void actor_stream_push_close(actor_stream_push *p);

/* The subscriber's side, on a socket from actor_stream_connect: waits for
 * the next frames and hands each whole one to fn (its body borrowed for the
 * call). 0, or err: DP_EUNAVAIL when the sender closed, DP_EPROTO for a
 * frame above body_limit. in holds a partial frame between calls (the
 * caller frees it: actor_stream_input_free). */
int actor_stream_push_next(int fd, actor_stream_input *in, size_t body_limit,
                           actor_stream_frame_fn fn, void *arg, dp_err *err);

/* --- the calling side (actor_stream_client.c) --- */

typedef struct actor_stream_link actor_stream_link;

/* A link to url, connected (and greeted) before it returns; it reconnects
 * on the next call after its connection broke. NULL + err. */
actor_stream_link *actor_stream_link_open(const char *url, dp_err *err);

/* Starts a call: body is the actor frame (kind byte first), consumed. cb
 * gets the outcome exactly once, decoded as actor_client_call_async says,
 * on the link's reading thread, or on this thread when the call fails at
 * once (no connection, a write that failed; the return is still 0). Not
 * started (cb not called): DP_ECLOSED once shut down, DP_ENOMEM. */
int actor_stream_link_call(actor_stream_link *l, nng_msg *body, int timeout_ms, actor_reply_fn cb,
                           void *arg, dp_err *err);

/* Ends every call in flight with DP_ECLOSED (returns once their callbacks
 * have), and refuses later ones; then actor_stream_link_free. */
void actor_stream_link_shutdown(actor_stream_link *l);
void actor_stream_link_free(actor_stream_link *l);

#endif
