/* The executor pipeline: exec_open, exec_job, exec_close; see exec.h. The
 * setup and test stages live in stages.c, the job state in exec_job.c. */
#include "runner/exec/exec.h"

#include "common/log.h"
#include "runner/exec/checker.h"
#include "runner/exec/extract.h"
#include "runner/exec/fetch.h"
#include "runner/exec/fsutil.h"
#include "runner/exec/exec_job.h"
#include "runner/exec/exec_stages.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct exec_ctx {
    exec_config cfg; /* strings below are the ctx's own copies */
    exec_stats last; /* of the last job (exec_last_stats) */
    char *profiles_dir;
    char *workdir;
    exec_addr_allow fetch_allow;
    sbx *sandbox;
    exec_profile_cache *profiles;
    int curl_held;
};

/* What every command sees unless the profile overrides it. */
static const char *const exec_base_env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
                                            "LC_ALL=C.UTF-8"};

static int dir_check(const char *what, const char *path, dp_err *err)
{
    struct stat st;
    if (path == NULL || path[0] == '\0')
        return dp_err_set(err, DP_EINVAL, "%s: not set", what);
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return dp_err_set(err, DP_EINVAL, "%s: %s is not a directory", what, path);
    return DP_OK;
}

/* A capped workspace needs a tmpfs mount: find out now, not at the first job. */
static int workspace_probe(exec_ctx *c, dp_err *err)
{
    char dir[4096];
    dp_err e = {0};
    if (exec_mkjobdir(c->workdir, c->cfg.slot, c->cfg.workspace_bytes, dir, sizeof dir, &e) ==
        DP_OK)
        return exec_rmjobdir(dir, err);
    if (geteuid() == 0)
        return dp_err_set(err, DP_EINVAL, "RUNNER_WORKSPACE_BYTES: %s", e.msg);
    /* not root: a development set-up without mounts; say so, run uncapped */
    dp_log(DP_LOG_WARN, "workspace_uncapped", "workdir", c->workdir, "error", e.msg, (char *)NULL);
    c->cfg.workspace_bytes = 0;
    return DP_OK;
}

exec_ctx *exec_open(const exec_config *cfg, dp_err *err)
{
    if (cfg == NULL) {
        dp_err_set(err, DP_EINVAL, "exec_open: no config");
        return NULL;
    }
    exec_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) {
        dp_err_set(err, DP_ENOMEM, "out of memory");
        return NULL;
    }
    c->cfg = *cfg;
    exec_config *k = &c->cfg;
    k->max_archive_bytes = k->max_archive_bytes ? k->max_archive_bytes : 64u << 20;
    k->max_unpacked_bytes = k->max_unpacked_bytes ? k->max_unpacked_bytes : 256u << 20;
    k->max_entries = k->max_entries ? k->max_entries : 10000;
    k->fetch_connect_timeout_ms = k->fetch_connect_timeout_ms ? k->fetch_connect_timeout_ms : 10000;
    k->fetch_timeout_ms = k->fetch_timeout_ms ? k->fetch_timeout_ms : 120000;
    k->file_size_bytes = k->file_size_bytes ? k->file_size_bytes : 64u << 20;
    k->log_cap = k->log_cap ? k->log_cap : 1u << 20;
    k->excerpt_cap = k->excerpt_cap ? k->excerpt_cap : 4096;
    if (cfg->noop)
        return c;
    if (dir_check("RUNNER_PROFILES_DIR", cfg->profiles_dir, err) != DP_OK ||
        dir_check("RUNNER_WORKDIR", cfg->workdir, err) != DP_OK)
        goto fail;
    c->profiles_dir = strdup(cfg->profiles_dir);
    c->workdir = strdup(cfg->workdir);
    if (c->profiles_dir == NULL || c->workdir == NULL) {
        dp_err_set(err, DP_ENOMEM, "out of memory");
        goto fail;
    }
    k->profiles_dir = c->profiles_dir;
    k->workdir = c->workdir;
    k->sandbox_require = NULL;
    if (exec_addr_allow_parse(cfg->fetch_allow_cidrs, "RUNNER_FETCH_ALLOW_CIDRS", &c->fetch_allow,
                              err) != DP_OK)
        goto fail;
    k->fetch_allow_cidrs = NULL;
    if (cfg->sweep_stale) {
        int n = exec_sweep_stale(c->workdir, cfg->slot, err);
        if (n < 0)
            goto fail;
        if (n > 0) {
            char num[16];
            snprintf(num, sizeof num, "%d", n);
            dp_log(DP_LOG_WARN, "stale_workspaces_removed", "workdir", c->workdir, "count", num,
                   (char *)NULL);
        }
    }
    if (k->workspace_bytes != 0 && workspace_probe(c, err) != DP_OK)
        goto fail;
    if ((c->profiles = exec_profile_cache_new(c->profiles_dir, err)) == NULL)
        goto fail;
    if (exec_fetch_global_acquire(err) != DP_OK)
        goto fail;
    c->curl_held = 1;
    sbx_config sc = {.slot = cfg->slot, .require = cfg->sandbox_require};
    if ((c->sandbox = sbx_open(&sc, err)) == NULL)
        goto fail;
    return c;
