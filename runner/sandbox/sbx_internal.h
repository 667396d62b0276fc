/* Sandbox internals shared by the parent side (sbx_core.c), the child side
 * (sbx_child.c), the probe and the seccomp builder. Not part of the API. */
#ifndef DP_SBX_INTERNAL_H
#define DP_SBX_INTERNAL_H

#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

#include "runner/sandbox/sandbox.h"
#include "runner/sandbox/sbx_cgroup.h"
#include "runner/sandbox/sbx_cgself.h"

/* Protection bits: probed once per process, required by the operator. */
enum {
    SBX_P_USERNS = 1 << 0,
    SBX_P_MOUNTNS = 1 << 1,
    SBX_P_PIDNS = 1 << 2,
    SBX_P_NETNS = 1 << 3,
    SBX_P_IPCNS = 1 << 4,
    SBX_P_UTSNS = 1 << 5,
    SBX_P_PIVOT = 1 << 6,
    SBX_P_CGROUP = 1 << 7,
    SBX_P_SECCOMP = 1 << 8,
    SBX_P_NNP = 1 << 9,
    SBX_P_CAPS = 1 << 10,
    SBX_P_RLIMITS = 1 << 11,
    SBX_P_UID = 1 << 12,
    SBX_P_ALL = (1 << 13) - 1,
    /* Isolation a runner must have unless the operator asks for less by
     * name: what keeps a job from the host, other jobs and the network. */
    SBX_P_ISOLATION = SBX_P_MOUNTNS | SBX_P_PIDNS | SBX_P_NETNS | SBX_P_IPCNS | SBX_P_UTSNS |
                      SBX_P_PIVOT | SBX_P_SECCOMP | SBX_P_NNP | SBX_P_CAPS | SBX_P_RLIMITS,
    /* Parser-only words: "default" (or an unset/empty list) and "none". */
    SBX_P_WORD_DEFAULT = 1 << 13,
    SBX_P_WORD_NONE = 1 << 14
};

/* The default requirement: SBX_P_ISOLATION plus, for a root runner, the
 * per-slot uid, else a user namespace (the only way to get the others). */
unsigned sbx_default_require(int root);

/* Name of one protection bit ("userns", ...); NULL when unknown. */
const char *sbx_protection_name(unsigned bit);

/* Parses a DISPATCH_SANDBOX_REQUIRE list into protection bits: names,
 * "all" (SBX_P_ALL), "default" (SBX_P_WORD_DEFAULT, for sbx_open to turn
 * into sbx_default_require; also what NULL and "" give) and "none"
 * (SBX_P_WORD_NONE: nothing, asked for by name). Returns DP_EINVAL naming
 * an unknown word. */
int sbx_parse_require(const char *list, unsigned *bits, dp_err *err);

/* DP_OK when active covers required (SBX_P_* bits); else DP_EUNAVAIL with
 * a message naming the first missing protection, what to check on the
 * host, and how to opt out knowingly. list: the operator's words. */
int sbx_require_check(unsigned required, unsigned active, int root, const char *list, dp_err *err);

/* Logs a warning (once per process) when required is weaker than the
 * default: always for "none", else when a default protection is inactive. */
void sbx_require_warn(unsigned required, unsigned active, int root, const char *list);

/* The protections this host offers (cached after the first call). */
unsigned sbx_probe_bits(void);

/* What the supervisor saw of a run: everything the verdict depends on. */
typedef struct {
    int setup_failed;       /* the sandbox could not be built */
    sbx_status first_limit; /* the first limit seen crossed while polling, the run
                             * killed for it (SBX_OK = none; SBX_XX = supervision failed) */
    int command_done;       /* the command ended and wait_status is its status */
    int wait_status;
    int oom;                       /* the OOM killer killed a process of the run (any time) */
    int output_over;               /* stdout or stderr went past its cap (seen at the end) */
    uint32_t cpu_ms, cpu_limit_ms; /* limit 0 = none */
    uint64_t memory_kb, memory_limit_kb;
} sbx_run_facts;

/* The run's status (sbx_verdict.c states the rule). */
sbx_status sbx_verdict(const sbx_run_facts *f);

/* Builds the seccomp filter as a compact hand-laid BPF program (x86_64,
 * aarch64; elsewhere the libseccomp one). *prog->filter is malloc'd and
 * owned by the caller (free it). */
int sbx_seccomp_build(struct sock_fprog *prog, dp_err *err);

/* The same policy compiled by libseccomp (161 instructions on x86_64): the
 * reference the compact filter is tested against. Same ownership. */
int sbx_seccomp_build_reference(struct sock_fprog *prog, dp_err *err);

/* Each slot's staging dir: SBX_STAGE_PREFIX "<pid>-<slot>-XXXXXX". */
#define SBX_STAGE_PREFIX "/tmp/dispatch-sbx-root-"

#define SBX_MAX_MOUNTS 80
#define SBX_MAX_EXEC 16
#define SBX_MSG_MAX 200

/* One step of building the sandbox root, done by the child in order.
 * Paths are absolute: src on the host, dst inside the new root under
 * the staging directory. */
typedef enum {
    SBX_M_DIR,      /* mkdir dst */
    SBX_M_SYMLINK,  /* symlink src -> dst */
    SBX_M_BIND_RO,  /* bind src on dst; made read-only nosuid nodev by the next SEAL */
    SBX_M_BIND_RW,  /* bind src on dst read-write nosuid nodev */
    SBX_M_BIND_DEV, /* bind a device node src on dst as it is */
    SBX_M_FILE,     /* create an empty file dst (a bind target) */
    SBX_M_WRITE,    /* write src (string contents) into the new file dst */
    SBX_M_SEAL,     /* make the root and everything bound so far read-only */
    SBX_M_TMPFS,    /* size-capped tmpfs (plan tmp_opts) on dst */
    SBX_M_PROC      /* proc with hidepid=invisible,subset=pid on dst */
} sbx_mount_kind;

