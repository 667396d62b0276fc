/* Benchmark: per-test overhead of each shipped language profile. For every
 * language: its setup (compile) once in the sandbox with the profile's
 * setupLimits (compile time), then RUNS interleaved runs of a trivial
 * program (read nothing, print "ok") with the profile's run command, bare
 * (fork + chdir + exec with the same argv and environment, CPU from
 * wait4's rusage) and sandboxed (sbx_run with the profile's limits, CPU from
 * the cgroup). Prints one JSON object:
 *   {"runs":20,"languages":{"c":{"compile_ms":..,"bare_cpu_ms_median":..,
 *    "bare_wall_ms_median":..,"sandbox_cpu_ms_median":..,
 *    "sandbox_wall_ms_median":..},...},
 *    "sandbox_overhead_ratio_c": sandboxed / bare CPU median, ...}
 * Usage: bench_langs PITS_DIR [RUNS] (root: the sandbox's slot uid). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runner/exec/profile.h"
#include "runner/sandbox/sandbox.h"

typedef struct {
    const char *profile, *file, *src;
} bench_lang;

static const bench_lang langs[] = {
    {"c", "main.c", "#include <stdio.h>\nint main(void){puts(\"ok\");return 0;}\n"},
    {"cpp17", "main.cpp", "#include <cstdio>\nint main(){std::puts(\"ok\");}\n"},
    {"java", "Main.java",
     "public class Main{public static void main(String[] a){System.out.println(\"ok\");}}\n"},
    {"go", "main.go", "package main\nimport \"fmt\"\nfunc main(){fmt.Println(\"ok\")}\n"},
    {"rust", "main.rs", "fn main(){ println!(\"ok\"); }\n"},
    {"javascript", "main.js", "console.log('ok');\n"},
    {"python3", "main.py", "print('ok')\n"},
    {"bash", "main.sh", "echo ok\n"},
};

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

/* argv with ${MEMORY_MB} replaced (as run.c does); strings leak: a bench. */
static char **expand(char *const *argv, uint64_t memory_kb)
{
    size_t n = 0;
    while (argv[n] != NULL)
        n++;
    char **out = calloc(n + 1, sizeof *out);
    for (size_t i = 0; out != NULL && i < n; i++) {
        const char *at = strstr(argv[i], "${MEMORY_MB}");
        if (at == NULL) {
            out[i] = argv[i];
            continue;
        }
        out[i] = malloc(strlen(argv[i]) + 24);
        if (out[i] != NULL)
            sprintf(out[i], "%.*s%llu%s", (int)(at - argv[i]), argv[i],
                    (unsigned long long)(memory_kb / 1024), at + 12);
    }
    return out;
}

static char **env_of(const exec_profile *p)
{
    static const char *const base[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
                                       "LC_ALL=C.UTF-8"};
    char **env = calloc(3 + p->n_env + 1, sizeof *env);
    size_t n = 0;
    for (size_t i = 0; env != NULL && i < 3; i++) {
        size_t kl = (size_t)(strchr(base[i], '=') - base[i]) + 1;
        int over = 0;
        for (size_t j = 0; j < p->n_env; j++)
            over |= strncmp(p->env[j], base[i], kl) == 0;
        if (!over)
            env[n++] = (char *)base[i];
    }
    for (size_t j = 0; env != NULL && j < p->n_env; j++)
        env[n++] = p->env[j];
    return env;
}

/* The bare run: the same argv and environment, in the workspace, PATH
 * searched (execvpe). */
static int run_bare(char **argv, char **env, const char *dir, double *cpu, double *wall)
{
    double t = now_ms();
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null < 0 || dup2(null, 1) < 0 || chdir(dir) != 0)
            _exit(126);
        execvpe(argv[0], argv, env);
        _exit(127);
    }
    int st;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &st, 0, &ru) != pid)
        return -1;
    *wall = now_ms() - t;
    *cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static sbx_limits limits_of(const dp_limits *l)
{
    return (sbx_limits){.cpu_ms = l->time_ms,
                        .wall_ms = l->wall_ms,
                        .memory_kb = l->memory_kb,
                        .processes = l->processes,
                        .output_bytes = l->output_kb * 1024,
                        .fsize_bytes = 64u << 20,
                        .open_files = 256};
}

