/* dispatchctl's parts (one program, three files): the arguments and help
 * (dispatchctl_args.c), the commands (dispatchctl_cmds.c, dispatchctl_keys.c)
 * and main (dispatchctl.c). Exit codes are the README's. */
#ifndef DP_DISPATCHCTL_H
#define DP_DISPATCHCTL_H

#include "client/dispatch_client.h"
#include "common/text.h"

#include <jansson.h>

/* Untrusted text for the terminal (common/text.h), into a local buffer. */
#define SAFE(s, buf) dp_text_safe((s), (buf), sizeof(buf))

enum {
    EX_OK_ = 0,
    EX_USAGE_ = 64,
    EX_DATAERR_ = 65,
    EX_UNAVAIL_ = 69,
    EX_SOFT_ = 70,
    EX_TEMPFAIL_ = 75, /* an API key's quota refused a submit: retry later */
    EX_NOPERM_ = 77,   /* no key, a wrong or revoked key, or one without the scope */
    EX_CONFIG_ = 78    /* the environment: DISPATCH_ADMIN_URL, TLS files, the API key file */
};

typedef struct {
    const char *url;
    int json;
    const char *positional[2];
    int n_positional;
    /* submit */
    const char *profile, *archive, *tests_file, *spec, *submission_id;
    const char *max_attempts, *time_ms, *memory_kb;
    const char *labels, *priority; /* "gpu,x86_64"; "high" */
    /* apikey */
    const char *scope, *max_queued, *per_minute;
    int dead;
    double timeout_s;
    /* jobs */
    const char *state, *limit, *after;
} cli_args;

extern const char *const ctl_usage_text;

/* Prints "dispatchctl: <what>" and returns 64. */
int ctl_usage_error(const char *fmt, const char *what);

/* The exit code for a dp code; prints err (JSON on stderr with --json). */
int ctl_fail(int code, const dp_err *err);

/* A configuration error (the environment): prints it like ctl_fail, with
 * code "config", and returns 78. */
int ctl_config_error(const dp_err *err);

/* Errors as JSON on stderr (--json); set once by main. */
void ctl_errors_as_json(int on);

/* Prints j compactly and releases it. */
void ctl_print_json(json_t *j);

/* Parses the words after the command. -1: go on; else an exit code (help
 * and version print and return 0). */
int ctl_parse_args(int argc, char **argv, cli_args *a);

int ctl_submit(dpc *c, const cli_args *a);
int ctl_status(dpc *c, const cli_args *a);
int ctl_wait(dpc *c, const cli_args *a);
int ctl_runners(dpc *c, const cli_args *a);
int ctl_queue(dpc *c, const cli_args *a);
int ctl_admin(dpc *c, const char *cmd, const cli_args *a);
int ctl_watch(dpc *c, const cli_args *a);
int ctl_jobs(dpc *c, const cli_args *a);     /* dispatchctl_jobs.c */
int ctl_profiles(dpc *c, const cli_args *a); /* dispatchctl_jobs.c */

#endif