fail:
    exec_close(c);
    return NULL;
}

void exec_close(exec_ctx *c)
{
    if (c == NULL)
        return;
    sbx_close(c->sandbox);
    exec_profile_cache_free(c->profiles);
    if (c->curl_held)
        exec_fetch_global_release();
    free(c->profiles_dir);
    free(c->workdir);
    free(c);
}

/* Fetch or extract failed: a full capped workspace is the archive's fault
 * (CE), as is a bad archive (DP_EINVAL); anything else is ours (SE, retry). */
static void input_stage_failed(const exec_ctx *c, exec_job_state *js, int rc, const char *dir,
                               const dp_err *e)
{
    if (rc == DP_EIO && c->cfg.workspace_bytes != 0 && exec_workspace_full(dir)) {
        exec_job_end(js, DP_VERDICT_CE, 0,
                     "the archive does not fit in the workspace (RUNNER_WORKSPACE_BYTES=%llu): %s",
                     (unsigned long long)c->cfg.workspace_bytes, e->msg);
        return;
    }
    int input = rc == DP_EINVAL;
    exec_job_end(js, input ? DP_VERDICT_CE : DP_VERDICT_SE, !input, "%s", e->msg);
}

/* base environment plus the profile's (the profile wins); NULL-terminated. */
static char **build_env(const exec_profile *p)
{
    size_t nb = sizeof exec_base_env / sizeof exec_base_env[0];
    char **env = calloc(nb + p->n_env + 1, sizeof *env);
    if (env == NULL)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < nb; i++) {
        size_t kl = (size_t)(strchr(exec_base_env[i], '=') - exec_base_env[i]) + 1;
        int overridden = 0;
        for (size_t j = 0; j < p->n_env; j++)
            overridden |= strncmp(p->env[j], exec_base_env[i], kl) == 0;
        if (!overridden)
            env[n++] = (char *)exec_base_env[i];
    }
    for (size_t j = 0; j < p->n_env; j++)
        env[n++] = p->env[j];
    return env; /* the strings stay owned by the table and the profile */
}

