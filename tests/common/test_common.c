/* Unit tests for common/: SHA-256 vectors, hex, constant-time compare,
 * verdict and state names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <poll.h>
#include <pthread.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "common/job.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/text.h"

static void test_sha256_vectors(void **state)
{
    (void)state;
    char hex[65];
    dp_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    dp_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    dp_sha256_hex(m, strlen(m), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* a million 'a', fed in uneven pieces */
    dp_sha256_ctx ctx;
    uint8_t d[32];
    char chunk[997];
    memset(chunk, 'a', sizeof chunk);
    dp_sha256_init(&ctx);
    size_t left = 1000000;
    while (left > 0) {
        size_t n = left < sizeof chunk ? left : sizeof chunk;
        dp_sha256_update(&ctx, chunk, n);
        left -= n;
    }
    dp_sha256_final(&ctx, d);
    dp_hex_encode(d, 32, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_ct_equal_and_random(void **state)
{
    (void)state;
    assert_true(dp_ct_equal("abcd", "abcd", 4));
    assert_false(dp_ct_equal("abcd", "abce", 4));
    uint8_t a[32] = {0}, b[32] = {0};
    assert_int_equal(dp_random_bytes(a, sizeof a), 0);
    assert_int_equal(dp_random_bytes(b, sizeof b), 0);
    assert_false(dp_ct_equal(a, b, sizeof a));
}

static void test_names(void **state)
{
    (void)state;
    dp_verdict v;
    assert_int_equal(dp_verdict_parse("TLE", &v), 0);
    assert_int_equal(v, DP_VERDICT_TLE);
    assert_string_equal(dp_verdict_name(DP_VERDICT_SE), "SE");
    assert_null(dp_verdict_name(DP_VERDICT_NONE));
    assert_int_equal(dp_verdict_parse("XX", &v), DP_EINVAL);
    dp_job_state s;
    assert_int_equal(dp_job_state_parse("cancelled", &s), 0);
    assert_true(dp_job_state_terminal(s));
    assert_false(dp_job_state_terminal(DP_JOB_LEASED));
    dp_err err;
    assert_int_equal(dp_err_set(&err, DP_ECONFLICT, "job %s", "j1"), DP_ECONFLICT);
    assert_string_equal(err.msg, "job j1");
    assert_string_equal(dp_code_name(DP_ECONFLICT), "conflict");
}

static void test_config(void **state)
{
    (void)state;
    dp_err err;
    uint64_t n = 0;
    const char *s = NULL;
    unsetenv("DP_T_NUM");
    assert_int_equal(dp_config_uint("DP_T_NUM", 7, 1, 10, &n, &err), 0);
    assert_int_equal(n, 7);
    setenv("DP_T_NUM", "abc", 1);
    assert_int_equal(dp_config_uint("DP_T_NUM", 7, 1, 10, &n, &err), DP_EINVAL);
    assert_non_null(strstr(err.msg, "DP_T_NUM"));
    setenv("DP_T_NUM", "11", 1);
    assert_int_equal(dp_config_uint("DP_T_NUM", 7, 1, 10, &n, &err), DP_EINVAL);
    setenv("DP_T_NUM", "-1", 1);
    assert_int_equal(dp_config_uint("DP_T_NUM", 7, 1, 10, &n, &err), DP_EINVAL);
    setenv("DP_T_NUM", "10", 1);
    assert_int_equal(dp_config_uint("DP_T_NUM", 7, 1, 10, &n, &err), 0);
    assert_int_equal(n, 10);
    unsetenv("DP_T_URL");
    assert_int_equal(dp_config_url("DP_T_URL", NULL, "tcp,ipc", &s, &err), DP_EINVAL);
    assert_non_null(strstr(err.msg, "required"));
    setenv("DP_T_URL", "http://x", 1);
    assert_int_equal(dp_config_url("DP_T_URL", NULL, "tcp,ipc", &s, &err), DP_EINVAL);
    assert_non_null(strstr(err.msg, "tcp,ipc"));
    setenv("DP_T_URL", "ipc:///tmp/x.sock", 1);
    assert_int_equal(dp_config_url("DP_T_URL", NULL, "tcp,ipc", &s, &err), 0);
    assert_string_equal(s, "ipc:///tmp/x.sock");
    setenv("DP_T_URL", "tcp://", 1);
    assert_int_equal(dp_config_url("DP_T_URL", NULL, "tcp,ipc", &s, &err), DP_EINVAL);
    char id[40];
    assert_int_equal(dp_new_id("j", id, sizeof id), 0);
    assert_int_equal(strlen(id), 33);
    assert_int_equal(dp_new_id("j", id, 10), -1);
}

/* Ids come from a per-thread pool of random bytes: never twice, across
 * refills and threads, and a forked child never repeats its parent's next
 * ids (its copy of the pool is emptied). */
#define ID_N 300 /* more than one pool (102 ids) per thread */
static char id_seen[3 * ID_N][40];

static void *make_ids(void *arg)
{
    char(*out)[40] = arg;
    for (int i = 0; i < ID_N; i++)
        if (dp_new_id("t", out[i], sizeof out[i]) != 0)
            return "dp_new_id failed";
    return NULL;
}

static int id_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_new_id_unique(void **state)
{
    (void)state;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, make_ids, id_seen[ID_N]), 0);
    assert_null(make_ids(id_seen[0]));
    void *rc;
    assert_int_equal(pthread_join(th, &rc), 0);
    assert_null(rc);
    /* the child's first ids against the parent's next ones */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char ids[ID_N][40];
        ssize_t w = make_ids(ids) == NULL ? write(fds[1], ids, sizeof ids) : -1;
        _exit(w == (ssize_t)sizeof ids ? 0 : 1);
    }
    close(fds[1]);
    assert_null(make_ids(id_seen[2 * ID_N]));
    char child[ID_N][40];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof child && (r = read(fds[0], (char *)child + got, sizeof child - got)) > 0)
        got += (size_t)r;
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(got, sizeof child);
    qsort(id_seen, 3 * ID_N, sizeof id_seen[0], id_cmp);
    for (int i = 1; i < 3 * ID_N; i++)
        assert_string_not_equal(id_seen[i - 1], id_seen[i]);
    for (int i = 0; i < ID_N; i++) {
        assert_int_equal(strlen(child[i]), 33);
        assert_null(bsearch(child[i], id_seen, 3 * ID_N, sizeof id_seen[0], id_cmp));
    }
}

