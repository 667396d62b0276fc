/* dispatch-runner: one runner (one container). Registers with the
 * dispatcher, runs RUNNER_CONCURRENCY executor slots, each leasing and
 * running jobs in the sandbox. SIGTERM: stop leasing, let running jobs
 * finish within RUNNER_GRACE_MS, release the rest, deregister, exit 0.
 * SIGKILL loses nothing: the dispatcher's reaper reclaims. */
#include "actors/actor_urls.h"
#include "actors/actor.h"
#include "runner/runner_link.h"
#include "runner/runner_pool.h"
#include "common/config.h"
#include "common/log.h"
#include "common/signals.h"
#include "runner/exec/netaddr.h"
#include "runner/sandbox/sandbox.h"

#include <curl/curl.h>
#include <dirent.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SLOTS 256
#define MAX_LIST 64

typedef struct {
    const char *url, *token, *name, *profiles_dir, *workdir, *require, *labels, *fetch_allow_cidrs;
    const char *http_listen;
    uint64_t concurrency, grace_ms, lease_wait_ms, noop, slot_base, fetch_allow_file,
        workspace_bytes;
} runner_config;

static int load_config(runner_config *c, dp_err *err)
{
    static char host[256];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "runner");
    int rc;
    if ((rc = dp_config_string("DISPATCH_URL", NULL, &c->url, err)) ||
        (rc = runner_link_check_urls("DISPATCH_URL", c->url, "tcp,tls+tcp,ipc", err)) ||
        (rc = dp_config_string("DISPATCH_REGISTRATION_TOKEN", NULL, &c->token, err)) ||
        (rc = dp_config_string("RUNNER_NAME", host, &c->name, err)) ||
        (rc = dp_config_uint("RUNNER_CONCURRENCY", 1, 1, MAX_SLOTS, &c->concurrency, err)) ||
        (rc = dp_config_string("RUNNER_PROFILES_DIR", "/etc/dispatch/pits", &c->profiles_dir,
                               err)) ||
        (rc = dp_config_string("RUNNER_WORKDIR", "/var/lib/dispatch/work", &c->workdir, err)) ||
        (rc = dp_config_string("DISPATCH_SANDBOX_REQUIRE", "default", &c->require, err)) ||
        (rc = dp_config_string("RUNNER_LABELS", "", &c->labels, err)) ||
        (rc = dp_config_uint("RUNNER_GRACE_MS", 30000, 0, 3600000, &c->grace_ms, err)) ||
        (rc = dp_config_uint("RUNNER_LEASE_WAIT_MS", 25000, 0, 600000, &c->lease_wait_ms, err)) ||
        (rc = dp_config_uint("RUNNER_NOOP", 0, 0, 1, &c->noop, err)) ||
        (rc = dp_config_uint("RUNNER_SLOT_BASE", 0, 0, 998, &c->slot_base, err)) ||
        (rc = dp_config_uint("RUNNER_FETCH_ALLOW_FILE", 0, 0, 1, &c->fetch_allow_file, err)) ||
        (rc = dp_config_string("RUNNER_FETCH_ALLOW_CIDRS", "", &c->fetch_allow_cidrs, err)) ||
        (rc = dp_config_uint("RUNNER_WORKSPACE_BYTES", 512u << 20, 0, UINT64_C(1) << 40,
                             &c->workspace_bytes, err)) ||
        (rc = dp_config_string("RUNNER_HTTP_LISTEN", "", &c->http_listen, err)))
        return rc;
    if (c->http_listen[0] != '\0' &&
        (rc = dp_config_check_url("RUNNER_HTTP_LISTEN", c->http_listen, "http", err)) != DP_OK)
        return rc;
    exec_addr_allow allow;
    if ((rc = exec_addr_allow_parse(c->fetch_allow_cidrs, "RUNNER_FETCH_ALLOW_CIDRS", &allow,
                                    err)) != DP_OK)
        return rc;
    if (strlen(c->fetch_allow_cidrs) > 2000)
        return dp_err_set(err, DP_EINVAL, "RUNNER_FETCH_ALLOW_CIDRS: longer than 2000 characters");
    if (c->slot_base + c->concurrency > 999)
        return dp_err_set(err, DP_EINVAL,
                          "RUNNER_SLOT_BASE: %llu + RUNNER_CONCURRENCY %llu exceeds 999 slots",
                          (unsigned long long)c->slot_base, (unsigned long long)c->concurrency);
    if (strlen(c->token) < 16)
        return dp_err_set(err, DP_EINVAL,
                          "DISPATCH_REGISTRATION_TOKEN: too short (at least 16 characters)");
    if (strstr(c->url, "tls+tcp://") != NULL) { /* any replica of the list */
        const char *ca = NULL, *name = NULL;
        if ((rc = dp_config_file("DISPATCH_TLS_CA_FILE", NULL, &ca, err)) != DP_OK ||
            (rc = dp_config_string("DISPATCH_TLS_SERVER_NAME", "", &name, err)) != DP_OK ||
            (rc = actor_tls_configure(NULL, ca, name[0] ? name : NULL, err)) != DP_OK)
            return rc;
    }
    DIR *d = opendir(c->profiles_dir);
    if (d == NULL)
        return dp_err_set(err, DP_EINVAL, "RUNNER_PROFILES_DIR: %s: not a readable directory",
                          c->profiles_dir);
    closedir(d);
    if (access(c->workdir, W_OK | X_OK) != 0)
        return dp_err_set(err, DP_EINVAL, "RUNNER_WORKDIR: %s: not a writable directory",
                          c->workdir);
    if ((rc = dp_log_configure(err)) != DP_OK)
        return rc;
    return DP_OK;
}

