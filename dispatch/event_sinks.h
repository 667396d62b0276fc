/* Event sinks: the publisher hands every batch of events it publishes to
 * the in-process subscribers registered under its in-process name (the
 * HTTP API's SSE hub), by a call on the publishing thread, instead of
 * through an nng inproc pub/sub pipe: that cost each batch an encode, a
 * send through nng's task threads and a decode (issue 10, docs/bench.md
 * ninth session). Subscribers in other processes (`dispatchctl watch`)
 * read the publisher's push socket (actor_stream_push.c).
 *
 * A sink is called with the registry's lock held, so once event_sinks_remove
 * returns it is never called again; it must be short and must not call
 * event_sinks_* itself. The events are borrowed for the call. */
#ifndef DP_EVENT_SINKS_H
#define DP_EVENT_SINKS_H

#include "messages/msg.h"

#include <stddef.h>
#include <stdint.h>

typedef void (*event_sink_fn)(void *arg, const dp_msg_event *evs, size_t n);
/* What the publisher tells its sinks besides events, when it stops
 * following the stream because nobody listens (event_sinks_want) and
 * starts again: ASLEEP; on waking READING_BACK, then the events written
 * while it slept (those it reads back), then CAUGHT_UP, then live events
 * again. GAP(id), between READING_BACK and the events: those up to global
 * id `id` (rq_event_id_parse's number) will never be delivered. */
typedef enum {
    EVENT_SINKS_ASLEEP,
    EVENT_SINKS_READING_BACK,
    EVENT_SINKS_GAP,
    EVENT_SINKS_CAUGHT_UP,
} event_note;
typedef void (*event_note_fn)(void *arg, event_note note, uint64_t id);

/* Registers fn(arg) and note(arg) (NULL: none) for the events published
 * under name (copied). 0, or DP_EINVAL (no function, or a name too long) /
 * DP_EFULL (more than EVENT_SINKS_MAX sinks in the process). */
#define EVENT_SINKS_MAX 16
int event_sinks_add(const char *name, event_sink_fn fn, event_note_fn note, void *arg, dp_err *err);

/* Unregisters fn(arg); no-op when it is not registered. */
void event_sinks_remove(event_sink_fn fn, void *arg);

/* Calls every sink registered under name with evs[0..n). */
void event_sinks_deliver(const char *name, const dp_msg_event *evs, size_t n);
/* Calls every note function registered under name. */
void event_sinks_note(const char *name, event_note note, uint64_t id);

/* Listening. The publisher follows the shared stream only while someone
 * waits on its events: reading it for nobody cost dispatchd and Redis about
 * a sixth of their CPU per job (issue 10, docs/bench.md). A subscriber that
 * waits on events (an SSE stream, a long-poll, `/execute`) adds +1 to name's
 * listeners when it starts waiting and -1 when it ends; the publisher's
 * waker (event_sinks_on_want) is called when they go from none to one.
 * Events are an accelerator for a waiter, never its only way to learn of a
 * change (a long-poll also asks again on its timer). */
void event_sinks_want(const char *name, int delta);
/* The listeners under name now (0 for an unknown name). */
int event_sinks_wanted(const char *name);
/* The publisher's: wake(arg), called with the registry's lock held (short,
 * no event_sinks_* call), when name's listeners go from none to one; NULL
 * wake unregisters name's waker. 0, or DP_EINVAL / DP_EFULL as above. */
int event_sinks_on_want(const char *name, void (*wake)(void *arg), void *arg, dp_err *err);

#endif
