/* A batch of job state changes on its way to the next actor (leaser ->
 * reporter -> publisher): one message per flush instead of one per job.
 *
 * Ownership: the buffer owns every event and its strings; event_buffer_add
 * copies what it is given. event_buffer_send passes copies on (encoded) and
 * empties the buffer either way; event_buffer_free releases everything. */
#ifndef DP_EVENT_BUFFER_H
#define DP_EVENT_BUFFER_H

#include "actors/actor.h"
#include "dispatch/event_stream.h"
#include "dispatch/redis/rq.h"
#include "messages/msg.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    dp_msg_event ev;
    /* When event_buffer_add took it (µs since the epoch; strictly
     * increasing across one buffer's adds); event_buffer_copy and
     * event_buffer_move keep it: a lease's started_at, and its history
     * row's order (docs/store.md). */
    int64_t at_us;
    bool persisted; /* its history row is already in PostgreSQL (the job's or the result's row) */
    bool streamed;  /* already on the shared event stream (event_stream.h) */
} event_entry;

typedef struct {
    event_entry *items;
    size_t n, cap;
    int64_t last_us; /* the newest at_us stamped here */
} event_buffer;

/* Appends one event stamped now. Out of memory: logs `event_lost` with the
 * job id and returns DP_ENOMEM (events are best effort; state is not). */
int event_buffer_add(event_buffer *b, const char *job_id, dp_job_state state, dp_verdict verdict,
                     const char *runner_id, uint32_t attempt, const char *message);

/* Appends a copy of e (its at_us and flags too). */
int event_buffer_copy(event_buffer *b, const event_entry *e);

/* Appends *e itself, without copying its strings, and zeroes *e (which
 * then frees as nothing). Out of memory: DP_ENOMEM, *e left as it was. */
int event_buffer_move(event_buffer *b, event_entry *e);

/* Appends every event of an `events` message (copies). */
void event_buffer_add_all(event_buffer *b, const dp_msg_events *evs);

/* Marks the last event added as already persisted. */
void event_buffer_mark_last_persisted(event_buffer *b);

/* Sends all buffered events to `to` as one internal `events` message and
 * empties the buffer; a failed send logs `events_lost`. No-op when empty. */
int event_buffer_send(event_buffer *b, actor *to, int timeout_ms, dp_err *err);

/* Puts the buffered events not streamed yet onto the shared event stream
 * (event_stream_add) in one round trip and marks them streamed, except
 * `leased` ones: the lease script streamed those (rq_lease_claim_streamed).
 * DP_OK when there was nothing to stream. */
int event_buffer_stream(event_buffer *b, rq_conn *rq);

/* The stream blobs (event_stream_encode) of the events from index first on,
 * for the script that adds them in the call making their change
 * (rq_enqueue_streamed, rq_lease_complete_streamed): *out is the caller's
 * (event_stream_blobs_free), *view borrows it for that call. */
int event_buffer_blobs(const event_buffer *b, size_t first, event_blobs *out, rq_blobs *view,
                       dp_err *err);

/* Marks the events from index first on as streamed (their script ran). */
void event_buffer_mark_streamed(event_buffer *b, size_t first);

/* Frees one entry's strings and zeroes it (it stays in its buffer). */
void event_buffer_clear_entry(event_entry *e);

/* Frees the buffered events, keeps the array for reuse. */
void event_buffer_clear(event_buffer *b);

void event_buffer_free(event_buffer *b);

#endif
