/* Helpers shared by the sandbox tests: workspaces, leftovers, cgroup dirs.
 * Every string returned is owned by the helper's caller as documented. */
#ifndef DP_SBX_TEST_UTIL_H
#define DP_SBX_TEST_UTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Creates a fresh workspace under /tmp into ws (caller's buffer, >= 64
 * bytes) and copies the hostile binary (HOSTILE_BIN) into it as ws/hostile.
 * Returns 0 on success. */
int sbxt_workspace(char *ws, size_t len);

/* Removes a workspace recursively. */
void sbxt_rmtree(const char *path);

/* Number of host processes running as uid (scan of /proc). */
int sbxt_count_uid(unsigned uid);

/* 1 when a cgroup directory named dispatch-sbx-<our pid>-<slot> exists in
 * any v1 hierarchy or the v2 tree. */
int sbxt_cgroup_exists(int slot);

/* Removes the cgroup directories dispatch-sbx-<pid>-<slot> a killed runner
 * left (SIGKILLing what is still in them first). */
void sbxt_cgroup_remove(pid_t pid, int slot);

#endif
