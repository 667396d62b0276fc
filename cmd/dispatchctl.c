/* dispatchctl: the admin CLI (README.md). Every command takes --json,
 * --help and --url (default $DISPATCH_ADMIN_URL).
 * Exit codes: 0 ok, 64 usage, 65 bad input, 69 dispatcher unreachable,
 * 70 internal, 77 refused (API key missing, wrong, revoked or without the scope);
 * `wait`: 0 AC, 1 other verdict, 2 failed/cancelled, 3 timeout. */
#include "actors/actor_urls.h"
#include "actors/actor.h"
#include "client/dispatch_client.h"
#include "cmd/dispatchctl_keys.h"
#include "common/config.h"
#include "common/job_json.h"
#include "common/text.h"

/* Untrusted text for the terminal (common/text.h), into a local buffer. */
#define SAFE(s, buf) dp_text_safe((s), (buf), sizeof(buf))

#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    EX_OK_ = 0,
    EX_USAGE_ = 64,
    EX_DATAERR_ = 65,
    EX_UNAVAIL_ = 69,
    EX_SOFT_ = 70,
    EX_NOPERM_ = 77 /* no key, a wrong or revoked key, or one without the scope */
};

typedef struct {
    const char *url;
    int json;
    const char *positional[2];
    int n_positional;
    /* submit */
    const char *profile, *archive, *tests_file, *spec, *submission_id;
    const char *max_attempts, *time_ms, *memory_kb;
    /* apikey */
    const char *scope, *max_queued, *per_minute;
    int dead;
    double timeout_s;
} cli_args;

static const char *const usage_text =
    "usage: dispatchctl COMMAND [options]\n"
    "commands:\n"
    "  submit --profile P --archive PATH_OR_URL [--tests FILE.json] [--max-attempts N]\n"
    "         [--time-ms N] [--memory-kb N] [--submission-id ID]\n"
    "  submit --spec JOB.json | --spec -      (a JSON array submits a batch)\n"
    "  status JOB            the job\n"
    "  wait JOB [--timeout S]  block until terminal (exit 0 AC, 1 other verdict,\n"
    "                        2 failed/cancelled, 3 timeout)\n"
    "  watch [JOB]           stream job events\n"
    "  runners               registered runners\n"
    "  queue                 pending, leased, dead, completed, runners alive\n"
    "  cancel JOB | requeue JOB | requeue --dead | drain RUNNER\n"
    "  apikey create NAME --scope submit|read|admin[,...] [--max-queued N] [--per-minute N]\n"
    "  apikey list | apikey revoke ID_OR_NAME\n"
    "the API key (needed over tcp) comes from $DISPATCH_API_KEY or the file\n"
    "$DISPATCH_API_KEY_FILE, never from a flag\n"
    "options: --json  --url URL (default $DISPATCH_ADMIN_URL)  --help  --version\n"
    "`dispatchctl COMMAND --help` explains one command; --opt=VALUE and --opt VALUE both work\n"
    "exit codes: 0 ok, 64 usage, 65 bad input, 69 dispatcher unreachable, 70 internal,\n"
    "77 refused (API key missing, wrong, revoked or without the scope)\n";

