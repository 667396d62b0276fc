/* The stasher actor; see stasher.h. */
#include "dispatch/stasher.h"

#include "common/log.h"
#include "dispatch/logstore/logstore.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STASH_NAME_MAX 255

typedef struct {
    char tmpl[4096];
    logstore *ls;
} stash_state;

int stasher_frame_add(nng_msg *req, const char *name, const void *data, size_t len)
{
    int rc;
    if (len > UINT32_MAX)
        return NNG_EMSGSIZE;
    if ((rc = nng_msg_append_u32(req, (uint32_t)strlen(name))) != 0 ||
        (rc = nng_msg_append(req, name, strlen(name))) != 0 ||
        (rc = nng_msg_append_u32(req, (uint32_t)len)) != 0)
        return rc;
    return nng_msg_append(req, data, len);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Writes every archive of the frame; stops at the first failure. */
static int store_all(stash_state *s, const uint8_t *p, size_t left, dp_err *err)
{
    while (left > 0) {
        if (left < 4)
            return dp_err_set(err, DP_EPROTO, "stash: truncated frame");
        uint32_t nlen = get_u32(p);
        if (nlen == 0 || nlen > STASH_NAME_MAX || left - 4 < (size_t)nlen + 4)
            return dp_err_set(err, DP_EPROTO, "stash: bad name length");
        char name[STASH_NAME_MAX + 1];
        memcpy(name, p + 4, nlen);
        name[nlen] = '\0';
        p += 4 + nlen;
        left -= 4 + (size_t)nlen;
        uint32_t dlen = get_u32(p);
        if (left - 4 < dlen)
            return dp_err_set(err, DP_EPROTO, "stash: bad data length");
        char url[4096];
        int rc = logstore_put(s->ls, name, 0, p + 4, dlen, url, sizeof url, err);
        if (rc != DP_OK)
            return rc;
        p += 4 + dlen;
        left -= 4 + (size_t)dlen;
    }
    return DP_OK;
}

static int stash_handle(void *state, actor_ctx *ctx, nng_msg *msg, nng_msg **reply)
{
    stash_state *s = state;
    (void)ctx;
    dp_err err = {0};
    int rc = store_all(s, nng_msg_body(msg), nng_msg_len(msg), &err);
    nng_msg_free(msg);
    if (reply == NULL)
        return 0;
    uint8_t ok = rc == DP_OK;
    if (!ok)
        dp_log(DP_LOG_WARN, "inline_store_failed", "error", err.msg, (char *)NULL);
    nng_msg *r = NULL;
    if (nng_msg_alloc(&r, 0) != 0 || nng_msg_append(r, &ok, 1) != 0 ||
        (!ok && nng_msg_append(r, err.msg, strlen(err.msg)) != 0)) {
        if (r != NULL)
            nng_msg_free(r);
        return DP_ENOMEM;
    }
    *reply = r;
    return 0;
}

static int stash_start(void *state, actor_ctx *ctx, dp_err *err)
{
    stash_state *s = state;
    (void)ctx;
    return (s->ls = logstore_open(s->tmpl, err)) != NULL ? DP_OK : DP_EINVAL;
}

static void stash_stop(void *state, actor_ctx *ctx)
{
    stash_state *s = state;
    (void)ctx;
    logstore_close(s->ls);
    free(s);
}

actor *stasher_spawn(const char *log_store, dp_err *err)
{
    stash_state *s = calloc(1, sizeof *s);
    if (s == NULL) {
        dp_err_set(err, DP_ENOMEM, "stasher: out of memory");
        return NULL;
    }
    snprintf(s->tmpl, sizeof s->tmpl, "%s", log_store);
    actor_opts o = {
        .name = "stasher",
        .state = s,
        .handler = stash_handle,
        .on_start = stash_start,
        .on_stop = stash_stop,
        .mailbox = 256,
        .max_msg_bytes = 80u << 20, /* the inline files of a large batch */
    };
    return actor_spawn_owned(&o, err);
}
