/* Hostile programs for the sandbox suite: `hostile MODE [ARG]`. Each mode
 * attacks one protection. Modes that probe (rather than exhaust) exit 0
 * when every attempt was refused and 1, after printing what got through,
 * when one succeeded. Built without sanitizers: it runs like user code. */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/un.h>

#include "runner/sandbox/sbx_cgself.h"

static int leaks;

static void got_through(const char *what)
{
    printf("LEAK: %s\n", what);
    fflush(stdout);
    leaks++;
}

static void *spin_thread(void *arg)
{
    (void)arg;
    for (volatile unsigned long i = 0; i != (unsigned long)-1; i++)
        ;
    return NULL;
}

static int mode_spin4(void)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, spin_thread, NULL);
    pthread_join(t[0], NULL);
    return 0;
}

static int mode_alloc(size_t bytes)
{
    char *p = malloc(bytes);
    if (!p)
        return 3;
    for (size_t i = 0; i < bytes; i += 4096)
        p[i] = 1;
    printf("touched %zu\n", bytes);
    return 0;
}

static int mode_children(void)
{
    for (int i = 0; i < 16; i++)
        if (fork() == 0)
            _exit(mode_alloc(64u << 20));
    int bad = 0, st;
    while (wait(&st) > 0)
        bad += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    return bad ? 1 : 0;
}

/* A child is OOM-killed; the parent goes on to spin past its CPU limit. */
static int mode_oom_then_spin(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(mode_alloc(1u << 30));
    int st;
    waitpid(pid, &st, 0);
    printf("child %s\n", WIFSIGNALED(st) ? "killed" : "exited");
    spin_thread(NULL);
    return 0;
}

static int mode_forkbomb(void)
{
    for (;;)
        fork();
    return 0;
}

static void *sleeper(void *arg)
{
    (void)arg;
    pause();
    return NULL;
}

static int mode_threadbomb(void)
{
    for (;;) {
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setstacksize(&a, 65536);
        pthread_create(&t, &a, sleeper, NULL);
        pthread_attr_destroy(&a);
    }
    return 0;
}

/* Double fork + setsid: a daemon that outlives its parent and keeps stdout. */
static int mode_daemon(void)
{
    if (fork() == 0) {
        setsid();
        if (fork() == 0) {
            for (;;) {
                int fd = open("daemon-alive", O_WRONLY | O_CREAT | O_APPEND, 0644);
                if (fd >= 0) {
                    (void)!write(fd, "x", 1);
                    close(fd);
                }
                usleep(20000);
            }
        }
        _exit(0);
    }
    wait(NULL);
    printf("parent done\n");
    return 0;
}

static int mode_flood(void)
{
    static char buf[65536];
    memset(buf, 'A', sizeof buf);
    for (;;)
        if (write(1, buf, sizeof buf) < 0)
            return 2;
}

static int mode_fileflood(void)
{
    static char buf[65536];
    int fd = open("flood.bin", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    for (;;)
        if (write(fd, buf, sizeof buf) < 0)
            return 2;
}

static void try_create(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        got_through(path);
        close(fd);
    }
}

static int mode_writes(void)
{
    try_create("/etc/passwd");
    try_create("/etc/evil");
    try_create("/usr/evil");
    try_create("/usr/bin/evil");
    try_create("../../evil");
    try_create("../../../../../../evil");
    try_create("/root/evil");
    try_create("/evil");
    if (mkdir("/usr/lib/evil", 0755) == 0)
        got_through("mkdir /usr/lib/evil");
    /* The workspace and /tmp are writable: that is the point of them. */
    int fd = open("ok-file", O_WRONLY | O_CREAT, 0644);
    int fd2 = open("/tmp/ok-file", O_WRONLY | O_CREAT, 0644);
    if (fd < 0 || fd2 < 0)
        printf("workspace or /tmp not writable\n");
    return leaks ? 1 : (fd < 0 || fd2 < 0) ? 2 : 0;
}

static int file_contains(const char *path, const char *needle)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    static char buf[1 << 16];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = '\n';
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

/* argv: TOKEN-REVERSED TOKEN_FILE (reversed so our own cmdline does not match) */
static int mode_secrets(const char *reversed, const char *token_file)
{
    char token[256];
    size_t tl = strlen(reversed);
    if (tl >= sizeof token)
        return 64;
    for (size_t i = 0; i < tl; i++)
        token[i] = reversed[tl - 1 - i];
    token[tl] = '\0';
    char path[300];
    if (getenv("DISPATCH_REGISTRATION_TOKEN"))
        got_through("token in my environment");
    for (char **e = __environ; *e; e++)
        if (strstr(*e, token))
            got_through("token value in my environment");
    if (file_contains("/proc/1/environ", token))
        got_through("/proc/1/environ");
    snprintf(path, sizeof path, "/proc/%d/environ", (int)getppid());
    if (file_contains(path, token))
        got_through(path);
    if (file_contains(token_file, token))
        got_through(token_file);
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d && (de = readdir(d))) {
        snprintf(path, sizeof path, "/proc/%s/environ", de->d_name);
        if (file_contains(path, token))
            got_through(path);
        snprintf(path, sizeof path, "/proc/%s/cmdline", de->d_name);
        if (file_contains(path, token))
            got_through(path);
    }
    if (d)
        closedir(d);
    return leaks ? 1 : 0;
}

