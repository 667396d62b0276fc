/* Every folder of examples/ judged through exec_job with the shipped
 * profiles must get the verdict and score examples/expected.tsv promises:
 * the demo's table is checked here, not only by eye. The spec's JSON is read
 * through common/job_json (the parser producers' specs go through). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/job_json.h"
#include "runner/exec/exec.h"
#include "runner/exec/fsutil.h"
#include "tests/runner/helpers.h"

static char root[64], work[96];
static exec_ctx *ctx;

static int group_setup(void **state)
{
    (void)state;
    ctx = th_exec_open("exec-examples", 9, root);
    if (ctx == NULL)
        return -1;
    snprintf(work, sizeof work, "%s/work", root);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    th_exec_close(ctx, root);
    return 0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    char *s = malloc(n + 1);
    assert_non_null(s);
    memcpy(s, buf, n);
    s[n] = '\0';
    *len = n;
    return s;
}

/* Zips examples/NAME/files/ (flat, modes kept) into root/NAME.zip; returns its URL. */
static void pack(const char *name, char *url, size_t url_len)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s/files", EXAMPLES_DIR, name);
    DIR *d = opendir(dir);
    assert_non_null(d);
    th_entry entries[32];
    char *data[32];
    char names[32][256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 32) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len;
        data[n] = slurp(path, &len);
        snprintf(names[n], sizeof names[n], "%s", e->d_name);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        /* the mode travels (a checker must stay executable), as with zip -X */
        entries[n] = (th_entry){names[n], data[n], len, (uint32_t)(S_IFREG | (st.st_mode & 0755))};
        n++;
    }
    closedir(d);
    char zip[160];
    snprintf(zip, sizeof zip, "%s/%s.zip", root, name);
    th_zip(zip, entries, n);
    for (size_t i = 0; i < n; i++)
        free(data[i]);
    snprintf(url, url_len, "file://%s", zip);
}

static void load_spec(const char *name, dp_job_spec *spec)
{
    char path[512], url[256];
    snprintf(path, sizeof path, "%s/%s/job.json", EXAMPLES_DIR, name);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (j == NULL)
        fail_msg("%s: %s", path, je.text);
    pack(name, url, sizeof url);
    /* the job as a producer would send it, through the one parser */
    json_object_set_new(j, "archive", json_string(url));
    dp_err err;
    if (dp_job_spec_from_json(j, spec, &err) != DP_OK)
        fail_msg("%s: %s", path, err.msg);
    json_decref(j);
}

static void test_examples(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/expected.tsv", EXAMPLES_DIR);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[256];
    int checked = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char name[64], verdict[8];
        double score;
        if (line[0] == '#' || sscanf(line, "%63s %7s %lf", name, verdict, &score) != 3)
            continue;
        dp_job_spec spec;
        load_spec(name, &spec);
        dp_job_result res;
        int retry;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(exec_job(ctx, &spec, 1, &res, &retry, NULL), 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        const char *got = dp_verdict_name(res.verdict) != NULL ? dp_verdict_name(res.verdict) : "-";
        if (strcmp(got, verdict) != 0 || fabs(res.score - score) > 0.05) {
            print_message("log:\n%s\n", res.log ? res.log : "-");
            fail_msg("example %s: %s %.1f (%s), expected %s %.1f", name, got, res.score,
                     res.message ? res.message : "-", verdict, score);
        }
        print_message("example %-16s %-3s %5.1f %5ld ms %.60s\n", name, got, res.score, ms,
                      res.message ? res.message : "");
        checked++;
        dp_job_result_free(&res);
        dp_job_spec_free(&spec);
        assert_int_equal(th_dir_count(work), 0);
    }
    fclose(f);
    assert_int_equal(checked, 18); /* the rows of expected.tsv */
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_examples)};
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
