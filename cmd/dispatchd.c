/* dispatchd: the dispatcher. Configuration from the environment
 * (README.md), validated at start: a bad value stops it with one line
 * naming the variable. SIGTERM/SIGINT: stop accepting, answer waiting leases
 * with none, finish in-flight writes, exit 0. */
#include "actors/actor_urls.h"
#include "common/config.h"
#include "common/log.h"
#include "common/signals.h"
#include "dispatch/dd_stack.h"
#include "dispatch/logstore/logstore.h"
#include "runner/runner_pool.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* DISPATCH_ADMIN_LISTEN: one URL, or two separated by a comma (typically the
 * local ipc socket, which needs no key, and a tcp one, which does). */
static int check_admin_listen(const char *list, dp_err *err)
{
    char buf[2048];
    if (strlen(list) >= sizeof buf)
        return dp_err_set(err, DP_EINVAL, "DISPATCH_ADMIN_LISTEN: too long");
    snprintf(buf, sizeof buf, "%s", list);
    int n = 0;
    for (char *save = NULL, *u = strtok_r(buf, ",", &save); u != NULL;
         u = strtok_r(NULL, ",", &save), n++) {
        int rc = dp_config_check_url("DISPATCH_ADMIN_LISTEN", u, "ipc,tcp,tls+tcp", err);
        if (rc != DP_OK)
            return rc;
    }
    if (n < 1 || n > DD_MAX_ADMIN_URLS)
        return dp_err_set(err, DP_EINVAL, "DISPATCH_ADMIN_LISTEN: one or %d URLs, comma-separated",
                          DD_MAX_ADMIN_URLS);
    return DP_OK;
}

static int load_config(dd_config *c, dp_err *err)
{
    int rc;
    if ((rc = dp_config_url("DISPATCH_REDIS_URL", NULL, "redis,unix", &c->redis_url, err)) ||
        (rc = dp_config_url("DISPATCH_PG_DSN", NULL, "postgresql,postgres", &c->pg_dsn, err)) ||
        (rc = dp_config_url("DISPATCH_RUNNER_LISTEN", "tcp://0.0.0.0:7400", "tcp,tls+tcp,ipc",
                            &c->runner_listen, err)) ||
        (rc = dp_config_string("DISPATCH_ADMIN_LISTEN", "ipc:///run/dispatch/admin.sock",
                               &c->admin_listen, err)) ||
        (rc = dp_config_string("DISPATCH_REGISTRATION_TOKEN", NULL, &c->registration_token, err)) ||
        (rc = dp_config_url("DISPATCH_LOG_STORE", "file:///run/dispatch/logs/{job_id}.log",
                            "file,http,https", &c->log_store, err)) ||
        (rc = dp_config_string("DISPATCH_REDIS_PREFIX", "{dispatch}:", &c->prefix, err)) ||
        (rc = dp_config_string("DISPATCH_HTTP_LISTEN", "", &c->http_listen, err)) ||
        (rc = dp_config_uint("DISPATCH_HEARTBEAT_MS", 5000, 100, 600000, &c->heartbeat_ms, err)) ||
        (rc =
             dp_config_uint("DISPATCH_ALIVE_TTL_MS", 15000, 300, 3600000, &c->alive_ttl_ms, err)) ||
        (rc = dp_config_uint("DISPATCH_MAX_ATTEMPTS", 3, 1, 100, &c->max_attempts, err)) ||
        (rc = dp_config_uint("DISPATCH_SWEEP_MS", 2000, 50, 600000, &c->sweep_ms, err)) ||
        (rc = dp_config_uint("DISPATCH_LEASE_WAIT_MAX_MS", 30000, 0, 600000, &c->lease_wait_max_ms,
                             err)) ||
        (rc = dp_config_uint("DISPATCH_MAX_WAITING", 2048, 16, 65536, &c->max_waiting, err)) ||
        (rc = dp_config_uint("DISPATCH_HTTP_MAX_BODY", 4u << 20, 1024, 64u << 20, &c->http_max_body,
                             err)) ||
        (rc = dp_config_uint("DISPATCH_HTTP_MAX_INLINE", 1u << 20, 1, 64u << 20,
                             &c->http_max_inline, err)) ||
        (rc = dp_config_uint("DISPATCH_HTTP_IDLE_MS", 30000, 1000, 3600000, &c->http_idle_ms, err)))
        return rc;
    if (strlen(c->registration_token) < 16)
        return dp_err_set(err, DP_EINVAL,
                          "DISPATCH_REGISTRATION_TOKEN: too short (at least 16 characters)");
    if (c->alive_ttl_ms <= c->heartbeat_ms)
        return dp_err_set(err, DP_EINVAL,
                          "DISPATCH_ALIVE_TTL_MS: %llu must be above DISPATCH_HEARTBEAT_MS (%llu)",
                          (unsigned long long)c->alive_ttl_ms, (unsigned long long)c->heartbeat_ms);
    if ((rc = check_admin_listen(c->admin_listen, err)) != DP_OK ||
        (rc = dp_log_configure(err)) != DP_OK)
        return rc;
    logstore *probe = logstore_open(c->log_store, err); /* its settings, checked at start */
    if (probe == NULL)
        return err->code;
    logstore_close(probe);
    if (strncmp(c->runner_listen, "tls+tcp", 7) == 0 ||
        strstr(c->admin_listen, "tls+tcp") != NULL) {
        const char *cert = NULL;
        if ((rc = dp_config_file("DISPATCH_TLS_CERT_KEY_FILE", NULL, &cert, err)) != DP_OK ||
            (rc = actor_tls_configure(cert, NULL, NULL, err)) != DP_OK)
            return rc;
    }
    if (c->http_listen[0] != '\0' &&
        (rc = dp_config_check_url("DISPATCH_HTTP_LISTEN", c->http_listen, "http", err)) != DP_OK)
        return rc;
    if (strchr(c->prefix, '{') == NULL || strchr(c->prefix, '}') == NULL)
        return dp_err_set(err, DP_EINVAL, "DISPATCH_REDIS_PREFIX: '%s' needs a {hash tag}",
                          c->prefix);
    return DP_OK;
}

