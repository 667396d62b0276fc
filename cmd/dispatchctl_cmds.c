/* dispatchctl's commands: each talks to the dispatcher through the C client
 * and prints for people (escaped) or --json. */
#include "cmd/dispatchctl.h"

#include "common/config.h"
#include "common/job_json.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* A local path becomes a file:// URL, which only runners on dispatchd's
 * machine (RUNNER_FETCH_ALLOW_FILE=1) can read: so it is taken only when
 * dispatchctl reaches dispatchd over its local ipc socket. Over tcp the
 * dispatcher (and its runners, often containers) is elsewhere and the URL
 * would name a file nobody there can read: refused, naming what works
 * instead (docs/deploy.md, "Archives"). */
static int archive_url(const char *arg, const char *admin_url, char *out, size_t len, dp_err *err)
{
    if (strstr(arg, "://") != NULL) {
        if (dp_config_check_url("--archive", arg, "file,http,https", err) != DP_OK)
            return DP_EINVAL;
        snprintf(out, len, "%s", arg);
        return DP_OK;
    }
    if (admin_url != NULL && strncmp(admin_url, "ipc://", 6) != 0 &&
        strncmp(admin_url, "inproc://", 9) != 0)
        return dp_err_set(err, DP_EINVAL,
                          "--archive: %s is a local file, but dispatchd at %s is remote: its "
                          "runners cannot read this machine's files; pass an http(s):// URL "
                          "they can fetch, or submit the files inline through the HTTP API "
                          "(POST /jobs with \"files\")",
                          arg, admin_url);
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
    if (archive_url(a->archive, a->url, url, sizeof url, err) != DP_OK)
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
    /* Routing: checked with the rest of the spec (dp_job_spec_check). */
    if (a->priority != NULL)
        json_object_set_new(o, "priority", json_string(a->priority));
    if (a->labels != NULL) {
        json_t *labels = json_array();
        char buf[2048];
        snprintf(buf, sizeof buf, "%s", a->labels);
        char *save = NULL;
        for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save))
            json_array_append_new(labels, json_string(t));
        json_object_set_new(o, "labels", labels);
    }
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

int ctl_submit(dpc *c, const cli_args *a)
{
    dp_err err = {0};
    json_t *j = submit_json(a, &err);
    if (j == NULL)
        return ctl_fail(DP_EINVAL, &err);
    int batch = json_is_array(j);
    dp_job_spec *specs = NULL;
    size_t n = 0;
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    int rc = text != NULL ? dp_job_specs_from_text(text, strlen(text), &specs, &n, &err)
                          : dp_err_set(&err, DP_ENOMEM, "out of memory");
    free(text);
    if (rc != DP_OK)
        return ctl_fail(rc, &err);
    dpc_submitted *items = NULL;
    rc = dpc_submit(c, specs, n, &items, &err);
    dp_job_specs_free(specs, n);
    if (rc != DP_OK)
        return ctl_fail(rc, &err);
    int status = EX_OK_;
    json_t *out = batch ? json_array() : NULL;
    for (size_t i = 0; i < n; i++) {
        if (items[i].job_id == NULL) {
            char e[2048];
            fprintf(stderr, "dispatchctl: job %zu: %s\n", i, SAFE(items[i].error, e));
            if (status != EX_DATAERR_) /* a bad spec outranks a quota refusal */
                status = items[i].quota ? EX_TEMPFAIL_ : EX_DATAERR_;
        }
        if (items[i].warning != NULL) {
            char w[2048];
            fprintf(stderr, "dispatchctl: warning: job %zu: %s\n", i, SAFE(items[i].warning, w));
        }
        json_t *o = json_object();
        if (items[i].job_id != NULL)
            json_object_set_new(o, "job_id", json_string(items[i].job_id));
        if (items[i].warning != NULL)
            json_object_set_new(o, "warning", json_string(items[i].warning));
        else
            json_object_set_new(o, "error", json_string(items[i].error));
        if (items[i].job_id == NULL && items[i].quota) {
            json_object_set_new(o, "code", json_string(DP_MSG_ERR_QUOTA));
            json_object_set_new(o, "retry_after", json_integer(items[i].retry_s));
        }
        if (a->json && batch)
            json_array_append_new(out, o);
        else if (a->json && items[i].job_id != NULL)
            ctl_print_json(o);
        else {
            if (items[i].job_id != NULL)
                puts(items[i].job_id);
            json_decref(o);
        }
    }
    if (out != NULL) {
        if (a->json)
            ctl_print_json(out);
        else
            json_decref(out);
    }
    dpc_submit_free(items, n);
    return status;
}