/* An id starts with the wall clock's milliseconds (12 hex), then 20 random
 * hex: one made in a later millisecond sorts after. The 2 ms sleep is the
 * slack: nanosleep waits at least that long, and a slewing clock moves
 * within 0.05 % of it. */
static void test_new_id_time_ordered(void **state)
{
    (void)state;
    char a[40], b[40], head[13];
    long long before = dp_wall_ms();
    assert_int_equal(dp_new_id("j-", a, sizeof a), 0);
    long long after = dp_wall_ms();
    struct timespec pause = {0, 2000000};
    nanosleep(&pause, NULL);
    assert_int_equal(dp_new_id("j-", b, sizeof b), 0);
    assert_true(strcmp(a, b) < 0);
    assert_int_equal(strspn(a + 2, "0123456789abcdef"), 32);
    memcpy(head, a + 2, 12);
    head[12] = '\0';
    long long ms = strtoll(head, NULL, 16);
    assert_true(ms >= before && ms <= after);
}

/* Untrusted text for a terminal: controls escaped, valid UTF-8 kept. */
static void test_text_safe(void **state)
{
    (void)state;
    char out[128];
    assert_string_equal(dp_text_safe("a\x1b]0;pwned\x07"
                                     "b",
                                     out, sizeof out),
                        "a\\x1b]0;pwned\\x07b");
    assert_string_equal(dp_text_safe("x\xc2\x9b"
                                     "2Jy",
                                     out, sizeof out),
                        "x\\xc2\\x9b"
                        "2Jy"); /* C1 CSI */
    assert_string_equal(dp_text_safe("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", out, sizeof out),
                        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    assert_string_equal(dp_text_safe("bad\xff\xe2\x82", out, sizeof out), "bad\\xff\\xe2\\x82");
    assert_string_equal(dp_text_safe("line\nnext\x7f", out, sizeof out), "line\\x0anext\\x7f");
    assert_string_equal(dp_text_safe(NULL, out, sizeof out), "-");
    /* bidi override (U+202E), zero-width space (U+200B), a literal backslash */
    assert_string_equal(dp_text_safe("a\xe2\x80\xae"
                                     "b\xe2\x80\x8b"
                                     "c\\x41",
                                     out, sizeof out),
                        "a\\u202eb\\u200bc\\\\x41");
    char small[8];
    assert_string_equal(dp_text_safe("abcdefghij", small, sizeof small), "abcd...");
    assert_string_equal(dp_text_safe("\x1b\x1b\x1b", small, sizeof small), "\\x1b...");
}

/* ms since the epoch of a "YYYY-MM-DDTHH:MM:SS.mmmZ" stamp; -1 if malformed. */
static int64_t iso_ms(const char *s)
{
    struct tm tm = {0};
    int ms = -1, n = 0;
    if (strlen(s) != DP_ISO_LEN - 1 ||
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &n) != 7 ||
        n != DP_ISO_LEN - 1)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* dp_iso_now keeps the formatted second per thread: for over a second
 * (so across a change of second) every stamp is the time it was taken, to
 * the ms (the wall clock must not step back meanwhile). */
static void test_iso_now(void **state)
{
    (void)state;
    char buf[DP_ISO_LEN];
    int64_t end = dp_now_ms() + 1100;
    int calls = 0;
    while (dp_now_ms() < end) {
        int64_t before = dp_wall_ms();
        dp_iso_now(buf, sizeof buf);
        int64_t after = dp_wall_ms(), t = iso_ms(buf);
        if (t < before || t > after)
            fail_msg("stamp %s (%lld) outside [%lld, %lld]", buf, (long long)t, (long long)before,
                     (long long)after);
        calls++;
        usleep(500);
    }
    assert_true(calls > 10); /* a loaded machine may sleep ~10 ms per usleep */
    char small[11];
    dp_iso_now(small, sizeof small);
    assert_int_equal(strlen(small), 10); /* the date: what fits */
    assert_int_equal(small[4], '-');
}

/* What the pipe behind stderr holds now, without waiting ("" when empty). */
static size_t drain(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (n + 1 < cap && poll(&p, 1, 0) == 1) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return n;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* dp_log_hold: info lines wait until the release, a warning writes them
 * first and then itself, a held batch never passes PIPE_BUF and is whole
 * lines, and after the release each line goes out at once again. */
static void test_log_hold(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fds[1], STDERR_FILENO), STDERR_FILENO);
    dp_log_set_level(DP_LOG_INFO);
    static char buf[65536];

    dp_log_hold();
    dp_log(DP_LOG_INFO, "one", "k", "1", (char *)NULL);
    dp_log(DP_LOG_INFO, "two", "k", "2", (char *)NULL);
    dp_log(DP_LOG_DEBUG, "dropped", (char *)NULL);
    assert_int_equal(drain(fds[0], buf, sizeof buf), 0); /* held */
    dp_log(DP_LOG_WARN, "three", (char *)NULL);
    drain(fds[0], buf, sizeof buf);
    assert_int_equal(count_lines(buf), 3);
    char *one = strstr(buf, "\"one\""), *two = strstr(buf, "\"two\""),
         *three = strstr(buf, "\"three\"");
    assert_true(one != NULL && two != NULL && three != NULL && one < two && two < three);

    /* ~100 lines of ~120 bytes: written in whole-line batches of at most
     * PIPE_BUF while held, the rest at the release. */
    char val[64];
    memset(val, 'x', sizeof val - 1);
    val[sizeof val - 1] = '\0';
    size_t early = 0;
    for (int i = 0; i < 100; i++) {
        dp_log(DP_LOG_INFO, "many", "v", val, (char *)NULL);
        size_t n = drain(fds[0], buf, sizeof buf);
        if (n > 0) {
            assert_true(n <= PIPE_BUF);
            assert_int_equal(buf[n - 1], '\n');
            early += count_lines(buf);
        }
    }
    assert_true(early > 0 && early < 100);
    dp_log_release();
    drain(fds[0], buf, sizeof buf);
    assert_int_equal(early + count_lines(buf), 100);

    dp_log(DP_LOG_INFO, "after", (char *)NULL);
    drain(fds[0], buf, sizeof buf);
    assert_non_null(strstr(buf, "\"after\""));

    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_ct_equal_and_random),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_text_safe),
        cmocka_unit_test(test_new_id_unique),
        cmocka_unit_test(test_new_id_time_ordered),
        cmocka_unit_test(test_log_hold),
        cmocka_unit_test(test_iso_now),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
