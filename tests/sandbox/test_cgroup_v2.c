/* The cgroup v2 file handling, against a fake tree in a temp directory
 * (these hosts run cgroup v1; production mostly v2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/sandbox/sbx_cgroup.h"
#include "runner/sandbox/sbx_cgself.h"
#include "tests/sandbox/sbx_test_util.h"

static char root[64];

static void put(const char *rel, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void get(const char *rel, char *buf, size_t len)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/sbx-cgv2-XXXXXX");
    if (!mkdtemp(root))
        return -1;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/runner.slice", root);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/runner.slice/dispatch-sbx-1-0", root);
    mkdir(path, 0755);
    put("cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
    put("runner.slice/cgroup.subtree_control", "");
    /* What the kernel would create in the slot directory. */
    static const char *const files[] = {"cgroup.procs",    "cgroup.kill", "memory.max",
                                        "memory.swap.max", "memory.peak", "memory.current",
                                        "memory.reclaim",  "pids.max",    "pids.current"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "runner.slice/dispatch-sbx-1-0/%s", files[i]);
        put(rel, "0\n");
    }
    put("runner.slice/dispatch-sbx-1-0/cpu.stat",
        "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n");
    put("runner.slice/dispatch-sbx-1-0/memory.events",
        "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sbxt_rmtree(root);
    return 0;
}

static void test_detect_v2(void **state)
{
    (void)state;
    int version = 0;
    char bases[SBX_CG_N][PATH_MAX];
    dp_err err = {0};
    assert_int_equal(sbx_cg_detect(root, "0::/runner.slice/runner\n", &version, bases, &err), 0);
    assert_int_equal(version, 2);
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/runner.slice", root);
    assert_string_equal(bases[0], want);
}

static void test_detect_v1_paths(void **state)
{
    (void)state;
    char v1[64];
    snprintf(v1, sizeof v1, "/tmp/sbx-cgv1-XXXXXX");
    assert_non_null(mkdtemp(v1));
    char path[PATH_MAX];
    static const char *const ctl[] = {"memory", "pids", "cpuacct"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", v1, ctl[i]);
        mkdir(path, 0755);
    }
    int version = 0;
    char bases[SBX_CG_N][PATH_MAX];
    assert_int_equal(
        sbx_cg_detect(v1, "8:pids:/\n4:memory:/a/b\n2:cpu,cpuacct:/c\n", &version, bases, NULL), 0);
    assert_int_equal(version, 1);
    snprintf(path, sizeof path, "%s/memory/a/b", v1);
    assert_string_equal(bases[SBX_CG_MEM], path);
    snprintf(path, sizeof path, "%s/pids", v1);
    assert_string_equal(bases[SBX_CG_PIDS], path);
    snprintf(path, sizeof path, "%s/cpuacct/c", v1);
    assert_string_equal(bases[SBX_CG_CPU], path);
    sbxt_rmtree(v1);
    /* Neither layout: a clear error. */
    dp_err err = {0};
    assert_int_equal(sbx_cg_detect("/nonexistent-cg", "", &version, bases, &err), DP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "cgroup"));
}

