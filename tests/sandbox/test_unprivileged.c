/* The sandbox of a non-root runner. With user namespaces it gets user,
 * mount, PID and network namespaces and seccomp by default, and judges a
 * job; where user namespaces are unavailable it refuses to start, with a
 * message that says why and how to opt out knowingly. Each case runs in a
 * forked child that drops to nobody before the sandbox probes the host
 * (the probe is cached per process: this process never probes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <linux/capability.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner/sandbox/sandbox.h"
#include "runner/sandbox/sbx_internal.h" /* the slot's protections */
#include "tests/sandbox/sbx_test_util.h"

#define NOBODY 65534u

static int slot;

typedef int (*child_fn)(char *report, size_t len, const char *ws);

static int chown_nobody(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return lchown(path, NOBODY, NOBODY) == 0 ? 0 : -1;
}

static int drop_to_nobody(void)
{
    return setgroups(0, NULL) == 0 && setresgid(NOBODY, NOBODY, NOBODY) == 0 &&
                   setresuid(NOBODY, NOBODY, NOBODY) == 0
               ? 0
               : -1;
}

/* Runs fn in a child; fails the test with the child's report unless it
 * returned 0. The workspace (with the hostile binary) belongs to nobody. */
static void in_child(child_fn fn)
{
    char ws[64];
    assert_int_equal(sbxt_workspace(ws, sizeof ws), 0);
    assert_int_equal(nftw(ws, chown_nobody, 16, FTW_PHYS), 0);
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pipefd[0]);
        char report[2048] = "";
        int rc = fn(report, sizeof report, ws);
        if (write(pipefd[1], report, strlen(report)) < 0)
            rc = 99;
        _exit(rc); /* no leak check in the child: the parent's exit does it */
    }
    close(pipefd[1]);
    char report[2048] = "";
    ssize_t n = read(pipefd[0], report, sizeof report - 1);
    report[n > 0 ? n : 0] = '\0';
    close(pipefd[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    sbxt_rmtree(ws);
    printf("%s", report);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) != 0)
        fail_msg("child exited %d: %s", WEXITSTATUS(st), report);
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            size_t n_ = strlen(report);                                                            \
            snprintf(report + n_, len - n_, __VA_ARGS__);                                          \
            rc = 1;                                                                                \
        }                                                                                          \
    } while (0)

static unsigned long long field(const char *out, const char *name)
{
    const char *p = strstr(out, name);
    return p ? strtoull(p + strlen(name), NULL, 10) : 0;
}

static unsigned long long own_ns(const char *which)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/ns/%s", which);
    struct stat st;
    return stat(path, &st) == 0 ? (unsigned long long)st.st_ino : 0;
}

static int run_one(sbx *b, const char *ws, const char *const argv[], const char *in, sbx_result *r,
                   dp_err *err)
{
    const char *env[] = {"PATH=/usr/bin:/bin", NULL};
    sbx_limits lim = {.cpu_ms = 2000, .wall_ms = 10000, .memory_kb = 256 * 1024, .processes = 16};
    return sbx_run(b, argv, ws, env, in, in ? strlen(in) : 0, &lim, r, err);
}

static int nobody_with_userns(char *report, size_t len, const char *ws)
{
    int rc = 0;
    if (drop_to_nobody() != 0) {
        snprintf(report, len, "cannot become nobody: %s\n", strerror(errno));
        return 2;
    }
    dp_err err = {0};
    sbx_config cfg = {.slot = slot, .require = NULL}; /* the default */
    sbx *b = sbx_open(&cfg, &err);
    if (!b) {
        snprintf(report, len, "sbx_open as nobody: %s\n", err.msg);
        return 1;
    }
    unsigned want = SBX_P_USERNS | SBX_P_MOUNTNS | SBX_P_PIDNS | SBX_P_NETNS | SBX_P_SECCOMP |
                    SBX_P_PIVOT | SBX_P_NNP | SBX_P_CAPS;
    CHECK((b->prot & want) == want, "protections 0x%x, want at least 0x%x\n", b->prot, want);
    char prog[128];
    snprintf(prog, sizeof prog, "%s/hostile", ws);
    sbx_result r;
    const char *ids[] = {prog, "ids", NULL};
    if (run_one(b, ws, ids, NULL, &r, &err) != 0) {
        CHECK(0, "sbx_run ids: %s\n", err.msg);
    } else {
        CHECK(r.status == SBX_OK, "ids: %s %s %s\n", sbx_status_name(r.status), r.message, r.err);
        CHECK(field(r.out, "pid ") == 2, "not in its own PID namespace: %s", r.out);
        CHECK(field(r.out, "uid ") == 60000u + (unsigned)slot, "uid: %s", r.out);
        CHECK(field(r.out, "net ") && field(r.out, "net ") != own_ns("net"), "netns: %s", r.out);
        CHECK(field(r.out, "mnt ") && field(r.out, "mnt ") != own_ns("mnt"), "mntns: %s", r.out);
        CHECK(field(r.out, "user ") && field(r.out, "user ") != own_ns("user"), "userns: %s",
              r.out);
        sbx_result_free(&r);
    }
    static const char *const probes[] = {"syscalls", "mount", "writes", "ptrace", "procfs"};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        const char *argv[] = {prog, probes[i], NULL};
        if (run_one(b, ws, argv, NULL, &r, &err) != 0) {
            CHECK(0, "sbx_run %s: %s\n", probes[i], err.msg);
            continue;
        }
        CHECK(r.status == SBX_OK && !strstr(r.out, "LEAK"), "%s: %s %s%s\n", probes[i],
              sbx_status_name(r.status), r.message, r.out);
        sbx_result_free(&r);
    }
    /* A job: reads its input, answers. */
    const char *job[] = {"/bin/sh", "-c", "read x; echo $((x * 2))", NULL};
    if (run_one(b, ws, job, "21\n", &r, &err) != 0) {
        CHECK(0, "sbx_run job: %s\n", err.msg);
    } else {
        CHECK(r.status == SBX_OK && strcmp(r.out, "42\n") == 0, "job: %s out '%s' err '%s' %s\n",
              sbx_status_name(r.status), r.out, r.err, r.message);
        sbx_result_free(&r);
    }
    sbx_close(b);
    return rc;
}

