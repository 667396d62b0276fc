/* The event publisher actor: an nng pub socket (`dispatchctl watch`
 * subscribes to it) that republishes every `event` message it is sent.
 * Events are best effort: a slow subscriber misses events, never slows the
 * dispatcher. Its URL comes from the admin URL (actor_urls_events_for in
 * actors/urls.h, shared with the clients that subscribe). */
#ifndef DP_PUBLISHER_H
#define DP_PUBLISHER_H

#include "dispatch/dd_actor.h"

#include <stddef.h>

/* Its messages and where they may come from. */
extern const dd_actor_def publisher_actor;

actor *publisher_spawn(const char *listen_url, const char *also_url, dp_err *err);

#endif
