/* A small bounded msgpack reader for untrusted bytes (internal to messages/).
 *
 * Every length read from the input is checked against the bytes that remain
 * before the caller may use it, nesting is limited to DP_MSG_MAX_DEPTH, and
 * the reader carries an allocation budget the decoder charges before each
 * malloc. Errors are DP_EPROTO with a message that starts with the path of
 * the value being read ("b.specs[2].tests[0].stdin: ..."). The reader only
 * borrows the input buffer; strings it returns point into that buffer and are
 * not NUL-terminated. */
#ifndef DP_MP_READ_H
#define DP_MP_READ_H

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DP_MP_PATH_MAX 32

typedef struct {
    const char *key; /* into the input buffer, or a static string; NULL for an index */
    size_t key_len;
    size_t index;
} dp_mp_path_seg;

typedef struct {
    const uint8_t *p;
    size_t len;
    size_t pos;
    size_t budget; /* bytes the decoder may still allocate */
    int depth;     /* open maps and arrays */
    dp_err *err;
    dp_mp_path_seg path[DP_MP_PATH_MAX];
    int n_path;
} dp_mp_reader;

void dp_mp_reader_init(dp_mp_reader *r, const void *buf, size_t len, dp_err *err);

/* Sets r->err to "path: message" and returns code. */
int dp_mp_fail(dp_mp_reader *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies at most 40 bytes of untrusted s into out (NUL-terminated), with
 * every byte outside printable ASCII replaced by '?', so error messages stay
 * one clean line. out_size must be at least 2; returns out. */
char *dp_mp_printable(const char *s, size_t n, char *out, size_t out_size);

/* Path bookkeeping for error messages; pop after the value is read. */
void dp_mp_push_key(dp_mp_reader *r, const char *key, size_t key_len);
void dp_mp_push_index(dp_mp_reader *r, size_t index);
void dp_mp_pop(dp_mp_reader *r);

/* Charges n bytes against the allocation budget (DP_EPROTO when exhausted). */
int dp_mp_charge(dp_mp_reader *r, size_t n);

/* Opening a map or array counts one level of nesting: call dp_mp_leave when
 * its last element has been read. *n is already checked against the bytes
 * left (every entry needs at least one byte per key and value). */
int dp_mp_enter_map(dp_mp_reader *r, uint32_t *n);
int dp_mp_enter_array(dp_mp_reader *r, uint32_t *n);
void dp_mp_leave(dp_mp_reader *r);

/* True (and consumed) when the next value is nil. */
bool dp_mp_take_nil(dp_mp_reader *r);

int dp_mp_read_str(dp_mp_reader *r, const char **s, uint32_t *n);
int dp_mp_read_bin_or_str(dp_mp_reader *r, const char **s, uint32_t *n);
int dp_mp_read_uint(dp_mp_reader *r, uint64_t *v); /* any non-negative integer */
int dp_mp_read_int(dp_mp_reader *r, int64_t *v);   /* any integer that fits */
int dp_mp_read_bool(dp_mp_reader *r, bool *v);
int dp_mp_read_double(dp_mp_reader *r, double *v); /* float32, float64 or integer */

/* Skips one value of any type, nested values included (depth-limited). */
int dp_mp_skip(dp_mp_reader *r);

#endif
