/* The verdict of a run: the one place that decides which limit a run hit.
 *
 * The rule (what isolate and judges' users expect): the limit that was hit
 * first decides. The supervisor polls every 5 ms and kills the run for the
 * first limit it sees crossed, checking memory (an OOM kill in the run's
 * cgroup) before output, wall clock and CPU within one poll; that reason is
 * final. So an OOM kill of any process of the run is ML unless the run had
 * already been seen over its time (or output) limit at an earlier poll.
 * Limits crossed after the last poll (the run ended in between) are judged
 * in the same order: memory, then time, then output.
 *
 * Memory is "hit" when the run's peak reached its limit, not only at an OOM
 * kill: at the limit the kernel first reclaims the run's own file pages (its
 * program text among them), and a runtime that keeps allocating (node's
 * buffers near a 64 MiB limit) can page its code in and out until the CPU
 * or wall limit stops it. Its memory reached the limit before its time
 * ran out (the peak of a killed run stops growing at the kill), so a run
 * stopped for time with its peak at the limit is ML: the verdict no longer
 * depends on whether reclaim or the clock won on a loaded machine. */
#include "runner/sandbox/sbx_internal.h"

#include <signal.h>
#include <sys/wait.h>

sbx_status sbx_verdict(const sbx_run_facts *f)
{
    if (f->setup_failed)
        return SBX_XX;
    int at_memory_limit = f->memory_limit_kb && f->memory_kb + 1024 >= f->memory_limit_kb;
    if ((f->first_limit == SBX_TO_CPU || f->first_limit == SBX_TO_WALL) && at_memory_limit)
        return SBX_ML;
    if (f->first_limit != SBX_OK)
        return f->first_limit;
    if (!f->command_done)
        return SBX_XX; /* the supervisor ended before the command: a sandbox failure */
    int st = f->wait_status;
    int exited = WIFEXITED(st), sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    if (f->oom)
        return SBX_ML;
    if ((f->cpu_limit_ms && f->cpu_ms > f->cpu_limit_ms) || sig == SIGXCPU)
        return at_memory_limit ? SBX_ML : SBX_TO_CPU;
    if (f->output_over || sig == SIGXFSZ)
        return SBX_OL;
    int failed = (exited && WEXITSTATUS(st) != 0) || sig != 0;
    /* An allocation refused at the limit (no OOM kill: RLIMIT_AS, or a
     * failed mmap in the memcg) shows as a failure within 1 MiB of it. */
    if (failed && at_memory_limit)
        return SBX_ML;
    if (exited)
        return WEXITSTATUS(st) == 0 ? SBX_OK : SBX_RE;
    return sig ? SBX_SG : SBX_XX;
}
