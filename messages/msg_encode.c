/* Encoder: msgpack-c's packer, writing through a callback straight into an
 * nng_msg body (no intermediate copy) or into a growing malloc'd buffer. */
#include "messages/msg_schema.h"

#include <msgpack.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

#define CAT(obj, off, T) ((const T *)((const char *)(obj) + (off)))

/* Where packed bytes go; the size cap is checked on every write so an
 * oversized message fails early instead of after it has been built. The
 * packer writes a few bytes at a time: they are staged and appended to the
 * nng_msg in blocks (each nng_msg_append call is comparatively costly). */
typedef struct {
    nng_msg *msg; /* either this ... */
    char *buf;    /* ... or this growing buffer */
    size_t len, cap;
    bool too_big;
    size_t staged;
    char stage[2048];
} sink;

/* Makes room for extra more bytes in the nng_msg. nng grows a message by
 * exactly what is appended: reserve geometrically ourselves or a big
 * message costs O(n^2). */
static int sink_grow(sink *s, size_t extra)
{
    size_t have = nng_msg_len(s->msg), cap = nng_msg_capacity(s->msg);
    if (have + extra <= cap)
        return 0;
    cap = cap < 256 ? 256 : cap;
    while (cap < have + extra)
        cap *= 2;
    return nng_msg_reserve(s->msg, cap) == 0 ? 0 : -1;
}

static int sink_flush(sink *s)
{
    if (s->staged == 0)
        return 0;
    if (sink_grow(s, s->staged) != 0 || nng_msg_append(s->msg, s->stage, s->staged) != 0)
        return -1;
    s->staged = 0;
    return 0;
}

static int sink_write(void *data, const char *bytes, size_t n)
{
    sink *s = data;
    if (n > DP_MSG_MAX_SIZE - s->len) {
        s->too_big = true;
        return -1;
    }
    if (s->msg != NULL) {
        if (s->staged + n > sizeof s->stage && sink_flush(s) != 0)
            return -1;
        if (n <= sizeof s->stage) {
            memcpy(s->stage + s->staged, bytes, n);
            s->staged += n;
        } else {
            if (sink_grow(s, n) != 0 || nng_msg_append(s->msg, bytes, n) != 0)
                return -1;
        }
    } else {
        if (s->len + n > s->cap) {
            size_t cap = s->cap ? s->cap : 256;
            while (cap < s->len + n)
                cap *= 2;
            char *nb = realloc(s->buf, cap);
            if (nb == NULL)
                return -1;
            s->buf = nb;
            s->cap = cap;
        }
        memcpy(s->buf + s->len, bytes, n);
    }
    s->len += n;
    return 0;
}

static int pack_str(msgpack_packer *pk, const char *s)
{
    return msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* Whether a field is written at all: absent optional values are left out so
 * that they decode back to NULL / 0 / NONE. */
static bool present(const dp_field *f, const void *obj)
{
    switch (f->kind) {
    case DP_F_STR:
    case DP_F_ID:
    case DP_F_BIN:
        return *CAT(obj, f->off, char *) != NULL;
    case DP_F_VERDICT:
        return *CAT(obj, f->off, dp_verdict) != DP_VERDICT_NONE;
    case DP_F_COMPARE:
        return *CAT(obj, f->off, dp_compare) != DP_COMPARE_DEFAULT;
    case DP_F_STRS:
    case DP_F_ARR:
        return *CAT(obj, f->off_n, size_t) > 0;
    default:
        return true;
    }
}

static int pack_obj(msgpack_packer *pk, const dp_schema *s, const void *obj);

static int pack_field(msgpack_packer *pk, const dp_field *f, const void *obj)
{
    int rc = 0;
    switch (f->kind) {
    case DP_F_STR:
    case DP_F_ID:
        return pack_str(pk, *CAT(obj, f->off, char *));
    case DP_F_BIN:
        return msgpack_pack_bin_with_body(pk, *CAT(obj, f->off, char *),
                                          *CAT(obj, f->off_n, size_t));
    case DP_F_U32:
        return msgpack_pack_uint32(pk, *CAT(obj, f->off, uint32_t));
    case DP_F_U64:
        return msgpack_pack_uint64(pk, *CAT(obj, f->off, uint64_t));
    case DP_F_I32:
        return msgpack_pack_int32(pk, *CAT(obj, f->off, int));
    case DP_F_BOOL:
        return *CAT(obj, f->off, bool) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    case DP_F_INTBOOL:
        return *CAT(obj, f->off, int) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    case DP_F_F64:
        return msgpack_pack_double(pk, *CAT(obj, f->off, double));
    case DP_F_VERDICT:
        return pack_str(pk, dp_verdict_name(*CAT(obj, f->off, dp_verdict)));
    case DP_F_STATE:
        return pack_str(pk, dp_job_state_name(*CAT(obj, f->off, dp_job_state)));
    case DP_F_COMPARE:
        return pack_str(pk, dp_compare_wire_name(*CAT(obj, f->off, dp_compare)));
    case DP_F_STRS: {
        size_t n = *CAT(obj, f->off_n, size_t);
        char *const *v = *(char **const *)((const char *)obj + f->off);
        rc = msgpack_pack_array(pk, n);
        for (size_t k = 0; rc == 0 && k < n; k++)
            rc = pack_str(pk, v[k]);
        return rc;
    }
    case DP_F_ARR: {
        size_t n = *CAT(obj, f->off_n, size_t);
        const char *v = *CAT(obj, f->off, char *);
        rc = msgpack_pack_array(pk, n);
        for (size_t k = 0; rc == 0 && k < n; k++)
            rc = pack_obj(pk, f->sub, v + k * f->sub->size);
        return rc;
    }
    case DP_F_OBJ: {
        const dp_packed *packed = f->off_n != 0 ? CAT(obj, f->off_n, dp_packed) : NULL;
        if (packed != NULL && packed->bytes != NULL) /* a map already encoded */
            return pk->callback(pk->data, (const char *)packed->bytes, packed->len);
        return pack_obj(pk, f->sub, CAT(obj, f->off, char));
    }
    }
    return -1;
}

static int pack_obj(msgpack_packer *pk, const dp_schema *s, const void *obj)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_fields; i++)
        n += present(&s->fields[i], obj);
    int rc = msgpack_pack_map(pk, n);
    for (size_t i = 0; rc == 0 && i < s->n_fields; i++) {
        const dp_field *f = &s->fields[i];
        if (!present(f, obj))
            continue;
        rc = pack_str(pk, f->key);
        if (rc == 0)
            rc = pack_field(pk, f, obj);
    }
    return rc;
}

