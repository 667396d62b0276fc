/* Decoder for untrusted bytes: the bounded reader (mp_read.c) driven by the
 * field tables. Every length is checked against the bytes left and the
 * field's bound before anything is allocated; a failure frees whatever was
 * built so far. */
#include "messages/mp_read.h"
#include "messages/msg_schema.h"

#include <stdlib.h>
#include <string.h>

#define AT(obj, off, T) ((T *)((char *)(obj) + (off)))

/* A malloc'd NUL-terminated copy of n input bytes, charged to the budget. */
static int copy_bytes(dp_mp_reader *r, const char *s, uint32_t n, char **out)
{
    int rc = dp_mp_charge(r, (size_t)n + 1);
    if (rc != DP_OK)
        return rc;
    char *c = malloc((size_t)n + 1);
    if (c == NULL)
        return dp_mp_fail(r, DP_ENOMEM, "out of memory");
    memcpy(c, s, n);
    c[n] = '\0';
    *out = c;
    return DP_OK;
}

static int read_cstr(dp_mp_reader *r, size_t max, char **out)
{
    const char *s;
    uint32_t n;
    int rc = dp_mp_read_str(r, &s, &n);
    if (rc != DP_OK)
        return rc;
    if (n > max)
        return dp_mp_fail(r, DP_EPROTO, "string of %u bytes, at most %zu", n, max);
    /* A NUL inside would silently cut the string short. */
    if (memchr(s, '\0', n) != NULL)
        return dp_mp_fail(r, DP_EPROTO, "string contains a NUL byte");
    return copy_bytes(r, s, n, out);
}

/* Reads a short enum name into a small buffer. */
static int read_name(dp_mp_reader *r, char *buf, size_t size)
{
    const char *s;
    uint32_t n;
    int rc = dp_mp_read_str(r, &s, &n);
    if (rc != DP_OK)
        return rc;
    /* Printable, so the caller may quote it in an error message. */
    if (n >= size)
        return dp_mp_fail(r, DP_EPROTO, "unknown value");
    dp_mp_printable(s, n, buf, size);
    return DP_OK;
}

static int read_uint_max(dp_mp_reader *r, uint64_t max, uint64_t *v)
{
    int rc = dp_mp_read_uint(r, v);
    if (rc == DP_OK && *v > max)
        return dp_mp_fail(r, DP_EPROTO, "value %llu out of range", (unsigned long long)*v);
    return rc;
}

static int decode_obj(dp_mp_reader *r, const dp_schema *s, void *obj);

/* Reads an array header for a field and allocates its zeroed elements. */
static int read_array(dp_mp_reader *r, const dp_field *f, size_t elem, void **out, size_t *n)
{
    uint32_t count;
    int rc = dp_mp_enter_array(r, &count);
    if (rc != DP_OK)
        return rc;
    if (count > f->max)
        return dp_mp_fail(r, DP_EPROTO, "%u elements, at most %zu", count, f->max);
    if (count == 0)
        return DP_OK;
    if ((rc = dp_mp_charge(r, (size_t)count * elem)) != DP_OK)
        return rc;
    *out = calloc(count, elem);
    if (*out == NULL)
        return dp_mp_fail(r, DP_ENOMEM, "out of memory");
    *n = count;
    return DP_OK;
}