/* callback_url (dispatch/callbacker.h): the secret is checked like the
 * registration token; the policy is set here, before any thread, for
 * dp_job_spec_check (common/addr_policy.h). */
static int load_callback_config(dd_config *c, dp_err *err)
{
    const char *cidrs;
    int rc;
    if ((rc = dp_config_string("DISPATCH_CALLBACK_SECRET", "", &c->callback_secret, err)) ||
        (rc = dp_config_string("DISPATCH_CALLBACK_ALLOW_CIDRS", "", &cidrs, err)) ||
        (rc = dp_config_uint("DISPATCH_CALLBACK_MAX_ATTEMPTS", 8, 1, 100, &c->callback_max_attempts,
                             err)) ||
        (rc = dp_config_uint("DISPATCH_CALLBACK_BACKOFF_MS", 1000, 10, 3600000,
                             &c->callback_backoff_ms, err)) ||
        (rc = dp_config_uint("DISPATCH_CALLBACK_TIMEOUT_MS", 10000, 100, 600000,
                             &c->callback_timeout_ms, err)) ||
        (rc = dp_config_uint("DISPATCH_LOG_URL_EXPIRY_S", 300, 1, 604800, &c->log_url_expiry_s,
                             err)) ||
        (rc = dp_addr_allow_parse(cidrs, "DISPATCH_CALLBACK_ALLOW_CIDRS", &c->callback_allow, err)))
        return rc;
    if (c->callback_secret[0] != '\0' && strlen(c->callback_secret) < 16)
        return dp_err_set(err, DP_EINVAL,
                          "DISPATCH_CALLBACK_SECRET: too short (at least 16 characters)");
    if (strlen(c->callback_secret) >= 512)
        return dp_err_set(err, DP_EINVAL, "DISPATCH_CALLBACK_SECRET: longer than 511 characters");
    dp_callback_policy_set(c->callback_secret[0] != '\0', &c->callback_allow);
    return DP_OK;
}

/* dd_stack_start, retried while Redis or PostgreSQL is not up yet (a
 * container platform starts everything at once): every failure but a bad
 * setting (DP_EINVAL) is retried with doubling backoff (250 ms .. 5 s), each
 * logged as dispatchd_waiting, until DISPATCH_START_TIMEOUT_MS has passed
 * (0: no retry) or SIGTERM/SIGINT arrives (*sig set; NULL returned with
 * err->code DP_ECLOSED). The last error is the one returned. */