/* Profile, fetch, extract: ends the job when one fails. */
static void stage_prepare(exec_ctx *c, exec_job_state *js)
{
    const dp_job_spec *spec = js->spec;
    dp_err e;
    int rc = exec_profile_get(c->profiles, spec->profile, &js->profile, &e);
    if (rc == DP_ENOTFOUND && !exec_profile_name_ok(spec->profile)) {
        exec_job_end(js, DP_VERDICT_CE, 0, "%s", e.msg); /* not a name: the submission's */
        return;
    }
    if (rc == DP_ENOTFOUND) {
        /* Routing leases a runner only the profiles it offered, so this
         * runner lost the file since it registered: never the submission's
         * fault (never CE); another runner that offers it runs it. */
        exec_job_end(js, DP_VERDICT_SE, 1, "this runner does not have %s", e.msg);
        return;
    }
    if (rc != DP_OK) {
        /* a broken profile file is the operator's to fix; another runner
         * may hold a good copy, so it is ours and retryable */
        exec_job_end(js, DP_VERDICT_SE, 1, "%s", e.msg);
        return;
    }
    if (spec->n_tests > DP_MAX_TESTS) {
        exec_job_end(js, DP_VERDICT_CE, 0, "%zu tests, more than %d", spec->n_tests, DP_MAX_TESTS);
        return;
    }
    if (exec_mkjobdir(c->workdir, c->cfg.slot, c->cfg.workspace_bytes, js->jobdir,
                      sizeof js->jobdir, &e) != DP_OK) {
        exec_job_end(js, DP_VERDICT_SE, 1, "%s", e.msg);
        return;
    }
    snprintf(js->archive, sizeof js->archive, "%s/archive.zip", js->jobdir);
    snprintf(js->box, sizeof js->box, "%s/box", js->jobdir);
    exec_fetch_limits fl = {c->cfg.max_archive_bytes, c->cfg.fetch_connect_timeout_ms,
                            c->cfg.fetch_timeout_ms, c->cfg.fetch_allow_file, &c->fetch_allow};
    uint64_t size = 0, t0 = exec_now_ms();
    rc = exec_fetch(spec->archive, spec->archive_sha256, js->archive, &fl, &size, &e);
    if (rc != DP_OK) {
        input_stage_failed(c, js, rc, js->jobdir, &e);
        return;
    }
    c->last.fetched = 1;
    c->last.fetch_bytes = size;
    c->last.fetch_s = (double)(exec_now_ms() - t0) / 1000.0;
    exec_log_printf(&js->log, "fetched %s: %llu bytes in %llu ms%s\n", spec->archive,
                    (unsigned long long)size, (unsigned long long)(exec_now_ms() - t0),
                    spec->archive_sha256 != NULL ? ", sha256 ok" : "");
    if (mkdir(js->box, 0755) != 0) {
        exec_job_end(js, DP_VERDICT_SE, 1, "mkdir %s: %s", js->box, strerror(errno));
        return;
    }
    exec_extract_limits xl = {c->cfg.max_entries, c->cfg.max_unpacked_bytes};
    exec_extract_stats xs;
    rc = exec_extract(js->archive, js->box, &xl, &xs, &e);
    if (rc != DP_OK) {
        input_stage_failed(c, js, rc, js->box, &e);
        return;
    }
    unlink(js->archive); /* no longer needed: free the space early */
    exec_log_printf(&js->log, "extracted %u entries, %llu bytes\n", xs.entries,
                    (unsigned long long)xs.bytes);
}

/* Verdict (first non-AC test's), score, message. */
static void finish(exec_job_state *js)
{
    dp_job_result *out = js->out;
    size_t passed = 0;
    const dp_test_result *first_bad = NULL;
    /* I/O tests weigh their spec's score (all 0: the same); other results 1 */
    int weighted = js->spec->n_tests > 0 && js->n_tests == js->spec->n_tests;
    double total = 0, got = 0;
    for (size_t i = 0; weighted && i < js->n_tests; i++)
        total += js->spec->tests[i].score;
    weighted = weighted && total > 0;
    for (size_t i = 0; i < js->n_tests; i++) {
        double w = weighted ? js->spec->tests[i].score : 1.0;
        if (js->tests[i].verdict == DP_VERDICT_AC) {
            passed++;
            got += w;
        } else {
            got += w * js->credit[i]; /* a custom checker's partial score */
            if (first_bad == NULL)
                first_bad = &js->tests[i];
        }
    }
    if (!weighted)
        total = (double)js->n_tests;
    out->score = total > 0 ? 100.0 * got / total : 0.0;
    out->tests = js->tests;
    out->n_tests = js->n_tests;
    js->tests = NULL;
    js->n_tests = 0;
    if (js->ended) {
        if (out->verdict == DP_VERDICT_CE || out->verdict == DP_VERDICT_SE)
            out->score = 0.0;
        return;
    }
    if (out->n_tests == 0) {
        exec_job_end(js, DP_VERDICT_SE, 0, "no test was run");
        return;
    }
    out->verdict = first_bad != NULL ? first_bad->verdict : DP_VERDICT_AC;
    if (first_bad != NULL) {
        char msg[400], why[96] = "";
        if (first_bad->verdict == DP_VERDICT_RE && first_bad->signal != 0)
            snprintf(why, sizeof why, ", killed by signal %d (%s)", first_bad->signal,
                     strsignal(first_bad->signal));
        else if (first_bad->verdict == DP_VERDICT_OLE && js->rn.workspace_full)
            snprintf(why, sizeof why, ", the workspace is full (RUNNER_WORKSPACE_BYTES=%llu)",
                     (unsigned long long)js->rn.workspace_cap);
        else if (first_bad->exit_code > 0)
            snprintf(why, sizeof why, ", exit code %d", first_bad->exit_code);
        snprintf(msg, sizeof msg, "%s: %s%s (%zu of %zu tests passed)", first_bad->name,
                 dp_verdict_name(first_bad->verdict), why, passed, out->n_tests);
        out->message = strdup(msg);
    }
    exec_log_printf(&js->log, "verdict %s score %.1f (%zu/%zu)\n", dp_verdict_name(out->verdict),
                    out->score, passed, out->n_tests);
}

