/* Setup and test stages of a job; see job.h. */
#include "runner/exec/exec_stages.h"

#include "runner/exec/checker.h"
#include "runner/exec/compare.h"
#include "runner/exec/fsutil.h"
#include "runner/exec/parse.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define JUNIT_FILE_MAX (4u << 20)

/* Ends the job as SE when the sandbox could not run a command: a fault on
 * our side, worth retrying elsewhere. */
static void sandbox_failed(exec_job_state *js, const char *label, const dp_err *e)
{
    exec_job_end(js, DP_VERDICT_SE, 1, "%s: sandbox failure: %s", label, e->msg);
}

void exec_stage_setup(exec_job_state *js)
{
    const exec_profile *p = js->profile;
    for (size_t i = 0; i < p->n_required; i++) {
        if (!exec_file_exists(js->box, p->required_files[i])) {
            exec_job_end(js, DP_VERDICT_CE, 0, "missing required file %s", p->required_files[i]);
            return;
        }
    }
    for (size_t i = 0; i < p->n_setup; i++) {
        char label[48];
        snprintf(label, sizeof label, "setup %zu/%zu", i + 1, p->n_setup);
        sbx_result res;
        int cut;
        dp_err e;
        int rc = exec_run_command(&js->rn, label, &p->setup[i], &p->setup_limits, NULL, 0, &res,
                                  &cut, &e);
        if (rc == DP_ETIMEOUT) {
            exec_job_end(js, DP_VERDICT_TLE, 0, "setup: %s", e.msg);
            return;
        }
        if (rc != DP_OK) {
            sandbox_failed(js, label, &e);
            return;
        }
        dp_verdict v = exec_verdict_of(&res, 0);
        if (v != DP_VERDICT_AC) {
            char why[160];
            if (res.status == SBX_RE)
                snprintf(why, sizeof why, "exit code %d", res.exit_code);
            else
                exec_describe(&res, v, &p->setup_limits, why, sizeof why);
            if (v == DP_VERDICT_SE) {
                exec_job_end(js, DP_VERDICT_SE, 1, "%s: %s", label, why);
            } else {
                /* the compiler's complaint is the useful part of the message */
                const char *o = res.err_len > 0 ? res.err : res.out;
                size_t ol = res.err_len > 0 ? res.err_len : res.out_len;
                char *ex = exec_excerpt(o, ol, 2048);
                exec_job_end(js, DP_VERDICT_CE, 0, "setup command `%.200s` failed: %s%s%s",
                             p->setup[i].text, why, ex != NULL && ex[0] ? "\n" : "",
                             ex != NULL ? ex : "");
                free(ex);
                dp_test_result *t = exec_job_add_test(js);
                if (t != NULL)
                    exec_test_fill(t, "setup", DP_VERDICT_CE, &res, js->excerpt_cap, 1);
            }
            sbx_result_free(&res);
            return;
        }
        sbx_result_free(&res);
    }
}

static int exec_contains(const char *buf, size_t len, const char *what)
{
    return buf != NULL && memmem(buf, len, what, strlen(what)) != NULL;
}

