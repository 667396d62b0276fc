#include "dispatch/dd_stack.h"

#include "actors/actor_urls.h"
#include "dispatch/callbacker.h"
#include "common/log.h"
#include "dispatch/gateway.h"
#include "dispatch/http_api.h"
#include "dispatch/keymaster.h"
#include "dispatch/leaser.h"
#include "dispatch/publisher.h"
#include "dispatch/registrar.h"
#include "dispatch/reporter.h"
#include "dispatch/status.h"
#include "dispatch/waker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>

/* The domain actors in spawn order; stopped in reverse. */
enum {
    DD_PUBLISHER,
    DD_REPORTER,
    DD_LEASER,
    DD_WAKER,
    DD_REGISTRAR,
    DD_KEYMASTER,
    DD_SUBMITTER,
    DD_N_ACTORS
};

struct dd_stack {
    actor *actors[DD_N_ACTORS];
    actor *gw_runner, *gw_admin[DD_MAX_ADMIN_URLS], *gw_http, *status;
    actor *callbacker; /* with a callback secret only */
    http_server *http;
    char admin_urls[DD_MAX_ADMIN_URLS][1024];
    size_t n_admin;
    char events_url[1100];
    char events_inproc[96]; /* the name the publisher hands events to the HTTP API under
                               (event_sinks.h) */
};

/* The directory of an ipc socket: created 0700 when missing; refused when
 * it is a symlink, belongs to another user (they could swap the socket and
 * collect what operators send), or is shared and writable by others (like
 * /tmp). The socket itself is 0600 from birth (actor_ipc_private). */
static int private_dir_for(const char *url, dp_err *err)
{
    if (strncmp(url, "ipc://", 6) != 0)
        return DP_OK;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", url + 6);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return dp_err_set(err, DP_EINVAL, "%s: put the socket in a directory of its own", url);
    *slash = '\0';
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return dp_err_set(err, DP_EINVAL, "%s: cannot create %s: %s", url, dir, strerror(errno));
    struct stat st;
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return dp_err_set(err, DP_EINVAL, "%s: %s is not a directory (a symlink is refused)", url,
                          dir);
    if (st.st_uid != geteuid() && st.st_uid != 0)
        return dp_err_set(err, DP_EINVAL,
                          "%s: %s belongs to uid %u: put the socket in a directory dispatchd or "
                          "root owns (e.g. /run/dispatch)",
                          url, dir, (unsigned)st.st_uid);
    if ((st.st_mode & 0022) != 0)
        return dp_err_set(err, DP_EINVAL,
                          "%s: %s is writable by others (like /tmp): put the socket in a "
                          "directory of its own (e.g. /run/dispatch)",
                          url, dir);
    return DP_OK;
}

/* A keyed admin URL carries API keys: over plain tcp only on loopback. */
static int keyed_url_ok(const char *url, dp_err *err)
{
    if (strncmp(url, "tcp://", 6) != 0)
        return DP_OK;
    const char *host = url + 6;
    if (strncmp(host, "127.", 4) == 0 || strncmp(host, "localhost:", 10) == 0 ||
        strncmp(host, "[::1]:", 6) == 0)
        return DP_OK;
    return dp_err_set(err, DP_EINVAL,
                      "DISPATCH_ADMIN_LISTEN: %s would carry API keys in clear: use tls+tcp:// "
                      "(plain tcp:// is allowed on loopback only)",
                      url);
}

/* Splits cfg's admin list; the events URL follows the first ipc one. */
static int split_admin(dd_stack *s, const dd_config *c, dp_err *err)
{
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", c->admin_listen);
    for (char *save = NULL, *u = strtok_r(buf, ",", &save); u != NULL;
         u = strtok_r(NULL, ",", &save)) {
        if (s->n_admin == DD_MAX_ADMIN_URLS)
            return dp_err_set(err, DP_EINVAL, "DISPATCH_ADMIN_LISTEN: at most %d URLs",
                              DD_MAX_ADMIN_URLS);
        snprintf(s->admin_urls[s->n_admin++], sizeof s->admin_urls[0], "%s", u);
        int rc = private_dir_for(u, err);
        if (rc == DP_OK)
            rc = keyed_url_ok(u, err);
        if (rc != DP_OK)
            return rc;
        if (s->events_url[0] == '\0' && strncmp(u, "ipc://", 6) == 0 &&
            (rc = actor_urls_events_for(u, s->events_url, sizeof s->events_url, err)) != DP_OK)
            return rc;
    }
    if (s->events_url[0] == '\0')
        dp_log(DP_LOG_WARN, "events_not_served", "why",
               "no ipc admin URL: job events carry no credential, so they are never served over "
               "tcp; add an ipc:// URL to DISPATCH_ADMIN_LISTEN for dispatchctl watch",
               (char *)NULL);
    return DP_OK;
}

