/* Unit tests for the fetch address policy (no connection is made: the
 * check is called on socket addresses) and for the workspace tree walks:
 * removal at any depth, and neither chown nor removal touching anything
 * outside the tree through a symlink, also while another thread keeps
 * swapping a directory for a symlink. The walks need root (chown). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runner/exec/fsutil.h"
#include "runner/exec/netaddr.h"
#include "runner/sandbox/sbx_tree.h"

/* 0 when addr (IPv4 or IPv6 text) passes the policy with allow list
 * allow; why receives the refusal. */
static int check(const char *addr, const char *allow, char *why, size_t len)
{
    exec_addr_allow al;
    dp_err e;
    assert_int_equal(exec_addr_allow_parse(allow, "TEST", &al, &e), 0);
    struct sockaddr_in s4 = {.sin_family = AF_INET};
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
    if (inet_pton(AF_INET, addr, &s4.sin_addr) == 1)
        return exec_addr_check((struct sockaddr *)&s4, &al, why, len);
    assert_int_equal(inet_pton(AF_INET6, addr, &s6.sin6_addr), 1);
    return exec_addr_check((struct sockaddr *)&s6, &al, why, len);
}

static void refused(const char *addr, const char *needle)
{
    char why[160] = "";
    if (check(addr, NULL, why, sizeof why) == 0)
        fail_msg("%s was allowed", addr);
    if (strstr(why, needle) == NULL)
        fail_msg("%s: '%s' does not say '%s'", addr, why, needle);
}

static void allowed(const char *addr, const char *allow)
{
    char why[160] = "";
    if (check(addr, allow, why, sizeof why) != 0)
        fail_msg("%s refused with allow '%s': %s", addr, allow ? allow : "", why);
}

static void test_addr_policy(void **state)
{
    (void)state;
    refused("169.254.169.254", "169.254.169.254 is cloud metadata");
    refused("fd00:ec2::254", "cloud metadata");
    refused("169.254.1.1", "link-local");
    refused("fe80::1", "link-local");
    refused("10.0.0.1", "private");
    refused("172.31.255.255", "private");
    refused("192.168.1.1", "private");
    refused("100.64.0.1", "CGNAT");
    refused("fc00::1", "unique local");
    refused("fdff::1", "unique local");
    refused("127.0.0.1", "loopback");
    refused("127.255.0.9", "loopback");
    refused("::1", "loopback");
    refused("0.0.0.0", "unspecified");
    refused("::", "unspecified");
    refused("224.0.0.1", "multicast");
    refused("ff02::1", "multicast");
    refused("255.255.255.255", "broadcast");
    /* IPv4 ranges in their IPv6 spellings */
    refused("::ffff:169.254.169.254", "::ffff:169.254.169.254 is cloud metadata");
    refused("::ffff:10.1.2.3", "private");
    refused("::ffff:127.0.0.1", "loopback");
    refused("::10.0.0.1", "private");
    refused("64:ff9b::a9fe:a9fe", "cloud metadata");
    /* public addresses pass (documentation and public ranges) */
    allowed("93.184.216.34", NULL);
    allowed("8.8.8.8", NULL);
    allowed("172.32.0.1", NULL);
    allowed("100.128.0.1", NULL);
    allowed("2606:2800:220:1:248:1893:25c8:1946", NULL);
    allowed("::ffff:8.8.8.8", NULL);
    /* the allow list: exact, prefixes, IPv4 nets cover the mapped form */
    allowed("127.0.0.1", "127.0.0.1");
    allowed("::ffff:127.0.0.1", "127.0.0.1/32");
    allowed("10.9.8.7", "192.168.0.0/16, 10.0.0.0/8");
    allowed("fd12::5", "fd12::/16");
    char why[160];
    assert_int_equal(check("127.0.0.2", "127.0.0.1", why, sizeof why), -1);
    assert_int_equal(check("10.0.0.1", "10.0.0.0/31 ::1", why, sizeof why), 0);
    assert_int_equal(check("10.0.0.2", "10.0.0.0/31 ::1", why, sizeof why), -1);
}

