/* Event sinks: the publisher hands every batch of events it publishes to
 * the in-process subscribers registered under its in-process name (the
 * HTTP API's SSE hub), by a call on the publishing thread, instead of
 * through an nng inproc pub/sub pipe: that cost each batch an encode, a
 * send through nng's task threads and a decode (issue 10, docs/bench.md
 * ninth session). Subscribers in other processes (`dispatchctl watch`)
 * still use the nng pub socket.
 *
 * A sink is called with the registry's lock held, so once event_sinks_remove
 * returns it is never called again; it must be short and must not call
 * event_sinks_* itself. The events are borrowed for the call. */
#ifndef DP_EVENT_SINKS_H
#define DP_EVENT_SINKS_H

#include "messages/msg.h"

#include <stddef.h>

typedef void (*event_sink_fn)(void *arg, const dp_msg_event *evs, size_t n);

/* Registers fn(arg) for the events published under name (copied). 0, or
 * DP_EINVAL (no function, or a name too long) / DP_EFULL (more than
 * EVENT_SINKS_MAX sinks in the process). */
#define EVENT_SINKS_MAX 16
int event_sinks_add(const char *name, event_sink_fn fn, void *arg, dp_err *err);

/* Unregisters fn(arg); no-op when it is not registered. */
void event_sinks_remove(event_sink_fn fn, void *arg);

/* Calls every sink registered under name with evs[0..n). */
void event_sinks_deliver(const char *name, const dp_msg_event *evs, size_t n);

#endif