static int decode_field(dp_mp_reader *r, const dp_field *f, void *obj)
{
    uint64_t u;
    int64_t i;
    int rc;
    char name[16];
    switch (f->kind) {
    case DP_F_STR:
    case DP_F_ID:
        return read_cstr(r, f->max, AT(obj, f->off, char *));
    case DP_F_BIN: {
        const char *s;
        uint32_t n;
        if ((rc = dp_mp_read_bin_or_str(r, &s, &n)) != DP_OK)
            return rc;
        if (n > f->max)
            return dp_mp_fail(r, DP_EPROTO, "%u bytes, at most %zu", n, f->max);
        if ((rc = copy_bytes(r, s, n, AT(obj, f->off, char *))) != DP_OK)
            return rc;
        *AT(obj, f->off_n, size_t) = n;
        return DP_OK;
    }
    case DP_F_U32:
        if ((rc = read_uint_max(r, UINT32_MAX, &u)) == DP_OK)
            *AT(obj, f->off, uint32_t) = (uint32_t)u;
        return rc;
    case DP_F_U64:
        return dp_mp_read_uint(r, AT(obj, f->off, uint64_t));
    case DP_F_I32:
        if ((rc = dp_mp_read_int(r, &i)) != DP_OK)
            return rc;
        if (i < INT32_MIN || i > INT32_MAX)
            return dp_mp_fail(r, DP_EPROTO, "value %lld out of range", (long long)i);
        *AT(obj, f->off, int) = (int)i;
        return DP_OK;
    case DP_F_BOOL:
        return dp_mp_read_bool(r, AT(obj, f->off, bool));
    case DP_F_INTBOOL: {
        bool b;
        if ((rc = dp_mp_read_bool(r, &b)) == DP_OK)
            *AT(obj, f->off, int) = b;
        return rc;
    }
    case DP_F_F64:
        return dp_mp_read_double(r, AT(obj, f->off, double));
    case DP_F_VERDICT: {
        dp_verdict v;
        if ((rc = read_name(r, name, sizeof name)) != DP_OK)
            return rc;
        if (dp_verdict_parse(name, &v) != DP_OK)
            return dp_mp_fail(r, DP_EPROTO, "unknown verdict \"%s\"", name);
        *AT(obj, f->off, dp_verdict) = v;
        return DP_OK;
    }
    case DP_F_STATE: {
        dp_job_state st;
        if ((rc = read_name(r, name, sizeof name)) != DP_OK)
            return rc;
        if (dp_job_state_parse(name, &st) != DP_OK)
            return dp_mp_fail(r, DP_EPROTO, "unknown state \"%s\"", name);
        *AT(obj, f->off, dp_job_state) = st;
        return DP_OK;
    }
    case DP_F_COMPARE:
        if ((rc = read_name(r, name, sizeof name)) != DP_OK)
            return rc;
        if (dp_compare_parse(name, AT(obj, f->off, dp_compare)) != DP_OK)
            return dp_mp_fail(r, DP_EPROTO, "unknown compare mode \"%s\"", name);
        return DP_OK;
    case DP_F_STRS: {
        void *arr = NULL;
        size_t n = 0;
        rc = read_array(r, f, sizeof(char *), &arr, &n);
        /* Store at once so dp_schema_free releases a half-read array. */
        *AT(obj, f->off, char **) = arr;
        *AT(obj, f->off_n, size_t) = n;
        for (size_t k = 0; rc == DP_OK && k < n; k++) {
            dp_mp_push_index(r, k);
            rc = read_cstr(r, DP_MSG_MAX_NAME, &((char **)arr)[k]);
            dp_mp_pop(r);
        }
        if (rc == DP_OK)
            dp_mp_leave(r);
        return rc;
    }
    case DP_F_ARR: {
        void *arr = NULL;
        size_t n = 0;
        rc = read_array(r, f, f->sub->size, &arr, &n);
        *AT(obj, f->off, void *) = arr;
        *AT(obj, f->off_n, size_t) = n;
        for (size_t k = 0; rc == DP_OK && k < n; k++) {
            dp_mp_push_index(r, k);
            rc = decode_obj(r, f->sub, (char *)arr + k * f->sub->size);
            dp_mp_pop(r);
        }
        if (rc == DP_OK)
            dp_mp_leave(r);
        return rc;
    }
    case DP_F_OBJ:
        return decode_obj(r, f->sub, AT(obj, f->off, char));
    }
    return dp_mp_fail(r, DP_EINTERNAL, "bad field table");
}

/* The field named key (n bytes), looked for from index *idx on, then from
 * the start; *idx becomes the one after it. Our encoder writes a table's
 * fields in order, so the next key is nearly always the next field: one
 * comparison per key instead of a scan of the table (perf put this scan
 * at 3.5 % of a runner's samples, decoding each job's spec). */
static const dp_field *find_field(const dp_schema *s, const char *key, uint32_t n, size_t *idx)
{
    size_t from = *idx < s->n_fields ? *idx : 0;
    for (size_t c = 0; c < s->n_fields; c++) {
        size_t i = (from + c) % s->n_fields;
        const char *k = s->fields[i].key;
        /* strnlen first: the key may hold NULs, so never trust a prefix match. */
        if (strnlen(k, (size_t)n + 1) == n && memcmp(k, key, n) == 0) {
            *idx = i + 1;
            return &s->fields[i];
        }
    }
    return NULL;
}

