/* dp_msg_spec_span: the bytes of a stored one-spec `submit` message's spec,
 * found by walking the msgpack (bounded like the decoder) instead of
 * decoding it into structs, so a leaser can hand a stored spec out as it
 * is. Decoding each leased spec and encoding it again was about a tenth of
 * dispatchd's CPU under load (perf at 2 runners x 16 slots, docs/bench.md). */
#include "messages/mp_read.h"
#include "messages/msg.h"

#include <string.h>

static bool key_is(const char *k, uint32_t n, const char *want)
{
    return n == strlen(want) && memcmp(k, want, n) == 0;
}

/* Reads the spec map at r's position: its span, and whether its "jid" is
 * job_id. */
static int walk_spec(dp_mp_reader *r, const char *job_id, size_t *start, size_t *end)
{
    *start = r->pos;
    uint32_t n;
    int rc = dp_mp_enter_map(r, &n);
    bool named = false;
    for (uint32_t i = 0; rc == DP_OK && i < n; i++) {
        const char *k, *v;
        uint32_t kn, vn;
        if ((rc = dp_mp_read_str(r, &k, &kn)) != DP_OK)
            break;
        if (!key_is(k, kn, "jid")) {
            rc = dp_mp_skip(r);
            continue;
        }
        if ((rc = dp_mp_read_str(r, &v, &vn)) != DP_OK)
            break;
        named = vn == strlen(job_id) && memcmp(v, job_id, vn) == 0;
    }
    if (rc != DP_OK)
        return rc;
    dp_mp_leave(r);
    *end = r->pos;
    if (!named)
        return dp_mp_fail(r, DP_EINVAL, "the spec does not name job %s", job_id);
    return DP_OK;
}

/* The body {"specs": [spec]}: the span of its one spec. */
static int walk_body(dp_mp_reader *r, const char *job_id, size_t *start, size_t *end)
{
    uint32_t n;
    int rc = dp_mp_enter_map(r, &n);
    bool found = false;
    for (uint32_t i = 0; rc == DP_OK && i < n; i++) {
        const char *k;
        uint32_t kn, count;
        if ((rc = dp_mp_read_str(r, &k, &kn)) != DP_OK)
            break;
        if (!key_is(k, kn, "specs")) {
            rc = dp_mp_skip(r);
            continue;
        }
        if ((rc = dp_mp_enter_array(r, &count)) != DP_OK)
            break;
        if (count != 1)
            return dp_mp_fail(r, DP_EINVAL, "%u specs, not one", count);
        if ((rc = walk_spec(r, job_id, start, end)) != DP_OK)
            break;
        dp_mp_leave(r);
        found = true;
    }
    if (rc != DP_OK)
        return rc;
    dp_mp_leave(r);
    return found ? DP_OK : dp_mp_fail(r, DP_EINVAL, "no specs");
}

int dp_msg_spec_span(const void *buf, size_t len, const char *job_id, const uint8_t **spec,
                     size_t *spec_len, dp_err *err)
{
    *spec = NULL;
    *spec_len = 0;
    dp_mp_reader r;
    dp_mp_reader_init(&r, buf, len, err);
    uint32_t n;
    size_t start = 0, end = 0;
    bool versioned = false, submit = false, body = false;
    int rc = dp_mp_enter_map(&r, &n);
    for (uint32_t i = 0; rc == DP_OK && i < n; i++) {
        const char *k, *v;
        uint32_t kn, vn;
        uint64_t version;
        if ((rc = dp_mp_read_str(&r, &k, &kn)) != DP_OK)
            break;
        if (key_is(k, kn, "v")) {
            if ((rc = dp_mp_read_uint(&r, &version)) == DP_OK && version != DP_MSG_VERSION)
                rc = dp_mp_fail(&r, DP_EINVAL, "version %llu, not %u", (unsigned long long)version,
                                DP_MSG_VERSION);
            versioned = rc == DP_OK;
        } else if (key_is(k, kn, "t")) {
            if ((rc = dp_mp_read_str(&r, &v, &vn)) == DP_OK && !key_is(v, vn, "submit"))
                rc = dp_mp_fail(&r, DP_EINVAL, "not a submit message");
            submit = rc == DP_OK;
        } else if (key_is(k, kn, "b")) {
            rc = walk_body(&r, job_id, &start, &end);
            body = rc == DP_OK;
        } else {
            rc = dp_mp_skip(&r);
        }
    }
    if (rc == DP_OK && (!versioned || !submit || !body))
        rc = dp_mp_fail(&r, DP_EINVAL, "not a versioned submit message with a body");
    if (rc == DP_OK && r.pos != len)
        rc = dp_mp_fail(&r, DP_EINVAL, "%zu bytes after the message", len - r.pos);
    if (rc != DP_OK)
        return rc;
    *spec = (const uint8_t *)buf + start;
    *spec_len = end - start;
    return DP_OK;
}