/* Which table describes each routed actor (the waker takes no requests). */
static const dd_actor_def *const dd_defs[DD_N_ACTORS] = {
    [DD_PUBLISHER] = &publisher_actor, [DD_REPORTER] = &reporter_actor,
    [DD_LEASER] = &leaser_actor,       [DD_REGISTRAR] = &registrar_actor,
    [DD_KEYMASTER] = &keymaster_actor, [DD_SUBMITTER] = &submitter_actor,
};

static int spawn_actors(dd_stack *s, const dd_config *c, dp_err *err)
{
    actor **a = s->actors;
    if ((a[DD_PUBLISHER] = publisher_spawn(s->events_url, s->events_inproc, c->redis_url, c->prefix,
                                           err)) == NULL)
        return DP_EUNAVAIL;
    reporter_config rc = {c->redis_url,
                          c->prefix,
                          c->pg_dsn,
                          c->log_store,
                          (uint32_t)c->max_attempts,
                          (uint32_t)c->alive_ttl_ms,
                          a[DD_PUBLISHER],
                          NULL};
    if ((a[DD_REPORTER] = reporter_spawn(&rc, err)) == NULL)
        return DP_EUNAVAIL;
    rc.rebuilder = a[DD_REPORTER]; /* the submitter asks it for rebuilds */
    if ((a[DD_SUBMITTER] = submitter_spawn(&rc, err)) == NULL)
        return DP_EUNAVAIL;
    leaser_config lc = {c->redis_url,
                        c->prefix,
                        (uint32_t)c->alive_ttl_ms,
                        (uint32_t)c->max_attempts,
                        (uint32_t)c->sweep_ms,
                        (uint32_t)c->lease_wait_max_ms,
                        a[DD_REPORTER]};
    if ((a[DD_LEASER] = leaser_spawn(&lc, err)) == NULL)
        return DP_EUNAVAIL;
    waker_config wc = {c->redis_url, c->prefix, a[DD_LEASER]};
    if ((a[DD_WAKER] = waker_spawn(&wc, err)) == NULL)
        return DP_EUNAVAIL;
    registrar_config gc = {c->redis_url,
                           c->prefix,
                           c->registration_token,
                           (uint32_t)c->heartbeat_ms,
                           (uint32_t)c->alive_ttl_ms,
                           a[DD_LEASER]};
    if ((a[DD_REGISTRAR] = registrar_spawn(&gc, err)) == NULL ||
        (a[DD_KEYMASTER] = keymaster_spawn(c->pg_dsn, err)) == NULL)
        return DP_EUNAVAIL;
    return DP_OK;
}

/* A gateway's routes: every type some actor's table accepts from `from`. */
static int collect_routes(const dd_stack *s, unsigned from, gateway_config *g, dp_err *err)
{
    for (int i = 0; i < DD_N_ACTORS; i++)
        if (dd_defs[i] != NULL && dd_routes_add(&g->routes, from, dd_defs[i], s->actors[i], err))
            return DP_EINVAL;
    return DP_OK;
}

/* The HTTP API: one more gateway (inproc only, API keys required) onto the
 * admin routes, the status actor for /healthz and /metrics, and the HTTP
 * server that translates (dispatch/http_api.h). */
static int start_http(dd_stack *s, const dd_config *c, dp_err *err)
{
    gateway_config http_gw = {.name = "gateway-http",
                              .max_held = 4096,
                              .max_msg_bytes = DD_ADMIN_MAX_MSG,
                              .require_key = 1,
                              .pg_dsn = c->pg_dsn};
    status_config sc = {c->redis_url, c->prefix, c->pg_dsn, {0}, 0};
    /* the actors whose counters /metrics gathers (each owns its registry) */
    const int sources[] = {DD_REPORTER, DD_SUBMITTER, DD_LEASER, DD_REGISTRAR};
    for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++)
        sc.sources[sc.n_sources++] = s->actors[sources[i]];
    if (collect_routes(s, DD_FROM_ADMIN, &http_gw, err) != DP_OK ||
        (s->gw_http = gateway_spawn(&http_gw, err)) == NULL ||
        (s->status = status_spawn(&sc, err)) == NULL)
        return DP_EUNAVAIL;
    http_api_config hc = {.listen_url = c->http_listen,
                          .gateway_url = actor_url(s->gw_http, 0),
                          .status_url = actor_url(s->status, 0),
                          .runners_url = actor_url(s->gw_runner, 0),
                          .events_url = s->events_inproc,
                          .log_store = c->log_store,
                          .max_body = (size_t)c->http_max_body,
                          .max_inline = (size_t)c->http_max_inline,
                          .idle_s = (unsigned)((c->http_idle_ms + 999) / 1000),
                          .log_url_expiry_s = (unsigned)c->log_url_expiry_s};
    if ((s->http = http_api_start(&hc, err)) == NULL)
        return DP_EUNAVAIL;
    return DP_OK;
}

