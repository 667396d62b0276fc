/* A watchdog for ipc:// listeners, working around nng 1.5.2 (Debian 12): a
 * peer that disconnects while its connection is being negotiated leaves the
 * listener accepting and greeting new connections but never handing them to
 * the socket again (nng issue #1518, fixed in 1.6). It happens to any socket
 * whose clients time out while the process is stalled (SIGSTOP, swapping):
 * the local admin socket went silent for good after one such client.
 *
 * Every 2 s a thread asks each watched listener a real (malformed) request,
 * as a well-behaved req peer; the actor runtime answers every request, so a
 * listener that stays silent for 3 s is closed and started again on the
 * same socket. Thread-safe; nng handles are ids, never dereferenced. */
#ifndef DP_ACTOR_IPCWATCH_H
#define DP_ACTOR_IPCWATCH_H

#include <nng/nng.h>

/* For an ipc:// listener (before it starts): the socket is 0600 from the
 * moment it exists (nng applies it between bind and listen, so nobody else
 * can connect in between, as they could before a chmod after the fact).
 * 0, or an nng error. Other schemes: 0. */
int actor_ipc_private(nng_listener l, const char *url);

/* Watches listener l of rep socket sock (an ipc:// url, copied; other
 * schemes are ignored). 0, or an nng error. */
int actor_ipcwatch_add(nng_socket sock, nng_listener l, const char *url);

/* Stops watching every listener of sock; call before closing it. */
void actor_ipcwatch_forget(nng_socket sock);

/* Listeners restarted so far. */
unsigned long actor_ipcwatch_restarts(void);

#endif
