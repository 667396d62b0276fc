/* Bad inputs through exec_job: every one gets its verdict and a message
 * naming the problem, and leaves no workspace behind. Zip slip, absolute
 * path, symlink, device file, too many entries, a zip bomb beyond the
 * size cap, not a zip, sha256 mismatch (and match), missing required file,
 * unknown profile, bad profile JSON, profile reload on change, and fetches
 * over HTTP from a server thread on 127.0.0.1: success, 404, 500, stall
 * (timeout: SE, retryable), size cap; file:// off by default, the fetch
 * address policy (also after a redirect), a job filling its workspace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sha256.h"
#include "runner/exec/exec.h"
#include "runner/exec/fsutil.h"
#include "tests/runner/helpers.h"

static char root[64], work[96], profiles[96];
static exec_ctx *ctx;    /* tight caps: 40 entries, 1 MiB unpacked, 256 KiB archive,
                          * an 8 MiB workspace; file:// on, 127.0.0.1 allowed */
static exec_ctx *strict; /* the defaults: no file://, no address allowed */
#define WS_CAP (8u << 20)
static int port;
static int zip_counter;

static int group_setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/exec-inputs-XXXXXX");
    if (mkdtemp(root) == NULL)
        return -1;
    /* the sandbox uids must be able to reach the workspace below it */
    if (chmod(root, 0755) != 0)
        return -1;
    snprintf(work, sizeof work, "%s/work", root);
    snprintf(profiles, sizeof profiles, "%s/pits", root);
    if (mkdir(work, 0755) != 0 || mkdir(profiles, 0755) != 0)
        return -1;
    static const char *const names[] = {"c", "shell"};
    for (size_t i = 0; i < 2; i++) {
        char src[512], dst[160];
        snprintf(src, sizeof src, "%s/%s.json", PITS_DIR, names[i]);
        snprintf(dst, sizeof dst, "%s/%s.json", profiles, names[i]);
        th_copy(src, dst);
    }
    exec_config cfg = {.profiles_dir = profiles,
                       .workdir = work,
                       .slot = 8,
                       .max_entries = 40,
                       .max_unpacked_bytes = 1u << 20,
                       .max_archive_bytes = 256u << 10,
                       /* the good fetches (loopback, < 1 MiB) take ms;
                        * 2 s is slack for a loaded machine, and /stall
                        * waits it out once */
                       .fetch_timeout_ms = 2000,
                       .fetch_connect_timeout_ms = 500,
                       .fetch_allow_file = 1,
                       .fetch_allow_cidrs = "127.0.0.1/32",
                       .workspace_bytes = WS_CAP};
    dp_err e;
    ctx = exec_open(&cfg, &e);
    if (ctx == NULL) {
        fprintf(stderr, "exec_open: %s\n", e.msg);
        return -1;
    }
    exec_config scfg = {.profiles_dir = profiles, .workdir = work, .slot = 7};
    strict = exec_open(&scfg, &e);
    if (strict == NULL) {
        fprintf(stderr, "exec_open: %s\n", e.msg);
        return -1;
    }
    port = th_http_start();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    th_http_stop();
    exec_close(ctx);
    exec_close(strict);
    exec_rmtree(root, NULL);
    return 0;
}

static const char *zip_path(const th_entry *entries, size_t n)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/in%d.zip", root, zip_counter++);
    th_zip(path, entries, n);
    return path;
}

static const char *file_url(const char *path)
{
    static char url[160];
    snprintf(url, sizeof url, "file://%s", path);
    return url;
}

/* Runs a shell-profile job on url and expects verdict, retryable and a
 * message containing needle. */
static void expect_on(exec_ctx *on, dp_job_spec *spec, dp_verdict want, int want_retry,
                      const char *needle)
{
    dp_job_result res;
    int retry = -1;
    dp_err e;
    assert_int_equal(exec_job(on, spec, 1, &res, &retry, &e), 0);
    if (res.verdict != want || res.message == NULL || strstr(res.message, needle) == NULL) {
        print_message("log:\n%s\n", res.log ? res.log : "-");
        fail_msg("verdict %s message '%s', wanted %s with '%s'",
                 dp_verdict_name(res.verdict) != NULL ? dp_verdict_name(res.verdict) : "none",
                 res.message ? res.message : "-", dp_verdict_name(want), needle);
    }
    assert_int_equal(retry, want_retry);
    assert_int_equal(th_dir_count(work), 0);
    assert_true(res.score == 0.0);
    dp_job_result_free(&res);
}

