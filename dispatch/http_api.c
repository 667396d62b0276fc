/* The libmicrohttpd daemon of the HTTP API (dispatch/http_api.h). */
#include "dispatch/http_api.h"

#include "common/clock.h"
#include "common/log.h"
#include "dispatch/event_sinks.h"
#include "dispatch/http_events.h"
#include "dispatch/http_impl.h"
#include "dispatch/stasher.h"

#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HTTP_MAX_CONNS 4096 /* SSE streams and long-polls included */

/* Matches "/api/v1/jobs/{id}/cancel" against path; {id} (and {job}) is one
 * segment of [A-Za-z0-9_.-], copied to id (job). */
static int path_match(const char *pattern, const char *path, char *id, char *job, size_t id_len)
{
    while (*pattern != '\0') {
        int is_id = strncmp(pattern, "{id}", 4) == 0;
        if (is_id || strncmp(pattern, "{job}", 5) == 0) {
            size_t n = strcspn(path, "/");
            if (n == 0 || n >= id_len)
                return 0;
            for (size_t i = 0; i < n; i++)
                if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-",
                           path[i]) == NULL)
                    return 0;
            memcpy(is_id ? id : job, path, n);
            (is_id ? id : job)[n] = '\0';
            path += n;
            pattern += is_id ? 4 : 5;
            continue;
        }
        if (*pattern++ != *path++)
            return 0;
    }
    return *path == '\0';
}

static const http_route *route_find(const char *method, const char *path, char *id, char *job,
                                    size_t id_len, int *path_known)
{
    *path_known = 0;
    for (size_t i = 0; i < http_n_routes; i++) {
        if (!path_match(http_routes[i].pattern, path, id, job, id_len))
            continue;
        *path_known = 1;
        if (strcmp(http_routes[i].method, method) == 0)
            return &http_routes[i];
    }
    return NULL;
}

static enum MHD_Result send_answer(http_req *r)
{
    if (r->streaming) {
        struct MHD_Response *sse = http_stream_response(r);
        if (sse == NULL)
            return MHD_NO;
        enum MHD_Result rc = MHD_queue_response(r->conn, 200, sse);
        MHD_destroy_response(sse);
        return rc;
    }
    if (r->response != NULL) { /* made whole by its route (http_static.c) */
        enum MHD_Result rc = MHD_queue_response(r->conn, r->status, r->response);
        MHD_destroy_response(r->response);
        r->response = NULL;
        return rc;
    }
    struct MHD_Response *res = MHD_create_response_from_buffer(
        r->answer_len, r->answer != NULL ? r->answer : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (res == NULL)
        return MHD_NO;
    MHD_add_response_header(res, "Content-Type",
                            r->content_type != NULL ? r->content_type : "text/plain");
    MHD_add_response_header(res, "Cache-Control", "no-store");
    if (r->retry_after > 0) { /* 429 (quota) */
        char secs[16];
        snprintf(secs, sizeof secs, "%u", r->retry_after);
        MHD_add_response_header(res, "Retry-After", secs);
    }
    if (r->location != NULL)
        MHD_add_response_header(res, "Location", r->location);
    enum MHD_Result rc = MHD_queue_response(r->conn, r->status != 0 ? r->status : 500, res);
    MHD_destroy_response(res);
    return rc;
}

/* What can be refused from the headers alone, before any body is read. */
static void check_headers(http_req *r, struct MHD_Connection *c)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (auth != NULL) {
        if (strncasecmp(auth, "Bearer ", 7) != 0 || strlen(auth + 7) >= sizeof r->key) {
            http_answer_error(r, 401, "unauthorized", "Authorization: want 'Bearer KEY'");
            return;
        }
        snprintf(r->key, sizeof r->key, "%s", auth + 7);
    }
    if (!r->route->body)
        return;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl != NULL && strtoull(cl, NULL, 10) > r->srv->max_body) {
        http_answer_error(r, 413, "too_large", "request body: %s bytes, the limit is %zu", cl,
                          r->srv->max_body);
        return;
    }
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0 ||
        (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' '))
        http_answer_error(r, 415, "unsupported_media_type",
                          "Content-Type: want application/json, got '%.80s'",
                          ct != NULL ? ct : "(none)");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    http_server *s = cls;
    http_req *r = *con_cls;
    (void)version;
    if (r == NULL) {
        if ((r = calloc(1, sizeof *r)) == NULL)
            return MHD_NO;
        r->srv = s;
        r->conn = c;
        *con_cls = r;
        s->live++;
        int known = 0;
        r->route = route_find(method, url, r->id, r->job, sizeof r->id, &known);
        if (r->route == NULL) {
            if (known)
                http_answer_error(r, 405, "method_not_allowed", "%s is not allowed on %.200s",
                                  method, url);
            else
                http_answer_error(r, 404, "not_found", "no route %.200s", url);
            return send_answer(r);
        }
        check_headers(r, c);
        if (r->answer != NULL) /* refused before the body: MHD closes without reading it */
            return send_answer(r);
        if (r->route->events && s->hub != NULL) { /* before its first look */
            event_sinks_want(s->events_name, 1);
            r->listening = 1;
        }
        return MHD_YES;
    }
    http_resumed(r); /* the daemon calls again after a resume */
    if (*upload_size != 0) {
        if (!r->route->body || r->len + *upload_size > s->max_body)
            return MHD_NO; /* a chunked body past the limit: close the connection */
        if (r->len + *upload_size + 1 > r->cap) {
            size_t cap = (r->len + *upload_size + 1) * 2;
            if (cap > s->max_body + 1)
                cap = s->max_body + 1;
            char *b = realloc(r->body, cap);
            if (b == NULL)
                return MHD_NO;
            r->body = b;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload, *upload_size);
        r->len += *upload_size;
        r->body[r->len] = '\0';
        *upload_size = 0;
        return MHD_YES;
    }
    if (!r->started) {
        r->started = 1;
        r->route->fn(r);
    } else if (atomic_exchange(&r->has_reply, 0)) {
        http_take_reply(r); /* a reply kept while suspended (http_core.c) */
    }
    if (r->suspended)
        return MHD_YES; /* a reply or a timer resumes the connection */
    return send_answer(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    http_server *s = cls;
    (void)c;
    (void)why;
    if (*con_cls != NULL)
        s->live--;
    http_req_free(*con_cls);
    *con_cls = NULL;
}