dd_stack *dd_stack_start(const dd_config *c, dp_err *err)
{
    dd_stack *s = calloc(1, sizeof *s);
    if (s == NULL) {
        dp_err_set(err, DP_ENOMEM, "dispatchd: out of memory");
        return NULL;
    }
    snprintf(s->events_inproc, sizeof s->events_inproc, "inproc://dispatchd-events/%p", (void *)s);
    /* Frames are bounded before anyone is authenticated: a runner's largest
     * message is a complete (a capped log plus excerpts), an operator's a
     * submit batch; connections are capped so that unauthenticated peers
     * cannot hold unbounded receive buffers (docs/security.md). */
    gateway_config runner_gw = {.name = "gateway-runner",
                                .listen_url = c->runner_listen,
                                .also_url = c->runner_also_url,
                                .max_held = (size_t)c->max_waiting,
                                .max_msg_bytes = DD_RUNNER_MAX_MSG,
                                .max_conns = DD_RUNNER_MAX_CONNS};
    if (split_admin(s, c, err) != DP_OK || spawn_actors(s, c, err) != DP_OK ||
        collect_routes(s, DD_FROM_RUNNER, &runner_gw, err) != DP_OK ||
        (s->gw_runner = gateway_spawn(&runner_gw, err)) == NULL)
        goto fail;
    /* Keyed (tcp) gateways first, the ipc one last: once the local socket
     * answers, every admin URL listens (what health checks and tests wait on). */
    for (size_t k = 0; k < 2 * s->n_admin; k++) {
        size_t i = k % s->n_admin;
        const char *url = s->admin_urls[i];
        if ((strncmp(url, "ipc://", 6) == 0) != (k >= s->n_admin))
            continue; /* first pass: keyed URLs; second: ipc */
        gateway_config admin_gw = {.name = i == 0 ? "gateway-admin" : "gateway-admin-2",
                                   .listen_url = url,
                                   .max_held = 1024,
                                   .max_msg_bytes = DD_ADMIN_MAX_MSG,
                                   .max_conns = DD_ADMIN_MAX_CONNS,
                                   /* ipc is the machine's operator (0600); tcp needs keys */
                                   .require_key = strncmp(url, "ipc://", 6) != 0,
                                   .pg_dsn = c->pg_dsn};
        if (collect_routes(s, DD_FROM_ADMIN, &admin_gw, err) != DP_OK ||
            (s->gw_admin[i] = gateway_spawn(&admin_gw, err)) == NULL)
            goto fail;
    }
    if (c->http_listen != NULL && c->http_listen[0] != '\0' && start_http(s, c, err) != DP_OK)
        goto fail;
    if (c->callback_secret != NULL && c->callback_secret[0] != '\0') {
        callbacker_config cc = {c->pg_dsn,
                                c->callback_secret,
                                &c->callback_allow,
                                (uint32_t)c->callback_max_attempts,
                                (uint32_t)c->callback_backoff_ms,
                                (uint32_t)c->callback_timeout_ms};
        if ((s->callbacker = callbacker_spawn(&cc, err)) == NULL)
            goto fail;
    }
    return s;
fail:
    dd_stack_stop(s);
    return NULL;
}

const char *dd_stack_events_url(const dd_stack *s)
{
    return s->events_url;
}

void dd_stack_stop(dd_stack *s)
{
    if (s == NULL)
        return;
    actor_destroy(s->callbacker); /* works from its table: nothing waits on it */
    http_api_stop(s->http);       /* answers what waits; before the actors it asks */
    actor_destroy(s->status);
    /* Gateways refuse new work but stay up: the others answer through them. */
    gateway_close(s->gw_runner);
    for (size_t i = 0; i < DD_MAX_ADMIN_URLS; i++)
        gateway_close(s->gw_admin[i]);
    gateway_close(s->gw_http);
    for (int i = DD_N_ACTORS - 1; i >= 0; i--)
        actor_destroy(s->actors[i]);
    actor_destroy(s->gw_runner);
    for (size_t i = 0; i < DD_MAX_ADMIN_URLS; i++)
        actor_destroy(s->gw_admin[i]);
    actor_destroy(s->gw_http);
    free(s);
}
