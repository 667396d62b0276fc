/* dispatchctl's arguments: getopt_long, per-command help, usage errors. */
#include "cmd/dispatchctl.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const ctl_usage_text =
    "usage: dispatchctl COMMAND [options]\n"
    "commands:\n"
    "  submit --profile P --archive PATH_OR_URL [--tests FILE.json] [--max-attempts N]\n"
    "         [--time-ms N] [--memory-kb N] [--submission-id ID]\n"
    "         [--labels L1,L2] [--priority high|normal|low]\n"
    "  submit --spec JOB.json | --spec -      (a JSON array submits a batch)\n"
    "  status JOB            the job\n"
    "  wait JOB [--timeout S]  block until terminal (exit 0 AC, 1 other verdict,\n"
    "                        2 failed/cancelled, 3 timeout)\n"
    "  watch [JOB]           stream job events\n"
    "  runners               registered runners\n"
    "  queue                 pending, leased, dead, completed, runners alive, and the\n"
    "                        depth of each queue (profile x labels x priority)\n"
    "  cancel JOB | requeue JOB | requeue --dead | drain RUNNER\n"
    "  apikey create NAME --scope submit|read|admin[,...] [--max-queued N] [--per-minute N]\n"
    "  apikey list | apikey revoke ID_OR_NAME\n"
    "  jobs [--state S] [--profile P] [--limit N] [--after CURSOR]  jobs, newest first\n"
    "  profiles              the profiles the live runners offer\n"
    "the API key (needed over tcp) comes from $DISPATCH_API_KEY or the file\n"
    "$DISPATCH_API_KEY_FILE, never from a flag\n"
    "options: --json  --url URL (default $DISPATCH_ADMIN_URL)  --help  --version\n"
    "`dispatchctl COMMAND --help` explains one command; --opt=VALUE and --opt VALUE both work\n"
    "exit codes: 0 ok, 64 usage, 65 bad input, 69 dispatcher unreachable, 70 internal,\n"
    "75 a submit over the API key's quota (retry later),\n"
    "77 refused (API key missing, wrong, revoked or without the scope),\n"
    "78 configuration (DISPATCH_ADMIN_URL, DISPATCH_TLS_*, DISPATCH_API_KEY_FILE,\n"
    "DISPATCH_LOG_LEVEL); with --json every error is one JSON line on stderr:\n"
    "{\"error\":{\"code\":...,\"message\":...}}\n"
    "environment: DISPATCH_ADMIN_URL, DISPATCH_API_KEY, DISPATCH_API_KEY_FILE,\n"
    "DISPATCH_TLS_CA_FILE, DISPATCH_TLS_SERVER_NAME, DISPATCH_LOG_LEVEL (man dispatchctl)\n";

static int errors_as_json;
static void print_json_error(const char *code, const char *message);