static int usage_error(const char *fmt, const char *what)
{
    fprintf(stderr, "dispatchctl: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, " (see dispatchctl --help)\n");
    return EX_USAGE_;
}

static int exit_for(int code)
{
    switch (code) {
    case DP_OK:
        return EX_OK_;
    case DP_EINVAL:
    case DP_ENOTFOUND:
    case DP_ECONFLICT:
        return EX_DATAERR_;
    case DP_EAUTH:
    case DP_EFORBIDDEN:
        return EX_NOPERM_;
    case DP_EUNAVAIL:
    case DP_ETIMEOUT:
    case DP_ECLOSED:
        return EX_UNAVAIL_;
    default:
        return EX_SOFT_;
    }
}

/* --json: errors are JSON on stderr too, so a script reads one format. */
static int errors_as_json;

static int fail(int code, const dp_err *err)
{
    if (errors_as_json) {
        json_t *e = json_pack("{s:{s:s, s:s}}", "error", "code", dp_code_name(code), "message",
                              err->msg[0] != '\0' ? err->msg : dp_code_name(code));
        char *text = e != NULL ? json_dumps(e, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        if (text != NULL)
            fprintf(stderr, "%s\n", text);
        free(text);
        json_decref(e);
        return exit_for(code);
    }
    char msg[DP_ERR_MSG_MAX * 4];
    fprintf(stderr, "dispatchctl: %s\n",
            err->msg[0] != '\0' ? SAFE(err->msg, msg) : dp_code_name(code));
    return exit_for(code);
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (s != NULL) {
        puts(s);
        free(s);
    }
    json_decref(j);
}

/* Reads a whole file ("-" = stdin) into a NUL-terminated heap buffer. */
static char *read_all(const char *path, dp_err *err)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        dp_err_set(err, DP_EINVAL, "%s: cannot open", path);
        return NULL;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (len + 1 >= cap) {
            char *nb = cap < ((size_t)64 << 20) ? realloc(buf, cap * 2) : NULL;
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                dp_err_set(err, DP_EINVAL, "%s: larger than 64 MiB", path);
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    if (f != stdin)
        fclose(f);
    if (buf != NULL)
        buf[len] = '\0';
    return buf;
}

/* A local path becomes a file:// URL the runners on this host can read. */
static int archive_url(const char *arg, char *out, size_t len, dp_err *err)
{
    if (strstr(arg, "://") != NULL) {
        if (dp_config_check_url("--archive", arg, "file,http,https", err) != DP_OK)
            return DP_EINVAL;
        snprintf(out, len, "%s", arg);
        return DP_OK;
    }
    char real[PATH_MAX];
    if (realpath(arg, real) == NULL || access(real, R_OK) != 0)
        return dp_err_set(err, DP_EINVAL, "--archive: %s: no such readable file", arg);
    if ((size_t)snprintf(out, len, "file://%s", real) >= len)
        return dp_err_set(err, DP_EINVAL, "--archive: path too long");
    return DP_OK;
}

static int parse_uint_flag(json_t *obj, const char *key, const char *flag, const char *val,
                           dp_err *err)
{
    char *end = NULL;
    unsigned long long n = strtoull(val, &end, 10);
    if (val[0] == '-' || end == val || *end != '\0' || n == 0 || n > 0xffffffffULL)
        return dp_err_set(err, DP_EINVAL, "%s: '%s' is not a positive integer", flag, val);
    json_object_set_new(obj, key, json_integer((json_int_t)n));
    return DP_OK;
}

/* Builds the spec JSON (object or array) from --spec or from the flags. */
static json_t *submit_json(const cli_args *a, dp_err *err)
{
    json_error_t jerr;
    if (a->spec != NULL) {
        char *text = read_all(a->spec, err);
        if (text == NULL)
            return NULL;
        json_t *j = json_loads(text, 0, &jerr);
        free(text);
        if (j == NULL)
            dp_err_set(err, DP_EINVAL, "%s: line %d: %s", a->spec, jerr.line, jerr.text);
        return j;
    }
    if (a->profile == NULL || a->archive == NULL) {
        dp_err_set(err, DP_EINVAL, "submit needs --profile and --archive, or --spec");
        return NULL;
    }
    char url[PATH_MAX + 16];
    if (archive_url(a->archive, url, sizeof url, err) != DP_OK)
        return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "profile", json_string(a->profile));
    json_object_set_new(o, "archive", json_string(url));
    if (a->submission_id != NULL)
        json_object_set_new(o, "submission_id", json_string(a->submission_id));
    json_t *limits = json_object();
    if ((a->max_attempts != NULL &&
         parse_uint_flag(o, "max_attempts", "--max-attempts", a->max_attempts, err) != DP_OK) ||
        (a->time_ms != NULL &&
         parse_uint_flag(limits, "time_ms", "--time-ms", a->time_ms, err) != DP_OK) ||
        (a->memory_kb != NULL &&
         parse_uint_flag(limits, "memory_kb", "--memory-kb", a->memory_kb, err) != DP_OK)) {
        json_decref(limits);
        json_decref(o);
        return NULL;
    }
    if (json_object_size(limits) > 0)
        json_object_set_new(o, "limits", limits);
    else
        json_decref(limits);
    if (a->tests_file != NULL) {
        json_t *t = json_load_file(a->tests_file, 0, &jerr);
        if (t == NULL) {
            dp_err_set(err, DP_EINVAL, "--tests: %s: line %d: %s", a->tests_file, jerr.line,
                       jerr.text);
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, "tests", t);
    }
    return o;
}

static int cmd_submit(dpc *c, const cli_args *a)
{
    dp_err err = {0};
    json_t *j = submit_json(a, &err);
    if (j == NULL)
        return fail(DP_EINVAL, &err);
    int batch = json_is_array(j);
    dp_job_spec *specs = NULL;
    size_t n = 0;
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    int rc = text != NULL ? dp_job_specs_from_text(text, strlen(text), &specs, &n, &err)
                          : dp_err_set(&err, DP_ENOMEM, "out of memory");
    free(text);
    if (rc != DP_OK)
        return fail(rc, &err);
    dpc_submitted *items = NULL;
    rc = dpc_submit(c, specs, n, &items, &err);
    dp_job_specs_free(specs, n);
    if (rc != DP_OK)
        return fail(rc, &err);
    int status = EX_OK_;
    json_t *out = batch ? json_array() : NULL;
    for (size_t i = 0; i < n; i++) {
        if (items[i].job_id == NULL) {
            char e[2048];
            fprintf(stderr, "dispatchctl: job %zu: %s\n", i, SAFE(items[i].error, e));
            status = EX_DATAERR_;
        }
        json_t *o = json_object();
        if (items[i].job_id != NULL)
            json_object_set_new(o, "job_id", json_string(items[i].job_id));
        else
            json_object_set_new(o, "error", json_string(items[i].error));
        if (a->json && batch)
            json_array_append_new(out, o);
        else if (a->json && items[i].job_id != NULL)
            print_json(o);
        else {
            if (items[i].job_id != NULL)
                puts(items[i].job_id);
            json_decref(o);
        }
    }
    if (out != NULL) {
        if (a->json)
            print_json(out);
        else
            json_decref(out);
    }
    dpc_submit_free(items, n);
    return status;
}

static void print_view(const dp_job_view *v, int as_json)
{
    if (as_json) {
        print_json(dp_job_view_to_json(v));
        return;
    }
    /* Every string may come from a submission (its messages and test names
     * carry what the job printed or its archive named): escaped for the
     * terminal. */
    const char *verdict = dp_verdict_name(v->verdict);
    char a[512], b[512];
    printf("job       %s\nprofile   %s\nstate     %s\nverdict   %s\nscore     %g\n"
           "attempts  %u\n",
           SAFE(v->job_id, a), SAFE(v->profile, b), dp_job_state_name(v->state),
           verdict != NULL ? verdict : "-", v->score, v->attempts);
    if (v->submission_id != NULL)
        printf("submission %s\n", SAFE(v->submission_id, a));
    if (v->runner_id != NULL)
        printf("runner    %s\n", SAFE(v->runner_id, a));
    if (v->message != NULL && v->message[0] != '\0') {
        char m[4096];
        printf("message   %s\n", SAFE(v->message, m));
    }
    if (v->log_url != NULL)
        printf("log       %s\n", SAFE(v->log_url, a));
    for (size_t i = 0; i < v->n_tests; i++) {
        const dp_test_result *t = &v->tests[i];
        const char *tv = dp_verdict_name(t->verdict);
        printf("  test %-16s %-4s exit %d  %u ms cpu  %u ms wall  %llu KiB\n", SAFE(t->name, a),
               tv != NULL ? tv : "-", t->exit_code, t->time_ms, t->wall_ms,
               (unsigned long long)t->memory_kb);
    }
}

static int cmd_status(dpc *c, const cli_args *a)
{
    if (a->n_positional != 1)
        return usage_error("%s needs exactly one JOB", "status");
    dp_err err = {0};
    dp_job_view v = {0};
    int rc = dpc_status(c, a->positional[0], &v, &err);
    if (rc != DP_OK)
        return fail(rc, &err);
    print_view(&v, a->json);
    dp_job_view_free(&v);
    return EX_OK_;
}

static int cmd_wait(dpc *c, const cli_args *a)
{
    if (a->n_positional != 1)
        return usage_error("%s needs exactly one JOB", "wait");
    dp_err err = {0};
    dp_job_view v = {0};
    double t = a->timeout_s > 0 ? a->timeout_s : 24 * 3600.0;
    int rc = dpc_wait(c, a->positional[0], (uint32_t)(t * 1000), &v, &err);
    if (rc == DP_ETIMEOUT) {
        fprintf(stderr, "dispatchctl: wait %s: timed out after %g s\n", a->positional[0], t);
        dp_job_view_free(&v);
        return 3;
    }
    if (rc != DP_OK)
        return fail(rc, &err);
    print_view(&v, a->json);
    int code = v.state == DP_JOB_COMPLETED ? (v.verdict == DP_VERDICT_AC ? 0 : 1) : 2;
    dp_job_view_free(&v);
    return code;
}

static int cmd_runners(dpc *c, const cli_args *a)
{
    dp_err err = {0};
    dp_runner_info *list = NULL;
    size_t n = 0;
    int rc = dpc_runners(c, &list, &n, &err);
    if (rc != DP_OK)
        return fail(rc, &err);
    if (a->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, dp_runner_info_to_json(&list[i]));
        print_json(arr);
    } else {
        printf("%-34s %-16s %-5s %-6s %-8s %-10s %-24s %s\n", "ID", "NAME", "ALIVE", "LEASED",
               "CAPACITY", "VERSION", "LAST SEEN", "LABELS");
        for (size_t i = 0; i < n; i++) {
            const dp_runner_info *r = &list[i];
            char labels[256] = "";
            size_t pos = 0;
            for (size_t k = 0; k < r->n_labels && pos < sizeof labels; k++)
                pos += (size_t)snprintf(labels + pos, sizeof labels - pos, "%s%s", k ? "," : "",
                                        r->labels[k]);
            char id[256], name[256], ver[256], lab[512];
            printf("%-34s %-16s %-5s %-6u %-8u %-10s %-24s %s%s\n", SAFE(r->runner_id, id),
                   SAFE(r->name, name), r->alive ? "yes" : "no", r->leased_jobs, r->capacity,
                   SAFE(r->version, ver), r->last_seen != NULL ? r->last_seen : "-",
                   SAFE(labels, lab), r->draining ? " (draining)" : "");
        }
    }
    dpc_runners_free(list, n);
    return EX_OK_;
}

