/* SHA-256 (FIPS 180-4), for runner token hashes and archive checks.
 * All buffers are caller-owned. */
#ifndef DP_SHA256_H
#define DP_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define DP_SHA256_LEN 32
#define DP_SHA256_HEX_LEN 64

typedef struct {
    uint32_t h[8];
    uint64_t total;
    uint8_t buf[64];
    size_t used;
} dp_sha256_ctx;

void dp_sha256_init(dp_sha256_ctx *ctx);
void dp_sha256_update(dp_sha256_ctx *ctx, const void *data, size_t len);
void dp_sha256_final(dp_sha256_ctx *ctx, uint8_t out[DP_SHA256_LEN]);

/* One-shot digest written as 64 lower-case hex chars plus NUL into hex. */
void dp_sha256_hex(const void *data, size_t len, char hex[DP_SHA256_HEX_LEN + 1]);

/* Lower-case hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void dp_hex_encode(const uint8_t *in, size_t n, char *out);

/* Constant-time comparison of two n-byte buffers: 1 when equal. */
int dp_ct_equal(const void *a, const void *b, size_t n);

/* n bytes from getrandom(2). Returns 0, or -1 with errno set. */
int dp_random_bytes(void *buf, size_t n);

#endif