static void test_addr_allow_parse(void **state)
{
    (void)state;
    exec_addr_allow al;
    dp_err e;
    assert_int_equal(exec_addr_allow_parse("", "X", &al, &e), 0);
    assert_int_equal(al.n, 0);
    assert_int_equal(exec_addr_allow_parse("10.0.0.0/8,,::1 fd00::/8", "X", &al, &e), 0);
    assert_int_equal(al.n, 3);
    static const char *const bad[] = {"10.0.0.0/33", "example.com", "10.0.0.0/",
                                      "::1/129",     "10.0.0.0/8x", "1.2.3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(exec_addr_allow_parse(bad[i], "RUNNER_FETCH_ALLOW_CIDRS", &al, &e),
                         DP_EINVAL);
        assert_non_null(strstr(e.msg, "RUNNER_FETCH_ALLOW_CIDRS"));
    }
}

static char root[64];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/exec-fs-XXXXXX");
    return mkdtemp(root) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    exec_rmtree(root, NULL);
    return 0;
}

static void skip_unless_root(void)
{
    if (geteuid() != 0)
        skip();
}

/* A tree 300 directories deep (deeper than the old walk's 256) goes
 * completely, with a file at every level. */
static void test_rmtree_deep(void **state)
{
    (void)state;
    char ws[96];
    snprintf(ws, sizeof ws, "%s/deep", root);
    assert_int_equal(mkdir(ws, 0755), 0);
    int fd = open(ws, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    for (int i = 0; i < 300; i++) {
        int f = openat(fd, "f", O_WRONLY | O_CREAT, 0644);
        assert_true(f >= 0);
        close(f);
        assert_int_equal(mkdirat(fd, "d", 0755), 0);
        int sub = openat(fd, "d", O_RDONLY | O_DIRECTORY);
        assert_true(sub >= 0);
        close(fd);
        fd = sub;
    }
    close(fd);
    dp_err e = {0};
    if (exec_rmtree(ws, &e) != DP_OK)
        fail_msg("rmtree: %s", e.msg);
    assert_int_equal(access(ws, F_OK), -1);
}

/* A workspace holding a symlink to a file outside it (and one to a
 * directory): chown and removal leave the targets alone. */
static void test_symlink_targets_untouched(void **state)
{
    (void)state;
    skip_unless_root();
    char ws[96], target[96], tdir[96], link1[128], link2[128], sub[128];
    snprintf(ws, sizeof ws, "%s/ws", root);
    snprintf(target, sizeof target, "%s/secret", root);
    snprintf(tdir, sizeof tdir, "%s/outdir", root);
    snprintf(link1, sizeof link1, "%s/link", ws);
    snprintf(sub, sizeof sub, "%s/sub", ws);
    snprintf(link2, sizeof link2, "%s/sub/dirlink", ws);
    assert_int_equal(mkdir(ws, 0755), 0);
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(mkdir(tdir, 0750), 0);
    int f = open(target, O_WRONLY | O_CREAT, 0600);
    assert_true(f >= 0);
    assert_int_equal(write(f, "s", 1), 1);
    close(f);
    assert_int_equal(symlink(target, link1), 0);
    assert_int_equal(symlink(tdir, link2), 0);
    dp_err e = {0};
    if (sbx_tree_chown(ws, 60999, 60999, &e) != DP_OK)
        fail_msg("chown: %s", e.msg);
    struct stat st;
    assert_int_equal(lstat(link1, &st), 0);
    assert_int_equal(st.st_uid, 60999); /* the link itself is the slot's */
    assert_int_equal(lstat(sub, &st), 0);
    assert_int_equal(st.st_uid, 60999);
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal(st.st_uid, 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(stat(tdir, &st), 0);
    assert_int_equal(st.st_uid, 0);
    assert_int_equal(exec_rmtree(ws, &e), DP_OK);
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal(st.st_size, 1);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(stat(tdir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0750);
}

/* The swapper: exchanges ws/d (a directory) and ws/l (a symlink to a
 * directory outside) as fast as it can, as a hostile process would between
 * two steps of a path-based walk. */
typedef struct {
    int wsfd;
    const char *outside;
    atomic_int stop;
    atomic_int swaps;
} swapper;

static void *swap_main(void *arg)
{
    swapper *s = arg;
    while (!atomic_load(&s->stop)) {
        if (renameat2(s->wsfd, "d", s->wsfd, "l", RENAME_EXCHANGE) != 0 && errno == ENOENT) {
            /* the walk removed one: plant the symlink again under both names */
            (void)symlinkat(s->outside, s->wsfd, "d");
            (void)symlinkat(s->outside, s->wsfd, "l");
        }
        atomic_fetch_add(&s->swaps, 1);
    }
    return NULL;
}

/* Builds ws/d/{x,y} (a directory with files, root's) and ws/l -> outside. */
static void race_tree(const char *ws, const char *outside)
{
    char p[160];
    mkdir(ws, 0755);
    snprintf(p, sizeof p, "%s/d", ws);
    mkdir(p, 0755);
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/d/%c", ws, "xy"[i]);
        int f = open(p, O_WRONLY | O_CREAT, 0644);
        if (f >= 0)
            close(f);
    }
    snprintf(p, sizeof p, "%s/l", ws);
    (void)symlink(outside, p);
}

/* 1 when the outside directory or its files changed owner or mode. */
static int outside_touched(const char *outside)
{
    char p[160];
    struct stat st;
    if (stat(outside, &st) != 0 || st.st_uid != 0 || (st.st_mode & 07777) != 0755)
        return 1;
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%c", outside, "xy"[i]);
        if (stat(p, &st) != 0 || st.st_uid != 0 || (st.st_mode & 07777) != 0644)
            return 1;
    }
    return 0;
}

/* Runs the walk (chown or remove) on a tree under attack for up to 3 s
 * (or 3000 rounds); the outside must stay untouched throughout. Walks may
 * fail (a directory moved under them): that is fine, following is not. A
 * path-based walk is caught within a few hundred rounds on an idle 2-core
 * machine; the round limit keeps the test short when the machine is busy. */
static void race(int remove)
{
    skip_unless_root();
    char ws[96], outside[96];
    snprintf(ws, sizeof ws, "%s/race-ws", root);
    snprintf(outside, sizeof outside, "%s/race-out", root);
    race_tree(outside, "/nonexistent"); /* outside/d/{x,y}: reuse the builder */
    char od[160];
    snprintf(od, sizeof od, "%s/d", outside);
    snprintf(outside, sizeof outside, "%s/race-out/d", root);
    assert_int_equal(chmod(od, 0755), 0);
    time_t end = time(NULL) + 3;
    for (int round = 0; round < 3000 && time(NULL) < end; round++) {
        race_tree(ws, outside);
        swapper s = {.wsfd = open(ws, O_RDONLY | O_DIRECTORY), .outside = outside};
        assert_true(s.wsfd >= 0);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, swap_main, &s), 0);
        while (atomic_load(&s.swaps) < 50) /* the attacker is running before the walk */
            sched_yield();
        dp_err e;
        if (remove)
            (void)exec_rmtree(ws, &e);
        else
            (void)sbx_tree_chown(ws, 60998, 60998, &e);
        atomic_store(&s.stop, 1);
        pthread_join(th, NULL);
        close(s.wsfd);
        if (outside_touched(outside))
            fail_msg("round %d: the %s walk changed %s through the symlink", round,
                     remove ? "removal" : "chown", outside);
        exec_rmtree(ws, NULL);
    }
}

static void test_race_chown(void **state)
{
    (void)state;
    race(0);
}

static void test_race_remove(void **state)
{
    (void)state;
    race(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_policy),
        cmocka_unit_test(test_addr_allow_parse),
        cmocka_unit_test_setup_teardown(test_rmtree_deep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_targets_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_race_chown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_race_remove, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