static dd_stack *start_stack_waiting(const dd_config *cfg, uint64_t timeout_ms,
                                     const sigset_t *stop, int *sig, dp_err *err)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t backoff_ms = 250;
    for (unsigned attempt = 1;; attempt++) {
        dd_stack *stack = dd_stack_start(cfg, err);
        if (stack != NULL || err->code == DP_EINVAL)
            return stack;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        uint64_t spent_ms = (uint64_t)(now.tv_sec - t0.tv_sec) * 1000 +
                            (uint64_t)((now.tv_nsec - t0.tv_nsec) / 1000000);
        if (spent_ms + backoff_ms > timeout_ms)
            return NULL;
        char n[16], wait[24];
        snprintf(n, sizeof n, "%u", attempt);
        snprintf(wait, sizeof wait, "%llu", (unsigned long long)backoff_ms);
        dp_log(DP_LOG_WARN, "dispatchd_waiting", "attempt", n, "retry_in_ms", wait, "error",
               err->msg, (char *)NULL);
        struct timespec ts = {.tv_sec = (time_t)(backoff_ms / 1000),
                              .tv_nsec = (long)(backoff_ms % 1000) * 1000000};
        int got = sigtimedwait(stop, NULL, &ts);
        if (got > 0) {
            *sig = got;
            dp_err_set(err, DP_ECLOSED, "stopped by a signal while waiting for Redis/PostgreSQL");
            return NULL;
        }
        if (got < 0 && errno != EAGAIN && errno != EINTR)
            return NULL;
        backoff_ms = backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2;
    }
}

/* `--with-runners N`: N executor slots in this process, reached over inproc. */
#define INPROC_RUNNER_URL "inproc://dispatchd-runners"

static runner_pool *start_inproc_runners(uint64_t n, const char *token, dp_err *err)
{
    const char *profiles, *workdir, *require, *allow_cidrs;
    uint64_t noop, base, allow_file, ws_bytes;
    if (dp_config_string("RUNNER_PROFILES_DIR", "/etc/dispatch/pits", &profiles, err) ||
        dp_config_string("RUNNER_WORKDIR", "/var/lib/dispatch/work", &workdir, err) ||
        dp_config_string("DISPATCH_SANDBOX_REQUIRE", "default", &require, err) ||
        dp_config_uint("RUNNER_NOOP", 0, 0, 1, &noop, err) ||
        dp_config_uint("RUNNER_SLOT_BASE", 0, 0, 998 - n, &base, err) ||
        dp_config_uint("RUNNER_FETCH_ALLOW_FILE", 0, 0, 1, &allow_file, err) ||
        dp_config_string("RUNNER_FETCH_ALLOW_CIDRS", "", &allow_cidrs, err) ||
        dp_config_uint("RUNNER_WORKSPACE_BYTES", 512u << 20, 0, UINT64_C(1) << 40, &ws_bytes, err))
        return NULL;
    runner_pool_config pc = {
        .dispatch_url = INPROC_RUNNER_URL,
        .registration_token = token,
        .name = "dispatchd-inproc",
        .profiles_dir = profiles,
        .workdir = workdir,
        .sandbox_require = require,
        .concurrency = (uint32_t)n,
        .slot_base = (uint32_t)base,
        .lease_wait_ms = 25000,
        .noop = (int)noop,
        .fetch_allow_file = (int)allow_file,
        .fetch_allow_cidrs = allow_cidrs,
        .workspace_bytes = ws_bytes,
    };
    return runner_pool_start(&pc, err);
}