/* http://host:port -> a socket address (numeric or resolvable host). */
static int listen_addr(const char *url, struct addrinfo **out, dp_err *err)
{
    const char *hp = url + strlen("http://");
    char host[256], port[16];
    const char *colon = strrchr(hp, ':');
    const char *end = hp + strcspn(hp, "/");
    if (colon == NULL || colon > end || (size_t)(colon - hp) >= sizeof host ||
        (size_t)(end - colon - 1) >= sizeof port || end == colon + 1)
        return dp_err_set(err, DP_EINVAL, "DISPATCH_HTTP_LISTEN: '%s': want http://host:port", url);
    memcpy(host, hp, (size_t)(colon - hp));
    host[colon - hp] = '\0';
    memcpy(port, colon + 1, (size_t)(end - colon - 1));
    port[end - colon - 1] = '\0';
    char *h = host;
    if (h[0] == '[') { /* [::1] */
        h++;
        h[strcspn(h, "]")] = '\0';
    }
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    int rc = getaddrinfo(h[0] != '\0' && strcmp(h, "*") != 0 ? h : NULL, port, &hints, out);
    if (rc != 0)
        return dp_err_set(err, DP_EINVAL, "DISPATCH_HTTP_LISTEN: '%s': %s", url, gai_strerror(rc));
    return DP_OK;
}

http_server *http_api_start(const http_api_config *cfg, dp_err *err)
{
    http_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        dp_err_set(err, DP_ENOMEM, "http: out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->max_body = cfg->max_body;
    s->max_inline = cfg->max_inline;
    s->log_url_expiry_s = cfg->log_url_expiry_s > 0 ? cfg->log_url_expiry_s : 300;
    s->call_timeout_ms = 10000;
    struct addrinfo *ai = NULL;
    snprintf(s->events_name, sizeof s->events_name, "%s",
             cfg->events_url != NULL ? cfg->events_url : "");
    if ((s->gateway = actor_client_open(cfg->gateway_url, err)) == NULL ||
        (s->status = actor_client_open(cfg->status_url, err)) == NULL ||
        (s->runners = actor_client_open(cfg->runners_url, err)) == NULL ||
        (s->store = logstore_open(cfg->log_store, err)) == NULL ||
        (s->stasher = stasher_spawn(cfg->log_store, err)) == NULL ||
        (s->stash = actor_client_open(actor_url(s->stasher, 0), err)) == NULL ||
        (s->hub = http_hub_start(cfg->events_url, s, err)) == NULL ||
        listen_addr(cfg->listen_url, &ai, err) != DP_OK)
        goto fail;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
                                 ai->ai_addr, MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_s,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNS,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (s->daemon == NULL) {
        dp_err_set(err, DP_EINVAL, "DISPATCH_HTTP_LISTEN: cannot serve HTTP on %s",
                   cfg->listen_url);
        goto fail;
    }
    dp_log(DP_LOG_INFO, "listening", "actor", "http", "url", cfg->listen_url, (char *)NULL);
    return s;
fail:
    http_api_stop(s);
    return NULL;
}

void http_api_stop(http_server *s)
{
    if (s == NULL)
        return;
    s->stopping = 1;
    http_hub_quiesce(s->hub); /* streams end */
    http_unpark_all(s);
    /* Calls in flight end (DP_ECLOSED); their callbacks keep the error and
     * resume. The clients stay valid until the daemon has stopped: the
     * polling thread may still start a call, which then fails at once. */
    actor_client_shutdown(s->gateway);
    actor_client_shutdown(s->status);
    actor_client_shutdown(s->runners);
    actor_client_shutdown(s->stash); /* after the gateway: a stored submit then finds it closed */
    /* MHD may not stop with a connection suspended, and would drop answers
     * not yet sent: wait until every request has been answered and every
     * stream has sent its end (each answers at once once stopping; a client
     * that does not read is cut off after 5 s). */
    for (int i = 0;
         i < 500 && (s->suspended > 0 || s->live > 0 || http_hub_open_streams(s->hub) > 0); i++)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    if (s->daemon != NULL)
        MHD_stop_daemon(s->daemon);
    actor_client_close(s->gateway);
    actor_client_close(s->status);
    actor_client_close(s->runners);
    actor_client_close(s->stash);
    http_hub_free(s->hub); /* after the daemon: its streams are gone */
    logstore_close(s->store);
    actor_destroy(s->stasher);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
