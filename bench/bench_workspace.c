/* Benchmark: what a capped workspace costs per job. Median of RUNS rounds of
 * exec_mkjobdir + exec_rmjobdir with a 512 MiB tmpfs (the runners' default)
 * and without (a plain directory), empty and holding 200 small files. Needs
 * root (mount). Prints {"workspace_plain_us_median":..,
 * "workspace_tmpfs_us_median":..,"workspace_plain_files_us_median":..,
 * "workspace_tmpfs_files_us_median":..}. Usage: bench_workspace [RUNS] */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "runner/exec/fsutil.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of runs rounds: create (cap bytes; 0 = plain), fill, remove. */
static double measure(const char *parent, uint64_t cap, int files, int runs, double *v)
{
    for (int i = 0; i < runs; i++) {
        char dir[4096];
        dp_err e;
        double t0 = now_us();
        if (exec_mkjobdir(parent, 999, cap, dir, sizeof dir, &e) != DP_OK) {
            fprintf(stderr, "bench_workspace: %s\n", e.msg);
            exit(1);
        }
        for (int f = 0; f < files; f++) {
            char p[4200];
            snprintf(p, sizeof p, "%s/f%d", dir, f);
            int fd = open(p, O_WRONLY | O_CREAT, 0644);
            if (fd >= 0 && write(fd, "0123456789abcdef", 16) == 16)
                close(fd);
        }
        if (exec_rmjobdir(dir, &e) != DP_OK) {
            fprintf(stderr, "bench_workspace: %s\n", e.msg);
            exit(1);
        }
        v[i] = now_us() - t0;
    }
    qsort(v, (size_t)runs, sizeof *v, cmp_double);
    return v[runs / 2];
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 500;
    if (runs < 1)
        runs = 1;
    char parent[] = "/tmp/bench-workspace-XXXXXX";
    double *v = malloc((size_t)runs * sizeof *v);
    if (v == NULL || mkdtemp(parent) == NULL)
        return 1;
    double plain = measure(parent, 0, 0, runs, v);
    double tmpfs = measure(parent, 512u << 20, 0, runs, v);
    double plain_f = measure(parent, 0, 200, runs, v);
    double tmpfs_f = measure(parent, 512u << 20, 200, runs, v);
    printf("{\"workspace_plain_us_median\":%.1f,\"workspace_tmpfs_us_median\":%.1f,"
           "\"workspace_plain_files_us_median\":%.1f,\"workspace_tmpfs_files_us_median\":%.1f,"
           "\"runs\":%d}\n",
           plain, tmpfs, plain_f, tmpfs_f, runs);
    free(v);
    rmdir(parent);
    return 0;
}
