/* Which protections this host offers, and the operator's required list. */
#include "runner/sandbox/sbx_internal.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const probe_names[] = {
    "userns", "mountns", "pidns",        "netns", "ipcns",   "utsns", "pivot_root",
    "cgroup", "seccomp", "no_new_privs", "caps",  "rlimits", "uid"};

const char *sbx_protection_name(unsigned bit)
{
    for (unsigned i = 0; i < sizeof probe_names / sizeof probe_names[0]; i++)
        if (bit == 1u << i)
            return probe_names[i];
    return NULL;
}

int sbx_parse_require(const char *list, unsigned *bits, dp_err *err)
{
    *bits = 0;
    if (!list || list[strspn(list, ", \t")] == '\0') {
        *bits = SBX_P_WORD_DEFAULT; /* unset: the default, never nothing */
        return DP_OK;
    }
    const char *p = list;
    while (*p) {
        size_t skip = strspn(p, ", \t");
        p += skip;
        size_t len = strcspn(p, ", \t");
        if (len == 0)
            break;
        if (len == 4 && strncmp(p, "none", 4) == 0) {
            *bits |= SBX_P_WORD_NONE;
        } else if (len == 7 && strncmp(p, "default", 7) == 0) {
            *bits |= SBX_P_WORD_DEFAULT;
        } else if (len == 3 && strncmp(p, "all", 3) == 0) {
            *bits |= SBX_P_ALL;
        } else {
            unsigned found = 0;
            for (unsigned i = 0; i < sizeof probe_names / sizeof probe_names[0]; i++)
                if (strlen(probe_names[i]) == len && strncmp(p, probe_names[i], len) == 0)
                    found = 1u << i;
            if (!found)
                return dp_err_set(err, DP_EINVAL,
                                  "DISPATCH_SANDBOX_REQUIRE: unknown protection '%.*s'", (int)len,
                                  p);
            *bits |= found;
        }
        p += len;
    }
    return DP_OK;
}

unsigned sbx_default_require(int root)
{
    return SBX_P_ISOLATION | (root ? SBX_P_UID : SBX_P_USERNS);
}

/* Whether a child can unshare `flag` (with a user namespace when not root). */
static int probe_unshare(int flag)
{
    pid_t pid = fork();
    if (pid < 0)
        return 0;
    if (pid == 0) {
        int f = flag;
        if (geteuid() != 0 && flag != CLONE_NEWUSER)
            f |= CLONE_NEWUSER;
        _exit(unshare(f) == 0 ? 0 : 1);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static unsigned probe_cached;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

static void probe_run(void)
{
    unsigned b = SBX_P_RLIMITS;
    static const struct {
        unsigned bit;
        int flag;
    } ns[] = {{SBX_P_USERNS, CLONE_NEWUSER}, {SBX_P_MOUNTNS, CLONE_NEWNS},
              {SBX_P_PIDNS, CLONE_NEWPID},   {SBX_P_NETNS, CLONE_NEWNET},
              {SBX_P_IPCNS, CLONE_NEWIPC},   {SBX_P_UTSNS, CLONE_NEWUTS}};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        if (probe_unshare(ns[i].flag))
            b |= ns[i].bit;
    int root = geteuid() == 0;
    if (!root && !(b & SBX_P_USERNS))
        b &= ~(unsigned)(SBX_P_MOUNTNS | SBX_P_PIDNS | SBX_P_NETNS | SBX_P_IPCNS | SBX_P_UTSNS);
    if (b & SBX_P_MOUNTNS)
        b |= SBX_P_PIVOT; /* confirmed by sbx_open's self-test run */
    if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0)
        b |= SBX_P_SECCOMP;
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) >= 0)
        b |= SBX_P_NNP;
    if (root || (b & SBX_P_USERNS))
        b |= SBX_P_CAPS;
    if (root)
        b |= SBX_P_UID;
    /* cgroup: whether the layout is usable is only known once the slot opens
     * it; the probe says whether a layout exists and is writable. */
    char self[8192];
    int version = 0;
    char bases[SBX_CG_N][PATH_MAX];
    if (sbx_cg_read_self(self, sizeof self) >= 0 &&
        sbx_cg_detect("/sys/fs/cgroup", self, &version, bases, NULL) == DP_OK &&
        access(bases[0], W_OK) == 0)
        b |= SBX_P_CGROUP;
    probe_cached = b;
}

unsigned sbx_probe_bits(void)
{
    pthread_once(&probe_once, probe_run);
    return probe_cached;
}

int sbx_probe(char *summary, size_t len)
{
    unsigned b = sbx_probe_bits();
    int missing = 0;
    size_t off = 0;
    if (len == 0)
        summary = NULL;
    for (int pass = 0; pass < 2; pass++) {
        int first = 1;
        if (summary && off < len)
            off +=
                (size_t)snprintf(summary + off, len - off, "%s", pass ? "; missing:" : "active:");
        for (unsigned i = 0; i < sizeof probe_names / sizeof probe_names[0]; i++) {
            int on = (b >> i) & 1;
            if (on == pass)
                continue;
            missing += pass;
            first = 0;
            if (summary && off < len)
                off += (size_t)snprintf(summary + off, len - off, " %s", probe_names[i]);
        }
        if (first && summary && off < len)
            off += (size_t)snprintf(summary + off, len - off, " none");
    }
    return missing;
}
