#include "dispatch/fwd.h"

#include "common/apikey.h"
#include "common/log.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

/* Written once per gateway (enter, leave), read by whoever answers. */
static _Atomic(actor *) fwd_gateways[FWD_MAX_GATEWAYS + 1];

uint32_t fwd_gateway_enter(actor *gw)
{
    for (uint32_t i = 1; i <= FWD_MAX_GATEWAYS; i++) {
        actor *none = NULL;
        if (atomic_compare_exchange_strong(&fwd_gateways[i], &none, gw))
            return i;
    }
    return 0;
}

void fwd_gateway_leave(uint32_t number)
{
    if (number >= 1 && number <= FWD_MAX_GATEWAYS)
        atomic_store(&fwd_gateways[number], NULL);
}

static actor *gateway_of(fwd_origin origin)
{
    if (origin.gateway < 1 || origin.gateway > FWD_MAX_GATEWAYS)
        return NULL;
    return atomic_load(&fwd_gateways[origin.gateway]);
}

/* The header, copied in and out whole: no pointers, fixed size. */
typedef struct {
    uint64_t gateway, req;
    uint32_t scopes;
    char key_id[20];
} fwd_header;

bool fwd_may_see(fwd_origin o, const char *owner_key)
{
    if (o.key_id[0] == '\0' || (o.scopes & (DP_SCOPE_READ | DP_SCOPE_ADMIN)) != 0)
        return true;
    return owner_key != NULL && strcmp(owner_key, o.key_id) == 0;
}

bool fwd_may_touch(fwd_origin o, const char *owner_key)
{
    if (o.key_id[0] == '\0' || (o.scopes & DP_SCOPE_ADMIN) != 0)
        return true;
    return owner_key != NULL && strcmp(owner_key, o.key_id) == 0;
}

int fwd_wrap(nng_msg *msg, fwd_origin origin, dp_err *err)
{
    fwd_header hdr;
    memset(&hdr, 0, sizeof hdr);
    hdr.gateway = origin.gateway;
    hdr.req = origin.req;
    hdr.scopes = origin.scopes;
    memcpy(hdr.key_id, origin.key_id, sizeof hdr.key_id);
    hdr.key_id[sizeof hdr.key_id - 1] = '\0';
    /* Grow at the end, then move the body up: nng 1.5.2's nng_msg_insert
     * overruns its buffer when the header is larger than its headroom. */
    size_t len = nng_msg_len(msg);
    if (nng_msg_realloc(msg, len + sizeof hdr) != 0)
        return dp_err_set(err, DP_ENOMEM, "forward: out of memory");
    char *body = nng_msg_body(msg);
    memmove(body + sizeof hdr, body, len);
    memcpy(body, &hdr, sizeof hdr);
    return DP_OK;
}

int fwd_open(nng_msg *msg, fwd_origin *origin, dp_msg *out, dp_err *err)
{
    memset(out, 0, sizeof *out);
    memset(origin, 0, sizeof *origin);
    fwd_header hdr;
    if (nng_msg_len(msg) < sizeof hdr)
        return dp_err_set(err, DP_EPROTO, "forward: short internal message");
    memcpy(&hdr, nng_msg_body(msg), sizeof hdr);
    if (hdr.gateway > FWD_MAX_GATEWAYS)
        return dp_err_set(err, DP_EPROTO, "forward: gateway number %llu out of range",
                          (unsigned long long)hdr.gateway);
    origin->gateway = (uint32_t)hdr.gateway;
    origin->req = hdr.req;
    origin->scopes = hdr.scopes;
    memcpy(origin->key_id, hdr.key_id, sizeof origin->key_id);
    origin->key_id[sizeof origin->key_id - 1] = '\0';
    /* A client's request (from a gateway) is wire bytes; a message from
     * another actor of this process is in the in-process catalogue. */
    nng_msg_trim(msg, sizeof hdr);
    if (origin->gateway == 0)
        return dp_msg_decode_internal(msg, out, err);
    return dp_msg_decode_nng(msg, out, err);
}

int fwd_receive(nng_msg *msg, fwd_origin *origin, dp_msg *out)
{
    dp_err err = {0};
    int rc = fwd_open(msg, origin, out, &err);
    nng_msg_free(msg);
    /* the gateway read only the envelope: a body that fails is refused
     * here, with the code the gateway gives a bad envelope */
    if (rc != DP_OK)
        fwd_reply_error(*origin, out->id,
                        rc == DP_EINVAL ? DP_MSG_ERR_INVALID : DP_MSG_ERR_PROTOCOL, err.msg);
    return rc;
}

void fwd_reply(fwd_origin origin, const dp_msg *reply)
{
    actor *gw = gateway_of(origin);
    if (gw == NULL)
        return; /* from another actor (nobody waits), or the gateway is gone */
    dp_err err = {0};
    nng_msg *m = NULL;
    if (dp_msg_encode(reply, &m, &err) != DP_OK) {
        dp_log(DP_LOG_ERROR, "reply_encode_failed", "type", dp_msg_type_name(reply->type), "error",
               err.msg, (char *)NULL);
        actor_reply_error(gw, origin.req, DP_EINTERNAL, err.msg, NULL);
        return;
    }
    /* The runtime keeps a reply that beats the gateway's ACTOR_DEFER. */
    if (actor_reply(gw, origin.req, m, NULL) != 0)
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
        dp_msg_make_error(&r, id, DP_MSG_ERR_CONFLICT, "%s", err->msg);
    else
        dp_msg_make_error_from(&r, id, err);
    fwd_reply_take(origin, &r);
}

nng_msg *fwd_internal(const dp_msg *m, dp_err *err)
{
    nng_msg *msg = NULL;
    if (dp_msg_encode_internal(m, &msg, err) != DP_OK)
        return NULL;
    fwd_origin none = {0};
    if (fwd_wrap(msg, none, err) != DP_OK) {
        nng_msg_free(msg);
        return NULL;
    }
    return msg;
}
