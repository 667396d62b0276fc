/* libFuzzer harness for the HTTP API's request bodies: the bytes a client
 * POSTs to /api/v1/jobs (a spec or an array of specs, with inline files)
 * and to /execute, through the functions the routes call
 * (dispatch/http_inline.h: http_execute_spec, http_inline_spec). The first
 * byte picks the route (even: /api/v1/jobs, odd: /execute); the rest is the
 * body. Inline files go to a file:// log store in a private temporary
 * directory, emptied after every input.
 *
 * Checked: nothing is written to the store here (the stasher actor writes);
 * a refusal has a message and leaves nothing to store (docs/api.md: "a
 * refused request stores nothing"); an accepted spec passes the one spec
 * check (dp_job_spec_check), and when it had inline files its archive is
 * the one to store, named by the SHA-256 it carries. */
#include "common/job_json.h"
#include "dispatch/http_inline.h"
#include "fuzz/fuzz_check.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_MAX_INLINE (64 * 1024) /* small: the limit's edge is reached often */
#define FUZZ_MAX_BATCH 8

static char store_dir[256];
static logstore *store;

/* Removes what the last input stored; returns how many files there were. */
static size_t store_sweep(void)
{
    size_t n = 0;
    DIR *d = opendir(store_dir);
    FUZZ_CHECK(d != NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", store_dir, e->d_name);
        unlink(path);
        n++;
    }
    closedir(d);
    return n;
}

static void store_remove(void)
{
    if (store_dir[0] == '\0')
        return;
    store_sweep();
    rmdir(store_dir);
    logstore_close(store);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(store_dir, sizeof store_dir, "%s/dispatch-fuzz-http.XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    FUZZ_CHECK(mkdtemp(store_dir) != NULL);
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "file://%s/{job_id}.zip", store_dir);
    dp_err err = {0};
    store = logstore_open(tmpl, &err);
    FUZZ_CHECK(store != NULL);
    atexit(store_remove);
    return 0;
}

/* One spec object as POST /api/v1/jobs takes it. */
static void one_spec(json_t *obj)
{
    int had_files =
        json_object_get(obj, "files") != NULL || json_object_get(obj, "files_base64") != NULL;
    dp_job_spec spec = {0};
    dp_err err = {0};
    http_uploads up = {0};
    int rc = http_inline_spec(obj, store, &up, FUZZ_MAX_INLINE, "", &spec, &err);
    /* Archives are collected in up for the stasher actor; nothing may reach
     * the store directly. */
    FUZZ_CHECK(store_sweep() == 0);
    size_t stored = up.n;
    if (rc != DP_OK) {
        FUZZ_CHECK(err.msg[0] != '\0');
        if (rc == DP_EINVAL && stored != 0) {
            fprintf(stderr, "refused (%s) but %zu archive(s) to store\n", err.msg, stored);
            FUZZ_CHECK(!"a refused spec stores nothing");
        }
        http_uploads_free(&up);
        return;
    }
    dp_err cerr = {0};
    FUZZ_CHECK(dp_job_spec_check(&spec, "spec", &cerr) == DP_OK);
    if (had_files) {
        FUZZ_CHECK(stored == 1);
        FUZZ_CHECK(spec.archive_sha256 != NULL && strstr(spec.archive, spec.archive_sha256));
        FUZZ_CHECK(strstr(spec.archive, up.items[0].name) != NULL);
    }
    http_uploads_free(&up);
    dp_job_spec_free(&spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (store == NULL)
        LLVMFuzzerInitialize(NULL, NULL);
    if (size < 1)
        return 0;
    json_t *doc = json_loadb((const char *)data + 1, size - 1, 0, NULL);
    if (doc == NULL)
        return 0;
    if (data[0] & 1) { /* POST /execute */
        json_t *spec = NULL;
        int64_t wait_ms = 0;
        dp_err err = {0};
        int rc = http_execute_spec(doc, &spec, &wait_ms, &err);
        if (rc == DP_OK) {
            FUZZ_CHECK(spec != NULL && wait_ms > 0 && wait_ms <= HTTP_EXEC_WAIT_MAX_MS);
            one_spec(spec);
            json_decref(spec);
        } else {
            FUZZ_CHECK(spec == NULL && err.msg[0] != '\0');
        }
    } else if (json_is_array(doc)) { /* a batch */
        size_t i;
        json_t *item;
        json_array_foreach(doc, i, item)
        {
            if (i >= FUZZ_MAX_BATCH)
                break;
            one_spec(item);
        }
    } else {
        one_spec(doc);
    }
    json_decref(doc);
    return 0;
}
