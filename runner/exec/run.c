/* Command runs for the executor; see run.h. */
#include "runner/exec/run.h"

#include "runner/exec/compare.h"
#include "runner/exec/fsutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Bytes of each stream a log entry keeps (head and tail). */
#define RUN_LOG_EXCERPT (16 * 1024)

uint64_t exec_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t lower(uint64_t max, uint64_t want)
{
    return want != 0 && want < max ? want : max;
}

dp_limits exec_limits_merge(const dp_limits *profile, const dp_limits *job,
                            uint32_t test_timeout_ms)
{
    dp_limits l;
    l.time_ms = (uint32_t)lower(profile->time_ms, job->time_ms);
    l.wall_ms = (uint32_t)lower(profile->wall_ms, job->wall_ms);
    l.memory_kb = lower(profile->memory_kb, job->memory_kb);
    l.processes = (uint32_t)lower(profile->processes, job->processes);
    l.output_kb = lower(profile->output_kb, job->output_kb);
    if (test_timeout_ms != 0)
        l.time_ms = (uint32_t)lower(profile->time_ms, test_timeout_ms);
    return l;
}

static void log_stream(exec_log *log, const char *what, const char *buf, size_t len)
{
    if (len == 0)
        return;
    char *ex = exec_excerpt(buf, len, RUN_LOG_EXCERPT);
    if (ex == NULL)
        return;
    size_t n = strlen(ex);
    exec_log_printf(log, "--- %s (%zu bytes) ---\n", what, len);
    exec_log_append(log, ex, n);
    if (n > 0 && ex[n - 1] != '\n')
        exec_log_append(log, "\n", 1);
    free(ex);
}

#define RUN_VAR_MEMORY_MB "${MEMORY_MB}"

/* cmd's argv with ${MEMORY_MB} replaced by the run's memory limit in MiB;
 * the elements without it are borrowed from argv (argv_free knows which). */
static char **argv_expand(char *const *argv, const dp_limits *lim)
{
    size_t n = 0;
    while (argv[n] != NULL)
        n++;
    char **out = calloc(n + 1, sizeof *out);
    if (out == NULL)
        return NULL;
    char mb[24];
    snprintf(mb, sizeof mb, "%llu", (unsigned long long)(lim->memory_kb / 1024));
    size_t vl = strlen(RUN_VAR_MEMORY_MB);
    for (size_t i = 0; i < n; i++) {
        const char *at = strstr(argv[i], RUN_VAR_MEMORY_MB);
        if (at == NULL) {
            out[i] = argv[i];
            continue;
        }
        size_t len = strlen(argv[i]) - vl + strlen(mb) + 1;
        if ((out[i] = malloc(len)) == NULL) {
            for (size_t j = 0; j < i; j++)
                if (out[j] != argv[j])
                    free(out[j]);
            free(out);
            return NULL;
        }
        snprintf(out[i], len, "%.*s%s%s", (int)(at - argv[i]), argv[i], mb, at + vl);
    }
    return out;
}

static void argv_free(char **out, char *const *argv)
{
    for (size_t i = 0; out[i] != NULL; i++)
        if (out[i] != argv[i])
            free(out[i]);
    free(out);
}

int exec_run_command(exec_runner *rn, const char *label, const exec_command *cmd,
                     const dp_limits *lim, const char *stdin_data, size_t stdin_len,
                     sbx_result *res, int *budget_cut, dp_err *err)
{
    memset(res, 0, sizeof *res);
    *budget_cut = 0;
    uint64_t now = exec_now_ms();
    if (now >= rn->deadline_ms) {
        exec_log_printf(rn->log, "[%s] not run: the job's time budget is used up\n", label);
        return dp_err_set(err, DP_ETIMEOUT, "the job's time budget (maxTimeoutMs) is used up");
    }
    sbx_limits sl = {
        .cpu_ms = lim->time_ms,
        .wall_ms = lim->wall_ms,
        .memory_kb = lim->memory_kb,
        .processes = lim->processes,
        .output_bytes = lim->output_kb * 1024u,
        .fsize_bytes = rn->fsize_bytes,
        .open_files = 256,
        .network = rn->network,
    };
    if (rn->deadline_ms - now < sl.wall_ms) {
        sl.wall_ms = (uint32_t)(rn->deadline_ms - now);
        *budget_cut = 1;
    }
    exec_log_printf(rn->log, "[%s] $ %s\n", label, cmd->text);
    char **argv = argv_expand(cmd->argv, lim);
    if (argv == NULL)
        return dp_err_set(err, DP_ENOMEM, "out of memory");
    int rc = sbx_run(rn->sandbox, (const char *const *)argv, rn->workspace, rn->envp, stdin_data,
                     stdin_len, &sl, res, err);
    argv_free(argv, cmd->argv);
    if (rc != 0) {
        exec_log_printf(rn->log, "[%s] sandbox failed: %s\n", label, err != NULL ? err->msg : "");
        return rc;
    }
    if (rn->workspace_cap != 0 && (res->status == SBX_RE || res->status == SBX_SG) &&
        exec_workspace_full(rn->workspace)) {
        res->status = SBX_OL;
        snprintf(res->message, sizeof res->message,
                 "the workspace is full (RUNNER_WORKSPACE_BYTES cap of %llu bytes)",
                 (unsigned long long)rn->workspace_cap);
        rn->workspace_full = 1;
        exec_log_printf(rn->log, "[%s] %s\n", label, res->message);
    }
    exec_log_printf(rn->log, "[%s] %s exit %d signal %d cpu %u ms wall %u ms memory %llu KiB%s\n",
                    label, sbx_status_name(res->status), res->exit_code, res->signal, res->cpu_ms,
                    res->wall_ms, (unsigned long long)res->memory_kb,
                    res->status == SBX_XX ? res->message : "");
    log_stream(rn->log, "stdout", res->out, res->out_len);
    log_stream(rn->log, "stderr", res->err, res->err_len);
    return DP_OK;
}