/* "a,b,c" -> list of pointers into buf (modified in place). */
static size_t split_list(char *buf, char **out, size_t max)
{
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL && n < max;
         t = strtok_r(NULL, ",", &save))
        if (*t != '\0')
            out[n++] = t;
    return n;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--version") == 0) {
            puts("dispatch-runner " DP_VERSION);
            return 0;
        }
        if (strcmp(argv[i], "--help") == 0) {
            puts("usage: dispatch-runner [--help] [--version]\n"
                 "Configured by the environment: DISPATCH_URL, DISPATCH_REGISTRATION_TOKEN\n"
                 "(required), RUNNER_NAME, RUNNER_CONCURRENCY, RUNNER_PROFILES_DIR,\n"
                 "RUNNER_WORKDIR, RUNNER_LABELS, RUNNER_GRACE_MS, RUNNER_LEASE_WAIT_MS,\n"
                 "RUNNER_NOOP, RUNNER_SLOT_BASE, RUNNER_FETCH_ALLOW_FILE,\n"
                 "RUNNER_FETCH_ALLOW_CIDRS, RUNNER_WORKSPACE_BYTES, DISPATCH_SANDBOX_REQUIRE,\n"
                 "RUNNER_HTTP_LISTEN (http://host:port: /metrics, /healthz, /readyz),\n"
                 "DISPATCH_TLS_CA_FILE, DISPATCH_TLS_SERVER_NAME (tls+tcp:// dispatchers),\n"
                 "DISPATCH_LOG_LEVEL (debug, info, warn, error). Defaults and meanings:\n"
                 "README.md, man dispatch-runner (docs/man/dispatch-runner.8).\n"
                 "Signals: SIGTERM/SIGINT stop leasing, let running jobs finish within\n"
                 "RUNNER_GRACE_MS, release the rest, exit 0; SIGHUP is ignored.\n"
                 "Exit codes: 0 stopped, 64 bad command line, 69 the sandbox cannot isolate\n"
                 "(a required protection is missing), 78 bad configuration.");
            return 0;
        }
        fprintf(stderr, "dispatch-runner: unknown argument '%s'\n", argv[i]);
        return 64;
    }
    runner_config cfg;
    dp_err err = {0};
    if (load_config(&cfg, &err) != DP_OK) {
        fprintf(stderr, "dispatch-runner: %s\n", err.msg);
        return 78;
    }
    /* The token lives in our memory only: not in the environment commands could inherit. */
    char *reg_token = strdup(cfg.token);
    unsetenv("DISPATCH_REGISTRATION_TOKEN");
    char labels_buf[1024];
    snprintf(labels_buf, sizeof labels_buf, "%s", cfg.labels);
    char *labels[MAX_LIST];
    size_t n_labels = split_list(labels_buf, labels, MAX_LIST);
    sigset_t stop;
    dp_signals_setup(&stop);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    if (!cfg.noop) {
        char summary[512];
        sbx_probe(summary, sizeof summary);
        dp_log(DP_LOG_INFO, "sandbox", "protections", summary, "required", cfg.require,
               (char *)NULL);
    }
    runner_pool_config pc = {
        .dispatch_url = cfg.url,
        .registration_token = reg_token,
        .name = cfg.name,
        .labels = (const char *const *)labels,
        .n_labels = n_labels,
        .profiles_dir = cfg.profiles_dir,
        .workdir = cfg.workdir,
        .sandbox_require = cfg.require,
        .concurrency = (uint32_t)cfg.concurrency,
        .slot_base = (uint32_t)cfg.slot_base,
        .lease_wait_ms = (uint32_t)cfg.lease_wait_ms,
        .noop = (int)cfg.noop,
        .fetch_allow_file = (int)cfg.fetch_allow_file,
        .fetch_allow_cidrs = cfg.fetch_allow_cidrs,
        .workspace_bytes = cfg.workspace_bytes,
        .http_listen = cfg.http_listen,
    };
    runner_pool *pool = runner_pool_start(&pc, &err);
    memset(reg_token, 0, strlen(reg_token));
    free(reg_token);
    if (pool == NULL) {
        fprintf(stderr, "dispatch-runner: %s\n", err.msg);
        curl_global_cleanup();
        return err.code == DP_EINVAL ? 78 : 69;
    }
    char n[16];
    snprintf(n, sizeof n, "%llu", (unsigned long long)cfg.concurrency);
    dp_log(DP_LOG_INFO, "runner_ready", "name", cfg.name, "slots", n, "url", cfg.url, (char *)NULL);
    int sig = 0;
    sigwait(&stop, &sig);
    dp_log(DP_LOG_INFO, "runner_stopping", (char *)NULL);
    if (!runner_pool_stop(pool, (uint32_t)cfg.grace_ms))
        _exit(0); /* a job outlived the grace: released; its sandbox dies with us */
    curl_global_cleanup();
    dp_log(DP_LOG_INFO, "runner_stopped", (char *)NULL);
    return 0;
}
