/* The operator's requirement against what the host offers: the refusal
 * message (with what to check) and the warning for a runner that was asked
 * to run with less than the default isolation. */
#include "runner/sandbox/sbx_internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"

/* Reads a small integer sysctl; -1 when absent. */
static long sysctl_long(const char *path)
{
    FILE *f = fopen(path, "re");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* What to check on this host for a missing protection (static text or hint). */
static const char *missing_hint(unsigned bit, int root, char *hint, size_t len)
{
    if (bit == SBX_P_USERNS || (!root && (bit & (SBX_P_MOUNTNS | SBX_P_PIDNS | SBX_P_NETNS |
                                                 SBX_P_IPCNS | SBX_P_UTSNS | SBX_P_PIVOT)))) {
        if (sysctl_long("/proc/sys/user/max_user_namespaces") == 0)
            return "user namespaces are off: sysctl user.max_user_namespaces is 0";
        if (sysctl_long("/proc/sys/kernel/unprivileged_userns_clone") == 0)
            return "unprivileged user namespaces are off: sysctl "
                   "kernel.unprivileged_userns_clone is 0";
        if (sysctl_long("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1)
            return "AppArmor restricts unprivileged user namespaces: sysctl "
                   "kernel.apparmor_restrict_unprivileged_userns is 1";
        snprintf(hint, len,
                 "this %s runner cannot create user namespaces (a container's seccomp profile "
                 "may block them: allow unshare/clone with CLONE_NEWUSER)",
                 root ? "root" : "non-root");
        return hint;
    }
    if (bit == SBX_P_UID)
        return "a per-slot uid needs a root runner";
    if (bit == SBX_P_CGROUP)
        return "no writable cgroup v2 (memory, pids) or v1 (memory, pids, cpuacct) hierarchy "
               "under the runner's own cgroup";
    snprintf(hint, len, "the kernel refused to set up %s", sbx_protection_name(bit));
    return hint;
}

int sbx_require_check(unsigned required, unsigned active, int root, const char *list, dp_err *err)
{
    unsigned missing = required & ~active & SBX_P_ALL;
    for (unsigned bit = 1; bit <= SBX_P_ALL; bit <<= 1) {
        if (!(missing & bit))
            continue;
        char hint[200];
        return dp_err_set(err, DP_EUNAVAIL,
                          "sandbox: required protection '%s' is not available (%s); refusing to "
                          "run untrusted code without it. To run with less, knowingly, set "
                          "DISPATCH_SANDBOX_REQUIRE to the protections you require (now '%s'), "
                          "or 'none'",
                          sbx_protection_name(bit), missing_hint(bit, root, hint, sizeof hint),
                          list && list[0] ? list : "default");
    }
    return DP_OK;
}

void sbx_require_warn(unsigned required, unsigned active, int root, const char *list)
{
    static atomic_int warned; /* once per process: every slot opens a sandbox */
    unsigned weaker = sbx_default_require(root) & ~required;
    if (!weaker || (!(required & SBX_P_WORD_NONE) && !(weaker & ~active)) ||
        atomic_exchange(&warned, 1))
        return;
    char off[256] = "";
    for (unsigned bit = 1; bit <= SBX_P_ALL; bit <<= 1)
        if (sbx_default_require(root) & ~active & bit) {
            size_t n = strlen(off);
            snprintf(off + n, sizeof off - n, "%s%s", n ? " " : "", sbx_protection_name(bit));
        }
    dp_log(DP_LOG_WARN, "sandbox_isolation_not_required", "require", list ? list : "",
           "missing_now", off[0] ? off : "none", "message",
           "DISPATCH_SANDBOX_REQUIRE asks for less than the default isolation: jobs run with "
           "whatever this host offers, and a missing protection does not stop the runner. "
           "Unset it (or set 'default') to refuse to start instead.",
           (char *)NULL);
}