/* Decodes a map into obj (zeroed by the caller); unknown keys are skipped.
 * On failure obj may hold partial allocations: the caller frees it. */
static int decode_obj(dp_mp_reader *r, const dp_schema *s, void *obj)
{
    uint32_t n;
    int rc = dp_mp_enter_map(r, &n);
    if (rc != DP_OK)
        return rc;
    uint64_t seen = 0; /* tables have fewer than 64 fields */
    size_t next = 0;   /* where find_field looks first */
    for (uint32_t k = 0; k < n; k++) {
        const char *key;
        uint32_t key_len;
        if ((rc = dp_mp_read_str(r, &key, &key_len)) != DP_OK)
            return rc;
        dp_mp_push_key(r, key, key_len);
        const dp_field *f = find_field(s, key, key_len, &next);
        size_t idx = f != NULL ? (size_t)(f - s->fields) : 0;
        if (f == NULL) {
            rc = dp_mp_skip(r); /* forward compatible: newer senders add keys */
        } else if (seen & (uint64_t)1 << idx) {
            rc = dp_mp_fail(r, DP_EPROTO, "duplicate key");
        } else {
            seen |= (uint64_t)1 << idx;
            /* nil means "not given": leave the zero value. */
            rc = dp_mp_take_nil(r) ? DP_OK : decode_field(r, f, obj);
        }
        if (rc != DP_OK)
            return rc;
        dp_mp_pop(r);
    }
    dp_mp_leave(r);
    return DP_OK;
}

/* Complaints about "v" and "t" win over later trouble in the envelope, and
 * the scan goes on past them so the id is known for the error reply. */
static int envelope_verdict(dp_mp_reader *r, bool internal, bool have_v, uint64_t version,
                            bool have_t, const char *t, uint32_t tn, dp_msg *out)
{
    r->n_path = 0;
    int speaks = internal ? DP_MSG_INTERNAL_VERSION : DP_MSG_VERSION;
    if (have_v && (version < 1 || version > (uint64_t)speaks))
        return dp_mp_fail(r, DP_EPROTO, "unsupported version %llu (this side speaks %d)",
                          (unsigned long long)version, speaks);
    if (have_t) {
        char name[32];
        out->type = DP_MSG_INVALID;
        if (tn < sizeof name && memchr(t, '\0', tn) == NULL) {
            memcpy(name, t, tn);
            name[tn] = '\0';
            out->type = dp_msg_type_parse(name);
            if (!internal && dp_msg_is_internal(out->type))
                out->type = DP_MSG_INVALID; /* not on the wire: as unknown as any */
        }
        if (out->type == DP_MSG_INVALID)
            return dp_mp_fail(r, DP_EPROTO, "unknown message type \"%s\"",
                              dp_mp_printable(t, tn, name, sizeof name));
    }
    return DP_OK;
}

/* First pass over the envelope: version, type, id and where the body is. */
/* internal: the version key is "i" (in-process catalogue), else "v". */
static int read_envelope(dp_mp_reader *r, bool internal, dp_msg *out, size_t *body_pos)
{
    const char vkey = internal ? 'i' : 'v';
    bool have_v = false, have_t = false, have_id = false;
    uint64_t version = 0;
    const char *t = NULL;
    uint32_t tn = 0, n = 0;
    *body_pos = SIZE_MAX;
    int rc = dp_mp_enter_map(r, &n);
    for (uint32_t k = 0; rc == DP_OK && k < n; k++) {
        const char *key;
        uint32_t key_len;
        if ((rc = dp_mp_read_str(r, &key, &key_len)) != DP_OK)
            break;
        dp_mp_push_key(r, key, key_len);
        bool dup = false;
        if (key_len == 1 && key[0] == vkey) {
            dup = have_v;
            rc = dp_mp_read_uint(r, &version);
            have_v = have_v || rc == DP_OK;
        } else if (key_len == 1 && key[0] == 't') {
            dup = have_t;
            rc = dp_mp_read_str(r, &t, &tn);
            have_t = have_t || rc == DP_OK;
        } else if (key_len == 1 && key[0] == 'a') {
            const char *a;
            uint32_t an;
            dup = out->auth != NULL;
            rc = dp_mp_read_str(r, &a, &an);
            if (rc == DP_OK && (an > DP_MSG_MAX_TOKEN || memchr(a, '\0', an) != NULL))
                rc = dp_mp_fail(r, DP_EPROTO, "credential longer than %d bytes or with a NUL",
                                DP_MSG_MAX_TOKEN);
            if (rc == DP_OK && !dup)
                rc = copy_bytes(r, a, an, &out->auth);
        } else if (key_len == 2 && memcmp(key, "id", 2) == 0) {
            dup = have_id;
            have_id = true;
            rc = dp_mp_read_uint(r, &out->id);
        } else if (key_len == 1 && key[0] == 'b') {
            dup = *body_pos != SIZE_MAX;
            *body_pos = r->pos;
            rc = dp_mp_skip(r);
        } else {
            rc = dp_mp_skip(r);
        }
        if (rc == DP_OK && dup)
            rc = dp_mp_fail(r, DP_EPROTO, "duplicate key");
        if (rc == DP_OK)
            dp_mp_pop(r);
    }
    if (rc == DP_OK && r->pos != r->len)
        rc = dp_mp_fail(r, DP_EPROTO, "%zu trailing bytes after the message", r->len - r->pos);
    int env = envelope_verdict(r, internal, have_v, version, have_t, t, tn, out);
    if (env != DP_OK || rc != DP_OK)
        return env != DP_OK ? env : rc;
    if (!have_v)
        return dp_mp_fail(r, DP_EPROTO, "envelope without version \"%c\"", vkey);
    if (!have_t)
        return dp_mp_fail(r, DP_EPROTO, "envelope without type \"t\"");
    dp_mp_leave(r);
    return DP_OK;
}

