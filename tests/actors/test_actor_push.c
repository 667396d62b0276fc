/* One-way pushes (actors/actor_stream.h, actor_stream_push.c), the wire of
 * `dispatchctl watch`: every greeted subscriber gets every frame, in order;
 * one that stops reading never holds up the sender and misses whole frames
 * past its limit while the others get all; a peer that greets wrongly is
 * never counted; the count follows subscribers that leave; closing ends
 * every subscriber's read. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "actors/actor_stream.h"
#include "common/clock.h"
#include "tests/support/stream_raw.h"

typedef struct {
    char url[128];
    atomic_size_t count;
    actor_stream_push *p;
} fx;

static void on_count(void *arg, size_t n)
{
    atomic_store(&((fx *)arg)->count, n);
}

/* Waits up to 5 s (a loaded machine) for the count to be want. */
static void wait_count(fx *f, size_t want)
{
    for (int i = 0; i < 500 && atomic_load(&f->count) != want; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(atomic_load(&f->count), want);
}

static fx the_fx;

static int listen_on(const char *url, void **state)
{
    fx *f = &the_fx;
    memset(f, 0, sizeof *f);
    char *resolved = NULL;
    dp_err err = {0};
    if ((f->p = actor_stream_push_listen(url, 64 << 10, on_count, f, &resolved, &err)) == NULL)
        fail_msg("push listen on %s: %s", url, err.msg);
    snprintf(f->url, sizeof f->url, "%s", resolved);
    free(resolved);
    *state = f;
    return 0;
}

/* Loopback tcp (the hand-made peer of stream_raw speaks only tcp). */
static int setup(void **state)
{
    return listen_on("tcp://127.0.0.1:0", state);
}

/* ipc: a Unix socket's buffers are fixed (about 200 KiB by default), where
 * loopback tcp's grow to megabytes, so a subscriber that reads nothing
 * reaches its limit within a known number of bytes. */
static int setup_ipc(void **state)
{
    char url[96];
    snprintf(url, sizeof url, "ipc:///tmp/dp-test-push-%ld.sock", (long)getpid());
    return listen_on(url, state);
}

static int teardown(void **state)
{
    fx *f = *state;
    actor_stream_push_close(f->p);
    return 0;
}

typedef struct {
    uint32_t next; /* the sequence number expected */
    size_t frames, gaps;
} reader;

/* Frames carry a 4-byte sequence number, then filler. */
static void on_frame(void *arg, uint32_t id, const unsigned char *body, size_t len)
{
    reader *r = arg;
    assert_int_equal(id, 0);
    assert_true(len >= 4);
    uint32_t seq = actor_stream_get32(body);
    assert_true(seq >= r->next);
    r->gaps += seq != r->next;
    r->next = seq + 1;
    r->frames++;
}

static int subscribe(fx *f)
{
    dp_err err = {0};
    int fd = actor_stream_connect(f->url, 5000, &err);
    if (fd < 0)
        fail_msg("subscribe: %s", err.msg);
    return fd;
}

/* Hands r what fd has, waiting up to timeout_ms for a first byte: false
 * when none came. */
static bool read_some(int fd, actor_stream_input *in, reader *r, int timeout_ms)
{
    dp_err err = {0};
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, timeout_ms) <= 0)
        return false;
    if (actor_stream_push_next(fd, in, 1 << 20, on_frame, r, &err) != DP_OK)
        fail_msg("after %zu frames: %s", r->frames, err.msg);
    return true;
}

/* Reads until `want` frames came in. Slack: 30 s without a byte fails (a
 * frame that should have come was lost), where a loaded machine delivers
 * within milliseconds. */
static void read_frames(int fd, actor_stream_input *in, reader *r, size_t want)
{
    while (r->frames < want)
        if (!read_some(fd, in, r, 30000))
            fail_msg("no frame for 30 s after %zu of %zu", r->frames, want);
}

static void send_seq(fx *f, uint32_t seq, size_t len)
{
    unsigned char *b = calloc(1, len);
    actor_stream_put32(b, seq);
    actor_stream_push_send(f->p, b, len);
    free(b);
}

