#include "runner/runner_http.h"

#include "common/log.h"
#include "runner/runner_status.h"

#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct runner_http {
    struct MHD_Daemon *daemon;
    actor *status;
};

static enum MHD_Result answer(struct MHD_Connection *c, unsigned code, const char *type, char *text,
                              size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, text, text != NULL ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result rc = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_len, void **con_cls)
{
    runner_http *h = cls;
    (void)version;
    (void)upload;
    if (*con_cls == NULL) { /* headers only so far: answer once they are in */
        *con_cls = h;
        return MHD_YES;
    }
    if (*upload_len != 0) {
        *upload_len = 0; /* bodies are ignored */
        return MHD_YES;
    }
    char kind = strcmp(url, "/metrics") == 0   ? 'm'
                : strcmp(url, "/healthz") == 0 ? 'h'
                : strcmp(url, "/readyz") == 0  ? 'r'
                                               : 0;
    if (kind == 0)
        return answer(c, 404, "text/plain", strdup("not found\n"), 10);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return answer(c, 405, "text/plain", strdup("method not allowed\n"), 19);
    char *text = NULL;
    size_t len = 0;
    int ok = 0;
    dp_err err = {0};
    if (runner_status_query(h->status, kind, &text, &len, &ok, &err) != DP_OK) {
        char buf[DP_ERR_MSG_MAX + 32];
        int n = snprintf(buf, sizeof buf, "unavailable: %s\n", err.msg);
        return answer(c, 503, "text/plain", strdup(buf), (size_t)n);
    }
    return answer(c, ok || kind == 'm' ? 200 : 503,
                  kind == 'm' ? "text/plain; version=0.0.4" : "text/plain", text, len);
}

/* http://host:port -> a socket address. */
static int listen_addr(const char *url, struct addrinfo **out, dp_err *err)
{
    if (strncmp(url, "http://", 7) != 0)
        return dp_err_set(err, DP_EINVAL, "RUNNER_HTTP_LISTEN: '%.128s': want http://host:port",
                          url);
    const char *hp = url + 7;
    char host[256], port[16];
    const char *colon = strrchr(hp, ':');
    const char *end = hp + strcspn(hp, "/");
    if (colon == NULL || colon > end || (size_t)(colon - hp) >= sizeof host ||
        (size_t)(end - colon - 1) >= sizeof port || end == colon + 1 || *end != '\0')
        return dp_err_set(err, DP_EINVAL, "RUNNER_HTTP_LISTEN: '%.128s': want http://host:port",
                          url);
    memcpy(host, hp, (size_t)(colon - hp));
    host[colon - hp] = '\0';
    memcpy(port, colon + 1, (size_t)(end - colon - 1));
    port[end - colon - 1] = '\0';
    char *hn = host;
    if (hn[0] == '[') {
        hn++;
        hn[strcspn(hn, "]")] = '\0';
    }
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    int rc = getaddrinfo(hn[0] != '\0' ? hn : NULL, port, &hints, out);
    if (rc != 0)
        return dp_err_set(err, DP_EINVAL, "RUNNER_HTTP_LISTEN: '%.128s': %s", url,
                          gai_strerror(rc));
    return DP_OK;
}

runner_http *runner_http_start(const char *listen_url, actor *status, dp_err *err)
{
    struct addrinfo *ai = NULL;
    if (listen_addr(listen_url, &ai, err) != DP_OK)
        return NULL;
    runner_http *h = calloc(1, sizeof *h);
    if (h == NULL) {
        freeaddrinfo(ai);
        dp_err_set(err, DP_ENOMEM, "runner http: out of memory");
        return NULL;
    }
    h->status = status;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
                                 ai->ai_addr, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                                 MHD_OPTION_CONNECTION_LIMIT, 32u, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (h->daemon == NULL) {
        free(h);
        dp_err_set(err, DP_EINVAL, "RUNNER_HTTP_LISTEN: cannot serve HTTP on %.128s", listen_url);
        return NULL;
    }
    dp_log(DP_LOG_INFO, "listening", "actor", "runner-http", "url", listen_url, (char *)NULL);
    return h;
}

void runner_http_stop(runner_http *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