static int bench_one(sbx *s, const char *pits, const bench_lang *bl, int runs, int first)
{
    char path[4200], dir[64] = "/tmp/bench-langs-XXXXXX";
    if (mkdtemp(dir) == NULL || chmod(dir, 0755) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/%s", dir, bl->file);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fputs(bl->src, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/%s.json", pits, bl->profile);
    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "bench_langs: %s: %s\n", path, strerror(errno));
        return -1;
    }
    static char text[65536];
    size_t len = fread(text, 1, sizeof text, f);
    fclose(f);
    exec_profile *p;
    dp_err err = {0};
    if (exec_profile_parse(bl->profile, text, len, &p, &err) != 0) {
        fprintf(stderr, "bench_langs: %s\n", err.msg);
        return -1;
    }
    char **env = env_of(p);
    double compile_ms = 0;
    for (size_t i = 0; i < p->n_setup; i++) {
        sbx_limits sl = limits_of(&p->setup_limits);
        sbx_result r;
        double t = now_ms();
        if (sbx_run(s, (const char *const *)expand(p->setup[i].argv, p->setup_limits.memory_kb),
                    dir, (const char *const *)env, NULL, 0, &sl, &r, &err) != 0 ||
            r.status != SBX_OK) {
            fprintf(stderr, "bench_langs: %s setup: %s %s\n", bl->profile, err.msg, r.err);
            return -1;
        }
        compile_ms += now_ms() - t;
        sbx_result_free(&r);
    }
    const exec_command *cmd = p->run_command.argv != NULL ? &p->run_command : &p->test_command;
    char **argv = expand(cmd->argv, p->limits.memory_kb);
    double *bc = calloc((size_t)runs, sizeof(double)), *bw = calloc((size_t)runs, sizeof(double));
    double *sc = calloc((size_t)runs, sizeof(double)), *sw = calloc((size_t)runs, sizeof(double));
    double *sr = calloc((size_t)runs, sizeof(double));
    /* the bare run needs the host path of ./main: the sandbox rewrites it */
    for (int i = 0; i < runs; i++) {
        if (run_bare(argv, env, dir, &bc[i], &bw[i]) != 0) {
            fprintf(stderr, "bench_langs: %s: bare run failed\n", bl->profile);
            return -1;
        }
        sbx_limits sl = limits_of(&p->limits);
        sbx_result r;
        double t = now_ms();
        if (sbx_run(s, (const char *const *)argv, dir, (const char *const *)env, NULL, 0, &sl, &r,
                    &err) != 0 ||
            r.status != SBX_OK) {
            fprintf(stderr, "bench_langs: %s: sandboxed run failed: %s %s\n", bl->profile, err.msg,
                    r.err != NULL ? r.err : "");
            return -1;
        }
        sw[i] = now_ms() - t;
        sc[i] = r.cpu_ms;
        sr[i] = r.wall_ms;
        sbx_result_free(&r);
    }
    double mbc = median(bc, runs), mbw = median(bw, runs), msc = median(sc, runs),
           msw = median(sw, runs), msr = median(sr, runs);
    printf("%s\"%s\":{\"compile_ms\":%.1f,\"bare_cpu_ms_median\":%.2f,\"bare_wall_ms_median\":%.2f,"
           "\"sandbox_cpu_ms_median\":%.2f,\"sandbox_wall_ms_median\":%.2f,"
           "\"sandbox_command_wall_ms_median\":%.0f,\"cpu_ratio\":%.3f,\"wall_ratio\":%.3f}",
           first ? "" : ",", bl->profile, compile_ms, mbc, mbw, msc, msw, msr,
           mbc > 0 ? msc / mbc : 0.0, mbw > 0 ? msw / mbw : 0.0);
    fflush(stdout);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    if (system(rm) != 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_langs PITS_DIR [RUNS]\n");
        return 2;
    }
    int runs = argc > 2 ? atoi(argv[2]) : 20;
    if (runs <= 0)
        runs = 20;
    /* execvpe searches the caller's PATH: make it the sandbox's */
    setenv("PATH", "/usr/local/bin:/usr/bin:/bin", 1);
    dp_err err = {0};
    sbx_config cfg = {.slot = 901, .require = getenv("DISPATCH_SANDBOX_REQUIRE")};
    sbx *s = sbx_open(&cfg, &err);
    if (s == NULL) {
        fprintf(stderr, "bench_langs: %s\n", err.msg);
        return 1;
    }
    const char *only = getenv("BENCH_LANGS");
    printf("{\"runs\":%d,\"languages\":{", runs);
    int first = 1, rc = 0;
    for (size_t i = 0; i < sizeof langs / sizeof langs[0]; i++) {
        if (only != NULL && strstr(only, langs[i].profile) == NULL)
            continue;
        if (bench_one(s, argv[1], &langs[i], runs, first) != 0)
            rc = 1;
        first = 0;
    }
    printf("}}\n");
    sbx_close(s);
    return rc;
}
