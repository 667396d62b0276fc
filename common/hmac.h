/* HMAC-SHA256 (RFC 2104 over common/sha256.h): callback signatures and
 * AWS SigV4 presigning. Buffers are the caller's. */
#ifndef DP_HMAC_H
#define DP_HMAC_H

#include "common/sha256.h"

#include <stddef.h>
#include <stdint.h>

void dp_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                    uint8_t out[DP_SHA256_LEN]);

#endif
