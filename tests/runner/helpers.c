/* Test helpers; see helpers.h. */
#include "tests/runner/helpers.h"

#include "runner/exec/fsutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

void th_zip(const char *path, const th_entry *entries, size_t n)
{
    int zerr = 0;
    zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    assert_non_null(za);
    for (size_t i = 0; i < n; i++) {
        const th_entry *e = &entries[i];
        zip_int64_t idx;
        if (e->data == NULL) {
            idx = zip_dir_add(za, e->name, ZIP_FL_ENC_UTF_8);
        } else {
            size_t len = e->len ? e->len : strlen(e->data);
            zip_source_t *src = zip_source_buffer(za, e->data, len, 0);
            assert_non_null(src);
            idx = zip_file_add(za, e->name, src, ZIP_FL_ENC_UTF_8);
        }
        if (idx < 0)
            fail_msg("zip_add %s: %s", e->name, zip_strerror(za));
        if (e->mode != 0)
            assert_int_equal(zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0,
                                                              ZIP_OPSYS_UNIX, e->mode << 16),
                             0);
    }
    if (zip_close(za) != 0)
        fail_msg("zip_close %s: %s", path, zip_strerror(za));
}

static char *dup_or_null(const char *s)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

void th_spec(dp_job_spec *spec, const char *profile, const char *url)
{
    memset(spec, 0, sizeof *spec);
    spec->job_id = dup_or_null("job-test");
    spec->profile = dup_or_null(profile);
    spec->archive = dup_or_null(url);
}

void th_spec_test(dp_job_spec *spec, const char *name, const char *in, const char *expected)
{
    dp_test_case *t = realloc(spec->tests, (spec->n_tests + 1) * sizeof *t);
    assert_non_null(t);
    spec->tests = t;
    t = &spec->tests[spec->n_tests++];
    memset(t, 0, sizeof *t);
    t->name = dup_or_null(name);
    t->stdin_data = dup_or_null(in);
    t->expected_stdout = dup_or_null(expected);
}

