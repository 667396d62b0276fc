/* libFuzzer harness for the stream transport's frame reader
 * (actors/actor_stream_buf.c): the code that cuts a peer's bytes into
 * frames on both sides of the runner <-> dispatchd wire.
 *
 * Input layout: byte 0: bit 7 set = a greeting (8 bytes, dropped) comes
 * first, as on the listening side; bits 0-6 + 1 = the body limit (1..128,
 * small so that limits are hit). Byte 1 seeds the sizes of the reads the
 * stream arrives in (1 byte up to the room the reader made). The rest is
 * the stream.
 *
 * Checked against a reference parse of the whole stream written here
 * independently: the reader hands out exactly the reference's frames, in
 * order, with their ids and bodies, however the bytes were split; it fails
 * exactly when and where the reference meets a length of 0 or above the
 * limit; otherwise it keeps exactly the partial rest; room() always leaves
 * room to read into. ASan/UBSan catch every out-of-bounds read. */
#include "fuzz/fuzz_check.h"
#include "actors/actor_stream.h"

#include <string.h>

typedef struct {
    const uint8_t *stream; /* the frames part of the input */
    size_t size;
    size_t at;       /* where the reference's next frame starts */
    size_t n_frames; /* handed out so far */
    size_t limit;
} frames_check;

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The reference: at k->at, 1 = a whole good frame, 0 = incomplete, -1 = bad length. */
static int reference_next(const frames_check *k)
{
    if (k->size - k->at < 8)
        return 0;
    uint32_t len = get32(k->stream + k->at);
    if (len == 0 || len > k->limit)
        return -1;
    return k->size - k->at - 8 >= len ? 1 : 0;
}

static void on_frame(void *arg, uint32_t id, const unsigned char *body, size_t len)
{
    frames_check *k = arg;
    FUZZ_CHECK(reference_next(k) == 1);
    FUZZ_CHECK(len == get32(k->stream + k->at) && len >= 1 && len <= k->limit);
    FUZZ_CHECK(id == get32(k->stream + k->at + 4));
    FUZZ_CHECK(memcmp(body, k->stream + k->at + 8, len) == 0);
    k->at += 8 + len;
    k->n_frames++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int greeting = (data[0] & 0x80) != 0;
    size_t hello = greeting ? ACTOR_STREAM_HELLO_LEN : 0;
    if (size - 2 < hello)
        return 0;
    frames_check k = {.stream = data + 2 + hello,
                      .size = size - 2 - hello,
                      .limit = (size_t)(data[0] & 0x7f) + 1};
    uint32_t rng = data[1] * 2654435761u + 1;
    const uint8_t *feed = data + 2;
    size_t left = size - 2, fed = 0;
    actor_stream_input in = {0};
    int failed = 0;
    while (left > 0 && !failed) {
        FUZZ_CHECK(actor_stream_input_room(&in, hello == 0, k.limit, 16) == 0);
        FUZZ_CHECK(in.cap > in.len);
        rng = rng * 1103515245u + 12345u;
        size_t n = 1 + (rng >> 16) % (in.cap - in.len);
        if (n > left)
            n = left;
        memcpy(in.in + in.len, feed + fed, n);
        in.len += n;
        fed += n;
        left -= n;
        if (hello > 0) {
            if (in.len < hello)
                continue;
            FUZZ_CHECK(memcmp(in.in, data + 2, hello) == 0);
            actor_stream_input_drop(&in, hello);
            hello = 0;
        }
        /* what the reader has seen of the frames part */
        frames_check seen = k;
        seen.size = fed - (greeting ? ACTOR_STREAM_HELLO_LEN : 0);
        failed = actor_stream_input_frames(&in, k.limit, on_frame, &seen) != 0;
        k.at = seen.at;
        k.n_frames = seen.n_frames;
        if (failed)
            FUZZ_CHECK(reference_next(&seen) == -1);
        else
            FUZZ_CHECK(reference_next(&seen) == 0 && in.len == seen.size - seen.at &&
                       memcmp(in.in, k.stream + k.at, in.len) == 0);
        if (rng & 1)
            actor_stream_input_trim(&in, 64);
    }
    if (!failed && hello == 0)
        FUZZ_CHECK(reference_next(&k) != 1); /* every whole frame was handed out */
    actor_stream_input_free(&in);
    return 0;
}