static void print_view(const dp_job_view *v, int as_json)
{
    if (as_json) {
        ctl_print_json(dp_job_view_to_json(v));
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
    if (v->labels != NULL && v->labels[0] != '\0')
        printf("labels    %s\n", SAFE(v->labels, a));
    if (v->priority != NULL && strcmp(v->priority, "normal") != 0)
        printf("priority  %s\n", SAFE(v->priority, a));
    if (v->callback_state != NULL) {
        char m[1024];
        printf("callback  %s, %u attempt(s)%s%s\n", SAFE(v->callback_state, a),
               v->callback_attempts, v->callback_error != NULL ? ": " : "",
               v->callback_error != NULL ? SAFE(v->callback_error, m) : "");
    }
    for (size_t i = 0; i < v->n_tests; i++) {
        const dp_test_result *t = &v->tests[i];
        const char *tv = dp_verdict_name(t->verdict);
        printf("  test %-16s %-4s exit %d  %u ms cpu  %u ms wall  %llu KiB\n", SAFE(t->name, a),
               tv != NULL ? tv : "-", t->exit_code, t->time_ms, t->wall_ms,
               (unsigned long long)t->memory_kb);
    }
}

int ctl_status(dpc *c, const cli_args *a)
{
    if (a->n_positional != 1)
        return ctl_usage_error("%s needs exactly one JOB", "status");
    dp_err err = {0};
    dp_job_view v = {0};
    int rc = dpc_status(c, a->positional[0], &v, &err);
    if (rc != DP_OK)
        return ctl_fail(rc, &err);
    print_view(&v, a->json);
    dp_job_view_free(&v);
    return EX_OK_;
}

int ctl_wait(dpc *c, const cli_args *a)
{
    if (a->n_positional != 1)
        return ctl_usage_error("%s needs exactly one JOB", "wait");
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
        return ctl_fail(rc, &err);
    print_view(&v, a->json);
    int code = v.state == DP_JOB_COMPLETED ? (v.verdict == DP_VERDICT_AC ? 0 : 1) : 2;
    dp_job_view_free(&v);
    return code;
}

int ctl_runners(dpc *c, const cli_args *a)
{
    dp_err err = {0};
    dp_runner_info *list = NULL;
    size_t n = 0;
    int rc = dpc_runners(c, &list, &n, &err);
    if (rc != DP_OK)
        return ctl_fail(rc, &err);
    if (a->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, dp_runner_info_to_json(&list[i]));
        ctl_print_json(arr);
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

/* One line per queue with jobs: profile, labels, priority, depth, and who
 * can take it; a queue no live runner can take says so (its jobs wait). */
static void ctl_print_queues(const dp_queue_stats *s)
{
    if (s->n_queues == 0)
        return;
    printf("%-16s %-24s %-8s %8s  %s\n", "PROFILE", "LABELS", "PRIORITY", "DEPTH", "RUNNERS");
    for (size_t i = 0; i < s->n_queues; i++) {
        const dp_queue_depth *q = &s->queues[i];
        char p[256], l[1024], pr[64];
        printf("%-16s %-24s %-8s %8llu  %u%s\n", SAFE(q->profile, p),
               q->labels != NULL && q->labels[0] != '\0' ? SAFE(q->labels, l) : "-",
               SAFE(q->priority, pr), (unsigned long long)q->depth, (unsigned)q->runners,
               q->runners == 0 ? "  (no live runner can take these: they wait)" : "");
    }
}

int ctl_queue(dpc *c, const cli_args *a)
{
    dp_err err = {0};
    dp_queue_stats s = {0};
    int rc = dpc_queue(c, &s, &err);
    if (rc != DP_OK)
        return ctl_fail(rc, &err);
    if (a->json)
        ctl_print_json(dp_queue_stats_to_json(&s));
    else {
        printf("pending %llu\nleased %llu\ndead %llu\ncompleted %llu\nrunners_alive %llu\n",
               (unsigned long long)s.pending, (unsigned long long)s.leased,
               (unsigned long long)s.dead, (unsigned long long)s.completed,
               (unsigned long long)s.runners_alive);
        ctl_print_queues(&s);
    }
    dp_queue_stats_free(&s);
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
        ctl_print_json(o);
    } else if (count >= 0) {
        printf("%s %ld job(s)\n", what, count);
    } else {
        printf("%s %s\n", what, id);
    }
    return EX_OK_;
}

int ctl_admin(dpc *c, const char *cmd, const cli_args *a)
{
    dp_err err = {0};
    int rc;
    if (strcmp(cmd, "requeue") == 0 && a->dead) {
        if (a->n_positional != 0)
            return ctl_usage_error("%s takes either JOB or --dead", "requeue");
        uint32_t count = 0;
        rc = dpc_requeue_dead(c, &count, &err);
        return rc != DP_OK ? ctl_fail(rc, &err) : admin_done(a, "requeued", NULL, (long)count);
    }
    if (a->n_positional != 1)
        return ctl_usage_error("%s needs exactly one id", cmd);
    const char *id = a->positional[0];
    if (strcmp(cmd, "cancel") == 0)
        rc = dpc_cancel(c, id, &err);
    else if (strcmp(cmd, "requeue") == 0)
        rc = dpc_requeue(c, id, &err);
    else
        rc = dpc_drain(c, id, &err);
    if (rc != DP_OK)
        return ctl_fail(rc, &err);
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
        ctl_print_json(o);
    } else {
        char id[256], msg[2048];
        printf("%s %s %s %s attempt=%u%s%s\n", ev->ts ? ev->ts : "-", SAFE(ev->job_id, id),
               ev->state, ev->verdict ? ev->verdict : "-", ev->attempt, ev->message ? " " : "",
               ev->message ? SAFE(ev->message, msg) : "");
    }
    fflush(stdout);
    return 0;
}

int ctl_watch(dpc *c, const cli_args *a)
{
    if (a->n_positional > 1)
        return ctl_usage_error("%s takes at most one JOB", "watch");
    dp_err err = {0};
    watch_ctx w = {a->json};
    int rc = dpc_watch(c, a->n_positional ? a->positional[0] : NULL, on_event, &w, &err);
    return rc != DP_OK ? ctl_fail(rc, &err) : EX_OK_;
}