static void usage(FILE *f)
{
    fputs("usage: dispatchd [--with-runners N] [--help] [--version]\n"
          "--with-runners N also runs N executor slots in this process (single machine;\n"
          "RUNNER_PROFILES_DIR, RUNNER_WORKDIR, RUNNER_FETCH_ALLOW_FILE/_CIDRS,\n"
          "RUNNER_WORKSPACE_BYTES, DISPATCH_SANDBOX_REQUIRE apply).\n"
          "Configured by the environment: DISPATCH_REDIS_URL, DISPATCH_PG_DSN (required),\n"
          "DISPATCH_REGISTRATION_TOKEN (required), DISPATCH_RUNNER_LISTEN, DISPATCH_ADMIN_LISTEN,\n"
          "DISPATCH_LOG_STORE, DISPATCH_HEARTBEAT_MS, DISPATCH_ALIVE_TTL_MS,\n"
          "DISPATCH_MAX_ATTEMPTS, DISPATCH_SWEEP_MS, DISPATCH_LEASE_WAIT_MAX_MS,\n"
          "DISPATCH_MAX_WAITING (requests held at once on the runner socket),\n"
          "DISPATCH_HTTP_LISTEN (http://host:port: the HTTP API, /healthz, /readyz, /metrics),\n"
          "DISPATCH_HTTP_MAX_BODY, DISPATCH_HTTP_MAX_INLINE, DISPATCH_HTTP_IDLE_MS,\n"
          "DISPATCH_LOG_STORE_KEY, DISPATCH_LOG_STORE_SECRET, DISPATCH_LOG_STORE_REGION,\n"
          "DISPATCH_LOG_STORE_SESSION_TOKEN (S3 signing; a key needs its secret),\n"
          "DISPATCH_LOG_STORE_CA_FILE, DISPATCH_LOG_URL_EXPIRY_S (presigned log URLs),\n"
          "DISPATCH_CALLBACK_SECRET (callback_url), DISPATCH_CALLBACK_ALLOW_CIDRS,\n"
          "DISPATCH_CALLBACK_MAX_ATTEMPTS, _BACKOFF_MS, _TIMEOUT_MS,\n"
          "DISPATCH_TLS_CERT_KEY_FILE (tls+tcp:// listeners), DISPATCH_REDIS_PREFIX,\n"
          "DISPATCH_START_TIMEOUT_MS (how long to wait for Redis and PostgreSQL at start;\n"
          "default 60000, 0 = not at all),\n"
          "DISPATCH_LOG_LEVEL (debug, info, warn, error). Defaults and meanings: README.md,\n"
          "man dispatchd (docs/man/dispatchd.8).\n"
          "Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP is ignored.\n"
          "Exit codes: 0 stopped, 64 bad command line, 69 Redis or PostgreSQL unreachable at\n"
          "start, 78 bad configuration (one line names the variable).\n",
          f);
}

int main(int argc, char **argv)
{
    uint64_t with_runners = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--with-runners") == 0 && i + 1 < argc) {
            char *end = NULL;
            unsigned long long n = strtoull(argv[++i], &end, 10);
            if (*end != '\0' || n < 1 || n > 256) {
                fprintf(stderr, "dispatchd: --with-runners: '%s' is not a number in 1..256\n",
                        argv[i]);
                return 64;
            }
            with_runners = n;
            continue;
        }
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            puts("dispatchd " DP_VERSION);
            return 0;
        }
        fprintf(stderr, "dispatchd: unknown argument '%s'\n", argv[i]);
        usage(stderr);
        return 64;
    }
    dd_config cfg = {0};
    dp_err err = {0};
    uint64_t start_timeout_ms = 0;
    if (load_config(&cfg, &err) != DP_OK || load_callback_config(&cfg, &err) != DP_OK ||
        dp_config_uint("DISPATCH_START_TIMEOUT_MS", 60000, 0, 3600000, &start_timeout_ms, &err) !=
            DP_OK) {
        fprintf(stderr, "dispatchd: %s\n", err.msg);
        return 78;
    }
    sigset_t stop;
    dp_signals_setup(&stop);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    runner_pool *pool = NULL;
    int status = 0;
    if (with_runners > 0)
        cfg.runner_also_url = INPROC_RUNNER_URL;
    int sig = 0;
    dd_stack *stack = start_stack_waiting(&cfg, start_timeout_ms, &stop, &sig, &err);
    if (stack == NULL && sig != 0)
        goto stopped;
    if (stack == NULL)
        goto fail;
    if (with_runners > 0 &&
        (pool = start_inproc_runners(with_runners, cfg.registration_token, &err)) == NULL)
        goto fail;
    dp_log(DP_LOG_INFO, "dispatchd_ready", "runner_url", cfg.runner_listen, "admin_url",
           cfg.admin_listen, "events_url", dd_stack_events_url(stack), (char *)NULL);
    sigwait(&stop, &sig);
stopped:
    dp_log(DP_LOG_INFO, "dispatchd_stopping", "signal", sig == SIGTERM ? "TERM" : "INT",
           (char *)NULL);
    goto done;
fail:
    fprintf(stderr, "dispatchd: %s\n", err.msg);
    status = err.code == DP_EINVAL ? 78 : 69;
done:
    /* In-process runners go first, gracefully, while the dispatcher still serves them. */
    if (pool != NULL && !runner_pool_stop(pool, 30000))
        _exit(status);
    dd_stack_stop(stack);
    curl_global_cleanup();
    if (status == 0)
        dp_log(DP_LOG_INFO, "dispatchd_stopped", (char *)NULL);
    return status;
}
