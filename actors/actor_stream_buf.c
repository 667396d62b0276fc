/* The stream transport's buffers (actor_stream.h), shared by the listening
 * and the calling side: the input that cuts whole frames out of the bytes
 * read so far (untrusted: a peer's bytes, fuzzed by fuzz/fuzz_stream_frames.c)
 * and the send backlog. Pure memory work, no sockets. */
#include "actors/actor_stream.h"

#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

int actor_stream_input_room(actor_stream_input *r, bool header_first, size_t body_limit,
                            size_t chunk)
{
    size_t want = r->len + chunk;
    if (header_first && r->len >= ACTOR_STREAM_HDR) {
        /* the whole of a big frame in one read, when it is one we accept */
        size_t body = actor_stream_get32(r->in);
        if (body <= body_limit && ACTOR_STREAM_HDR + body > want)
            want = ACTOR_STREAM_HDR + body;
    }
    if (want <= r->cap)
        return 0;
    unsigned char *p = realloc(r->in, want);
    if (p == NULL)
        return -1;
    r->in = p;
    r->cap = want;
    return 0;
}

void actor_stream_input_drop(actor_stream_input *r, size_t n)
{
    if (n > r->len)
        n = r->len;
    if (n == 0)
        return; /* also: no buffer yet */
    memmove(r->in, r->in + n, r->len - n);
    r->len -= n;
}

int actor_stream_input_frames(actor_stream_input *r, size_t body_limit, actor_stream_frame_fn fn,
                              void *arg)
{
    size_t off = 0;
    int rc = 0;
    while (r->len - off >= ACTOR_STREAM_HDR) {
        uint32_t len = actor_stream_get32(r->in + off);
        if (len == 0 || len > body_limit) {
            rc = -1;
            break;
        }
        if (r->len - off - ACTOR_STREAM_HDR < len)
            break;
        fn(arg, actor_stream_get32(r->in + off + 4), r->in + off + ACTOR_STREAM_HDR, len);
        off += ACTOR_STREAM_HDR + len;
    }
    actor_stream_input_drop(r, off);
    return rc;
}

void actor_stream_input_trim(actor_stream_input *r, size_t keep)
{
    if (r->len == 0 && r->cap > keep) {
        free(r->in);
        r->in = NULL;
        r->cap = 0;
    }
}

void actor_stream_input_free(actor_stream_input *r)
{
    free(r->in);
    *r = (actor_stream_input){0};
}

int actor_stream_backlog_add(unsigned char **buf, size_t *len, size_t *off, size_t *cap,
                             const struct iovec *iov, int n, size_t skip)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    total -= skip;
    if (*off > 0) {
        memmove(*buf, *buf + *off, *len - *off);
        *len -= *off;
        *off = 0;
    }
    if (*len + total > *cap) {
        size_t want = *cap != 0 ? *cap : 4096;
        while (want < *len + total)
            want *= 2;
        unsigned char *p = realloc(*buf, want);
        if (p == NULL)
            return -1;
        *buf = p;
        *cap = want;
    }
    for (int i = 0; i < n; i++) {
        size_t l = iov[i].iov_len, from = skip < l ? skip : l;
        skip -= from;
        memcpy(*buf + *len, (const unsigned char *)iov[i].iov_base + from, l - from);
        *len += l - from;
    }
    return 0;
}
