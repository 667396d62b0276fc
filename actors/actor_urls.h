/* The URLs an actor listens on, and TLS for tls+tcp:// (internal to actors/
 * and client/).
 *
 * actor_urls owns its strings; tcp URLs with port 0 are stored with the
 * port the kernel picked, so clients can be given a URL that works. */
#ifndef DP_ACTOR_URLS_H
#define DP_ACTOR_URLS_H

#include <stddef.h>

#include <nng/nng.h>

#include "common/err.h"

typedef struct actor_urls {
    char **v; /* owned, n entries */
    size_t n;
} actor_urls;

/* Starts a listener on sock for url and appends the resolved URL. */
int actor_urls_listen(actor_urls *u, nng_socket sock, const char *url, dp_err *err);

/* Appends resolved (owned by u from now on, freed on error too). */
int actor_urls_add(actor_urls *u, char *resolved, dp_err *err);

/* For an nng ipc:// listener (before it starts): the socket is 0600 from
 * the moment it exists (nng applies it between bind and listen). 0, or an
 * nng error. Other schemes: 0. The actor runtime's own ipc listeners do
 * the same (actor_stream_addr.c); this is for nng sockets (the events
 * publisher). */
int actor_ipc_private(nng_listener l, const char *url);

/* Borrowed; NULL past the end. */
const char *actor_urls_get(const actor_urls *u, size_t index);

void actor_urls_free(actor_urls *u);

/* For a tls+tcp:// URL, applies the process TLS settings (actor_tls_configure)
 * to a listener or dialer; a no-op for other URLs. DP_EINVAL naming what is
 * missing. */
int actor_urls_tls_listener(nng_listener l, const char *url, dp_err *err);
int actor_urls_tls_dialer(nng_dialer d, const char *url, dp_err *err);

/* Where the dispatcher publishes job events, derived from its admin URL: the
 * ipc path + ".events", or the tcp port + 1. One rule for the publisher and
 * the watchers. */
int actor_urls_events_for(const char *admin_url, char *out, size_t len, dp_err *err);

/* TLS for tls+tcp:// URLs, process-wide, set once by main before any actor
 * or client uses such a URL. cert_key_file: PEM with the certificate and
 * its key, for listeners; ca_file: PEM of the CA that signed the peer, for
 * dialers (server certificates are verified); server_name: the name to
 * verify, or NULL for the URL's host. Strings are copied. */
int actor_tls_configure(const char *cert_key_file, const char *ca_file, const char *server_name,
                        dp_err *err);

#endif