typedef struct {
    sbx_mount_kind kind;
    const char *src;
    char dst[256];
} sbx_mount_op;

/* Everything the child needs, prepared by the parent before clone so the
 * child makes only system calls (it shares memory with the parent thread
 * and must not take locks or allocate). Lives in the sbx; reused per run.
 * The child writes only the "out" fields. */
typedef struct {
    /* in */
    unsigned prot; /* SBX_P_* in effect for this run */
    int use_userns, use_pidns, set_uid;
    int set_groups; /* drop supplementary groups: only a root runner may (without
                     * root, setgroups is denied in the run's user namespace) */
    unsigned clone_flags;
    int join_netns; /* the parent joins the slot's netns around clone */
    uint32_t uid, gid;
    const char *stage; /* staging dir the new root is mounted on */
    char tmp_opts[64]; /* tmpfs options for /tmp */
    sbx_mount_op ops[SBX_MAX_MOUNTS];
    int n_ops;
    int n_skel_ops;  /* ops[0..n_skel_ops) build the root skeleton, the rest are per run */
    int skeleton;    /* the skeleton is prebuilt at stage: only the per-run ops remain */
    const char *cwd; /* inside the sandbox */
    char *const *argv;
    char *const *envp;
    const char *exec_paths[SBX_MAX_EXEC]; /* candidates for argv[0] */
    int n_exec;
    int fd_in, fd_out, fd_err; /* the child's ends */
    int fd_runner;             /* pidfd of the runner process (sbx-owned), or -1 */
    int n_cg_join;             /* the command joins the slot's cgroups through these */
    int fd_cg_join[SBX_CG_N];  /* (kept open by the supervisor, O_CLOEXEC for the command) */
    struct rlimit rl_cpu, rl_fsize, rl_nofile, rl_stack, rl_nproc, rl_as;
    int set_nproc, set_as;
    const struct sock_fprog *filter;
    int cap_last;
    char *stack_a, *stack_b; /* top of each child stack */
    /* sync: parent sets go=1 (futex) once maps and cgroup are written; -1 = abort */
    volatile int go;
    /* out */
    volatile int setup_failed; /* the sandbox could not be built: setup_msg says why */
    char setup_msg[SBX_MSG_MAX];
    volatile int exec_failed; /* the command could not be executed */
    volatile int b_pid;       /* the command's pid as seen by the child */
    volatile int b_done;
    volatile int b_status; /* wait status of the command */
} sbx_plan;

/* One executor slot. */
struct sbx {
    int slot;
    uint32_t uid, gid;
    unsigned prot;            /* protections in effect */
    int root;                 /* the runner is root: per-slot uid, privileged id maps */
    sbx_cgroup cg;            /* version 0 when there is no cgroup */
    struct sock_fprog filter; /* filter.filter malloc'd, NULL when no seccomp */
    char stage[64];           /* mkdtemp'd mount point of each run's root */
    char *stacks;             /* mmap'd child stacks */
    size_t stacks_len;
    int n_static_ops;            /* plan.ops[0..n) are built once in sbx_open */
    int skel_built;              /* the skeleton is mounted at stage (host mount namespace) */
    char *owned[SBX_MAX_MOUNTS]; /* strings the static ops point to */
    int n_owned;
    struct rlimit hard_nofile, hard_fsize, hard_stack;
    /* A persistent empty network namespace per slot, joined by every run:
     * creating and tearing down a netns costs ~0.9 ms per run. Only when the
     * runner may setns (root); -1 = each run gets a fresh one (CLONE_NEWNET). */
    int netns_fd;
    int host_netns_fd; /* the runner's own netns, to switch the thread back */
    /* pidfd of the runner itself: the supervisor checks it after setting its
     * parent-death signal, to catch a runner that died just before. */
    int runner_pidfd;
    sbx_plan plan;
};

/* One captured output stream (sbx_io.c). buf is malloc'd and owned by the
 * run (handed to sbx_result), fd is the parent's non-blocking read end. */
typedef struct {
    char *buf;
    size_t len, cap, limit;
    int fd;
    int over; /* more than limit bytes were written */
} sbx_stream;

/* Reads what is available into st (up to limit; the rest is drained and
 * sets over); 0 on EOF or a hard error, 1 when more may come. */
int sbx_stream_read(sbx_stream *st);

/* The child's stdin: data (caller-owned, len bytes) in a read-only memfd,
 * or /dev/null when empty. An O_CLOEXEC fd the caller closes; -1 on error. */
int sbx_stdin_fd(const char *data, size_t len);

/* fd moved to a number above 2 (which the supervisor overwrites); closes
 * the original. -1 on error. */
int sbx_high_fd(int fd);

/* Builds the per-slot root skeleton operations (sbx_open.c). */
int sbx_build_static_ops(struct sbx *s, dp_err *err);

/* Applies p->ops[from..to) under p->stage with raw system calls (no errno,
 * safe in the CLONE_VM child). 0, or the negative errno with *what and *path
 * (static strings or p's own) naming the failed step. */
long sbx_apply_ops(const sbx_plan *p, int from, int to, const char **what, const char **path);

/* Entry point of the supervisor child (PID 1 of the run); arg is the plan. */
int sbx_child_main(void *arg);

#endif
