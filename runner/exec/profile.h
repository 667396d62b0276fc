/* Profiles ("PITs"): the operator's JSON description of how to judge one
 * kind of job, read from RUNNER_PROFILES_DIR/<name>.json.
 *
 *   {"language": "c", "requiredFiles": ["main.c"],
 *    "setupCommands": ["gcc -O2 -o main *.c"], "runCommand": "./main",
 *    "testCommand": "...", "environment": {"K": "V"}, "maxTimeoutMs": 60000,
 *    "limits": {"time_ms": 2000, "wall_ms": 5000, "memory_kb": 262144,
 *               "processes": 64, "output_kb": 1024},
 *    "setupLimits": {...}, "compare": "exact", "testFormat": "exit",
 *    "junitFile": "report.xml", "network": false, "description": "..."}
 *
 * A command is a string (run as /bin/sh -c STRING) or an array of strings
 * (an argv). In an array, ${MEMORY_MB} is replaced per run by the run's
 * memory limit in MiB (so a runtime can size its heap below the cgroup's
 * limit: java -XX:MaxRAM=${MEMORY_MB}m). "outOfMemoryMessage": "..." makes
 * a failing run whose stderr or stdout contains the text MLE.
 * "checkerCommand" (default ["./checker"]) and "checkerLimits" (default:
 * limits) describe the custom checker (compare "custom"): it gets the paths
 * of the test's input, expected output and actual output as its last three
 * arguments and answers by exit code: 0 AC, 1 WA, 2 partial with a score in
 * [0, 1] on its first stdout line; its first output line is the test's
 * message. Anything else (a crash, a limit, a bad score) is SE. Unknown keys are refused so typos
 * do not pass silently; every message names the profile and the field. A profile owns all its
 * strings; exec_profile_free releases it. */
#ifndef EXEC_PROFILE_H
#define EXEC_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/job.h"

typedef enum {
    EXEC_FORMAT_EXIT = 0, /* one result from the exit status */
    EXEC_FORMAT_TAP,      /* "ok N - name" / "not ok N - name" lines on stdout */
    EXEC_FORMAT_JUNIT,    /* JUnit XML written to junitFile */
    EXEC_FORMAT_UNITTEST  /* python -m unittest -v lines on stderr */
} exec_test_format;

typedef struct {
    char **argv; /* NULL-terminated; owned */
    char *text;  /* as written in the profile, for logs; owned */
} exec_command;

typedef struct {
    char *name;     /* file name without .json */
    char *language; /* free text */
    char **required_files;
    size_t n_required;
    exec_command *setup;
    size_t n_setup;
    exec_command test_command; /* argv NULL when absent */
    exec_command run_command;  /* argv NULL when absent */
    char **env;                /* "KEY=VALUE" */
    size_t n_env;
    uint32_t max_timeout_ms; /* the whole job's wall budget */
    dp_limits limits;        /* maximums per test run; all non-zero */
    dp_limits setup_limits;  /* per setup command; defaults to limits */
    dp_compare compare;      /* EXACT, LINES, TOKENS, FLOAT or CUSTOM */
    exec_test_format format;
    char *junit_file; /* relative to the workspace; NULL unless format is junit */
    int network;
    /* A failing run whose stderr or stdout contains this is MLE: a runtime that
     * reports running out of its own heap (the JVM's OutOfMemoryError)
     * instead of being OOM-killed. NULL = none. */
    char *oom_message;
    /* compare "custom": the checker's argv (default ./checker, an executable
     * of the archive, moved out of the submission's reach before anything
     * runs) and its limits (default: limits). */
    exec_command checker;
    dp_limits checker_limits;
} exec_profile;

/* Parses and validates one profile. *out is owned by the caller. DP_EINVAL
 * names the field. */
int exec_profile_parse(const char *name, const char *json, size_t len, exec_profile **out,
                       dp_err *err);
void exec_profile_free(exec_profile *p);

/* 1 when name is a usable profile name: [A-Za-z0-9_.-]{1,64}, not starting
 * with '.', so it cannot leave the profiles directory. */
int exec_profile_name_ok(const char *name);

/* A per-slot cache of parsed profiles, reloaded when a file's mtime or size
 * changes. Not thread-safe: one per executor slot. */
typedef struct exec_profile_cache exec_profile_cache;

exec_profile_cache *exec_profile_cache_new(const char *dir, dp_err *err); /* dir copied */
void exec_profile_cache_free(exec_profile_cache *c);

/* Finds profile name. *out is borrowed from the cache and stays valid until
 * the next exec_profile_get on the same cache or its free. DP_ENOTFOUND for
 * an unknown (or badly named) profile, DP_EINVAL for an invalid file, DP_EIO
 * when it cannot be read. */
int exec_profile_get(exec_profile_cache *c, const char *name, const exec_profile **out,
                     dp_err *err);

#endif
