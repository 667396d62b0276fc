/* Benchmark: median of 1,000 runs of /bin/true bare (fork + exec + wait)
 * and fully sandboxed (sbx_run: setup, run, teardown, every protection the
 * host offers). Prints {"sandbox_bare_ms_median":..,"sandbox_run_ms_median":..}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runner/sandbox/sandbox.h"
#include "runner/sandbox/sbx_internal.h" /* to swap in the libseccomp filter */

#define RUNS 1000

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : RUNS;
    if (runs <= 0)
        runs = RUNS;
    double *bare = calloc((size_t)runs, sizeof *bare);
    double *boxed = calloc((size_t)runs, sizeof *boxed);
    if (!bare || !boxed)
        return 1;
    for (int i = 0; i < runs; i++) {
        double t = now_ms();
        pid_t pid = fork();
        if (pid == 0) {
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        int st;
        waitpid(pid, &st, 0);
        bare[i] = now_ms() - t;
    }
    dp_err err = {0};
    sbx_config cfg = {.slot = 900, .require = getenv("DISPATCH_SANDBOX_REQUIRE")};
    sbx *s = sbx_open(&cfg, &err);
    if (!s) {
        fprintf(stderr, "bench_sandbox: %s\n", err.msg);
        return 1;
    }
    const char *which = getenv("BENCH_SECCOMP"); /* compact (default) or libseccomp */
    if (which && strcmp(which, "libseccomp") == 0 && s->filter.filter) {
        free(s->filter.filter);
        if (sbx_seccomp_build_reference(&s->filter, &err) != 0) {
            fprintf(stderr, "bench_sandbox: %s\n", err.msg);
            return 1;
        }
    }
    fprintf(stderr, "bench_sandbox: seccomp %s, %u instructions\n", which ? which : "compact",
            s->filter.len);
    char summary[512];
    sbx_probe(summary, sizeof summary);
    fprintf(stderr, "bench_sandbox: %s\n", summary);
    char ws[] = "/tmp/bench-sbx-ws-XXXXXX";
    if (!mkdtemp(ws))
        return 1;
    const char *const args[] = {"/bin/true", NULL};
    const char *const env[] = {"PATH=/usr/bin:/bin", NULL};
    sbx_limits lim = {.cpu_ms = 1000,
                      .wall_ms = 5000,
                      .memory_kb = 65536,
                      .processes = 16,
                      .output_bytes = 65536,
                      .fsize_bytes = 1 << 20,
                      .open_files = 64};
    lim.network = getenv("BENCH_NETWORK") != NULL; /* to see what the netns costs */
    int bad = 0;
    for (int i = 0; i < runs; i++) {
        sbx_result r;
        double t = now_ms();
        if (sbx_run(s, args, ws, env, NULL, 0, &lim, &r, &err) != 0 || r.status != SBX_OK)
            bad++;
        boxed[i] = now_ms() - t;
        sbx_result_free(&r);
    }
    sbx_close(s);
    rmdir(ws);
    printf("{\"sandbox_bare_ms_median\":%.3f,\"sandbox_run_ms_median\":%.3f,\"runs\":%d,"
           "\"failed_runs\":%d}\n",
           median(bare, runs), median(boxed, runs), runs, bad);
    free(bare);
    free(boxed);
    return bad ? 1 : 0;
}
