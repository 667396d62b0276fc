/* The event publisher actor: an nng pub socket (`dispatchctl watch`
 * subscribes to it) that republishes every `event` message it is sent.
 * Events are best effort: a slow subscriber misses events, never slows the
 * dispatcher. The URL is the admin URL with ".events" appended to an ipc
 * path, or the admin port + 1 for tcp (events_url_for). */
#ifndef DP_PUBLISHER_H
#define DP_PUBLISHER_H

#include "actors/actor.h"

#include <stddef.h>

/* Derives the events URL from the admin URL into out. */
int events_url_for(const char *admin_url, char *out, size_t len, dp_err *err);

actor *publisher_spawn(const char *listen_url, dp_err *err);

#endif