static int mode_connect(const char *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        got_through("connect 127.0.0.1");
        (void)!write(fd, "hi", 2);
    }
    return leaks ? 1 : 0;
}

/* The slot's network namespace is shared by its runs: nothing may be
 * changed in it or left behind. Prints "netns <inode>". */
static int mode_netns(void)
{
    struct stat st;
    if (stat("/proc/self/ns/net", &st) == 0)
        printf("netns %llu\n", (unsigned long long)st.st_ino);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    if (fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
        if (ifr.ifr_flags & IFF_UP)
            got_through("loopback is up (an earlier run changed the netns)");
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) == 0)
            got_through("brought loopback up");
    }
    /* An abstract socket name lives as long as its socket, in the netns. */
    int us = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path, "\0dispatch-sbx-persist", 22);
    if (us >= 0 &&
        bind(us, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + 22) != 0)
        got_through(errno == EADDRINUSE ? "abstract socket of an earlier run" : "bind failed");
    if (us >= 0 && listen(us, 1) == 0 && fork() == 0) {
        setsid(); /* a daemon holding the socket: the sandbox must end it */
        sleep(100);
        _exit(0);
    }
    return leaks ? 1 : 0;
}

/* Runs of a slot share its read-only root skeleton: /tmp must be fresh
 * each run and nothing may be written where the next run would see it. */
static int mode_residue(void)
{
    static const char *const marks[] = {"/tmp/residue", "/dev/residue", "/residue", "/etc/residue",
                                        "/proc/residue"};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
        if (access(marks[i], F_OK) == 0)
            got_through(marks[i]);
        int fd = open(marks[i], O_WRONLY | O_CREAT, 0644);
        if (fd >= 0)
            close(fd);
    }
    if (access("/tmp/residue", F_OK) != 0)
        printf("/tmp not writable\n");
    return leaks ? 1 : 0;
}

/* 1 when a line of the mount table at path names host_path on another
 * mount point than /box. The /box line's root column is the workspace's
 * path in its host filesystem: a bind's root always is (docs/sandbox.md). */
static int host_path_beyond_box(const char *path, const char *host_path)
{
    FILE *f = fopen(path, "re");
    char line[1024];
    int found = 0;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, host_path) && !strstr(line, " /box "))
            found = 1;
    if (f)
        fclose(f);
    return found;
}

/* /proc must show the run's own processes and nothing of the host: no
 * /proc/sys, no host-wide files, no host paths in mount tables. argv: the
 * workspace's host path (which must not show). */
static int mode_procfs(const char *host_ws)
{
    static const char *const closed[] = {"/proc/sys/kernel/hostname",
                                         "/proc/sys/kernel/random/boot_id",
                                         "/proc/sys/kernel/osrelease",
                                         "/proc/sys/net/ipv4/ip_forward",
                                         "/proc/mounts",
                                         "/proc/meminfo",
                                         "/proc/cpuinfo",
                                         "/proc/kallsyms",
                                         "/proc/modules",
                                         "/proc/cmdline",
                                         "/proc/self/../sys/kernel/hostname"};
    for (size_t i = 0; i < sizeof closed / sizeof closed[0]; i++) {
        int fd = open(closed[i], O_RDONLY);
        if (fd >= 0) {
            got_through(closed[i]);
            close(fd);
        }
    }
    static const char *const tables[] = {"/proc/self/mountinfo", "/proc/self/mounts",
                                         "/proc/1/mountinfo", "/proc/thread-self/mountinfo"};
    static const char *const host_marks[] = {"/tmp/dispatch-sbx-root", "cgroup", "/sys", "overlay"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        if (host_ws && host_path_beyond_box(tables[i], host_ws)) {
            char what[128];
            snprintf(what, sizeof what, "host workspace path in %s (not /box)", tables[i]);
            got_through(what);
        }
        for (size_t j = 0; j < sizeof host_marks / sizeof host_marks[0]; j++)
            if (file_contains(tables[i], host_marks[j])) {
                char what[128];
                snprintf(what, sizeof what, "%s in %s", host_marks[j], tables[i]);
                got_through(what);
            }
    }
    /* What programs need stays: their own entries. */
    if (access("/proc/self/exe", F_OK) != 0 || access("/proc/self/fd/0", F_OK) != 0 ||
        access("/proc/self/status", R_OK) != 0)
        printf("own /proc entries missing\n");
    if (getenv("HOSTILE_SHOW")) {
        int fd = open("/proc/self/mountinfo", O_RDONLY);
        char buf[8192];
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : 0;
        if (n > 0)
            fwrite(buf, 1, (size_t)n, stdout);
    }
    return leaks ? 1 : 0;
}

