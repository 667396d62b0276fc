/* The custom checker; see checker.h. */
#include "runner/exec/checker.h"

#include "runner/exec/compare.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int exec_checker_needed(const exec_job_state *js)
{
    if (js->spec->n_tests == 0)
        return 0;
    for (size_t i = 0; i < js->spec->n_tests; i++) {
        dp_compare c = js->spec->tests[i].compare;
        if (c == DP_COMPARE_CUSTOM ||
            (c == DP_COMPARE_DEFAULT && js->profile->compare == DP_COMPARE_CUSTOM))
            return 1;
    }
    return 0;
}

/* The archive file the checker command names ("./name" as argv[0]), or NULL
 * when it names an installed program. */
static const char *archive_file(const exec_profile *p)
{
    const char *a0 = p->checker.argv[0];
    return strncmp(a0, "./", 2) == 0 && a0[2] != '\0' && strchr(a0 + 2, '/') == NULL ? a0 + 2
                                                                                     : NULL;
}

void exec_checker_prepare(exec_job_state *js)
{
    if (snprintf(js->checker_dir, sizeof js->checker_dir, "%s/checker", js->jobdir) >=
            (int)sizeof js->checker_dir ||
        mkdir(js->checker_dir, 0755) != 0) {
        exec_job_end(js, DP_VERDICT_SE, 1, "checker: mkdir %s: %s", js->checker_dir,
                     strerror(errno));
        return;
    }
    const char *file = archive_file(js->profile);
    if (file == NULL)
        return;
    struct stat st;
    int box = open(js->box, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int dir = open(js->checker_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (box < 0 || dir < 0 || fstatat(box, file, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(st.st_mode)) {
        exec_job_end(js, DP_VERDICT_CE, 0,
                     "compare custom: the archive has no checker file %s (a regular file)", file);
    } else if (renameat(box, file, dir, file) != 0) {
        exec_job_end(js, DP_VERDICT_SE, 1, "checker: moving %s: %s", file, strerror(errno));
    }
    if (box >= 0)
        close(box);
    if (dir >= 0)
        close(dir);
}

/* Writes a file of the checker's workspace afresh (the checker, a slot-uid
 * process, may have left anything there). */
static int put_file(const char *dir, const char *name, const char *data, size_t len)
{
    int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0)
        return -1;
    unlinkat(d, name, 0);
    int fd = openat(d, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    close(d);
    if (fd < 0)
        return -1;
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        data += w;
        len -= (size_t)w;
    }
    return close(fd);
}

/* The first non-empty line of buf (up to len bytes) into out. */
static void first_line(const char *buf, size_t len, char *out, size_t out_len)
{
    out[0] = '\0';
    const char *p = buf, *end = buf + (buf != NULL ? len : 0);
    while (p < end && (*p == '\n' || *p == '\r'))
        p++;
    const char *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
    size_t n = (size_t)((nl != NULL ? nl : end) - p);
    while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' '))
        n--;
    if (n >= out_len)
        n = out_len - 1;
    if (n > 0)
        exec_sanitize(p, n, out);
    out[n] = '\0';
}

int exec_checker_judge(exec_job_state *js, const dp_test_case *tc, const char *actual,
                       size_t actual_len, dp_verdict *verdict, double *credit, char *msg,
                       size_t msg_len, int *retryable)
{
    const exec_profile *p = js->profile;
    *retryable = 0;
    const char *in = tc->stdin_data != NULL ? tc->stdin_data : "";
    const char *exp = tc->expected_stdout != NULL ? tc->expected_stdout : "";
    if (put_file(js->checker_dir, "input", in, strlen(in)) != 0 ||
        put_file(js->checker_dir, "expected", exp, strlen(exp)) != 0 ||
        put_file(js->checker_dir, "actual", actual != NULL ? actual : "", actual_len) != 0) {
        snprintf(msg, msg_len, "checker: writing its files: %s", strerror(errno));
        *retryable = 1;
        return -1;
    }
    /* argv: the command, then the three files (host paths; the sandbox
     * shows them under /box) */
    size_t n = 0;
    while (p->checker.argv[n] != NULL)
        n++;
    char **argv = calloc(n + 4, sizeof *argv);
    char paths[3][4300];
    static const char *const names[] = {"input", "expected", "actual"};
    if (argv == NULL) {
        snprintf(msg, msg_len, "checker: out of memory");
        *retryable = 1;
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        argv[i] = p->checker.argv[i];
    for (size_t i = 0; i < 3; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/%s", js->checker_dir, names[i]);
        argv[n + i] = paths[i];
    }
    exec_command cmd = {argv, p->checker.text};
    exec_runner rn = js->rn; /* the same sandbox and budget, its own workspace */
    rn.workspace = js->checker_dir;
    rn.workspace_full = 0;
    sbx_result res;
    int cut;
    dp_err e;
    int rc = exec_run_command(&rn, "checker", &cmd, &p->checker_limits, NULL, 0, &res, &cut, &e);
    free(argv);
    if (rc != DP_OK) {
        snprintf(msg, msg_len, "checker: %s", e.msg);
        *retryable = rc != DP_ETIMEOUT;
        return -1;
    }
    char line[200];
    first_line(res.out, res.out_len, line, sizeof line);
    if (line[0] == '\0')
        first_line(res.err, res.err_len, line, sizeof line);
    int ok = 0;
    if (res.status == SBX_OK) {
        *verdict = DP_VERDICT_AC;
        *credit = 1;
        snprintf(msg, msg_len, "%s", line);
        ok = 1;
    } else if (res.status == SBX_RE && res.exit_code == 1) {
        *verdict = DP_VERDICT_WA;
        *credit = 0;
        snprintf(msg, msg_len, "%s", line);
        ok = 1;
    } else if (res.status == SBX_RE && res.exit_code == 2) {
        char *endp;
        double s = strtod(line, &endp);
        if (endp != line && isfinite(s) && s >= 0 && s <= 1) {
            *credit = s;
            *verdict = s >= 1 ? DP_VERDICT_AC : DP_VERDICT_WA;
            while (*endp == ' ' || *endp == '\t')
                endp++;
            snprintf(msg, msg_len, "partial %g%s%s", s, *endp ? ": " : "", endp);
            ok = 1;
        } else {
            snprintf(msg, msg_len,
                     "checker: exit 2 (partial) needs a score from 0 to 1 on its first line, "
                     "got \"%.80s\"",
                     line);
        }
    } else {
        char why[160];
        exec_describe(&res, exec_verdict_of(&res, 0), &p->checker_limits, why, sizeof why);
        snprintf(msg, msg_len, "checker failed (%s)%s%.100s", why, line[0] ? ": " : "", line);
        *retryable = res.status == SBX_XX;
    }
    sbx_result_free(&res);
    return ok ? 0 : -1;
}