int exec_job(exec_ctx *c, const dp_job_spec *spec, uint32_t attempt, dp_job_result *out,
             int *retryable, dp_err *err)
{
    if (c == NULL || spec == NULL || out == NULL || retryable == NULL)
        return dp_err_set(err, DP_EINVAL, "exec_job: NULL argument");
    memset(out, 0, sizeof *out);
    memset(&c->last, 0, sizeof c->last);
    *retryable = 0;
    out->attempt = attempt;
    out->job_id = strdup(spec->job_id != NULL ? spec->job_id : "");
    if (c->cfg.noop) {
        out->verdict = DP_VERDICT_AC;
        out->score = 100.0;
        return DP_OK;
    }
    exec_job_state js;
    memset(&js, 0, sizeof js);
    js.spec = spec;
    js.out = out;
    js.excerpt_cap = c->cfg.excerpt_cap;
    exec_log_init(&js.log, c->cfg.log_cap);
    uint64_t t0 = exec_now_ms();
    exec_log_printf(&js.log, "job %s attempt %u profile %s slot %d\n",
                    spec->job_id != NULL ? spec->job_id : "-", attempt,
                    spec->profile != NULL ? spec->profile : "-", c->cfg.slot);
    if (out->job_id == NULL)
        exec_job_end(&js, DP_VERDICT_SE, 1, "out of memory");
    if (!js.ended)
        stage_prepare(c, &js);
    if (!js.ended && (js.envp = build_env(js.profile)) == NULL)
        exec_job_end(&js, DP_VERDICT_SE, 1, "out of memory");
    uint64_t sandbox_t0 = exec_now_ms();
    int sandboxed = !js.ended;
    if (!js.ended) {
        js.rn = (exec_runner){.sandbox = c->sandbox,
                              .workspace = js.box,
                              .envp = (const char *const *)js.envp,
                              .log = &js.log,
                              .excerpt_cap = js.excerpt_cap,
                              .deadline_ms = t0 + js.profile->max_timeout_ms,
                              .fsize_bytes = c->cfg.file_size_bytes,
                              .network = js.profile->network,
                              .workspace_cap = c->cfg.workspace_bytes};
        if (exec_checker_needed(&js))
            exec_checker_prepare(&js);
        if (!js.ended)
            exec_stage_setup(&js);
    }
    if (!js.ended)
        exec_stage_tests(&js);
    if (sandboxed) {
        c->last.sandboxed = 1;
        c->last.sandbox_s = (double)(exec_now_ms() - sandbox_t0) / 1000.0;
    }
    finish(&js);
    free(js.envp);
    if (js.jobdir[0] != '\0') {
        dp_err e;
        if (exec_rmjobdir(js.jobdir, &e) != DP_OK) {
            exec_log_printf(&js.log, "workspace removal failed: %s\n", e.msg);
            dp_log(DP_LOG_ERROR, "workspace_remove_failed", "job_id",
                   spec->job_id != NULL ? spec->job_id : "-", "error", e.msg, (char *)NULL);
        }
    }
    exec_log_printf(&js.log, "done in %llu ms\n", (unsigned long long)(exec_now_ms() - t0));
    out->log = exec_log_take(&js.log, &out->log_len);
    *retryable = js.retryable;
    return DP_OK;
}

void exec_last_stats(const exec_ctx *ctx, exec_stats *out)
{
    *out = ctx != NULL ? ctx->last : (exec_stats){0};
}