/* Prints who and where it runs: "pid P uid U net N mnt M pidns I user S". */
static int mode_ids(void)
{
    static const char *const ns[] = {"/proc/self/ns/net", "/proc/self/ns/mnt", "/proc/self/ns/pid",
                                     "/proc/self/ns/user"};
    unsigned long long ino[4] = {0};
    for (int i = 0; i < 4; i++) {
        struct stat st;
        if (stat(ns[i], &st) == 0)
            ino[i] = (unsigned long long)st.st_ino;
    }
    printf("pid %d uid %u net %llu mnt %llu pidns %llu user %llu\n", (int)getpid(),
           (unsigned)getuid(), ino[0], ino[1], ino[2], ino[3]);
    return 0;
}

/* Prints the cgroups this process is in. */
static int mode_cgroup(void)
{
    static char text[8192];
    if (sbx_cg_read_self(text, sizeof text) < 0)
        return 1;
    fputs(text, stdout);
    return 0;
}

/* Fills /tmp (tmpfs: charged to the memcg, but in no process's RSS) until
 * the memory limit: the OOM killer must pick the command, never the
 * sandbox's supervisor, which shares the runner's memory. */
static int mode_tmpfill(void)
{
    static char chunk[1 << 20];
    memset(chunk, 'x', sizeof chunk);
    int fd = open("/tmp/fill", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    size_t total = 0;
    while (fd >= 0 && write(fd, chunk, sizeof chunk) == (ssize_t)sizeof chunk)
        total += sizeof chunk;
    printf("filled %zu MiB\n", total >> 20);
    return 3;
}

static int mode_killall(void)
{
    kill(-1, SIGKILL);
    kill(1, SIGKILL);
    kill(getppid(), SIGKILL);
    usleep(100000);
    printf("still here\n");
    return 0;
}

static int mode_ptrace(void)
{
    if (ptrace(PTRACE_ATTACH, getppid(), 0, 0) == 0)
        got_through("ptrace attach parent");
    if (ptrace(PTRACE_ATTACH, 1, 0, 0) == 0)
        got_through("ptrace attach pid 1");
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    if (ptrace(PTRACE_SEIZE, child, 0, 0) == 0)
        got_through("ptrace seize own child");
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    char buf[8];
    struct iovec l = {buf, sizeof buf}, r = {(void *)0x400000, sizeof buf};
    if (syscall(SYS_process_vm_readv, (long)getppid(), &l, 1L, &r, 1L, 0L) >= 0)
        got_through("process_vm_readv");
    return leaks ? 1 : 0;
}

static int mode_setuid(void)
{
    int fd = open("suid-file", O_WRONLY | O_CREAT, 0755);
    if (fd >= 0)
        close(fd);
    if (chmod("suid-file", 04755) == 0)
        got_through("chmod u+s");
    if (fchmodat(AT_FDCWD, "suid-file", 02755, 0) == 0)
        got_through("fchmodat g+s");
    struct stat st;
    if (stat("suid-file", &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID)))
        got_through("setuid bit present");
    return leaks ? 1 : 0;
}

static int mode_mount(void)
{
    if (mount("tmpfs", "/tmp", "tmpfs", 0, NULL) == 0)
        got_through("mount tmpfs");
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL) == 0)
        got_through("remount / rw");
    if (umount2("/proc", MNT_DETACH) == 0)
        got_through("umount /proc");
    if (unshare(CLONE_NEWUSER) == 0)
        got_through("unshare user");
    if (unshare(CLONE_NEWNS) == 0)
        got_through("unshare mount");
    if (syscall(SYS_setns, 0, 0) == 0)
        got_through("setns");
    if (chroot("/tmp") == 0)
        got_through("chroot");
    return leaks ? 1 : 0;
}

static int mode_fds(void)
{
    for (int fd = 3; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0) {
            char what[64];
            snprintf(what, sizeof what, "open fd %d", fd);
            got_through(what);
        }
    return leaks ? 1 : 0;
}

