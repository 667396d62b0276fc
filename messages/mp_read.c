#include "messages/mp_read.h"

#include "messages/msg.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void dp_mp_reader_init(dp_mp_reader *r, const void *buf, size_t len, dp_err *err)
{
    memset(r, 0, sizeof *r);
    r->p = buf;
    r->len = len;
    r->err = err;
    /* Decoded size is bounded by a multiple of the wire size (see msg.h). */
    r->budget = len * DP_MSG_MAX_EXPANSION + 64 * 1024;
}

static size_t left(const dp_mp_reader *r)
{
    return r->len - r->pos;
}

char *dp_mp_printable(const char *s, size_t n, char *out, size_t out_size)
{
    size_t k = 0;
    for (; k < n && k < 40 && k + 1 < out_size; k++)
        out[k] = s[k] >= 0x20 && s[k] <= 0x7e ? s[k] : '?';
    out[k] = '\0';
    return out;
}

int dp_mp_fail(dp_mp_reader *r, int code, const char *fmt, ...)
{
    if (r->err == NULL)
        return code;
    char path[256];
    size_t used = 0;
    path[0] = '\0';
    for (int i = 0; i < r->n_path && i < DP_MP_PATH_MAX && used < sizeof path; i++) {
        const dp_mp_path_seg *s = &r->path[i];
        int k;
        if (s->key != NULL) {
            char key[48];
            dp_mp_printable(s->key, s->key_len, key, sizeof key);
            k = snprintf(path + used, sizeof path - used, "%s%s", used ? "." : "", key);
        } else {
            k = snprintf(path + used, sizeof path - used, "[%zu]", s->index);
        }
        if (k < 0)
            break;
        used += (size_t)k;
    }
    char msg[DP_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (path[0] != '\0')
        return dp_err_set(r->err, code, "%s: %s", path, msg);
    return dp_err_set(r->err, code, "%s", msg);
}

void dp_mp_push_key(dp_mp_reader *r, const char *key, size_t key_len)
{
    if (r->n_path < DP_MP_PATH_MAX) {
        r->path[r->n_path].key = key;
        r->path[r->n_path].key_len = key_len;
        r->path[r->n_path].index = 0;
    }
    r->n_path++;
}

void dp_mp_push_index(dp_mp_reader *r, size_t index)
{
    if (r->n_path < DP_MP_PATH_MAX) {
        r->path[r->n_path].key = NULL;
        r->path[r->n_path].key_len = 0;
        r->path[r->n_path].index = index;
    }
    r->n_path++;
}

void dp_mp_pop(dp_mp_reader *r)
{
    if (r->n_path > 0)
        r->n_path--;
}

int dp_mp_charge(dp_mp_reader *r, size_t n)
{
    if (n > r->budget)
        return dp_mp_fail(r, DP_EPROTO, "decoded size exceeds %u times the message size",
                          DP_MSG_MAX_EXPANSION);
    r->budget -= n;
    return DP_OK;
}

static const char *type_name(uint8_t b)
{
    if (b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3))
        return "integer";
    if ((b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf)
        return "map";
    if ((b >= 0x90 && b <= 0x9f) || b == 0xdc || b == 0xdd)
        return "array";
    if ((b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb))
        return "string";
    if (b == 0xc0)
        return "nil";
    if (b == 0xc2 || b == 0xc3)
        return "boolean";
    if (b >= 0xc4 && b <= 0xc6)
        return "binary";
    if (b == 0xca || b == 0xcb)
        return "float";
    if (b == 0xc1)
        return "reserved byte 0xc1";
    return "extension";
}

static int need(dp_mp_reader *r, size_t n)
{
    if (n > left(r))
        return dp_mp_fail(r, DP_EPROTO, "truncated: %zu bytes needed at offset %zu, %zu left", n,
                          r->pos, left(r));
    return DP_OK;
}

static uint64_t be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Reads an n-byte big-endian length or value that follows the tag byte. */
static int read_be(dp_mp_reader *r, size_t n, uint64_t *v)
{
    int rc = need(r, n);
    if (rc != DP_OK)
        return rc;
    *v = be(r->p + r->pos, n);
    r->pos += n;
    return DP_OK;
}

static int wrong_type(dp_mp_reader *r, const char *want, uint8_t got)
{
    return dp_mp_fail(r, DP_EPROTO, "expected %s, got %s", want, type_name(got));
}

static int peek(dp_mp_reader *r, uint8_t *b)
{
    int rc = need(r, 1);
    if (rc == DP_OK)
        *b = r->p[r->pos];
    return rc;
}

static int enter(dp_mp_reader *r)
{
    if (r->depth >= DP_MSG_MAX_DEPTH)
        return dp_mp_fail(r, DP_EPROTO, "nested deeper than %d levels", DP_MSG_MAX_DEPTH);
    r->depth++;
    return DP_OK;
}

void dp_mp_leave(dp_mp_reader *r)
{
    if (r->depth > 0)
        r->depth--;
}

int dp_mp_enter_map(dp_mp_reader *r, uint32_t *n)
{
    uint8_t b;
    uint64_t v;
    int rc = peek(r, &b);
    if (rc != DP_OK)
        return rc;
    if (b >= 0x80 && b <= 0x8f) {
        r->pos++;
        v = b & 0x0f;
    } else if (b == 0xde || b == 0xdf) {
        r->pos++;
        if ((rc = read_be(r, b == 0xde ? 2 : 4, &v)) != DP_OK)
            return rc;
    } else {
        return wrong_type(r, "map", b);
    }
    if (v > left(r) / 2)
        return dp_mp_fail(r, DP_EPROTO, "map of %llu entries in %zu bytes", (unsigned long long)v,
                          left(r));
    if ((rc = enter(r)) != DP_OK)
        return rc;
    *n = (uint32_t)v;
    return DP_OK;
}

int dp_mp_enter_array(dp_mp_reader *r, uint32_t *n)
{
    uint8_t b;
    uint64_t v;
    int rc = peek(r, &b);
    if (rc != DP_OK)
        return rc;
    if (b >= 0x90 && b <= 0x9f) {
        r->pos++;
        v = b & 0x0f;
    } else if (b == 0xdc || b == 0xdd) {
        r->pos++;
        if ((rc = read_be(r, b == 0xdc ? 2 : 4, &v)) != DP_OK)
            return rc;
    } else {
        return wrong_type(r, "array", b);
    }
    if (v > left(r))
        return dp_mp_fail(r, DP_EPROTO, "array of %llu elements in %zu bytes",
                          (unsigned long long)v, left(r));
    if ((rc = enter(r)) != DP_OK)
        return rc;
    *n = (uint32_t)v;
    return DP_OK;
}

bool dp_mp_take_nil(dp_mp_reader *r)
{
    if (left(r) > 0 && r->p[r->pos] == 0xc0) {
        r->pos++;
        return true;
    }
    return false;
}

/* Reads a str (want_bin false) or bin/str (want_bin true) header and body. */
static int read_raw(dp_mp_reader *r, bool want_bin, const char **s, uint32_t *n)
{
    uint8_t b;
    uint64_t v;
    int rc = peek(r, &b);
    if (rc != DP_OK)
        return rc;
    if (b >= 0xa0 && b <= 0xbf) {
        r->pos++;
        v = b & 0x1f;
    } else if (b >= 0xd9 && b <= 0xdb) {
        r->pos++;
        if ((rc = read_be(r, (size_t)1 << (b - 0xd9), &v)) != DP_OK)
            return rc;
    } else if (want_bin && b >= 0xc4 && b <= 0xc6) {
        r->pos++;
        if ((rc = read_be(r, (size_t)1 << (b - 0xc4), &v)) != DP_OK)
            return rc;
    } else {
        return wrong_type(r, want_bin ? "binary or string" : "string", b);
    }
    if (v > left(r))
        return dp_mp_fail(r, DP_EPROTO, "string of %llu bytes but only %zu left",
                          (unsigned long long)v, left(r));
    *s = (const char *)r->p + r->pos;
    *n = (uint32_t)v;
    r->pos += v;
    return DP_OK;
}

int dp_mp_read_str(dp_mp_reader *r, const char **s, uint32_t *n)
{
    return read_raw(r, false, s, n);
}

int dp_mp_read_bin_or_str(dp_mp_reader *r, const char **s, uint32_t *n)
{
    return read_raw(r, true, s, n);
}

/* Reads any msgpack integer as sign + magnitude. */
static int read_integer(dp_mp_reader *r, bool *negative, uint64_t *mag)
{
    uint8_t b;
    uint64_t v;
    int rc = peek(r, &b);
    if (rc != DP_OK)
        return rc;
    *negative = false;
    if (b <= 0x7f) {
        r->pos++;
        *mag = b;
        return DP_OK;
    }
    if (b >= 0xe0) {
        r->pos++;
        *negative = true;
        *mag = (uint64_t)(256 - b);
        return DP_OK;
    }
    if (b >= 0xcc && b <= 0xcf) {
        r->pos++;
        return read_be(r, (size_t)1 << (b - 0xcc), mag);
    }
    if (b >= 0xd0 && b <= 0xd3) {
        size_t w = (size_t)1 << (b - 0xd0);
        r->pos++;
        if ((rc = read_be(r, w, &v)) != DP_OK)
            return rc;
        /* Sign-extend the w-byte two's complement value. */
        uint64_t sign = (uint64_t)1 << (w * 8 - 1);
        if (v & sign) {
            *negative = true;
            uint64_t span = w == 8 ? 0 : (uint64_t)1 << (w * 8);
            *mag = w == 8 ? (~v + 1) : span - v;
        } else {
            *mag = v;
        }
        return DP_OK;
    }
    return wrong_type(r, "integer", b);
}

int dp_mp_read_uint(dp_mp_reader *r, uint64_t *v)
{
    bool neg;
    uint64_t mag = 0;
    int rc = read_integer(r, &neg, &mag);
    if (rc != DP_OK)
        return rc;
    if (neg && mag != 0)
        return dp_mp_fail(r, DP_EPROTO, "negative value where an unsigned one is expected");
    *v = mag;
    return DP_OK;
}

int dp_mp_read_int(dp_mp_reader *r, int64_t *v)
{
    bool neg;
    uint64_t mag = 0;
    int rc = read_integer(r, &neg, &mag);
    if (rc != DP_OK)
        return rc;
    if (!neg && mag > (uint64_t)INT64_MAX)
        return dp_mp_fail(r, DP_EPROTO, "integer out of range");
    if (neg)
        *v = mag == (uint64_t)1 << 63 ? INT64_MIN : -(int64_t)mag;
    else
        *v = (int64_t)mag;
    return DP_OK;
}

int dp_mp_read_bool(dp_mp_reader *r, bool *v)
{
    uint8_t b;
    int rc = peek(r, &b);
    if (rc != DP_OK)
        return rc;
    if (b != 0xc2 && b != 0xc3)
        return wrong_type(r, "boolean", b);
    r->pos++;
    *v = b == 0xc3;
    return DP_OK;
}

int dp_mp_read_double(dp_mp_reader *r, double *v)
{
    uint8_t b;
    uint64_t bits;
    int rc = peek(r, &b);
    if (rc != DP_OK)
        return rc;
    if (b == 0xca) {
        r->pos++;
        if ((rc = read_be(r, 4, &bits)) != DP_OK)
            return rc;
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, sizeof f);
        *v = f;
        return DP_OK;
    }
    if (b == 0xcb) {
        r->pos++;
        if ((rc = read_be(r, 8, &bits)) != DP_OK)
            return rc;
        memcpy(v, &bits, sizeof *v);
        return DP_OK;
    }
    if (!(b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3)))
        return wrong_type(r, "number", b);
    int64_t i;
    if ((rc = dp_mp_read_int(r, &i)) != DP_OK)
        return rc;
    *v = (double)i;
    return DP_OK;
}