/* One I/O test against the run command. */
static void io_test(exec_job_state *js, const exec_command *cmd, const dp_test_case *tc, size_t idx)
{
    const exec_profile *p = js->profile;
    char fallback[32];
    snprintf(fallback, sizeof fallback, "test %zu", idx + 1);
    const char *name = tc->name != NULL ? tc->name : fallback;
    char label[240];
    snprintf(label, sizeof label, "test %.200s", name);
    dp_limits lim = exec_limits_merge(&p->limits, &js->spec->limits, tc->timeout_ms);
    const char *in = tc->stdin_data != NULL ? tc->stdin_data : "";
    sbx_result res;
    int cut;
    dp_err e;
    int rc = exec_run_command(&js->rn, label, cmd, &lim, in, strlen(in), &res, &cut, &e);
    dp_test_result *t = exec_job_add_test(js);
    if (t == NULL) {
        if (rc == DP_OK)
            sbx_result_free(&res);
        return;
    }
    if (rc == DP_ETIMEOUT) {
        exec_test_fill(t, name, DP_VERDICT_TLE, NULL, 0, 0);
        return;
    }
    if (rc != DP_OK) {
        exec_test_fill(t, name, DP_VERDICT_SE, NULL, 0, 0);
        sandbox_failed(js, label, &e);
        return;
    }
    dp_verdict v = exec_verdict_of(&res, 0);
    /* the runtime ran out of the heap it sized from the limit (the JVM says so on stdout) */
    if (v == DP_VERDICT_RE && p->oom_message != NULL &&
        (exec_contains(res.err, res.err_len, p->oom_message) ||
         exec_contains(res.out, res.out_len, p->oom_message)))
        v = DP_VERDICT_MLE;
    char differ[160] = "";
    dp_compare mode = tc->compare != DP_COMPARE_DEFAULT ? tc->compare : p->compare;
    /* a custom checker judges even without an expected output */
    if (v == DP_VERDICT_AC && (tc->expected_stdout != NULL || mode == DP_COMPARE_CUSTOM)) {
        int same;
        if (mode == DP_COMPARE_CUSTOM) {
            int retry = 0;
            double credit = 0;
            if (exec_checker_judge(js, tc, res.out, res.out_len, &v, &credit, differ, sizeof differ,
                                   &retry) != 0) {
                /* never a wrong verdict for the submission: the job is SE */
                exec_test_fill(t, name, DP_VERDICT_SE, &res, js->excerpt_cap, 1);
                t->message = strdup(differ);
                exec_log_printf(&js->log, "[%s] %s\n", label, differ);
                exec_job_end(js, DP_VERDICT_SE, retry, "%s: %s", label, differ);
                sbx_result_free(&res);
                return;
            }
            js->credit[js->n_tests - 1] = credit;
            same = 1; /* v is the checker's */
        } else if (mode == DP_COMPARE_TOKENS || mode == DP_COMPARE_FLOAT) {
            /* the test's tolerances, else the job's (else the default) */
            int own = tc->abs_tol != 0 || tc->rel_tol != 0;
            same = exec_tokens_match(tc->expected_stdout, strlen(tc->expected_stdout), res.out,
                                     res.out_len, mode == DP_COMPARE_FLOAT,
                                     own ? tc->abs_tol : js->spec->abs_tol,
                                     own ? tc->rel_tol : js->spec->rel_tol, differ, sizeof differ);
        } else {
            same = exec_output_matches(tc->expected_stdout, strlen(tc->expected_stdout), res.out,
                                       res.out_len, mode);
        }
        if (!same)
            v = DP_VERDICT_WA;
    }
    if (exec_test_fill(t, name, v, &res, js->excerpt_cap, 1) != DP_OK)
        exec_job_end(js, DP_VERDICT_SE, 1, "out of memory");
    char why[160] = "";
    if (differ[0] != '\0' && mode == DP_COMPARE_CUSTOM) /* the checker's own words */
        snprintf(why, sizeof why, "%.150s", differ);
    else if (differ[0] != '\0' && v == DP_VERDICT_WA)
        snprintf(why, sizeof why, "wrong answer: %.140s", differ);
    else if (v != DP_VERDICT_AC)
        exec_describe(&res, v, &lim, why, sizeof why);
    if (why[0] != '\0' && (t->message = strdup(why)) == NULL)
        exec_job_end(js, DP_VERDICT_SE, 1, "out of memory");
    exec_log_printf(&js->log, "[%s] verdict %s%s%s%s\n", label, dp_verdict_name(v),
                    why[0] ? ": " : "", why, cut && v == DP_VERDICT_TLE ? " (job budget)" : "");
    if (v == DP_VERDICT_SE)
        exec_job_end(js, DP_VERDICT_SE, 1, "%s: %s", label, why);
    sbx_result_free(&res);
}

/* Reads the profile's JUnit file from the workspace without following any
 * symlink the submission may have planted. NULL when absent. */