static int cmd_queue(dpc *c, const cli_args *a)
{
    dp_err err = {0};
    dp_queue_stats s = {0};
    int rc = dpc_queue(c, &s, &err);
    if (rc != DP_OK)
        return fail(rc, &err);
    if (a->json)
        print_json(dp_queue_stats_to_json(&s));
    else
        printf("pending %llu\nleased %llu\ndead %llu\ncompleted %llu\nrunners_alive %llu\n",
               (unsigned long long)s.pending, (unsigned long long)s.leased,
               (unsigned long long)s.dead, (unsigned long long)s.completed,
               (unsigned long long)s.runners_alive);
    return EX_OK_;
}

static int admin_done(const cli_args *a, const char *what, const char *id, long count)
{
    if (a->json) {
        json_t *o = json_object();
        json_object_set_new(o, "ok", json_true());
        json_object_set_new(o, "action", json_string(what));
        if (id != NULL)
            json_object_set_new(o, "id", json_string(id));
        if (count >= 0)
            json_object_set_new(o, "count", json_integer(count));
        print_json(o);
    } else if (count >= 0) {
        printf("%s %ld job(s)\n", what, count);
    } else {
        printf("%s %s\n", what, id);
    }
    return EX_OK_;
}

static int cmd_admin(dpc *c, const char *cmd, const cli_args *a)
{
    dp_err err = {0};
    int rc;
    if (strcmp(cmd, "requeue") == 0 && a->dead) {
        if (a->n_positional != 0)
            return usage_error("%s takes either JOB or --dead", "requeue");
        uint32_t count = 0;
        rc = dpc_requeue_dead(c, &count, &err);
        return rc != DP_OK ? fail(rc, &err) : admin_done(a, "requeued", NULL, (long)count);
    }
    if (a->n_positional != 1)
        return usage_error("%s needs exactly one id", cmd);
    const char *id = a->positional[0];
    if (strcmp(cmd, "cancel") == 0)
        rc = dpc_cancel(c, id, &err);
    else if (strcmp(cmd, "requeue") == 0)
        rc = dpc_requeue(c, id, &err);
    else
        rc = dpc_drain(c, id, &err);
    if (rc != DP_OK)
        return fail(rc, &err);
    const char *done = strcmp(cmd, "cancel") == 0    ? "cancelled"
                       : strcmp(cmd, "requeue") == 0 ? "requeued"
                                                     : "draining";
    return admin_done(a, done, id, -1);
}