static int pack_msg(const dp_msg *m, bool internal, sink *out, dp_err *err)
{
    int rc = dp_msg_validate(m, err);
    if (rc != DP_OK)
        return rc;
    if (!internal && dp_msg_is_internal(m->type))
        return dp_err_set(err, DP_EINVAL, "'%s' is an in-process message: never on the wire",
                          dp_msg_type_name(m->type));
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, sink_write);
    int prc = msgpack_pack_map(&pk, 3 + (m->id != 0) + (m->auth != NULL));
    if (prc == 0)
        prc = pack_str(&pk, internal ? "i" : "v");
    if (prc == 0)
        prc = msgpack_pack_uint32(&pk, internal ? DP_MSG_INTERNAL_VERSION : DP_MSG_VERSION);
    if (prc == 0)
        prc = pack_str(&pk, "t");
    if (prc == 0)
        prc = pack_str(&pk, dp_msg_type_name(m->type));
    if (prc == 0 && m->id) {
        prc = pack_str(&pk, "id");
        if (prc == 0)
            prc = msgpack_pack_uint64(&pk, m->id);
    }
    if (prc == 0 && m->auth != NULL) {
        prc = pack_str(&pk, "a");
        if (prc == 0)
            prc = pack_str(&pk, m->auth);
    }
    if (prc == 0)
        prc = pack_str(&pk, "b");
    if (prc == 0)
        prc = pack_obj(&pk, dp_msg_body_schema(m->type), dp_msg_body_const(m));
    if (prc != 0) {
        if (out->too_big)
            return dp_err_set(err, DP_EINVAL, "%s message larger than %u bytes",
                              dp_msg_type_name(m->type), DP_MSG_MAX_SIZE);
        return dp_err_set(err, DP_ENOMEM, "out of memory encoding a %s message",
                          dp_msg_type_name(m->type));
    }
    return DP_OK;
}

static int encode_nng(const dp_msg *m, bool internal, nng_msg **out, dp_err *err)
{
    *out = NULL;
    sink s = {0};
    if (nng_msg_alloc(&s.msg, 0) != 0)
        return dp_err_set(err, DP_ENOMEM, "out of memory allocating an nng message");
    int rc = pack_msg(m, internal, &s, err);
    if (rc == DP_OK && sink_flush(&s) != 0)
        rc = dp_err_set(err, DP_ENOMEM, "out of memory encoding a %s message",
                        dp_msg_type_name(m->type));
    if (rc != DP_OK) {
        nng_msg_free(s.msg);
        return rc;
    }
    *out = s.msg;
    return DP_OK;
}

int dp_msg_encode(const dp_msg *m, nng_msg **out, dp_err *err)
{
    return encode_nng(m, false, out, err);
}

int dp_msg_encode_internal(const dp_msg *m, nng_msg **out, dp_err *err)
{
    return encode_nng(m, true, out, err);
}

int dp_msg_encode_buf(const dp_msg *m, void **buf, size_t *len, dp_err *err)
{
    *buf = NULL;
    *len = 0;
    sink s = {0};
    int rc = pack_msg(m, false, &s, err);
    if (rc != DP_OK) {
        free(s.buf);
        return rc;
    }
    *buf = s.buf;
    *len = s.len;
    return DP_OK;
}
