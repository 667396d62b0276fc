#include "dispatch/fwd.h"

#include "common/log.h"

#include <stdint.h>
#include <string.h>

int fwd_wrap(nng_msg *msg, fwd_origin origin, dp_err *err)
{
    uint64_t hdr[2] = {(uint64_t)(uintptr_t)origin.gateway, origin.req};
    if (nng_msg_insert(msg, hdr, sizeof hdr) != 0)
        return dp_err_set(err, DP_ENOMEM, "forward: out of memory");
    return DP_OK;
}

int fwd_open(nng_msg *msg, fwd_origin *origin, dp_msg *out, dp_err *err)
{
    memset(out, 0, sizeof *out);
    memset(origin, 0, sizeof *origin);
    uint64_t hdr[2];
    if (nng_msg_len(msg) < sizeof hdr)
        return dp_err_set(err, DP_EPROTO, "forward: short internal message");
    memcpy(hdr, nng_msg_body(msg), sizeof hdr);
    origin->gateway = (actor *)(uintptr_t)hdr[0];
    origin->req = hdr[1];
    return dp_msg_decode((const char *)nng_msg_body(msg) + sizeof hdr,
                         nng_msg_len(msg) - sizeof hdr, out, err);
}

int fwd_receive(nng_msg *msg, fwd_origin *origin, dp_msg *out)
{
    dp_err err = {0};
    int rc = fwd_open(msg, origin, out, &err);
    nng_msg_free(msg);
    if (rc != DP_OK)
        fwd_reply_error(*origin, out->id, "protocol", err.msg);
    return rc;
}

void fwd_reply(fwd_origin origin, const dp_msg *reply)
{
    if (origin.gateway == NULL)
        return;
    dp_err err = {0};
    nng_msg *m = NULL;
    if (dp_msg_encode(reply, &m, &err) != DP_OK) {
        dp_log(DP_LOG_ERROR, "reply_encode_failed", "type", dp_msg_type_name(reply->type), "error",
               err.msg, (char *)NULL);
        actor_reply_error(origin.gateway, origin.req, DP_EINTERNAL, err.msg, NULL);
        return;
    }
    /* The runtime keeps a reply that beats the gateway's ACTOR_DEFER. */
    if (actor_reply(origin.gateway, origin.req, m, NULL) != 0)
        dp_log(DP_LOG_WARN, "reply_lost", "type", dp_msg_type_name(reply->type), (char *)NULL);
}

void fwd_reply_error(fwd_origin origin, uint64_t id, const char *code, const char *message)
{
    dp_msg r = {0};
    if (dp_msg_make_error(&r, id, code, "%s", message) != DP_OK)
        return;
    fwd_reply(origin, &r);
    dp_msg_free(&r);
}

void fwd_reply_take(fwd_origin origin, dp_msg *m)
{
    fwd_reply(origin, m);
    dp_msg_free(m);
}

void fwd_reply_code(fwd_origin origin, uint64_t id, int rc, const char *what, const dp_err *err)
{
    dp_msg r = {0};
    if (rc == DP_ENOTFOUND)
        dp_msg_make_not_found(&r, id, what, err->msg);
    else if (rc == DP_ECONFLICT)
        dp_msg_make_error(&r, id, "conflict", "%s", err->msg);
    else
        dp_msg_make_error_from(&r, id, err);
    fwd_reply_take(origin, &r);
}

nng_msg *fwd_internal(const dp_msg *m, dp_err *err)
{
    nng_msg *msg = NULL;
    if (dp_msg_encode(m, &msg, err) != DP_OK)
        return NULL;
    fwd_origin none = {0};
    if (fwd_wrap(msg, none, err) != DP_OK) {
        nng_msg_free(msg);
        return NULL;
    }
    return msg;
}
