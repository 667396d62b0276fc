/* Listening URLs of an actor: see urls.h. */
#include "actors/actor_urls.h"

#include <nng/supplemental/tls/tls.h>

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* For tcp://host:0, the URL with the port the listener got; else a copy. */
static char *resolved_url(nng_listener l, const char *url)
{
    nng_url *parsed = NULL;
    char *out = NULL;
    nng_sockaddr sa;
    if (strncmp(url, "tcp", 3) != 0 || nng_url_parse(&parsed, url) != 0) {
        return strdup(url);
    }
    if (strcmp(parsed->u_port, "0") != 0 || nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa) != 0) {
        nng_url_free(parsed);
        return strdup(url);
    }
    unsigned port = 0;
    if (sa.s_family == NNG_AF_INET) {
        port = ntohs(sa.s_in.sa_port);
    } else if (sa.s_family == NNG_AF_INET6) {
        port = ntohs(sa.s_in6.sa_port);
    }
    const char *host = parsed->u_hostname;
    bool v6 = strchr(host, ':') != NULL;
    size_t len = strlen(parsed->u_scheme) + strlen(host) + 32;
    out = malloc(len);
    if (out != NULL) {
        snprintf(out, len, "%s://%s%s%s:%u", parsed->u_scheme, v6 ? "[" : "", host, v6 ? "]" : "",
                 port);
    }
    nng_url_free(parsed);
    return out;
}

/* Set once by main (actor_tls_configure) before threads use tls+tcp. */
static char *tls_cert_key_file, *tls_ca_file, *tls_server_name;

int actor_tls_configure(const char *cert_key_file, const char *ca_file, const char *server_name,
                        dp_err *err)
{
    free(tls_cert_key_file);
    free(tls_ca_file);
    free(tls_server_name);
    tls_cert_key_file = cert_key_file != NULL ? strdup(cert_key_file) : NULL;
    tls_ca_file = ca_file != NULL ? strdup(ca_file) : NULL;
    tls_server_name = server_name != NULL ? strdup(server_name) : NULL;
    if ((cert_key_file != NULL && tls_cert_key_file == NULL) ||
        (ca_file != NULL && tls_ca_file == NULL) ||
        (server_name != NULL && tls_server_name == NULL))
        return dp_err_set(err, DP_ENOMEM, "tls: out of memory");
    return DP_OK;
}

static int is_tls(const char *url)
{
    return strncmp(url, "tls+tcp", 7) == 0;
}

int actor_urls_tls_listener(nng_listener l, const char *url, dp_err *err)
{
    if (!is_tls(url))
        return 0;
    if (tls_cert_key_file == NULL)
        return dp_err_set(err, DP_EINVAL,
                          "%s: a tls+tcp listener needs a certificate and key "
                          "(DISPATCH_TLS_CERT_KEY_FILE)",
                          url);
    int rv = nng_listener_set_string(l, NNG_OPT_TLS_CERT_KEY_FILE, tls_cert_key_file);
    if (rv != 0)
        return dp_err_set(err, DP_EINVAL, "%s: certificate and key from %s: %s", url,
                          tls_cert_key_file, nng_strerror(rv));
    return 0;
}

int actor_urls_tls_dialer(nng_dialer d, const char *url, dp_err *err)
{
    if (!is_tls(url))
        return 0;
    if (tls_ca_file == NULL)
        return dp_err_set(err, DP_EINVAL,
                          "%s: a tls+tcp connection needs the CA that signed the server "
                          "(DISPATCH_TLS_CA_FILE)",
                          url);
    int rv = nng_dialer_set_string(d, NNG_OPT_TLS_CA_FILE, tls_ca_file);
    if (rv == 0 && tls_server_name != NULL)
        rv = nng_dialer_set_string(d, NNG_OPT_TLS_SERVER_NAME, tls_server_name);
    if (rv == 0)
        rv = nng_dialer_set_int(d, NNG_OPT_TLS_AUTH_MODE, NNG_TLS_AUTH_MODE_REQUIRED);
    if (rv != 0)
        return dp_err_set(err, DP_EINVAL, "%s: CA from %s: %s", url, tls_ca_file, nng_strerror(rv));
    return 0;
}

int actor_urls_listen(actor_urls *u, nng_socket sock, const char *url, dp_err *err)
{
    nng_listener l;
    int rv = nng_listener_create(&l, sock, url);
    if (rv == 0 && actor_urls_tls_listener(l, url, err) != 0) {
        nng_listener_close(l);
        return DP_EINVAL;
    }
    if (rv == 0)
        rv = nng_listener_start(l, 0);
    if (rv != 0) {
        int code = (rv == NNG_EADDRINUSE || rv == NNG_EPERM) ? DP_EIO : DP_EINVAL;
        return dp_err_set(err, code, "cannot listen on %s: %s", url, nng_strerror(rv));
    }
    char *resolved = resolved_url(l, url);
    if (resolved == NULL)
        return dp_err_set(err, DP_ENOMEM, "out of memory for url %s", url);
    return actor_urls_add(u, resolved, err);
}

int actor_urls_add(actor_urls *u, char *resolved, dp_err *err)
{
    char **v = realloc(u->v, (u->n + 1) * sizeof *v);
    if (v == NULL) {
        dp_err_set(err, DP_ENOMEM, "out of memory for url %s", resolved);
        free(resolved);
        return DP_ENOMEM;
    }
    u->v = v;
    u->v[u->n++] = resolved;
    return 0;
}

int actor_ipc_private(nng_listener l, const char *url)
{
    if (strncmp(url, "ipc://", 6) != 0)
        return 0;
    return nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, 0600);
}

const char *actor_urls_get(const actor_urls *u, size_t index)
{
    return index < u->n ? u->v[index] : NULL;
}

void actor_urls_free(actor_urls *u)
{
    for (size_t i = 0; i < u->n; i++) {
        free(u->v[i]);
    }
    free(u->v);
    u->v = NULL;
    u->n = 0;
}

int actor_urls_events_for(const char *admin_url, char *out, size_t len, dp_err *err)
{
    if (strncmp(admin_url, "ipc://", 6) == 0 || strncmp(admin_url, "inproc://", 9) == 0) {
        if ((size_t)snprintf(out, len, "%s.events", admin_url) >= len)
            return dp_err_set(err, DP_EINVAL, "admin URL too long");
        return DP_OK;
    }
    const char *colon = strrchr(admin_url, ':');
    char *end = NULL;
    long port = colon != NULL ? strtol(colon + 1, &end, 10) : 0;
    if (colon == NULL || end == colon + 1 || *end != '\0' || port <= 0 || port >= 65535)
        return dp_err_set(err, DP_EINVAL, "%s: cannot derive the events URL (need a port)",
                          admin_url);
    if ((size_t)snprintf(out, len, "%.*s:%ld", (int)(colon - admin_url), admin_url, port + 1) >=
        len)
        return dp_err_set(err, DP_EINVAL, "admin URL too long");
    return DP_OK;
}