/* body: decode and validate the body too, else the envelope alone. */
static int decode(const void *buf, size_t len, bool internal, bool body, dp_msg *out, dp_err *err)
{
    memset(out, 0, sizeof *out);
    dp_err_clear(err);
    if (len > DP_MSG_MAX_SIZE)
        return dp_err_set(err, DP_EPROTO, "message of %zu bytes, at most %u", len, DP_MSG_MAX_SIZE);
    if (buf == NULL && len > 0)
        return dp_err_set(err, DP_EINVAL, "message buffer is NULL");
    dp_mp_reader r;
    dp_mp_reader_init(&r, buf, len, err);
    size_t body_pos;
    int rc = read_envelope(&r, internal, out, &body_pos);
    if (rc == DP_OK && body && body_pos != SIZE_MAX) {
        r.pos = body_pos;
        r.n_path = 0;
        dp_mp_push_key(&r, "b", 1);
        /* The body is one level below the envelope map. */
        r.depth = 1;
        rc = decode_obj(&r, dp_msg_body_schema(out->type), dp_msg_body(out));
    }
    if (rc == DP_OK && body)
        rc = dp_msg_validate(out, err);
    if (rc != DP_OK) {
        uint64_t id = out->id;
        dp_msg_free(out);
        out->id = id;
    }
    return rc;
}

int dp_msg_decode(const void *buf, size_t len, dp_msg *out, dp_err *err)
{
    return decode(buf, len, false, true, out, err);
}

int dp_msg_decode_nng(nng_msg *msg, dp_msg *out, dp_err *err)
{
    return decode(nng_msg_body(msg), nng_msg_len(msg), false, true, out, err);
}

int dp_msg_decode_envelope_nng(nng_msg *msg, dp_msg *out, dp_err *err)
{
    return decode(nng_msg_body(msg), nng_msg_len(msg), false, false, out, err);
}

int dp_msg_decode_internal(nng_msg *msg, dp_msg *out, dp_err *err)
{
    return decode(nng_msg_body(msg), nng_msg_len(msg), true, true, out, err);
}

void dp_msg_free(dp_msg *m)
{
    if (m == NULL)
        return;
    dp_schema_free(dp_msg_body_schema(m->type), dp_msg_body(m));
    if (m->auth != NULL) {
        explicit_bzero(m->auth, strlen(m->auth)); /* a credential: leave no copy behind */
        free(m->auth);
    }
    memset(m, 0, sizeof *m);
}

bool dp_msg_equal(const dp_msg *a, const dp_msg *b)
{
    bool same_auth = (a->auth == NULL && b->auth == NULL) ||
                     (a->auth != NULL && b->auth != NULL && strcmp(a->auth, b->auth) == 0);
    return a->type == b->type && a->id == b->id && same_auth &&
           dp_schema_equal(dp_msg_body_schema(a->type), dp_msg_body_const(a), dp_msg_body_const(b));
}
