/* A few hundred thousand random and mutated buffers: each is refused
 * cleanly (no crash, no leak under ASan) or, when it still decodes, it
 * re-encodes and decodes to an equal message. Deterministic (xorshift seed),
 * so a failure can be replayed. */
#include "msg_samples.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* xorshift: deterministic, so a failure can be replayed. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* After a successful decode: encode again, decode again, same message. */
static void check_stable(const dp_msg *m)
{
    void *buf;
    size_t len;
    dp_err err;
    if (dp_msg_encode_buf(m, &buf, &len, &err) != DP_OK)
        fail_msg("decoded message does not re-encode: %s", err.msg);
    dp_msg again;
    if (dp_msg_decode(buf, len, &again, &err) != DP_OK)
        fail_msg("re-encoded message does not decode: %s", err.msg);
    assert_true(dp_msg_equal(m, &again));
    dp_msg_free(&again);
    free(buf);
}

static void test_random_inputs(void **state)
{
    (void)state;
    unsigned char buf[96];
    int ok = 0;
    for (int i = 0; i < 200000; i++) {
        size_t len = rnd() % sizeof buf;
        for (size_t k = 0; k < len; k++) {
            uint64_t r = rnd();
            /* Bias towards msgpack structure bytes so some inputs get deep. */
            buf[k] =
                (r & 3) == 0 ? (unsigned char)(0x80 | (r >> 8 & 0x1f)) : (unsigned char)(r >> 16);
        }
        unsigned char *copy = malloc(len ? len : 1);
        memcpy(copy, buf, len);
        dp_msg m;
        if (dp_msg_decode(copy, len, &m, NULL) == DP_OK) {
            ok++;
            check_stable(&m);
            dp_msg_free(&m);
        }
        free(copy);
    }
    print_message("random: %d of 200000 decoded\n", ok);
}

static void test_mutated_inputs(void **state)
{
    (void)state;
    void *enc[DP_MSG_WIRE_COUNT];
    size_t enc_len[DP_MSG_WIRE_COUNT];
    for (int t = 1; t < DP_MSG_WIRE_COUNT; t++) {
        dp_msg m;
        msg_sample((dp_msg_type)t, &m);
        assert_int_equal(dp_msg_encode_buf(&m, &enc[t], &enc_len[t], NULL), DP_OK);
        dp_msg_free(&m);
    }
    int ok = 0, total = 200000;
    for (int i = 0; i < total; i++) {
        int t = 1 + (int)(rnd() % (DP_MSG_WIRE_COUNT - 1));
        size_t len = enc_len[t];
        unsigned char *b = malloc(len + 8);
        memcpy(b, enc[t], len);
        int edits = 1 + (int)(rnd() % 4);
        for (int e = 0; e < edits && len > 0; e++) {
            size_t at = rnd() % len;
            switch (rnd() % 4) {
            case 0: /* flip bits */
                b[at] ^= (unsigned char)(1u << (rnd() % 8));
                break;
            case 1: /* interesting byte */
                b[at] = (unsigned char[]){0x00, 0x7f, 0x80, 0xc0, 0xc1, 0xcc,
                                          0xcf, 0xd3, 0xdb, 0xdd, 0xdf, 0xff}[rnd() % 12];
                break;
            case 2: /* delete a byte */
                memmove(b + at, b + at + 1, len - at - 1);
                len--;
                break;
            default: /* cut */
                len = at;
                break;
            }
        }
        dp_msg m;
        if (dp_msg_decode(b, len, &m, NULL) == DP_OK) {
            ok++;
            check_stable(&m);
            dp_msg_free(&m);
        }
        free(b);
    }
    for (int t = 1; t < DP_MSG_WIRE_COUNT; t++)
        free(enc[t]);
    print_message("mutated: %d of %d still decoded (and re-encoded identically)\n", ok, total);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_inputs),
        cmocka_unit_test(test_mutated_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