typedef struct {
    int json;
} watch_ctx;

static int on_event(const dpc_event *ev, void *arg)
{
    const watch_ctx *w = arg;
    if (w->json) {
        json_t *o = json_object();
        json_object_set_new(o, "job_id", json_string(ev->job_id));
        json_object_set_new(o, "state", json_string(ev->state));
        json_object_set_new(o, "verdict", ev->verdict ? json_string(ev->verdict) : json_null());
        json_object_set_new(o, "runner_id",
                            ev->runner_id ? json_string(ev->runner_id) : json_null());
        json_object_set_new(o, "attempt", json_integer(ev->attempt));
        json_object_set_new(o, "ts", json_string(ev->ts ? ev->ts : ""));
        if (ev->message != NULL)
            json_object_set_new(o, "message", json_string(ev->message));
        print_json(o);
    } else {
        char id[256], msg[2048];
        printf("%s %s %s %s attempt=%u%s%s\n", ev->ts ? ev->ts : "-", SAFE(ev->job_id, id),
               ev->state, ev->verdict ? ev->verdict : "-", ev->attempt, ev->message ? " " : "",
               ev->message ? SAFE(ev->message, msg) : "");
    }
    fflush(stdout);
    return 0;
}

static int cmd_watch(dpc *c, const cli_args *a)
{
    if (a->n_positional > 1)
        return usage_error("%s takes at most one JOB", "watch");
    dp_err err = {0};
    watch_ctx w = {a->json};
    int rc = dpc_watch(c, a->n_positional ? a->positional[0] : NULL, on_event, &w, &err);
    return rc != DP_OK ? fail(rc, &err) : EX_OK_;
}

