/* Field tables that describe every message body (internal to messages/).
 *
 * One table per struct drives the encoder, the decoder, the bounds checks,
 * dp_msg_free and dp_msg_equal, so the wire keys and bounds live in one place
 * (msg_schema.c). Offsets are relative to the struct the table describes. */
#ifndef DP_MSG_SCHEMA_H
#define DP_MSG_SCHEMA_H

#include "messages/msg.h"

#include <stddef.h>

typedef enum {
    DP_F_STR,     /* char *, NUL-terminated, no NUL inside; NULL = absent */
    DP_F_ID,      /* a DP_F_STR holding an id: printable ASCII, no spaces */
    DP_F_BIN,     /* char * with a size_t length at off_n; bytes, NUL appended */
    DP_F_U32,     /* uint32_t */
    DP_F_U64,     /* uint64_t */
    DP_F_I32,     /* int */
    DP_F_BOOL,    /* bool */
    DP_F_INTBOOL, /* int used as a flag (0/1) */
    DP_F_F64,     /* double */
    DP_F_VERDICT, /* dp_verdict as its name ("AC"); NONE = absent */
    DP_F_STATE,   /* dp_job_state as its name ("queued") */
    DP_F_COMPARE, /* dp_compare by dp_compare_name; DEFAULT = absent */
    DP_F_STRS,    /* char ** with a size_t count at off_n */
    DP_F_ARR,     /* array of structs described by sub, size_t count at off_n */
    DP_F_OBJ      /* a struct described by sub, stored inline; with off_n, a
                     dp_packed there stands for it when set (encode only) */
} dp_field_kind;

struct dp_schema;

typedef struct {
    const char *key; /* wire key */
    dp_field_kind kind;
    size_t off;
    size_t off_n; /* count (STRS, ARR) or length (BIN) */
    size_t max;   /* bytes of a string, elements of an array */
    const struct dp_schema *sub;
} dp_field;

typedef struct dp_schema {
    const char *name; /* for messages */
    size_t size;      /* sizeof the struct */
    const dp_field *fields;
    size_t n_fields;
} dp_schema;

/* The body of each message type; every entry is non-NULL (may have no fields). */
const dp_schema *dp_msg_body_schema(dp_msg_type t);

/* Where the body of m lives (the union member for its type). */
void *dp_msg_body(dp_msg *m);
const void *dp_msg_body_const(const dp_msg *m);

/* Frees every member the schema describes in obj (not obj itself). */
void dp_schema_free(const dp_schema *s, void *obj);

/* Field-by-field equality. */
bool dp_schema_equal(const dp_schema *s, const void *a, const void *b);

/* Checks string lengths, NULs inside strings, array counts and enum ranges
 * against the schema: DP_EINVAL naming the field, prefixed with what. */
int dp_schema_check(const dp_schema *s, const void *obj, const char *what, dp_err *err);

const char *dp_compare_wire_name(dp_compare c); /* NULL for DEFAULT */

/* The table of dp_job_spec, for dp_msg_validate_spec. */
const dp_schema *dp_spec_schema(void);

#endif
