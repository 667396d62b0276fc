/* Differential test of the bounded reader against msgpack-c's unpacker:
 * on random msgpack-like bytes, dp_mp_skip must accept exactly what
 * msgpack-c parses completely (within our nesting limit) and stop at the
 * same offset, and refuse everything msgpack-c cannot parse. Also checks
 * that msgpack-c reads our encoder's output as the envelope we document. */
#include "messages/mp_read.h"
#include "msg_samples.h"

#include <msgpack.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int depth_of(const msgpack_object *o)
{
    int d = 0;
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            int c = depth_of(&o->via.array.ptr[i]);
            d = c > d ? c : d;
        }
        return d + 1;
    }
    if (o->type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            int k = depth_of(&o->via.map.ptr[i].key);
            int v = depth_of(&o->via.map.ptr[i].val);
            d = k > d ? k : d;
            d = v > d ? v : d;
        }
        return d + 1;
    }
    return 0;
}

/* Bytes that are mostly well-formed msgpack with short bodies. */
static size_t gen(unsigned char *b, size_t cap)
{
    size_t n = 0;
    while (n < cap && (n == 0 || rnd() % 8 != 0)) {
        uint64_t r = rnd();
        switch (r % 6) {
        case 0:
            b[n++] = (unsigned char)(0x90 | (r >> 8 & 3)); /* small array */
            break;
        case 1:
            b[n++] = (unsigned char)(0x80 | (r >> 8 & 3)); /* small map */
            break;
        case 2:
            b[n++] = (unsigned char)(0xa0 | (r >> 8 & 3)); /* short string */
            break;
        default:
            b[n++] = (unsigned char)(r >> 16); /* anything ... */
            /* ... but array16/32 and map16/32: msgpack-c allocates their
             * claimed count up front (GiBs), the very thing our reader
             * exists to avoid; test_msg_hostile covers them. */
            if (b[n - 1] >= 0xdc && b[n - 1] <= 0xdf)
                b[n - 1] = 0xc0;
            break;
        }
    }
    return n;
}

static void test_skip_matches_msgpack_c(void **state)
{
    (void)state;
    unsigned char buf[64];
    int agreed_ok = 0;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    for (int i = 0; i < 200000; i++) {
        size_t len = gen(buf, sizeof buf);
        unsigned char *copy = malloc(len);
        memcpy(copy, buf, len);
        size_t off = 0;
        msgpack_unpack_return ret = msgpack_unpack_next(&u, (const char *)copy, len, &off);
        dp_mp_reader r;
        dp_mp_reader_init(&r, copy, len, NULL);
        int rc = dp_mp_skip(&r);
        if (ret == MSGPACK_UNPACK_SUCCESS && depth_of(&u.data) <= DP_MSG_MAX_DEPTH) {
            if (rc != DP_OK || r.pos != off)
                fail_msg("input %d: msgpack-c parsed %zu bytes, we gave rc %d at %zu", i, off, rc,
                         r.pos);
            agreed_ok++;
        } else if (ret != MSGPACK_UNPACK_SUCCESS) {
            if (rc == DP_OK)
                fail_msg("input %d: msgpack-c refused (%d), we accepted %zu bytes", i, (int)ret,
                         r.pos);
        } else {
            assert_int_equal(rc, DP_EPROTO); /* deeper than we allow */
        }
        free(copy);
    }
    msgpack_unpacked_destroy(&u);
    print_message("%d of 200000 inputs parsed by both\n", agreed_ok);
    assert_true(agreed_ok > 1000);
}

static void test_our_output_is_standard_msgpack(void **state)
{
    (void)state;
    for (int t = 1; t < DP_MSG_WIRE_COUNT; t++) {
        dp_msg m;
        msg_sample((dp_msg_type)t, &m);
        void *buf;
        size_t len;
        assert_int_equal(dp_msg_encode_buf(&m, &buf, &len, NULL), DP_OK);
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        assert_int_equal(msgpack_unpack_next(&u, buf, len, &off), MSGPACK_UNPACK_SUCCESS);
        assert_int_equal(off, len);
        const msgpack_object *o = &u.data;
        assert_int_equal(o->type, MSGPACK_OBJECT_MAP);
        assert_int_equal(o->via.map.size, 4); /* v, t, id, b */
        bool saw_type = false;
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            assert_int_equal(kv->key.type, MSGPACK_OBJECT_STR);
            if (kv->key.via.str.size == 1 && kv->key.via.str.ptr[0] == 't') {
                const char *name = dp_msg_type_name(m.type);
                assert_int_equal(kv->val.via.str.size, strlen(name));
                assert_memory_equal(kv->val.via.str.ptr, name, strlen(name));
                saw_type = true;
            }
            if (kv->key.via.str.size == 1 && kv->key.via.str.ptr[0] == 'v')
                assert_int_equal(kv->val.via.u64, DP_MSG_VERSION);
            if (kv->key.via.str.size == 1 && kv->key.via.str.ptr[0] == 'b')
                assert_int_equal(kv->val.type, MSGPACK_OBJECT_MAP);
        }
        assert_true(saw_type);
        msgpack_unpacked_destroy(&u);
        free(buf);
        dp_msg_free(&m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skip_matches_msgpack_c),
        cmocka_unit_test(test_our_output_is_standard_msgpack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