/* Parses options after the command; returns 0 or an exit code. */
/* Per-command help: `dispatchctl COMMAND --help`. */
static const struct {
    const char *cmd;
    int max_pos; /* positional arguments it takes at most */
    const char *text;
} command_help[] = {
    {"submit", 0,
     "usage: dispatchctl submit --profile P --archive PATH_OR_URL [--tests FILE.json]\n"
     "         [--max-attempts N] [--time-ms N] [--memory-kb N] [--submission-id ID]\n"
     "       dispatchctl submit --spec JOB.json | --spec -\n"
     "Submits one job (or a JSON array: a batch); prints each job id.\n"
     "Exit 0 when every job was accepted, 65 when one was refused.\n"},
    {"status", 1,
     "usage: dispatchctl status JOB [--json]\nPrints the job: state, verdict, tests.\n"},
    {"wait", 1,
     "usage: dispatchctl wait JOB [--timeout S] [--json]\n"
     "Blocks until the job is terminal. Exit 0 AC, 1 other verdict, 2 failed or\n"
     "cancelled, 3 timed out.\n"},
    {"watch", 1,
     "usage: dispatchctl watch [JOB] [--json]\n"
     "Streams job events (every job, or one until it ends). Needs the ipc admin\n"
     "socket: events carry no credential, so they are not served over tcp.\n"},
    {"runners", 0, "usage: dispatchctl runners [--json]\nLists the registered runners.\n"},
    {"queue", 0,
     "usage: dispatchctl queue [--json]\n"
     "Pending, leased, dead and completed jobs, runners alive.\n"},
    {"cancel", 1, "usage: dispatchctl cancel JOB\nCancels a job that has not finished.\n"},
    {"requeue", 1,
     "usage: dispatchctl requeue JOB | dispatchctl requeue --dead\n"
     "Puts a finished job, or every dead one, back in the queue.\n"},
    {"drain", 1,
     "usage: dispatchctl drain RUNNER\n"
     "The runner finishes what it holds and takes nothing new.\n"},
    {"apikey", 2,
     "usage: dispatchctl apikey create NAME --scope submit|read|admin[,...]\n"
     "         [--max-queued N] [--per-minute N]\n"
     "       dispatchctl apikey list | dispatchctl apikey revoke ID_OR_NAME\n"
     "Creates (prints the key once), lists or revokes API keys (admin).\n"},
};