int dp_mp_skip(dp_mp_reader *r)
{
    uint8_t b;
    uint64_t n;
    const char *s;
    uint32_t len;
    int rc = peek(r, &b);
    if (rc != DP_OK)
        return rc;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        r->pos++;
        return DP_OK;
    }
    if ((b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb) || (b >= 0xc4 && b <= 0xc6))
        return read_raw(r, true, &s, &len);
    if ((b >= 0xcc && b <= 0xd3)) {
        int64_t i;
        uint64_t u;
        return b <= 0xcf ? dp_mp_read_uint(r, &u) : dp_mp_read_int(r, &i);
    }
    if (b == 0xca || b == 0xcb) {
        double d;
        return dp_mp_read_double(r, &d);
    }
    if ((b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf || (b >= 0x90 && b <= 0x9f) ||
        b == 0xdc || b == 0xdd) {
        uint32_t count;
        bool is_map = (b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf;
        rc = is_map ? dp_mp_enter_map(r, &count) : dp_mp_enter_array(r, &count);
        if (rc != DP_OK)
            return rc;
        uint64_t items = is_map ? (uint64_t)count * 2 : count;
        for (uint64_t i = 0; i < items; i++)
            if ((rc = dp_mp_skip(r)) != DP_OK)
                return rc;
        dp_mp_leave(r);
        return DP_OK;
    }
    if (b == 0xd4 || b == 0xd5 || b == 0xd6 || b == 0xd7 || b == 0xd8) {
        /* fixext 1, 2, 4, 8, 16: type byte plus data */
        r->pos++;
        size_t sz = (size_t)1 << (b - 0xd4);
        if ((rc = need(r, 1 + sz)) != DP_OK)
            return rc;
        r->pos += 1 + sz;
        return DP_OK;
    }
    if (b >= 0xc7 && b <= 0xc9) {
        r->pos++;
        if ((rc = read_be(r, (size_t)1 << (b - 0xc7), &n)) != DP_OK)
            return rc;
        if (n > left(r) || 1 + n > left(r))
            return dp_mp_fail(r, DP_EPROTO, "extension of %llu bytes but only %zu left",
                              (unsigned long long)n, left(r));
        r->pos += 1 + n;
        return DP_OK;
    }
    return dp_mp_fail(r, DP_EPROTO, "invalid msgpack byte 0x%02x at offset %zu", b, r->pos);
}