static void test_nobody_gets_namespaces(void **state)
{
    (void)state;
    in_child(nobody_with_userns);
}

/* As nobody, a user namespace of our own in which no further ones may be
 * made (user.max_user_namespaces is per user namespace; ours is 0), with
 * no capabilities left: a non-root runner where user namespaces are
 * unavailable. */
static int enter_no_userns_as_nobody(char *report, size_t len)
{
    /* Dropping to nobody made us non-dumpable: /proc/self would stay root's. */
    if (drop_to_nobody() != 0 || prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0 ||
        unshare(CLONE_NEWUSER) != 0) {
        snprintf(report, len, "nobody + unshare: %s\n", strerror(errno));
        return -1;
    }
    char map[32];
    snprintf(map, sizeof map, "%u %u 1\n", NOBODY, NOBODY);
    static const char *const files[] = {"/proc/self/setgroups", "/proc/self/uid_map",
                                        "/proc/self/gid_map", "/proc/sys/user/max_user_namespaces"};
    const char *const texts[] = {"deny", map, map, "0\n"};
    for (int i = 0; i < 4; i++) {
        int fd = open(files[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, texts[i], strlen(texts[i])) != (ssize_t)strlen(texts[i])) {
            snprintf(report, len, "%s: %s\n", files[i], strerror(errno));
            return -1;
        }
        close(fd);
    }
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct none[2] = {{0, 0, 0}, {0, 0, 0}};
    if (syscall(SYS_capset, &hdr, none) != 0) {
        snprintf(report, len, "capset: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

static int nobody_without_userns(char *report, size_t len, const char *ws)
{
    (void)ws;
    int rc = 0;
    if (enter_no_userns_as_nobody(report, len) != 0)
        return 2;
    dp_err err = {0};
    sbx_config cfg = {.slot = slot, .require = NULL};
    sbx *b = sbx_open(&cfg, &err);
    CHECK(b == NULL, "sbx_open without user namespaces succeeded: it must refuse\n");
    CHECK(strstr(err.msg, "'userns'") != NULL, "message does not name userns: %s\n", err.msg);
    CHECK(strstr(err.msg, "max_user_namespaces") != NULL, "message does not say why: %s\n",
          err.msg);
    CHECK(strstr(err.msg, "DISPATCH_SANDBOX_REQUIRE") != NULL && strstr(err.msg, "'none'"),
          "message does not say how to opt out: %s\n", err.msg);
    sbx_close(b);
    /* Asked for less by name, it starts (and warns). */
    cfg.require = "none";
    b = sbx_open(&cfg, &err);
    CHECK(b != NULL, "sbx_open with 'none' refused: %s\n", err.msg);
    sbx_close(b);
    if (rc == 0)
        snprintf(report, len, "# refused: %s\n", err.msg);
    return rc;
}

static void test_nobody_without_userns_refuses(void **state)
{
    (void)state;
    in_child(nobody_without_userns);
}

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test_unprivileged: needs root to drop to nobody\n");
        return 77; /* meson: skipped */
    }
    slot = 100 + (int)(getpid() % 290) * 3; /* as test_hostile: apart from other test runs */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nobody_gets_namespaces),
        cmocka_unit_test(test_nobody_without_userns_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