static void expect_with(dp_job_spec *spec, dp_verdict want, int want_retry, const char *needle)
{
    expect_on(ctx, spec, want, want_retry, needle);
}

static void expect(const char *url, dp_verdict want, int want_retry, const char *needle)
{
    dp_job_spec spec;
    th_spec(&spec, "shell", url);
    expect_with(&spec, want, want_retry, needle);
    dp_job_spec_free(&spec);
}

static const char ok_sh[] = "exit 0\n";

static void test_zip_slip(void **state)
{
    (void)state;
    th_entry e[] = {{"test.sh", ok_sh, 0, 0}, {"../../evil.sh", "x", 0, 0}};
    expect(file_url(zip_path(e, 2)), DP_VERDICT_CE, 0, "'../../evil.sh': '..' component");
}

static void test_absolute_path(void **state)
{
    (void)state;
    th_entry e[] = {{"/tmp/abs-evil.sh", "x", 0, 0}, {"test.sh", ok_sh, 0, 0}};
    expect(file_url(zip_path(e, 2)), DP_VERDICT_CE, 0, "'/tmp/abs-evil.sh': absolute path");
    assert_int_not_equal(access("/tmp/abs-evil.sh", F_OK), 0);
}

static void test_symlink(void **state)
{
    (void)state;
    th_entry e[] = {{"test.sh", ok_sh, 0, 0}, {"link", "/etc/passwd", 0, S_IFLNK | 0777}};
    expect(file_url(zip_path(e, 2)), DP_VERDICT_CE, 0, "'link': symlink");
}

static void test_device(void **state)
{
    (void)state;
    th_entry e[] = {{"test.sh", ok_sh, 0, 0}, {"null", "", 0, S_IFCHR | 0666}};
    expect(file_url(zip_path(e, 2)), DP_VERDICT_CE, 0, "'null': device file");
}

static void test_too_many_entries(void **state)
{
    (void)state;
    th_entry e[41];
    char names[41][16];
    for (int i = 0; i < 41; i++) {
        snprintf(names[i], sizeof names[i], "f%d.txt", i);
        e[i] = (th_entry){names[i], "x", 0, 0};
    }
    expect(file_url(zip_path(e, 41)), DP_VERDICT_CE, 0,
           "archive has 41 entries, more than the cap of 40");
}

static void test_zip_bomb(void **state)
{
    (void)state;
    /* 3 MiB of zeros compresses to a few KiB: the cap is 1 MiB unpacked */
    size_t n = 3u << 20;
    char *zeros = calloc(1, n);
    assert_non_null(zeros);
    th_entry e[] = {{"test.sh", ok_sh, 0, 0}, {"bomb.bin", zeros, n, 0}};
    const char *path = zip_path(e, 2);
    free(zeros);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size < 64 * 1024);
    expect(file_url(path), DP_VERDICT_CE, 0,
           "'bomb.bin': uncompressed size passes the cap of 1048576 bytes");
}

/* A bomb whose headers claim 10 bytes: libzip inflates past the claim, and
 * the cap counted while writing stops it. */