int th_dir_count(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

void th_copy(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb");
    if (in == NULL)
        fail_msg("open %s", src);
    FILE *out = fopen(dst, "wb");
    assert_non_null(out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

void th_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static int http_fd = -1;
static pthread_t http_thread;
static atomic_int http_stop;
static char http_body_path[4096];

static void http_reply(int c, const char *status, const char *body, size_t len)
{
    char head[256];
    int n =
        snprintf(head, sizeof head,
                 "HTTP/1.1 %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status, len);
    if (write(c, head, (size_t)n) != n)
        return;
    while (len > 0) {
        ssize_t w = write(c, body, len);
        if (w <= 0)
            return;
        body += w;
        len -= (size_t)w;
    }
}

static void http_serve(int c)
{
    char req[2048];
    size_t got = 0;
    while (got < sizeof req - 1 && strstr(req, "\r\n\r\n") == NULL) {
        struct pollfd p = {c, POLLIN, 0};
        if (poll(&p, 1, 2000) <= 0)
            return;
        ssize_t n = read(c, req + got, sizeof req - 1 - got);
        if (n <= 0)
            return;
        got += (size_t)n;
        req[got] = '\0';
    }
    if (strncmp(req, "GET /zip ", 9) == 0) {
        FILE *f = fopen(http_body_path, "rb");
        static char body[1 << 20];
        size_t len = f != NULL ? fread(body, 1, sizeof body, f) : 0;
        if (f != NULL)
            fclose(f);
        http_reply(c, "200 OK", body, len);
    } else if (strncmp(req, "GET /redir-file ", 16) == 0) {
        const char *r = "HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\n"
                        "Content-Length: 0\r\nConnection: close\r\n\r\n";
        if (write(c, r, strlen(r)) < 0)
            return;
    } else if (strncmp(req, "GET /redir-other ", 17) == 0) {
        /* same port on another loopback address: nothing listens there, and
         * the fetch must not even try */
        struct sockaddr_in a;
        socklen_t al = sizeof a;
        char r[256];
        if (getsockname(http_fd, (struct sockaddr *)&a, &al) != 0)
            return;
        snprintf(r, sizeof r,
                 "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.2:%d/zip\r\n"
                 "Content-Length: 0\r\nConnection: close\r\n\r\n",
                 ntohs(a.sin_port));
        if (write(c, r, strlen(r)) < 0)
            return;
    } else if (strncmp(req, "GET /redir-zip ", 15) == 0) {
        const char *r = "HTTP/1.1 302 Found\r\nLocation: /zip\r\n"
                        "Content-Length: 0\r\nConnection: close\r\n\r\n";
        if (write(c, r, strlen(r)) < 0)
            return;
    } else if (strncmp(req, "GET /500 ", 9) == 0) {
        http_reply(c, "500 Internal Server Error", "no", 2);
    } else if (strncmp(req, "GET /stall ", 11) == 0) {
        /* never answer; return once the client gives up (EOF) */
        while (!atomic_load(&http_stop)) {
            struct pollfd p = {c, POLLIN, 0};
            char b[256];
            if (poll(&p, 1, 20) > 0 && read(c, b, sizeof b) <= 0)
                break;
        }
    } else {
        http_reply(c, "404 Not Found", "no", 2);
    }
}

static void *http_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&http_stop)) {
        struct pollfd p = {http_fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(http_fd, NULL, NULL);
        if (c < 0)
            continue;
        http_serve(c);
        close(c);
    }
    return NULL;
}

int th_http_start(void)
{
    http_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(http_fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(http_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(http_fd, 16), 0);
    socklen_t al = sizeof a;
    assert_int_equal(getsockname(http_fd, (struct sockaddr *)&a, &al), 0);
    atomic_store(&http_stop, 0);
    assert_int_equal(pthread_create(&http_thread, NULL, http_main, NULL), 0);
    return ntohs(a.sin_port);
}

void th_http_set_body(const char *path_of_file)
{
    snprintf(http_body_path, sizeof http_body_path, "%s", path_of_file);
}

void th_http_stop(void)
{
    if (http_fd < 0)
        return;
    atomic_store(&http_stop, 1);
    pthread_join(http_thread, NULL);
    close(http_fd);
    http_fd = -1;
}

exec_ctx *th_exec_open(const char *name, int slot, char root[64])
{
    char work[96];
    snprintf(root, 64, "/tmp/%.32s-XXXXXX", name);
    /* the sandbox uids must be able to reach the workspace below it */
    if (mkdtemp(root) == NULL || chmod(root, 0755) != 0)
        return NULL;
    snprintf(work, sizeof work, "%s/work", root);
    if (mkdir(work, 0755) != 0)
        return NULL;
    /* file://: the tests' archives are local; a capped tmpfs workspace as
     * in production (the default RUNNER_WORKSPACE_BYTES) */
    exec_config cfg = {.profiles_dir = PITS_DIR,
                       .workdir = work,
                       .slot = slot,
                       .fetch_allow_file = 1,
                       .workspace_bytes = 512u << 20};
    dp_err e;
    exec_ctx *ctx = exec_open(&cfg, &e);
    if (ctx == NULL)
        fprintf(stderr, "exec_open: %s\n", e.msg);
    return ctx;
}

void th_exec_close(exec_ctx *ctx, const char *root)
{
    exec_close(ctx);
    exec_rmtree(root, NULL);
}

const char *th_zip_url(const char *root, const th_entry *entries, size_t n)
{
    static char url[160];
    static int counter;
    char path[128];
    snprintf(path, sizeof path, "%s/sub%d.zip", root, counter++);
    th_zip(path, entries, n);
    snprintf(url, sizeof url, "file://%s", path);
    return url;
}

void th_judge(exec_ctx *ctx, const char *work, dp_job_spec *spec, dp_verdict want,
              dp_job_result *res)
{
    int retry = -1;
    dp_err e;
    assert_int_equal(exec_job(ctx, spec, 1, res, &retry, &e), 0);
    if (res->verdict != want) {
        print_message("message: %s\nlog:\n%s\n", res->message ? res->message : "-",
                      res->log ? res->log : "-");
        fail_msg("verdict %s, wanted %s",
                 dp_verdict_name(res->verdict) != NULL ? dp_verdict_name(res->verdict) : "none",
                 dp_verdict_name(want));
    }
    assert_int_equal(retry, 0);
    assert_int_equal(th_dir_count(work), 0);
    assert_non_null(res->log);
    assert_int_equal(strlen(res->log), res->log_len);
    assert_string_equal(res->job_id, "job-test");
}
