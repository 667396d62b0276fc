/* The verdict of a run: the one place that decides which limit a run hit.
 *
 * The rule (what isolate and judges' users expect): the limit that was hit
 * first decides. The supervisor polls every 5 ms and kills the run for the
 * first limit it sees crossed, checking memory (an OOM kill in the run's
 * cgroup) before output, wall clock and CPU within one poll; that reason is
 * final. So an OOM kill of any process of the run is ML unless the run had
 * already been seen over its time (or output) limit at an earlier poll.
 * Limits crossed after the last poll (the run ended in between) are judged
 * in the same order: memory, then time, then output. */
#include "runner/sandbox/sbx_internal.h"

#include <signal.h>
#include <sys/wait.h>

sbx_status sbx_verdict(const sbx_run_facts *f)
{
    if (f->setup_failed)
        return SBX_XX;
    if (f->first_limit != SBX_OK)
        return f->first_limit;
    if (!f->command_done)
        return SBX_XX; /* the supervisor ended before the command: a sandbox failure */
    int st = f->wait_status;
    int exited = WIFEXITED(st), sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    if (f->oom)
        return SBX_ML;
    if ((f->cpu_limit_ms && f->cpu_ms > f->cpu_limit_ms) || sig == SIGXCPU)
        return SBX_TO_CPU;
    if (f->output_over || sig == SIGXFSZ)
        return SBX_OL;
    int failed = (exited && WEXITSTATUS(st) != 0) || sig != 0;
    /* An allocation refused at the limit (no OOM kill: RLIMIT_AS, or a
     * failed mmap in the memcg) shows as a failure within 1 MiB of it. */
    if (failed && f->memory_limit_kb && f->memory_kb + 1024 >= f->memory_limit_kb)
        return SBX_ML;
    if (exited)
        return WEXITSTATUS(st) == 0 ? SBX_OK : SBX_RE;
    return sig ? SBX_SG : SBX_XX;
}