static void test_lying_header(void **state)
{
    (void)state;
    size_t n = 3u << 20;
    char *zeros = calloc(1, n);
    assert_non_null(zeros);
    th_entry e[] = {{"test.sh", ok_sh, 0, 0}, {"bomb.bin", zeros, n, 0}};
    const char *path = zip_path(e, 2);
    free(zeros);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    static unsigned char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf, f);
    int patched = 0;
    for (size_t i = 0; i + 46 < len; i++) {
        unsigned char *p = buf + i;
        size_t off = 0;
        if (p[0] == 'P' && p[1] == 'K' && p[2] == 3 && p[3] == 4)
            off = 22; /* local header: uncompressed size */
        else if (p[0] == 'P' && p[1] == 'K' && p[2] == 1 && p[3] == 2)
            off = 24; /* central directory: uncompressed size */
        if (off != 0 && p[off] == 0 && p[off + 1] == 0 && p[off + 2] == 0x30 && p[off + 3] == 0) {
            p[off] = 10;
            p[off + 2] = 0;
            patched++;
        }
    }
    assert_int_equal(patched, 2);
    rewind(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
    dp_job_spec spec;
    th_spec(&spec, "shell", file_url(path));
    dp_job_result res;
    int retry;
    assert_int_equal(exec_job(ctx, &spec, 1, &res, &retry, NULL), 0);
    assert_int_equal(res.verdict, DP_VERDICT_CE);
    assert_non_null(strstr(res.message, "'bomb.bin': uncompressed size passes the cap"));
    assert_int_equal(th_dir_count(work), 0);
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

static void test_not_a_zip(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/garbage.zip", root);
    th_write(path, "this is not a zip archive at all");
    expect(file_url(path), DP_VERDICT_CE, 0, "archive is not a valid zip");
}

static void test_sha256(void **state)
{
    (void)state;
    th_entry e[] = {{"test.sh", ok_sh, 0, 0}};
    const char *path = zip_path(e, 1);
    dp_job_spec spec;
    th_spec(&spec, "shell", file_url(path));
    spec.archive_sha256 = strdup("00000000000000000000000000000000"
                                 "00000000000000000000000000000000");
    expect_with(&spec, DP_VERDICT_CE, 0, "sha256 mismatch: expected 0000");
    /* the right digest (upper case is fine) passes */
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    dp_sha256_hex(buf, len, spec.archive_sha256);
    for (char *p = spec.archive_sha256; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'f' ? *p - 32 : *p);
    dp_job_result res;
    int retry;
    assert_int_equal(exec_job(ctx, &spec, 1, &res, &retry, NULL), 0);
    assert_int_equal(res.verdict, DP_VERDICT_AC);
    assert_non_null(strstr(res.log, "sha256 ok"));
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

static void test_missing_file(void **state)
{
    (void)state;
    th_entry e[] = {{"tset.sh", ok_sh, 0, 0}};
    expect(file_url(zip_path(e, 1)), DP_VERDICT_CE, 0, "missing required file test.sh");
    expect(file_url("/nonexistent/dir/x.zip"), DP_VERDICT_CE, 0, "/nonexistent/dir/x.zip");
}

static void test_unknown_profile(void **state)
{
    (void)state;
    th_entry e[] = {{"test.sh", ok_sh, 0, 0}};
    dp_job_spec spec;
    th_spec(&spec, "cobol", file_url(zip_path(e, 1)));
    /* a valid name this runner lacks: its fault, retried elsewhere (never CE) */
    expect_with(&spec, DP_VERDICT_SE, 1, "unknown profile 'cobol'");
    dp_job_spec_free(&spec);
    th_spec(&spec, "../pits/c", file_url(zip_path(e, 1)));
    expect_with(&spec, DP_VERDICT_CE, 0, "unknown profile '../pits/c'");
    dp_job_spec_free(&spec);
}

/* A broken profile file is the runner's fault: SE, retryable, and the
 * message names the field; fixing the file takes effect on the next job. */
static void test_bad_profile(void **state)
{
    (void)state;
    char path[160];
    snprintf(path, sizeof path, "%s/broken.json", profiles);
    th_write(path, "{\"language\": \"sh\", \"testCommand\": \"sh test.sh\", \"maxTimeoutMs\": "
                   "\"soon\", \"limits\": {}}");
    th_entry e[] = {{"test.sh", ok_sh, 0, 0}};
    dp_job_spec spec;
    th_spec(&spec, "broken", file_url(zip_path(e, 1)));
    expect_with(&spec, DP_VERDICT_SE, 1, "profile broken: field maxTimeoutMs");
    th_write(path, "{\"language\": \"sh\", \"testCommand\": \"sh test.sh\", \"maxTimeoutMs\": "
                   "9000, \"limits\": {\"time_ms\": 1000, \"wall_ms\": 3000, \"memory_kb\": "
                   "262144, \"processes\": 16, \"output_kb\": 64},}");
    expect_with(&spec, DP_VERDICT_SE, 1, "profile broken: bad JSON");
    th_write(path, "{\"language\": \"sh\", \"testCommand\": \"sh test.sh\", \"maxTimeoutMs\": "
                   "9000, \"limits\": {\"time_ms\": 1000, \"wall_ms\": 3000, \"memory_kb\": "
                   "262144, \"processes\": 16, \"output_kb\": 64}}");
    dp_job_result res;
    int retry;
    assert_int_equal(exec_job(ctx, &spec, 1, &res, &retry, NULL), 0);
    assert_int_equal(res.verdict, DP_VERDICT_AC);
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

static void test_http(void **state)
{
    (void)state;
    th_entry e[] = {{"test.sh", ok_sh, 0, 0}};
    th_http_set_body(zip_path(e, 1));
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/zip", port);
    dp_job_spec spec;
    th_spec(&spec, "shell", url);
    dp_job_result res;
    int retry;
    assert_int_equal(exec_job(ctx, &spec, 1, &res, &retry, NULL), 0);
    assert_int_equal(res.verdict, DP_VERDICT_AC);
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);

    snprintf(url, sizeof url, "http://127.0.0.1:%d/missing", port);
    expect(url, DP_VERDICT_CE, 0, "HTTP 404");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/500", port);
    expect(url, DP_VERDICT_SE, 1, "HTTP 500");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/stall", port);
    expect(url, DP_VERDICT_SE, 1, "timed out");
    expect("gopher://127.0.0.1/x", DP_VERDICT_CE, 0, "gopher://127.0.0.1/x");
    /* redirects are followed to http(s) only: never to a runner-local file */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/redir-file", port);
    expect(url, DP_VERDICT_CE, 0, "Protocol \"file\" not supported");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/redir-zip", port);
    th_spec(&spec, "shell", url);
    assert_int_equal(exec_job(ctx, &spec, 1, &res, &retry, NULL), 0);
    assert_int_equal(res.verdict, DP_VERDICT_AC);
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

/* Without RUNNER_FETCH_ALLOW_FILE a job cannot make the runner read a local
 * file, zip or not; with it (ctx) the same URL is fetched. */
static void test_file_url_disabled(void **state)
{
    (void)state;
    th_entry e[] = {{"test.sh", ok_sh, 0, 0}};
    const char *url = file_url(zip_path(e, 1));
    dp_job_spec spec;
    th_spec(&spec, "shell", url);
    expect_on(strict, &spec, DP_VERDICT_CE, 0, "RUNNER_FETCH_ALLOW_FILE");
    dp_job_spec_free(&spec);
    th_spec(&spec, "shell", "FILE:///etc/shadow");
    expect_on(strict, &spec, DP_VERDICT_CE, 0, "file:// URLs are disabled");
    dp_job_spec_free(&spec);
    th_spec(&spec, "shell", url);
    dp_job_result res;
    int retry;
    assert_int_equal(exec_job(ctx, &spec, 1, &res, &retry, NULL), 0);
    assert_int_equal(res.verdict, DP_VERDICT_AC);
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

/* The address policy holds for the first connection and after a redirect:
 * with only 127.0.0.1 allowed, a redirect to 127.0.0.2 is refused (nothing
 * is sent there), and without an allow list loopback itself is refused. */
static void test_fetch_address_policy(void **state)
{
    (void)state;
    th_entry e[] = {{"test.sh", ok_sh, 0, 0}};
    th_http_set_body(zip_path(e, 1));
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/redir-other", port);
    expect(url, DP_VERDICT_CE, 0, "refused to connect to 127.0.0.2 is loopback");
    expect(url, DP_VERDICT_CE, 0, "RUNNER_FETCH_ALLOW_CIDRS");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/zip", port);
    dp_job_spec spec;
    th_spec(&spec, "shell", url);
    expect_on(strict, &spec, DP_VERDICT_CE, 0, "127.0.0.1 is loopback");
    dp_job_spec_free(&spec);
    /* other ranges: test_exec_fs checks the policy without connecting, so
     * that no test sends a packet beyond loopback even if the check broke */
}

/* A job that fills its workspace: its writes fail at the cap (the host's
 * disk never sees more than WS_CAP), and the verdict is OLE naming the
 * workspace, like a file over RLIMIT_FSIZE: the job wrote more than it may. */
static void test_disk_full(void **state)
{
    (void)state;
    static const char fill_sh[] = "head -c 100000000 /dev/zero > big\n"
                                  "echo \"wrote $(wc -c < big)\" >&2\n"
                                  "exit 1\n";
    th_entry e[] = {{"test.sh", fill_sh, 0, 0}};
    dp_job_spec spec;
    th_spec(&spec, "shell", file_url(zip_path(e, 1)));
    dp_job_result res;
    int retry = -1;
    assert_int_equal(exec_job(ctx, &spec, 1, &res, &retry, NULL), 0);
    if (res.verdict != DP_VERDICT_OLE || res.message == NULL ||
        strstr(res.message, "the workspace is full") == NULL)
        fail_msg("verdict %s message '%s'\nlog:\n%s", dp_verdict_name(res.verdict),
                 res.message ? res.message : "-", res.log ? res.log : "-");
    assert_int_equal(retry, 0);
    assert_int_equal(res.n_tests, 1);
    const char *w =
        res.tests[0].stderr_excerpt != NULL ? strstr(res.tests[0].stderr_excerpt, "wrote ") : NULL;
    assert_non_null(w);
    long wrote = atol(w + 6);
    assert_true(wrote > 0 && wrote <= (long)WS_CAP);
    assert_int_equal(th_dir_count(work), 0);
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

/* An archive larger than the workspace (a 1 MiB tmpfs here, an archive cap
 * of 4 MiB) is the job's input error: CE naming the setting, not a
 * retryable disk-full SE. */
static void test_archive_over_workspace(void **state)
{
    (void)state;
    exec_config cfg = {.profiles_dir = profiles,
                       .workdir = work,
                       .slot = 6,
                       .fetch_allow_file = 1,
                       .max_archive_bytes = 4u << 20,
                       .workspace_bytes = 1u << 20};
    dp_err e;
    exec_ctx *small = exec_open(&cfg, &e);
    if (small == NULL)
        fail_msg("exec_open: %s", e.msg);
    size_t n = 2u << 20;
    char *noise = malloc(n);
    assert_non_null(noise);
    FILE *r = fopen("/dev/urandom", "rb");
    assert_non_null(r);
    assert_int_equal(fread(noise, 1, n, r), n);
    fclose(r);
    th_entry en[] = {{"test.sh", ok_sh, 0, 0}, {"noise.bin", noise, n, 0}};
    dp_job_spec spec;
    th_spec(&spec, "shell", file_url(zip_path(en, 2)));
    expect_on(small, &spec, DP_VERDICT_CE, 0, "does not fit in the workspace");
    dp_job_spec_free(&spec);
    free(noise);
    exec_close(small);
}

#define TEST_LIMITS                                                                                \
    "\"limits\": {\"time_ms\": 2000, \"wall_ms\": 3000, \"memory_kb\": 262144, "                   \
    "\"processes\": 16, \"output_kb\": 64}"

/* Runs a job for profile on a zip of entries; returns the result. */
static void run_entries(const char *profile, const th_entry *e, size_t n, dp_job_result *res)
{
    dp_job_spec spec;
    th_spec(&spec, profile, file_url(zip_path(e, n)));
    int retry;
    assert_int_equal(exec_job(ctx, &spec, 1, res, &retry, NULL), 0);
    assert_int_equal(th_dir_count(work), 0);
    dp_job_spec_free(&spec);
}

/* TAP on stdout and JUnit from a file, wired end to end through custom
 * profiles; a JUnit "file" that is a symlink planted by the submission is
 * not followed, and no results at all is WA, not a pass. */
static void test_formats(void **state)
{
    (void)state;
    char path[160];
    snprintf(path, sizeof path, "%s/tap.json", profiles);
    th_write(path, "{\"language\": \"sh\", \"testCommand\": \"sh t.sh\", \"testFormat\": \"tap\", "
                   "\"maxTimeoutMs\": 9000, " TEST_LIMITS "}");
    snprintf(path, sizeof path, "%s/junit.json", profiles);
    th_write(path, "{\"language\": \"sh\", \"testCommand\": \"sh t.sh\", \"testFormat\": "
                   "\"junit\", \"junitFile\": \"out/report.xml\", \"maxTimeoutMs\": 9000, "
                   "" TEST_LIMITS "}");
    th_entry tap[] = {
        {"t.sh", "echo 1..3; echo ok 1 - one; echo not ok 2 - two; echo ok 3\n", 0, 0}};
    dp_job_result res;
    run_entries("tap", tap, 1, &res);
    assert_int_equal(res.verdict, DP_VERDICT_WA);
    assert_int_equal(res.n_tests, 3);
    assert_string_equal(res.tests[1].name, "two");
    assert_true(res.score > 66.6 && res.score < 66.7);
    dp_job_result_free(&res);

    th_entry junit[] = {{"t.sh",
                         "mkdir out; echo '<testsuite><testcase classname=\"k\" name=\"a\"/>"
                         "<testcase name=\"b\"><error/></testcase></testsuite>' > out/report.xml\n",
                         0, 0}};
    run_entries("junit", junit, 1, &res);
    assert_int_equal(res.verdict, DP_VERDICT_RE);
    assert_int_equal(res.n_tests, 2);
    assert_string_equal(res.tests[0].name, "k.a");
    assert_true(res.score == 50.0);
    dp_job_result_free(&res);

    th_entry planted[] = {{"t.sh", "mkdir out; ln -s /etc/passwd out/report.xml\n", 0, 0}};
    run_entries("junit", planted, 1, &res);
    assert_int_equal(res.verdict, DP_VERDICT_WA);
    assert_int_equal(res.n_tests, 1);
    assert_string_equal(res.tests[0].name, "junit");
    assert_non_null(strstr(res.log, "no JUnit file out/report.xml"));
    assert_non_null(strstr(res.log, "no test results found"));
    dp_job_result_free(&res);
}

/* maxTimeoutMs is the whole job's budget: the second test is cut short,
 * the third never runs; both are TLE. Each test sleeps 2 s in a 3 s budget:
 * the first has 1 s of slack for the sandbox and sh to start on a loaded
 * machine, and leaves at most 1 s, so the second is always cut (its wall
 * time under its 2 s sleep shows it). */
static void test_budget(void **state)
{
    (void)state;
    char path[160];
    snprintf(path, sizeof path, "%s/budget.json", profiles);
    th_write(path, "{\"language\": \"sh\", \"runCommand\": \"sleep 2\", \"maxTimeoutMs\": 3000, "
                   "" TEST_LIMITS "}");
    th_entry e[] = {{"x", "", 0, 0}};
    dp_job_spec spec;
    th_spec(&spec, "budget", file_url(zip_path(e, 1)));
    th_spec_test(&spec, "t1", "", NULL);
    th_spec_test(&spec, "t2", "", NULL);
    th_spec_test(&spec, "t3", "", NULL);
    dp_job_result res;
    int retry;
    assert_int_equal(exec_job(ctx, &spec, 1, &res, &retry, NULL), 0);
    assert_int_equal(res.n_tests, 3);
    assert_int_equal(res.tests[0].verdict, DP_VERDICT_AC);
    assert_int_equal(res.tests[1].verdict, DP_VERDICT_TLE);
    assert_true(res.tests[1].wall_ms < 2000);
    assert_int_equal(res.tests[2].verdict, DP_VERDICT_TLE);
    assert_int_equal(res.tests[2].exit_code, -1);
    assert_int_equal(res.verdict, DP_VERDICT_TLE);
    assert_non_null(strstr(res.log, "budget is used up"));
    dp_job_result_free(&res);
    dp_job_spec_free(&spec);
}

static void test_archive_cap(void **state)
{
    (void)state;
    /* random bytes do not compress: a 300 KiB archive passes the 256 KiB cap */
    size_t n = 300u << 10;
    char *noise = malloc(n);
    assert_non_null(noise);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        noise[i] = (char)(x >> 24);
    }
    th_entry e[] = {{"test.sh", ok_sh, 0, 0}, {"noise.bin", noise, n, 0}};
    const char *path = zip_path(e, 2);
    free(noise);
    expect(file_url(path), DP_VERDICT_CE, 0, "larger than the cap of 262144 bytes");
    char url[128];
    th_http_set_body(path);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/zip", port);
    expect(url, DP_VERDICT_CE, 0, "larger than the cap of 262144 bytes");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zip_slip),
        cmocka_unit_test(test_absolute_path),
        cmocka_unit_test(test_symlink),
        cmocka_unit_test(test_device),
        cmocka_unit_test(test_too_many_entries),
        cmocka_unit_test(test_zip_bomb),
        cmocka_unit_test(test_not_a_zip),
        cmocka_unit_test(test_lying_header),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_unknown_profile),
        cmocka_unit_test(test_bad_profile),
        cmocka_unit_test(test_http),
        cmocka_unit_test(test_archive_cap),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_file_url_disabled),
        cmocka_unit_test(test_fetch_address_policy),
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_archive_over_workspace),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
