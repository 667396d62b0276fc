/* Per-slot cgroup for the sandbox, v2 (unified) or v1 (memory, pids and
 * cpuacct hierarchies). The directories are created once per slot
 * (sbx_cg_open), reset before each run (sbx_cg_prepare) and removed by
 * sbx_cg_close. All paths are given by the caller so the file handling can
 * be tested against a fake directory tree. */
#ifndef DP_SBX_CGROUP_H
#define DP_SBX_CGROUP_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

/* Leftover charge (bytes) below which a run starts without a reclaim. */
#define SBX_CG_RECLAIM_MIN (2u * 1024u * 1024u)

enum { SBX_CG_MEM = 0, SBX_CG_PIDS = 1, SBX_CG_CPU = 2, SBX_CG_N = 3 };

typedef struct {
    int version;                  /* 1 or 2; 0 = not open */
    char dir[SBX_CG_N][PATH_MAX]; /* the slot's directories (v2: all three the same) */
    int fd_cpu;                   /* v1 cpuacct.usage, v2 cpu.stat */
    int fd_peak;                  /* v1 memory.max_usage_in_bytes, v2 memory.peak or -1 */
    int fd_current;               /* memory.usage_in_bytes / memory.current */
    int fd_oom;                   /* v1 memory.oom_control, v2 memory.events, or -1 */
    /* Files a run's command writes "0" to, to join the slot by itself (v1:
     * each hierarchy's "tasks", v2: [0] = cgroup.procs; -1 = unused),
     * opened write-only by the runner: the write is authorised by the
     * opener's credentials. Joining from the command, not the supervisor,
     * keeps the supervisor - which shares the runner's memory (CLONE_VM) -
     * out of the slot's memcg: an OOM kill there takes every process
     * sharing the victim's mm, i.e. the runner. And on v1 a task moving its
     * own thread skips the global threadgroup rwsem whose RCU sync made the
     * runner's cgroup.procs write cost ~0.25 ms. */
    int fd_join[SBX_CG_N];
    uint64_t mem_limit; /* last written limits, to skip rewrites; UINT64_MAX = max */
    uint64_t pids_limit;
    uint64_t oom_base;    /* oom_kill count before the run */
    uint64_t cpu_base_ns; /* CPU usage before the run (v2 cannot reset it) */
    uint64_t polled_peak; /* highest memory.current seen while polling (no memory.peak) */
} sbx_cgroup;

/* Finds the host's cgroup layout from fsroot (normally "/sys/fs/cgroup") and
 * self_cgroup (the text of /proc/self/cgroup): *version 2 when fsroot is a
 * unified hierarchy with memory and pids, else 1 when fsroot/memory,
 * fsroot/pids and fsroot/cpuacct exist; bases get the directories under
 * which slot cgroups go (the runner's own cgroups). DP_ENOTFOUND when
 * neither. */
int sbx_cg_detect(const char *fsroot, const char *self_cgroup, int *version,
                  char bases[SBX_CG_N][PATH_MAX], dp_err *err);

/* Creates (or reuses) base/name in each hierarchy and opens the files used
 * per run (including the join files). v2: enables +memory +pids +cpu in base's subtree_control and
 * sets memory.swap.max to 0. On failure nothing stays open (dirs created
 * are removed). */
int sbx_cg_open(sbx_cgroup *cg, int version, char bases[SBX_CG_N][PATH_MAX], const char *name,
                dp_err *err);

/* Resets the slot for a run: reclaims leftover charges (only when more than
 * SBX_CG_RECLAIM_MIN is charged), writes the memory
 * limit (bytes; 0 = none) and pids limit (0 = none) when they changed,
 * resets the peak, records the CPU and oom_kill baselines. */
int sbx_cg_prepare(sbx_cgroup *cg, uint64_t mem_bytes, uint64_t pids, dp_err *err);

/* Copies the open join fds (see fd_join) to fds, packed in ascending
 * order; returns how many. */
int sbx_cg_join_fds(const sbx_cgroup *cg, int fds[SBX_CG_N]);

/* Moves pid into the slot's cgroups (runs join by themselves instead). */
int sbx_cg_attach(sbx_cgroup *cg, pid_t pid, dp_err *err);

/* CPU used since sbx_cg_prepare, in nanoseconds. Also samples memory.current
 * when there is no peak file. 0 on success. */
int sbx_cg_cpu_ns(sbx_cgroup *cg, uint64_t *ns);

/* 1 when the OOM killer has killed a process of the slot since
 * sbx_cg_prepare. Cheap (one pread): polled by the supervisor every tick. */
int sbx_cg_oom(sbx_cgroup *cg);

/* After a run: peak memory in bytes and whether the OOM killer fired. */
int sbx_cg_stats(sbx_cgroup *cg, uint64_t *peak_bytes, int *oom);

/* Number of processes (tasks) in the slot now, or -1 when unreadable. */
long sbx_cg_count(sbx_cgroup *cg);

/* SIGKILLs everything in the slot (v2 cgroup.kill, v1 every pid listed in
 * cgroup.procs, except `spare`). Returns how many were signalled (v2: 1 when
 * cgroup.kill was written), -1 on error. */
long sbx_cg_kill(sbx_cgroup *cg, pid_t spare);

/* Kills what is left, closes the files and removes the directories. */
void sbx_cg_close(sbx_cgroup *cg);

#endif