int ctl_usage_error(const char *fmt, const char *what)
{
    if (errors_as_json) {
        char msg[DP_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, fmt, what);
        print_json_error("usage", msg);
        return EX_USAGE_;
    }
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
void ctl_errors_as_json(int on)
{
    errors_as_json = on;
}

static void print_json_error(const char *code, const char *message)
{
    json_t *e = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
    char *text = e != NULL ? json_dumps(e, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    if (text != NULL)
        fprintf(stderr, "%s\n", text);
    free(text);
    json_decref(e);
}

int ctl_config_error(const dp_err *err)
{
    if (errors_as_json) {
        print_json_error("config", err->msg);
        return EX_CONFIG_;
    }
    char msg[DP_ERR_MSG_MAX * 4];
    fprintf(stderr, "dispatchctl: %s\n", SAFE(err->msg, msg));
    return EX_CONFIG_;
}

int ctl_fail(int code, const dp_err *err)
{
    if (errors_as_json) {
        print_json_error(dp_code_name(code), err->msg[0] != '\0' ? err->msg : dp_code_name(code));
        return exit_for(code);
    }
    char msg[DP_ERR_MSG_MAX * 4];
    fprintf(stderr, "dispatchctl: %s\n",
            err->msg[0] != '\0' ? SAFE(err->msg, msg) : dp_code_name(code));
    return exit_for(code);
}

void ctl_print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (s != NULL) {
        puts(s);
        free(s);
    }
    json_decref(j);
}

/* Per-command help: `dispatchctl COMMAND --help`. */
static const struct {
    const char *cmd;
    int max_pos; /* positional arguments it takes at most */
    const char *text;
} command_help[] = {
    {"submit", 0,
     "usage: dispatchctl submit --profile P --archive PATH_OR_URL [--tests FILE.json]\n"
     "         [--max-attempts N] [--time-ms N] [--memory-kb N] [--submission-id ID]\n"
     "         [--labels L1,L2] [--priority high|normal|low]\n"
     "       dispatchctl submit --spec JOB.json | --spec -\n"
     "Submits one job (or a JSON array: a batch); prints each job id.\n"
     "--labels: only a runner carrying all of them takes the job; --priority: a runner\n"
     "takes higher first (8 high : 3 normal : 1 low while all wait).\n"
     "A profile no runner of this deployment ever offered is refused (65), unless no\n"
     "runner has registered yet: then it is accepted with a warning.\n"
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
     "Creates (prints the key once), lists or revokes API keys (admin).\n"
     "--max-queued N: at most N of its jobs queued or running; --per-minute N: at\n"
     "most N submits per minute (0 or absent: no limit). A submit over either is\n"
     "refused with \"quota\" (HTTP 429 + Retry-After; dispatchctl submit exits 75).\n"},
    {"jobs", 0,
     "usage: dispatchctl jobs [--state S] [--profile P] [--limit N] [--after CURSOR] [--json]\n"
     "Jobs, newest first, one page (--limit 1..500, default 50). The last line\n"
     "(or \"next\" with --json) is the cursor of the next page, for --after.\n"
     "A submit-scope key sees only its own jobs.\n"},
    {"profiles", 0,
     "usage: dispatchctl profiles [--json]\n"
     "The profiles the live runners offer: runners, slots, last heartbeat.\n"},
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
    OPT_LABELS,
    OPT_PRIORITY,
    OPT_HELP,
    OPT_VERSION,
    OPT_STATE,
    OPT_LIMIT,
    OPT_AFTER
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
    {"labels", required_argument, NULL, OPT_LABELS},
    {"priority", required_argument, NULL, OPT_PRIORITY},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {"state", required_argument, NULL, OPT_STATE},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"after", required_argument, NULL, OPT_AFTER},
    {NULL, 0, NULL, 0},
};

/* getopt_long over the words after the command (`--url=X` and `--url X`
 * both work); positionals in order. Returns -1 to go on, else an exit code
 * (help and version print and return 0). */
int ctl_parse_args(int argc, char **argv, cli_args *a)
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
                    return ctl_usage_error("unexpected argument '%s'", w);
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
        case OPT_STATE:
            a->state = v;
            break;
        case OPT_LIMIT:
            a->limit = v;
            break;
        case OPT_AFTER:
            a->after = v;
            break;
        case OPT_LABELS:
            a->labels = v;
            break;
        case OPT_PRIORITY:
            a->priority = v;
            break;
        case OPT_TIMEOUT: {
            char *end = NULL;
            a->timeout_s = strtod(v, &end);
            if (end == v || *end != '\0' || a->timeout_s <= 0)
                return ctl_usage_error("--timeout: '%s' is not a positive number of seconds", v);
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
            return ctl_usage_error("%s needs a value", sub_argv[optind - 1]);
        default:
            return ctl_usage_error("unknown option %s", sub_argv[optind - 1]);
        }
    }
    for (size_t i = 0; i < sizeof command_help / sizeof command_help[0]; i++)
        if (strcmp(command_help[i].cmd, cmd) == 0 && a->n_positional > command_help[i].max_pos)
            return ctl_usage_error("unexpected argument '%s'",
                                   a->positional[command_help[i].max_pos]);
    return -1;
}