static void test_v2_files(void **state)
{
    (void)state;
    int version = 0;
    char bases[SBX_CG_N][PATH_MAX];
    assert_int_equal(sbx_cg_detect(root, "0::/runner.slice/runner\n", &version, bases, NULL), 0);
    sbx_cgroup cg;
    dp_err err = {0};
    assert_int_equal(sbx_cg_open(&cg, version, bases, "dispatch-sbx-1-0", &err), 0);
    char buf[256];
    get("runner.slice/cgroup.subtree_control", buf, sizeof buf);
    assert_string_equal(buf, "+memory +pids +cpu");
    get("runner.slice/dispatch-sbx-1-0/memory.swap.max", buf, sizeof buf);
    assert_string_equal(buf, "0");

    assert_int_equal(sbx_cg_prepare(&cg, 64u << 20, 17, &err), 0);
    get("runner.slice/dispatch-sbx-1-0/memory.max", buf, sizeof buf);
    assert_string_equal(buf, "67108864");
    get("runner.slice/dispatch-sbx-1-0/pids.max", buf, sizeof buf);
    assert_string_equal(buf, "17");
    assert_int_equal(cg.cpu_base_ns, 1500u * 1000u);
    assert_int_equal(cg.oom_base, 1);

    /* The run: CPU grows, the OOM killer fires, memory peaks. */
    put("runner.slice/dispatch-sbx-1-0/cpu.stat", "usage_usec 251500\nuser_usec 1\n");
    put("runner.slice/dispatch-sbx-1-0/memory.events", "oom 2\noom_kill 2\n");
    put("runner.slice/dispatch-sbx-1-0/memory.peak", "52428800\n");
    uint64_t ns = 0, peak = 0;
    int oom = 0;
    sbx_cg_cpu_ns(&cg, &ns);
    assert_int_equal(ns, 250u * 1000u * 1000u);
    sbx_cg_stats(&cg, &peak, &oom);
    assert_int_equal(peak, 52428800u);
    assert_true(oom);

    assert_int_equal(sbx_cg_attach(&cg, 4242, &err), 0);
    get("runner.slice/dispatch-sbx-1-0/cgroup.procs", buf, sizeof buf);
    assert_string_equal(buf, "4242");
    assert_int_equal(sbx_cg_kill(&cg, 0), 1);
    get("runner.slice/dispatch-sbx-1-0/cgroup.kill", buf, sizeof buf);
    assert_string_equal(buf, "1");

    /* No limit: "max"; an unchanged limit is not rewritten. */
    assert_int_equal(sbx_cg_prepare(&cg, 0, 0, &err), 0);
    get("runner.slice/dispatch-sbx-1-0/memory.max", buf, sizeof buf);
    assert_string_equal(buf, "max");
    get("runner.slice/dispatch-sbx-1-0/pids.max", buf, sizeof buf);
    assert_string_equal(buf, "max");
    put("runner.slice/dispatch-sbx-1-0/memory.max", "sentinel");
    assert_int_equal(sbx_cg_prepare(&cg, 0, 0, &err), 0);
    get("runner.slice/dispatch-sbx-1-0/memory.max", buf, sizeof buf);
    assert_string_equal(buf, "sentinel");

    /* Reclaim only when more than SBX_CG_RECLAIM_MIN is still charged. */
    put("runner.slice/dispatch-sbx-1-0/memory.reclaim", "untouched");
    put("runner.slice/dispatch-sbx-1-0/memory.current", "1048576\n");
    assert_int_equal(sbx_cg_prepare(&cg, 0, 0, &err), 0);
    get("runner.slice/dispatch-sbx-1-0/memory.reclaim", buf, sizeof buf);
    assert_string_equal(buf, "untouched");
    put("runner.slice/dispatch-sbx-1-0/memory.current", "67108864\n");
    assert_int_equal(sbx_cg_prepare(&cg, 0, 0, &err), 0);
    get("runner.slice/dispatch-sbx-1-0/memory.reclaim", buf, sizeof buf);
    assert_string_equal(buf, "1G");
    sbx_cg_close(&cg);
}

static void test_v2_missing_files(void **state)
{
    (void)state;
    char bases[SBX_CG_N][PATH_MAX];
    for (int i = 0; i < SBX_CG_N; i++)
        snprintf(bases[i], PATH_MAX, "%s/runner.slice", root);
    sbx_cgroup cg;
    dp_err err = {0};
    /* A fresh directory without the kernel's files: open fails and names it. */
    assert_int_not_equal(sbx_cg_open(&cg, 2, bases, "empty-slot", &err), 0);
    assert_non_null(strstr(err.msg, "cpu.stat"));
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/runner.slice/empty-slot", root);
    rmdir(path);
}

/* The one /proc/self/cgroup reader: the whole file, and a refusal (not a
 * silently cut list) when it does not fit. */
static void test_read_self(void **state)
{
    (void)state;
    char whole[8192], want[8192] = "";
    FILE *f = fopen("/proc/self/cgroup", "r");
    assert_non_null(f);
    size_t n = fread(want, 1, sizeof want - 1, f);
    want[n] = '\0';
    fclose(f);
    assert_int_equal(sbx_cg_read_self(whole, sizeof whole), (ssize_t)n);
    assert_string_equal(whole, want);
    char tiny[4];
    assert_int_equal(sbx_cg_read_self(tiny, sizeof tiny), n < sizeof tiny ? (ssize_t)n : -ENOSPC);
    if (n >= sizeof tiny)
        assert_string_equal(tiny, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_v2), cmocka_unit_test(test_detect_v1_paths),
        cmocka_unit_test(test_v2_files),  cmocka_unit_test(test_v2_missing_files),
        cmocka_unit_test(test_read_self),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