enum {
    OPT_JSON = 256,
    OPT_DEAD,
    OPT_URL,
    OPT_PROFILE,
    OPT_ARCHIVE,
    OPT_TESTS,
    OPT_SPEC,
    OPT_SUBMISSION,
    OPT_MAX_ATTEMPTS,
    OPT_TIME_MS,
    OPT_MEMORY_KB,
    OPT_TIMEOUT,
    OPT_SCOPE,
    OPT_MAX_QUEUED,
    OPT_PER_MINUTE,
    OPT_HELP,
    OPT_VERSION
};

static const struct option long_options[] = {
    {"json", no_argument, NULL, OPT_JSON},
    {"dead", no_argument, NULL, OPT_DEAD},
    {"url", required_argument, NULL, OPT_URL},
    {"profile", required_argument, NULL, OPT_PROFILE},
    {"archive", required_argument, NULL, OPT_ARCHIVE},
    {"tests", required_argument, NULL, OPT_TESTS},
    {"spec", required_argument, NULL, OPT_SPEC},
    {"submission-id", required_argument, NULL, OPT_SUBMISSION},
    {"max-attempts", required_argument, NULL, OPT_MAX_ATTEMPTS},
    {"time-ms", required_argument, NULL, OPT_TIME_MS},
    {"memory-kb", required_argument, NULL, OPT_MEMORY_KB},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"scope", required_argument, NULL, OPT_SCOPE},
    {"max-queued", required_argument, NULL, OPT_MAX_QUEUED},
    {"per-minute", required_argument, NULL, OPT_PER_MINUTE},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* getopt_long over the words after the command (`--url=X` and `--url X`
 * both work); positionals in order. Returns -1 to go on, else an exit code
 * (help and version print and return 0). */
