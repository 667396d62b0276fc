/* libFuzzer harness for profile JSON (runner/exec/profile.c). A profile
 * that parses must keep the promises the executor relies on: a non-empty
 * language, non-empty required file names, every command with a non-empty
 * program, "KEY=VALUE" environment entries with a non-empty KEY, all limits
 * non-zero, and a junitFile (only with testFormat junit) that is a
 * non-empty relative path without "..". A refusal must name the profile.
 * The input is also tried as a profile name (exec_profile_name_ok). */
#include "fuzz/fuzz_check.h"
#include "runner/exec/profile.h"

#include <string.h>

static void check_command(const exec_command *c)
{
    FUZZ_CHECK(c->argv != NULL && c->text != NULL);
    FUZZ_CHECK(c->argv[0] != NULL && c->argv[0][0] != '\0');
}

static void check_limits(const dp_limits *l)
{
    FUZZ_CHECK(l->time_ms > 0 && l->wall_ms > 0 && l->memory_kb > 0 && l->processes > 0 &&
               l->output_kb > 0);
}

static void check_profile(const exec_profile *p)
{
    FUZZ_CHECK(strcmp(p->name, "fuzz") == 0);
    FUZZ_CHECK(p->language != NULL && p->language[0] != '\0');
    for (size_t i = 0; i < p->n_required; i++)
        FUZZ_CHECK(p->required_files[i] != NULL && p->required_files[i][0] != '\0');
    for (size_t i = 0; i < p->n_setup; i++)
        check_command(&p->setup[i]);
    FUZZ_CHECK(p->test_command.argv != NULL || p->run_command.argv != NULL);
    if (p->test_command.argv != NULL)
        check_command(&p->test_command);
    if (p->run_command.argv != NULL)
        check_command(&p->run_command);
    FUZZ_CHECK(p->env != NULL);
    for (size_t i = 0; i < p->n_env; i++) {
        const char *eq = strchr(p->env[i], '=');
        FUZZ_CHECK(eq != NULL && eq != p->env[i]);
    }
    FUZZ_CHECK(p->env[p->n_env] == NULL);
    FUZZ_CHECK(p->max_timeout_ms > 0);
    check_limits(&p->limits);
    check_limits(&p->setup_limits);
    FUZZ_CHECK(p->compare == DP_COMPARE_EXACT || p->compare == DP_COMPARE_LINES);
    if (p->format == EXEC_FORMAT_JUNIT) {
        FUZZ_CHECK(p->junit_file != NULL && p->junit_file[0] != '\0');
        FUZZ_CHECK(p->junit_file[0] != '/' && strstr(p->junit_file, "..") == NULL);
    } else {
        FUZZ_CHECK(p->junit_file == NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *json = malloc(size > 0 ? size : 1);
    if (json == NULL)
        return 0;
    memcpy(json, data, size);
    exec_profile *p = NULL;
    dp_err err;
    dp_err_clear(&err);
    int rc = exec_profile_parse("fuzz", json, size, &p, &err);
    if (rc == DP_OK) {
        FUZZ_CHECK(p != NULL);
        check_profile(p);
        exec_profile_free(p);
    } else {
        FUZZ_CHECK(p == NULL);
        FUZZ_CHECK(rc == DP_ENOMEM || strncmp(err.msg, "profile fuzz: ", 14) == 0);
    }

    /* the same bytes as a profile name: accepted names stay in the directory */
    char name[80];
    size_t n = size < sizeof name - 1 ? size : sizeof name - 1;
    memcpy(name, data, n);
    name[n] = '\0';
    if (exec_profile_name_ok(name)) {
        FUZZ_CHECK(name[0] != '\0' && name[0] != '.' && strlen(name) <= 64);
        FUZZ_CHECK(strchr(name, '/') == NULL);
    }
    free(json);
    return 0;
}
