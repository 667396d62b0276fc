#include "dispatch/event_stream.h"

#include "common/log.h"
#include "dispatch/redis/rq_events.h"

#include <stdio.h>
#include <stdlib.h>

int event_stream_add(rq_conn *rq, const dp_msg_event *evs, size_t n, dp_err *err)
{
    if (n == 0)
        return DP_OK;
    void **blobs = calloc(n, sizeof *blobs);
    size_t *lens = calloc(n, sizeof *lens);
    size_t k = 0;
    int rc = DP_ENOMEM;
    if (blobs != NULL && lens != NULL) {
        rc = DP_OK;
        for (; k < n && rc == DP_OK; k++) {
            dp_msg m = {.type = DP_MSG_EVENT, .event = evs[k]};
            rc = dp_msg_encode_buf(&m, &blobs[k], &lens[k], err);
        }
        if (rc == DP_OK)
            rc = rq_events_add(rq, (const void *const *)blobs, lens, n, err);
    }
    if (rc != DP_OK) {
        char count[24];
        snprintf(count, sizeof count, "%zu", n);
        dp_log(DP_LOG_WARN, "events_not_streamed", "count", count, "error",
               err != NULL ? err->msg : "out of memory", (char *)NULL);
    }
    for (size_t i = 0; blobs != NULL && i < k; i++)
        free(blobs[i]);
    free(blobs);
    free(lens);
    return rc;
}
