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
    int rc = dp_msg_encode_internal(m, &msg, err);
    if (rc != DP_OK)
        return rc;
    return actor_send(a, msg, 2000, err);
}

int runner_link_tell_client(actor_client *c, const dp_msg *m, dp_err *err)
{
    nng_msg *msg = NULL;
    int rc = dp_msg_encode_internal(m, &msg, err);
    if (rc != DP_OK)
        return rc;
    return actor_client_send(c, msg, 2000, err);
}

int runner_link_command(actor *a, const dp_msg *m, int timeout_ms, dp_err *err)
{
    nng_msg *msg = NULL, *reply = NULL;
    int rc = dp_msg_encode_internal(m, &msg, err);
    if (rc != DP_OK)
        return rc;
    rc = actor_call(a, msg, &reply, timeout_ms, err);
    if (reply != NULL)
        nng_msg_free(reply);
    return rc;
}

int runner_link_open_peers(const dp_msg_peers *p, actor_client **out, size_t max, size_t *n,
                           dp_err *err)
{
    for (size_t i = 0; i < p->n_urls; i++) {
        if (*n == max)
            return dp_err_set(err, DP_EINVAL, "more than %zu peers", max);
        if ((out[*n] = actor_client_open(p->urls[i], err)) == NULL)
            return err != NULL ? err->code : DP_EUNAVAIL;
        (*n)++;
    }
    return DP_OK;
}

void runner_link_close_peers(actor_client **peers, size_t n)
{
    for (size_t i = 0; i < n; i++)
        actor_client_close(peers[i]);
}

int runner_link_send_peers(actor *to, actor *const *peers, size_t n, dp_err *err)
{
    char **urls = calloc(n ? n : 1, sizeof *urls);
    if (urls == NULL)
        return dp_err_set(err, DP_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        urls[i] = (char *)actor_url(peers[i], 0); /* borrowed: encoding copies */
    dp_msg m = {.type = DP_MSG_PEERS};
    m.peers.urls = urls;
    m.peers.n_urls = n;
    int rc = runner_link_command(to, &m, 20000, err);
    free(urls);
    return rc;
}
