/* The event publisher actor: a push socket (actors/actor_stream.h,
 * actor_stream_push; `dispatchctl watch` subscribes to it). A thread of its own follows the shared
 * event stream in Redis (event_stream.h; XREAD BLOCK, its own connection) while someone listens
 * (event_sinks_want) and publishes every replica's events with their global ids (`eid`); between
 * listeners it sleeps, and on waking reads back what was written meanwhile (publisher.c). `event`
 * messages it is sent (only when Redis could not take them) go out as they are. Events are best
 * effort: a slow subscriber misses events, never slows the dispatcher; with no watcher on the
 * socket nothing is encoded. Its URL comes from the admin URL (actor_urls_events_for in
 * actors/actor_urls.h, shared with the clients that subscribe). */
#ifndef DP_PUBLISHER_H
#define DP_PUBLISHER_H

#include "dispatch/dd_actor.h"

#include <stddef.h>

/* Its messages and where they may come from. */
extern const dd_actor_def publisher_actor;

/* redis_url NULL or "": no stream reader (only the events it is sent).
 * also_url (NULL or ""): the name in-process subscribers register their
 * event sink under (event_sinks.h; the HTTP API's hub). */
actor *publisher_spawn(const char *listen_url, const char *also_url, const char *redis_url,
                       const char *prefix, dp_err *err);

#endif
