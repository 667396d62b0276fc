/* Job events shared by every replica: a capped Redis stream `<prefix>events`
 * (XADD MAXLEN ~ RQ_EVENTS_MAXLEN). Each entry holds one opaque blob (field
 * "e"; dispatch/ puts an encoded `event` message there); its stream id
 * ("<ms>-<seq>", assigned by Redis, increasing) is the event's global id, the
 * same on every replica, so a reader can resume after any id it was given
 * by any replica (`Last-Event-ID`), and order is the order of XADD.
 *
 * Ownership: blobs are borrowed for the call; the entries handed to the
 * callback live until it returns. */
#ifndef DP_RQ_EVENTS_H
#define DP_RQ_EVENTS_H

#include "dispatch/redis/rq.h"

#include <stddef.h>
#include <stdint.h>

#define RQ_EVENTS_MAXLEN 100000 /* about a minute of events at full load */
#define RQ_EVENT_ID_MAX 48

/* XADD of n blobs in one round trip, in order; the last XADD trims the
 * stream to about RQ_EVENTS_MAXLEN entries (MAXLEN ~). A connection lost
 * mid-way is retried once (an entry may then appear twice: events are best
 * effort). */
int rq_events_add(rq_conn *c, const void *const *blobs, const size_t *lens, size_t n, dp_err *err);

/* Called per entry, oldest first; id is the entry's stream id. */
typedef void (*rq_event_fn)(void *arg, const char *id, const char *data, size_t len);

/* XREAD COUNT max BLOCK block_ms after `after` (a stream id; updated to the
 * last entry read): the number of entries (0 after block_ms with none), or
 * a dp error code (negative). The connection's io timeout must exceed
 * block_ms. */
int rq_events_read(rq_conn *c, char after[RQ_EVENT_ID_MAX], size_t max, int block_ms,
                   rq_event_fn fn, void *arg, dp_err *err);

/* The newest entry's id, or "0-0" when the stream is empty or missing. */
int rq_events_last_id(rq_conn *c, char out[RQ_EVENT_ID_MAX], dp_err *err);

/* "<ms>-<seq>" <-> one number that orders like the id (ms << 20 | seq;
 * ids with seq >= 2^20 do not occur: that is a million events in one ms).
 * Parsing refuses anything else (returns -1). */
int rq_event_id_parse(const char *s, uint64_t *out);
void rq_event_id_format(uint64_t v, char out[RQ_EVENT_ID_MAX]);

#endif