dp_verdict exec_verdict_of(const sbx_result *res, int test_mode)
{
    if (res->oom)
        return DP_VERDICT_MLE;
    switch (res->status) {
    case SBX_OK:
        return DP_VERDICT_AC;
    case SBX_RE:
        return test_mode ? DP_VERDICT_WA : DP_VERDICT_RE;
    case SBX_SG:
        return DP_VERDICT_RE;
    case SBX_TO_CPU:
    case SBX_TO_WALL:
        return DP_VERDICT_TLE;
    case SBX_ML:
        return DP_VERDICT_MLE;
    case SBX_OL:
        return DP_VERDICT_OLE;
    case SBX_XX:
    default:
        return DP_VERDICT_SE;
    }
}

void exec_describe(const sbx_result *res, dp_verdict v, const dp_limits *lim, char *buf, size_t len)
{
    switch (v) {
    case DP_VERDICT_WA:
        if (res->status == SBX_RE)
            snprintf(buf, len, "failed (exit code %d)", res->exit_code);
        else
            snprintf(buf, len, "wrong answer");
        break;
    case DP_VERDICT_TLE:
        if (res->status == SBX_TO_CPU)
            snprintf(buf, len, "CPU time limit of %u ms exceeded", lim->time_ms);
        else
            snprintf(buf, len, "wall time limit exceeded after %u ms", res->wall_ms);
        break;
    case DP_VERDICT_MLE:
        snprintf(buf, len, "memory limit of %llu KiB exceeded", (unsigned long long)lim->memory_kb);
        break;
    case DP_VERDICT_OLE:
        if (res->message[0] != '\0') /* the workspace filled up */
            snprintf(buf, len, "%s", res->message);
        else
            snprintf(buf, len, "output limit of %llu KiB exceeded",
                     (unsigned long long)lim->output_kb);
        break;
    case DP_VERDICT_RE:
        if (res->signal != 0)
            snprintf(buf, len, "killed by signal %d (%s)", res->signal, strsignal(res->signal));
        else
            snprintf(buf, len, "runtime error (exit code %d)", res->exit_code);
        break;
    case DP_VERDICT_SE:
        snprintf(buf, len, "sandbox failure: %s", res->message);
        break;
    default:
        snprintf(buf, len, "%s", dp_verdict_name(v) != NULL ? dp_verdict_name(v) : "?");
        break;
    }
}

int exec_test_fill(dp_test_result *t, const char *name, dp_verdict v, const sbx_result *res,
                   size_t excerpt_cap, int with_excerpts)
{
    memset(t, 0, sizeof *t);
    t->verdict = v;
    t->exit_code = -1;
    t->name = strdup(name);
    if (t->name == NULL)
        return DP_ENOMEM;
    if (res == NULL)
        return DP_OK;
    t->exit_code = res->exit_code;
    t->signal = res->signal;
    t->time_ms = res->cpu_ms;
    t->wall_ms = res->wall_ms;
    t->memory_kb = res->memory_kb;
    if (with_excerpts) {
        t->stdout_excerpt = exec_excerpt(res->out, res->out_len, excerpt_cap);
        t->stderr_excerpt = exec_excerpt(res->err, res->err_len, excerpt_cap);
        if (t->stdout_excerpt == NULL || t->stderr_excerpt == NULL)
            return DP_ENOMEM;
    }
    return DP_OK;
}
