/* The sandbox: runs one untrusted command under enforced limits and reports
 * how it ended.
 *
 * One sbx per executor slot. It owns the slot's unprivileged uid/gid
 * (60000 + slot), its cgroup directories (created once in sbx_open, reset
 * per run, removed in sbx_close) and a pre-built root skeleton; when the
 * runner is root, the skeleton is mounted once at the slot's staging dir
 * and an empty network namespace is kept for the slot's runs (sbx_run
 * switches the calling thread into it around clone and back to the netns
 * sbx_open was called in). An sbx is used by one thread at a time;
 * different slots may run concurrently.
 *
 * Protections (names used by sbx_probe and DISPATCH_SANDBOX_REQUIRE):
 *   userns mountns pidns netns ipcns utsns  namespaces
 *   pivot_root                              tmpfs root with read-only binds
 *   cgroup                                  memory + pids + cpu accounting (v1 or v2)
 *   seccomp no_new_privs caps rlimits       syscall filter, privilege drops
 *   uid                                     per-slot unprivileged uid/gid
 * What is not available on the host is left off and named by sbx_probe;
 * sbx_open refuses when that is a required one (see sbx_config.require). */
#ifndef DP_SANDBOX_H
#define DP_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct {
    uint32_t cpu_ms;    /* CPU time, all processes of the run; 0 = none */
    uint32_t wall_ms;   /* wall clock; 0 = none */
    uint64_t memory_kb; /* cgroup memory (or RLIMIT_AS fallback); 0 = none */
    uint32_t processes; /* pids in the run; 0 = none */
    uint64_t
        output_bytes;     /* stdout and stderr each captured up to this; beyond -> OL; 0 = 64 MiB */
    uint64_t fsize_bytes; /* RLIMIT_FSIZE; 0 = none */
    uint32_t open_files;  /* RLIMIT_NOFILE; 0 = 64 */
    int network;          /* 1 = keep the host network (no netns) */
} sbx_limits;

typedef enum {
    SBX_OK,      /* exited 0 */
    SBX_RE,      /* exited non-zero */
    SBX_SG,      /* killed by a signal we did not send */
    SBX_TO_CPU,  /* CPU limit reached */
    SBX_TO_WALL, /* wall limit reached */
    SBX_ML,      /* memory limit reached (OOM kill or allocation failure at the limit) */
    SBX_OL,      /* output (stdout/stderr cap) or file-size limit exceeded */
    SBX_XX       /* the sandbox itself failed: see message */
} sbx_status;

typedef struct {
    sbx_status status;
    int exit_code; /* when it exited; else -1 */
    int signal;    /* terminating signal; else 0 */
    uint32_t cpu_ms, wall_ms;
    uint64_t memory_kb; /* peak memory of the run */
    int oom;
    int output_truncated;
    char *out; /* captured stdout, malloc'd, NUL-terminated; owned by result */
    size_t out_len;
    char *err; /* captured stderr, same ownership */
    size_t err_len;
    char message[256]; /* for SBX_XX: what failed in the sandbox itself */
} sbx_result;

typedef struct sbx sbx; /* one per executor slot: owns its uid/gid, cgroup */

typedef struct {
    int slot;            /* 0..999: uid/gid 60000+slot, cgroup dispatch-sbx-<pid>-<slot> */
    const char *require; /* DISPATCH_SANDBOX_REQUIRE list: "default" (also NULL or ""),
                          * "all", "none", or comma/space separated protection names
                          * (combinable: "default,cgroup"); borrowed */
} sbx_config;

/* Probes the host, prepares the slot, proves it with a self-test run. Fails
 * closed (NULL, err names the missing protection, what to check and how to
 * opt out) when a required protection is not available or the self-test
 * fails with it on. The default requires the isolation set (namespaces,
 * pivot_root, seccomp, no_new_privs, caps, rlimits, and uid for a root
 * runner or userns otherwise); "none" warns. The returned sbx is owned by
 * the caller: release with sbx_close. */
sbx *sbx_open(const sbx_config *cfg, dp_err *err);

/* Removes the slot's cgroups and frees it. NULL is allowed. */
void sbx_close(sbx *s);

/* Runs argv (argv[0] a path or a name looked up in PATH of envp) with the
 * workspace as cwd and the only writable place (mounted at /box inside the
 * sandbox; host paths under the workspace in argv are translated), the
 * complete environment envp (nothing inherited; NULL = empty), stdin_data
 * (borrowed; may be NULL) fed on stdin. Fills *out (caller-owned struct; its
 * buffers are owned by it afterwards: free with sbx_result_free). Returns 0
 * when the run happened whatever its status (including SBX_XX when the child
 * side failed), or a dp_code when the call was bad or the supervisor failed
 * before starting anything. */
int sbx_run(sbx *s, const char *const argv[], const char *workspace, const char *const envp[],
            const char *stdin_data, size_t stdin_len, const sbx_limits *limits, sbx_result *out,
            dp_err *err);

/* Frees out/err buffers; the struct itself stays the caller's. NULL ok. */
void sbx_result_free(sbx_result *r);

/* "OK","RE","SG","TO-cpu","TO-wall","ML","OL","XX"; static strings. */
const char *sbx_status_name(sbx_status s);

/* Writes a one-line summary of the active protections into summary
 * (caller-owned, len bytes), e.g. "active: userns mountns ...; missing: netns".
 * Returns the number of missing protections (0 = all active). */
int sbx_probe(char *summary, size_t len);

#endif