static int mode_syscalls(void)
{
    if (socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE) >= 0)
        got_through("netlink socket");
    if (socket(AF_PACKET, SOCK_RAW, 0) >= 0)
        got_through("packet socket");
    if (socket(AF_VSOCK, SOCK_STREAM, 0) >= 0)
        got_through("vsock socket");
    if (socket(AF_ALG, SOCK_SEQPACKET, 0) >= 0 || errno != EAFNOSUPPORT)
        got_through("AF_ALG socket not EAFNOSUPPORT");
    static const int other_families[] = {AF_TIPC, AF_RDS, AF_CAN, AF_XDP, AF_KEY, AF_BLUETOOTH};
    for (size_t i = 0; i < sizeof other_families / sizeof other_families[0]; i++)
        if (socket(other_families[i], SOCK_DGRAM, 0) >= 0 || errno != EAFNOSUPPORT) {
            char what[64];
            snprintf(what, sizeof what, "socket family %d not EAFNOSUPPORT", other_families[i]);
            got_through(what);
        }
    int sv[2];
    if (socketpair(AF_TIPC, SOCK_DGRAM, 0, sv) == 0 || errno != EAFNOSUPPORT)
        got_through("socketpair AF_TIPC not EAFNOSUPPORT");
    if (personality(ADDR_NO_RANDOMIZE) >= 0 || errno != EPERM)
        got_through("personality(ADDR_NO_RANDOMIZE) not EPERM");
    if (personality(READ_IMPLIES_EXEC) >= 0 || errno != EPERM)
        got_through("personality(READ_IMPLIES_EXEC) not EPERM");
#if defined(__x86_64__)
    if (syscall(SYS_modify_ldt, 0, NULL, 0) >= 0 || errno != EPERM)
        got_through("modify_ldt not EPERM");
#endif
    /* What programs use stays: */
    int ok = socket(AF_UNIX, SOCK_STREAM, 0);
    if (ok < 0 || socket(AF_INET6, SOCK_DGRAM, 0) < 0)
        printf("AF_UNIX or AF_INET6 refused\n");
    if (syscall(SYS_bpf, 0, 0, 0) >= 0 || errno != EPERM)
        got_through("bpf not EPERM");
    if (syscall(SYS_keyctl, 0, 0, 0) >= 0 || errno != EPERM)
        got_through("keyctl not EPERM");
    if (syscall(SYS_perf_event_open, 0, 0, -1, -1, 0) >= 0 || errno != EPERM)
        got_through("perf_event_open not EPERM");
    if (syscall(SYS_userfaultfd, 0) >= 0 || errno != EPERM)
        got_through("userfaultfd not EPERM");
    if (syscall(SYS_io_uring_setup, 1, NULL) >= 0 || errno != EPERM)
        got_through("io_uring_setup not EPERM");
    if (syscall(SYS_reboot, 0, 0, 0, 0) >= 0 || errno != EPERM)
        got_through("reboot not EPERM");
    if (syscall(SYS_kexec_load, 0, 0, 0, 0) >= 0 || errno != EPERM)
        got_through("kexec_load not EPERM");
    return leaks ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *m = argc > 1 ? argv[1] : "";
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(m, "spin"))
        spin_thread(NULL);
    if (!strcmp(m, "spin4"))
        return mode_spin4();
    if (!strcmp(m, "sleep"))
        return sleep(100), 0;
    if (!strcmp(m, "alloc1g"))
        return mode_alloc(1u << 30);
    if (!strcmp(m, "children"))
        return mode_children();
    if (!strcmp(m, "oomthenspin"))
        return mode_oom_then_spin();
    if (!strcmp(m, "forkbomb"))
        return mode_forkbomb();
    if (!strcmp(m, "threadbomb"))
        return mode_threadbomb();
    if (!strcmp(m, "daemon"))
        return mode_daemon();
    if (!strcmp(m, "flood"))
        return mode_flood();
    if (!strcmp(m, "fileflood"))
        return mode_fileflood();
    if (!strcmp(m, "writes"))
        return mode_writes();
    if (!strcmp(m, "secrets") && argc > 3)
        return mode_secrets(argv[2], argv[3]);
    if (!strcmp(m, "connect") && argc > 2)
        return mode_connect(argv[2]);
    if (!strcmp(m, "netns"))
        return mode_netns();
    if (!strcmp(m, "residue"))
        return mode_residue();
    if (!strcmp(m, "ids"))
        return mode_ids();
    if (!strcmp(m, "procfs"))
        return mode_procfs(argc > 2 ? argv[2] : NULL);
    if (!strcmp(m, "cgroup"))
        return mode_cgroup();
    if (!strcmp(m, "tmpfill"))
        return mode_tmpfill();
    if (!strcmp(m, "killall"))
        return mode_killall();
    if (!strcmp(m, "ptrace"))
        return mode_ptrace();
    if (!strcmp(m, "setuid"))
        return mode_setuid();
    if (!strcmp(m, "mount"))
        return mode_mount();
    if (!strcmp(m, "fds"))
        return mode_fds();
    if (!strcmp(m, "syscalls"))
        return mode_syscalls();
    fprintf(stderr, "hostile: unknown mode %s\n", m);
    return 64;
}