static char *read_junit(exec_job_state *js, size_t *len)
{
    char rel[512];
    snprintf(rel, sizeof rel, "%s", js->profile->junit_file);
    int fd = open(js->box, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char *p = rel;
    while (fd >= 0) {
        char *slash = strchr(p, '/');
        if (slash != NULL)
            *slash = '\0';
        int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (slash != NULL ? O_DIRECTORY : 0);
        int next = openat(fd, p, flags | O_NONBLOCK);
        close(fd);
        fd = next;
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > JUNIT_FILE_MAX) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    ssize_t n = buf != NULL ? read(fd, buf, (size_t)st.st_size) : -1;
    close(fd);
    if (n < 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

/* Turns the parsed cases (or, failing that, the exit status) into results. */
static void command_results(exec_job_state *js, const sbx_result *res, const exec_cases *cases,
                            const dp_limits *lim)
{
    dp_verdict whole = exec_verdict_of(res, 1);
    int any_fail = 0;
    for (size_t i = 0; i < cases->n; i++) {
        dp_test_result *t = exec_job_add_test(js);
        if (t == NULL)
            return;
        int bad = cases->v[i].verdict != DP_VERDICT_AC;
        any_fail |= bad;
        size_t at, n;
        if (bad && js->profile->format == EXEC_FORMAT_UNITTEST &&
            exec_unittest_section(res->err, res->err_len, cases->v[i].name, &at, &n)) {
            /* this test's own traceback, not the whole run's output */
            exec_test_fill(t, cases->v[i].name, cases->v[i].verdict, res, 0, 0);
            t->stdout_excerpt = exec_excerpt(res->out, res->out_len, js->excerpt_cap);
            t->stderr_excerpt = exec_excerpt(res->err + at, n, js->excerpt_cap);
        } else {
            exec_test_fill(t, cases->v[i].name, cases->v[i].verdict, res, js->excerpt_cap, bad);
        }
    }
    /* The command's own outcome counts when no case explains it: a limit,
     * a crash, a failing exit with every parsed case passing, or no cases. */
    int add = cases->n == 0 || (whole != DP_VERDICT_AC && whole != DP_VERDICT_WA) ||
              (whole == DP_VERDICT_WA && !any_fail);
    if (!add)
        return;
    dp_test_result *t = exec_job_add_test(js);
    if (t == NULL)
        return;
    const char *name = cases->n == 0 ? js->profile->name : "exit status";
    char why[160] = "";
    if (cases->n == 0 && whole == DP_VERDICT_AC && js->profile->format != EXEC_FORMAT_EXIT) {
        /* the profile promised per-test results: none means nothing was tested */
        whole = DP_VERDICT_WA;
        snprintf(why, sizeof why, "no test results found");
    } else if (whole != DP_VERDICT_AC) {
        exec_describe(res, whole, lim, why, sizeof why);
    }
    exec_test_fill(t, name, whole, res, js->excerpt_cap, 1);
    exec_log_printf(&js->log, "[test command] verdict %s%s%s\n", dp_verdict_name(whole),
                    why[0] ? ": " : "", why);
    if (whole == DP_VERDICT_SE)
        exec_job_end(js, DP_VERDICT_SE, 1, "test command: %s", why);
}

static void test_command(exec_job_state *js, const exec_command *cmd)
{
    const exec_profile *p = js->profile;
    dp_limits lim = exec_limits_merge(&p->limits, &js->spec->limits, 0);
    sbx_result res;
    int cut;
    dp_err e;
    int rc = exec_run_command(&js->rn, "test command", cmd, &lim, NULL, 0, &res, &cut, &e);
    if (rc == DP_ETIMEOUT) {
        dp_test_result *t = exec_job_add_test(js);
        if (t != NULL)
            exec_test_fill(t, p->name, DP_VERDICT_TLE, NULL, 0, 0);
        return;
    }
    if (rc != DP_OK) {
        sandbox_failed(js, "test command", &e);
        return;
    }
    exec_cases cases = {0};
    int bailed = 0;
    if (p->format == EXEC_FORMAT_UNITTEST) {
        exec_parse_unittest(res.err, res.err_len, &cases);
    } else if (p->format == EXEC_FORMAT_TAP) {
        exec_parse_tap(res.out, res.out_len, &cases, &bailed);
    } else if (p->format == EXEC_FORMAT_JUNIT) {
        size_t len = 0;
        char *xml = read_junit(js, &len);
        if (xml != NULL)
            exec_parse_junit(xml, len, &cases);
        else
            exec_log_printf(&js->log, "[test command] no JUnit file %s\n", p->junit_file);
        free(xml);
    }
    if (cases.dropped > 0)
        exec_log_printf(&js->log, "[test command] %zu results beyond %d dropped\n", cases.dropped,
                        DP_MAX_TESTS);
    command_results(js, &res, &cases, &lim);
    if (bailed && !js->ended) {
        dp_test_result *t = exec_job_add_test(js);
        if (t != NULL)
            exec_test_fill(t, "bail out", DP_VERDICT_RE, &res, js->excerpt_cap, 1);
    }
    exec_cases_free(&cases);
    sbx_result_free(&res);
}

void exec_stage_tests(exec_job_state *js)
{
    const exec_profile *p = js->profile;
    const dp_job_spec *spec = js->spec;
    if (spec->n_tests > 0) {
        const exec_command *cmd = p->run_command.argv != NULL ? &p->run_command : &p->test_command;
        for (size_t i = 0; i < spec->n_tests && !js->ended; i++)
            io_test(js, cmd, &spec->tests[i], i);
        return;
    }
    test_command(js, p->test_command.argv != NULL ? &p->test_command : &p->run_command);
}
