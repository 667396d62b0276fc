/* Test helpers for the executor tests: zips built at test time with libzip,
 * job specs, a tiny HTTP server thread on 127.0.0.1, directory checks. All
 * returned strings are malloc'd and owned by the caller unless noted. */
#ifndef TEST_EXEC_HELPERS_H
#define TEST_EXEC_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include "common/job.h"
#include "runner/exec/exec.h"

typedef struct {
    const char *name;
    const char *data; /* NULL with len 0: a directory entry */
    size_t len;       /* 0 with data: strlen(data) */
    uint32_t mode;    /* unix st_mode to store, 0 = leave libzip's default */
} th_entry;

/* Writes a zip with n entries to path; aborts the test on failure. */
void th_zip(const char *path, const th_entry *entries, size_t n);

/* th_zip into a fresh file under root; returns its file:// URL (static
 * buffer, valid until the next call). */
const char *th_zip_url(const char *root, const th_entry *entries, size_t n);

/* Runs spec on ctx and checks: the verdict is want (else shows the message
 * and the log), not retryable, the workspace under work is gone, the log is
 * whole, the job id is "job-test". res is the caller's. */
void th_judge(exec_ctx *ctx, const char *work, dp_job_spec *spec, dp_verdict want,
              dp_job_result *res);

/* A fresh spec (free with dp_job_spec_free) for profile and archive url. */
void th_spec(dp_job_spec *spec, const char *profile, const char *url);
void th_spec_test(dp_job_spec *spec, const char *name, const char *in, const char *expected);

/* A test's executor slot: a fresh root under /tmp (searchable by the
 * sandbox uids) with root/work as the workdir, the shipped pits, the given
 * sandbox slot, file:// allowed, a 512 MiB tmpfs per workspace. root holds 64 bytes. NULL (with a
 * message on stderr) on failure; th_exec_close closes it and removes root. */
exec_ctx *th_exec_open(const char *name, int slot, char root[64]);
void th_exec_close(exec_ctx *ctx, const char *root);

/* Number of entries in dir besides . and .. (-1 when it cannot be read). */
int th_dir_count(const char *dir);

/* Copies file src to dst. */
void th_copy(const char *src, const char *dst);
void th_write(const char *path, const char *text);

/* The HTTP server: GET /zip serves the bytes of th_http_body, /404 and /500
 * answer with those codes, /stall never answers until the client gives up,
 * /redir-zip redirects to /zip, /redir-file to file:///etc/passwd,
 * /redir-other to the same port on 127.0.0.2. */
int th_http_start(void); /* returns the port */
void th_http_set_body(const char *path_of_file);
void th_http_stop(void);

#endif
