/* Job events onto the shared stream (dispatch/redis/rq_events.h), where the
 * publisher of every replica reads them: `dispatchctl watch` and SSE on any
 * replica see the events of jobs handled by any other, with one global id.
 *
 * Who writes what, so that a job's events are in the stream in the order of
 * its state changes whatever replicas handle it: `queued` before the job is
 * in Redis (reporter, submit/requeue), `leased` before the runner has the
 * job (leaser), the rest when recorded (reporter).
 *
 * Ownership: events are borrowed. */
#ifndef DP_EVENT_STREAM_H
#define DP_EVENT_STREAM_H

#include "dispatch/redis/rq.h"
#include "messages/msg.h"

#include <stddef.h>

/* Encodes the events as wire `events` batches of RQ_EVENTS_PER_ENTRY and
 * XADDs them (one entry per batch) in one round trip. A failure logs
 * `events_not_streamed` (events are best effort). */
int event_stream_add(rq_conn *rq, const dp_msg_event *evs, size_t n, dp_err *err);

/* The stream blobs of n events (wire `events` batches of at most
 * RQ_EVENTS_PER_ENTRY, one per stream entry) for a script that adds them
 * itself (rq_enqueue_streamed, rq_lease_complete_streamed). The blobs are
 * the caller's: event_stream_blobs_free. */
typedef struct {
    void **v;
    size_t *len;
    size_t n;
} event_blobs;
int event_stream_encode(const dp_msg_event *evs, size_t n, event_blobs *out, dp_err *err);
void event_stream_blobs_free(event_blobs *b);

#endif
