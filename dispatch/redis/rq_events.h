/* Job events shared by every replica: a capped Redis stream `<prefix>events`
 * (XADD MAXLEN ~ RQ_EVENTS_MAXLEN entries). Each entry holds one opaque blob
 * (field "e"; dispatch/ puts an encoded `events` batch of at most
 * RQ_EVENTS_PER_ENTRY events there, or one `event`). Event i of the entry
 * with stream id "<ms>-<seq>" (assigned by Redis, increasing) has the
 * global id "<ms>-<seq * RQ_EVENTS_PER_ENTRY + i>" (rq_event_id_of): the
 * same on every replica and increasing along the stream, so a reader can
 * resume after any id it was given by any replica (`Last-Event-ID`), and
 * order is the order of XADD, then of the batch. One entry per batch, not
 * per event: an XADD (and its share of XREAD) per job state change cost
 * Redis about a third of its CPU per job (issue 10).
 *
 * Ownership: blobs are borrowed for the call; the entries handed to the
 * callback live until it returns. */
#ifndef DP_RQ_EVENTS_H
#define DP_RQ_EVENTS_H

#include "dispatch/redis/rq.h"

#include <stddef.h>
#include <stdint.h>

/* Entries kept: the publishers' catch-up after a reconnect is all the
 * history that is read (SSE resumes from each replica's own ring). At most
 * RQ_EVENTS_MAXLEN x RQ_EVENTS_PER_ENTRY events (~40 MB at ~150 bytes
 * each); seconds of events at full load. */
#define RQ_EVENTS_MAXLEN 4000
#define RQ_EVENTS_PER_ENTRY 64 /* events in one entry's batch */
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

/* Walks the stream back: the entries after `after` and before `before`
 * ("" the first time: from the newest), at most max (XREVRANGE), handed to
 * fn newest first; `before` is updated to the oldest read, for the next
 * call. The number of entries (fewer than max: none older is left), or a
 * dp error code (negative). A reader that stopped following the stream
 * resumes with it (publisher.c). */
int rq_events_back(rq_conn *c, const char *after, char before[RQ_EVENT_ID_MAX], size_t max,
                   rq_event_fn fn, void *arg, dp_err *err);

/* *has = 1 when the entry id is still in the stream (not trimmed). */
int rq_events_has(rq_conn *c, const char *id, int *has, dp_err *err);

/* The newest entry's id, or "0-0" when the stream is empty or missing. */
int rq_events_last_id(rq_conn *c, char out[RQ_EVENT_ID_MAX], dp_err *err);

/* "<ms>-<seq>" <-> one number that orders like the id (ms << 20 | seq;
 * ids with seq >= 2^20 do not occur: that is a million events in one ms).
 * Parsing refuses anything else (returns -1). */
int rq_event_id_parse(const char *s, uint64_t *out);
void rq_event_id_format(uint64_t v, char out[RQ_EVENT_ID_MAX]);

/* The global id of event i (< RQ_EVENTS_PER_ENTRY) of the entry with stream
 * id entry_id: -1 when entry_id is not "<ms>-<seq>" or seq is too large (a
 * million entries in one ms). */
int rq_event_id_of(const char *entry_id, size_t i, char out[RQ_EVENT_ID_MAX]);

#endif
