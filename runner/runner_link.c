#include "runner/runner_link.h"

#include "common/sha256.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int runner_link_call(actor_client **link, const char *url, dp_msg *req, dp_msg *reply,
                     int timeout_ms, dp_err *err)
{
    memset(reply, 0, sizeof *reply);
    if (*link == NULL && (*link = actor_client_open(url, err)) == NULL)
        return DP_EUNAVAIL;
    actor_client *c = *link;
    static _Atomic uint64_t next_id = 1;
    nng_msg *m = NULL, *rm = NULL;
    memset(reply, 0, sizeof *reply);
    req->id = atomic_fetch_add(&next_id, 1);
    int rc = dp_msg_encode(req, &m, err);
    if (rc != DP_OK)
        return rc;
    rc = actor_client_call(c, m, &rm, timeout_ms, err);
    if (rc != DP_OK)
        return rc == DP_ETIMEOUT ? DP_ETIMEOUT : DP_EUNAVAIL;
    rc = dp_msg_decode_nng(rm, reply, err);
    nng_msg_free(rm);
    return rc;
}

int runner_link_sleep(const atomic_int *stopping, uint32_t ms)
{
    while (ms > 0) {
        if (stopping != NULL && atomic_load(stopping))
            return 1;
        uint32_t step = ms < 50 ? ms : 50;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
    return stopping != NULL && atomic_load(stopping);
}

uint32_t runner_link_backoff(uint32_t n, uint32_t base_ms, uint32_t cap_ms)
{
    uint64_t d = base_ms;
    for (uint32_t i = 0; i < n && d < cap_ms; i++)
        d *= 2;
    if (d > cap_ms)
        d = cap_ms;
    uint32_t r = 0;
    dp_random_bytes(&r, sizeof r); /* jitter keeps many runners from retrying in step */
    double jitter = 0.5 + (double)(r % 1000) / 1000.0;
    return (uint32_t)((double)d * jitter);
}

int runner_link_tell(actor *a, const dp_msg *m, dp_err *err)
{
    nng_msg *msg = NULL;
    int rc = dp_msg_encode(m, &msg, err);
    if (rc != DP_OK)
        return rc;
    return actor_send(a, msg, 2000, err);
}