static int parse_args(int argc, char **argv, cli_args *a)
{
    const char *cmd = argv[1];
    int sub_argc = argc - 1;
    char **sub_argv = argv + 1;
    opterr = 0;
    optind = 1;
    while (optind < sub_argc) {
        const char *w = sub_argv[optind];
        if (w[0] != '-' || strcmp(w, "-") == 0 || strcmp(w, "--") == 0) {
            optind += strcmp(w, "--") == 0;
            if (optind < sub_argc && strcmp(w, "--") != 0) {
                if (a->n_positional >= 2)
                    return usage_error("unexpected argument '%s'", w);
                a->positional[a->n_positional++] = w;
                optind++;
            }
            continue;
        }
        int c = getopt_long(sub_argc, sub_argv, "+:", long_options, NULL);
        if (c == -1)
            break;
        const char *v = optarg;
        switch (c) {
        case OPT_JSON:
            a->json = 1;
            break;
        case OPT_DEAD:
            a->dead = 1;
            break;
        case OPT_URL:
            a->url = v;
            break;
        case OPT_PROFILE:
            a->profile = v;
            break;
        case OPT_ARCHIVE:
            a->archive = v;
            break;
        case OPT_TESTS:
            a->tests_file = v;
            break;
        case OPT_SPEC:
            a->spec = v;
            break;
        case OPT_SUBMISSION:
            a->submission_id = v;
            break;
        case OPT_MAX_ATTEMPTS:
            a->max_attempts = v;
            break;
        case OPT_TIME_MS:
            a->time_ms = v;
            break;
        case OPT_MEMORY_KB:
            a->memory_kb = v;
            break;
        case OPT_SCOPE:
            a->scope = v;
            break;
        case OPT_MAX_QUEUED:
            a->max_queued = v;
            break;
        case OPT_PER_MINUTE:
            a->per_minute = v;
            break;
        case OPT_TIMEOUT: {
            char *end = NULL;
            a->timeout_s = strtod(v, &end);
            if (end == v || *end != '\0' || a->timeout_s <= 0)
                return usage_error("--timeout: '%s' is not a positive number of seconds", v);
            break;
        }
        case OPT_HELP:
            for (size_t i = 0; i < sizeof command_help / sizeof command_help[0]; i++)
                if (strcmp(command_help[i].cmd, cmd) == 0)
                    fputs(command_help[i].text, stdout);
            return EX_OK_;
        case OPT_VERSION:
            puts("dispatchctl " DP_VERSION);
            return EX_OK_;
        case ':':
            return usage_error("%s needs a value", sub_argv[optind - 1]);
        default:
            return usage_error("unknown option %s", sub_argv[optind - 1]);
        }
    }
    for (size_t i = 0; i < sizeof command_help / sizeof command_help[0]; i++)
        if (strcmp(command_help[i].cmd, cmd) == 0 && a->n_positional > command_help[i].max_pos)
            return usage_error("unexpected argument '%s'", a->positional[command_help[i].max_pos]);
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? EX_USAGE_ : EX_OK_;
    }
    if (strcmp(argv[1], "--version") == 0) {
        puts("dispatchctl " DP_VERSION);
        return EX_OK_;
    }
    const char *cmd = argv[1];
    static const char *const commands[] = {"submit", "status", "wait",    "watch", "runners",
                                           "queue",  "cancel", "requeue", "drain", "apikey"};
    int known = 0;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        known |= strcmp(cmd, commands[i]) == 0;
    if (!known)
        return usage_error("unknown command '%s'", cmd);
    cli_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    errors_as_json = a.json;
    dp_err err = {0};
    if (a.url == NULL && dp_config_url("DISPATCH_ADMIN_URL", NULL, "ipc,tcp,tls+tcp,inproc", &a.url,
                                       &err) != DP_OK) {
        fprintf(stderr, "dispatchctl: %s (or pass --url)\n", err.msg);
        return EX_USAGE_;
    }
    if (dp_config_check_url("--url", a.url, "ipc,tcp,tls+tcp,inproc", &err) != DP_OK) {
        fprintf(stderr, "dispatchctl: %s\n", err.msg);
        return EX_USAGE_;
    }
    if (strncmp(a.url, "tls+tcp", 7) == 0) {
        const char *ca = NULL, *name = NULL;
        if (dp_config_file("DISPATCH_TLS_CA_FILE", NULL, &ca, &err) != DP_OK ||
            dp_config_string("DISPATCH_TLS_SERVER_NAME", "", &name, &err) != DP_OK ||
            actor_tls_configure(NULL, ca, name[0] ? name : NULL, &err) != DP_OK) {
            fprintf(stderr, "dispatchctl: %s\n", err.msg);
            return EX_USAGE_;
        }
    }
    char *key = NULL;
    if (ctl_key_from_env(&key, &err) != DP_OK) {
        fprintf(stderr, "dispatchctl: %s\n", err.msg);
        return EX_USAGE_;
    }
    dpc *c = dpc_open(a.url, 10000, &err);
    if (c != NULL && dpc_set_key(c, key, &err) != DP_OK) {
        dpc_close(c);
        c = NULL;
    }
    if (key != NULL) {
        memset(key, 0, strlen(key));
        free(key);
    }
    if (c == NULL)
        return fail(err.code, &err);
    if (strcmp(cmd, "submit") == 0)
        rc = cmd_submit(c, &a);
    else if (strcmp(cmd, "status") == 0)
        rc = cmd_status(c, &a);
    else if (strcmp(cmd, "wait") == 0)
        rc = cmd_wait(c, &a);
    else if (strcmp(cmd, "watch") == 0)
        rc = cmd_watch(c, &a);
    else if (strcmp(cmd, "runners") == 0)
        rc = cmd_runners(c, &a);
    else if (strcmp(cmd, "queue") == 0)
        rc = cmd_queue(c, &a);
    else if (strcmp(cmd, "apikey") == 0) {
        ctl_apikey_args ka = {a.n_positional > 0 ? a.positional[0] : NULL,
                              a.n_positional > 1 ? a.positional[1] : NULL,
                              a.scope,
                              a.max_queued,
                              a.per_minute,
                              a.json};
        int r = ctl_apikey(c, &ka, &err);
        rc = r == DP_OK ? EX_OK_ : fail(r, &err);
    } else
        rc = cmd_admin(c, cmd, &a);
    dpc_close(c);
    return rc;
}
