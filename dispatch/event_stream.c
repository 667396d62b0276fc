#include "dispatch/event_stream.h"

#include "common/log.h"
#include "dispatch/redis/rq_events.h"

#include <stdio.h>
#include <stdlib.h>

int event_stream_encode(const dp_msg_event *evs, size_t n, event_blobs *out, dp_err *err)
{
    *out = (event_blobs){0};
    if (n == 0)
        return DP_OK;
    size_t n_blobs = (n + RQ_EVENTS_PER_ENTRY - 1) / RQ_EVENTS_PER_ENTRY;
    out->v = calloc(n_blobs, sizeof *out->v);
    out->len = calloc(n_blobs, sizeof *out->len);
    if (out->v == NULL || out->len == NULL) {
        event_stream_blobs_free(out);
        return dp_err_set(err, DP_ENOMEM, "out of memory encoding %zu events", n);
    }
    for (; out->n < n_blobs; out->n++) {
        size_t from = out->n * RQ_EVENTS_PER_ENTRY;
        dp_msg m = {.type = DP_MSG_EVENTS};
        m.events.events = (dp_msg_event *)evs + from; /* borrowed for the encoding */
        m.events.n_events = n - from < RQ_EVENTS_PER_ENTRY ? n - from : RQ_EVENTS_PER_ENTRY;
        int rc = dp_msg_encode_buf(&m, &out->v[out->n], &out->len[out->n], err);
        if (rc != DP_OK) {
            event_stream_blobs_free(out);
            return rc;
        }
    }
    return DP_OK;
}

void event_stream_blobs_free(event_blobs *b)
{
    for (size_t i = 0; b->v != NULL && i < b->n; i++)
        free(b->v[i]);
    free(b->v);
    free(b->len);
    *b = (event_blobs){0};
}

int event_stream_add(rq_conn *rq, const dp_msg_event *evs, size_t n, dp_err *err)
{
    if (n == 0)
        return DP_OK;
    event_blobs b;
    int rc = event_stream_encode(evs, n, &b, err);
    if (rc == DP_OK)
        rc = rq_events_add(rq, (const void *const *)b.v, b.len, b.n, err);
    if (rc != DP_OK) {
        char count[24];
        snprintf(count, sizeof count, "%zu", n);
        dp_log(DP_LOG_WARN, "events_not_streamed", "count", count, "error",
               err != NULL ? err->msg : "out of memory", (char *)NULL);
    }
    event_stream_blobs_free(&b);
    return rc;
}
