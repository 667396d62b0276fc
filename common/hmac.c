/* HMAC-SHA256, RFC 2104; checked against RFC 4231's vectors (test_hmac). */
#include "common/hmac.h"

#include <string.h>

void dp_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                    uint8_t out[DP_SHA256_LEN])
{
    uint8_t k[64] = {0}, pad[64], inner[DP_SHA256_LEN];
    dp_sha256_ctx ctx;
    if (key_len > sizeof k) { /* a long key is hashed first */
        dp_sha256_init(&ctx);
        dp_sha256_update(&ctx, key, key_len);
        dp_sha256_final(&ctx, k);
    } else if (key_len > 0) {
        memcpy(k, key, key_len);
    }
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = k[i] ^ 0x36;
    dp_sha256_init(&ctx);
    dp_sha256_update(&ctx, pad, sizeof pad);
    dp_sha256_update(&ctx, msg, msg_len);
    dp_sha256_final(&ctx, inner);
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = k[i] ^ 0x5c;
    dp_sha256_init(&ctx);
    dp_sha256_update(&ctx, pad, sizeof pad);
    dp_sha256_update(&ctx, inner, sizeof inner);
    dp_sha256_final(&ctx, out);
    memset(k, 0, sizeof k);
    memset(pad, 0, sizeof pad);
}