static void test_every_frame_in_order(void **state)
{
    fx *f = *state;
    int a = subscribe(f), b = subscribe(f);
    /* counted once greeted: connect returns after the greeting */
    wait_count(f, 2);
    reader ra = {0}, rb = {0};
    actor_stream_input ia = {0}, ib = {0};
    /* read as they go, 50 at a time: no backlog reaches the 64 KiB limit */
    for (uint32_t i = 0; i < 2000; i++) {
        send_seq(f, i, 100 + i % 300);
        if (i % 50 == 49) {
            read_frames(a, &ia, &ra, i + 1);
            read_frames(b, &ib, &rb, i + 1);
        }
    }
    assert_int_equal(ra.gaps, 0);
    assert_int_equal(rb.gaps, 0);
    close(a);
    wait_count(f, 1);
    close(b);
    wait_count(f, 0);
    actor_stream_input_free(&ia);
    actor_stream_input_free(&ib);
}

/* Reads what fd has until nothing more comes for 500 ms. */
static void drain(int fd, actor_stream_input *in, reader *r)
{
    while (read_some(fd, in, r, 500)) {
    }
}

static void test_slow_subscriber_misses_whole_frames(void **state)
{
    fx *f = *state;
    int slow = subscribe(f), fast = subscribe(f);
    wait_count(f, 2);
    reader rs = {0}, rf = {0};
    actor_stream_input is = {0}, in = {0};
    /* 8 MiB in 1 KiB frames: far past the socket buffers and the 64 KiB
     * limit of the one that reads nothing meanwhile, while the other reads
     * everything sent every 50 frames. */
    enum { N = 8192 };
    int64_t t0 = dp_now_ms();
    for (uint32_t i = 0; i < N; i++) {
        send_seq(f, i, 1024);
        if (i % 50 == 49)
            read_frames(fast, &in, &rf, i + 1);
    }
    int64_t took = dp_now_ms() - t0;
    read_frames(fast, &in, &rf, N);
    assert_int_equal(rf.gaps, 0);
    /* slack: the sends never wait on the slow one; 8,192 of them and the
     * fast one's reads take well under a second, 60 s would mean they had */
    assert_true(took < 60000);
    /* the slow one got what its buffers and backlog held, then whole frames
     * (never half of one: on_frame checks every sequence number) */
    drain(slow, &is, &rs);
    assert_true(rs.gaps > 0 || rs.next < N);
    assert_true(rs.frames < N);
    /* drained: it gets the next frame again */
    send_seq(f, N, 16);
    read_frames(slow, &is, &rs, rs.frames + 1);
    assert_int_equal(rs.next, N + 1);
    close(slow);
    close(fast);
    wait_count(f, 0);
    actor_stream_input_free(&is);
    actor_stream_input_free(&in);
}

static void test_bad_greeting_not_counted(void **state)
{
    fx *f = *state;
    char why[256];
    int bad = stream_raw_connect(f->url, "NOTDPACT", 8, 0, 3000, why, sizeof why);
    if (bad < 0)
        fail_msg("raw connect: %s", why);
    if (stream_raw_expect_cut(bad, "a wrong greeting", why, sizeof why) != 0)
        fail_msg("%s", why);
    close(bad);
    int good = subscribe(f);
    wait_count(f, 1);
    close(good);
    wait_count(f, 0);
}

static void test_close_ends_reads(void **state)
{
    fx *f = *state;
    int fd = subscribe(f);
    wait_count(f, 1);
    send_seq(f, 0, 8);
    actor_stream_push_close(f->p);
    f->p = NULL;
    reader r = {0};
    actor_stream_input in = {0};
    dp_err err = {0};
    int rc = DP_OK;
    while (rc == DP_OK)
        rc = actor_stream_push_next(fd, &in, 1 << 20, on_frame, &r, &err);
    assert_int_equal(rc, DP_EUNAVAIL);
    assert_int_equal(r.frames, 1); /* what was sent before still came */
    close(fd);
    actor_stream_input_free(&in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_frame_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_subscriber_misses_whole_frames, setup_ipc,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_greeting_not_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_ends_reads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
