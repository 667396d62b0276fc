/* Test helper: a hand-made SP connection (nng's wire protocol over TCP) for
 * tests that send what nng's own sockets would resend or refuse, e.g. a
 * message above a listener's bound. nng 1.5.2's req0 resends a request on
 * every reconnect after such a cut, and its nng_close could then hang for
 * good (1 test run in about 25 beside a busy loop), so these tests speak
 * the handshake themselves. */
#ifndef DP_TEST_SP_RAW_H
#define DP_TEST_SP_RAW_H

#include <stddef.h>
#include <stdint.h>

/* Connects to url ("tcp://127.0.0.1:PORT") as a req0 peer, announces a
 * message of len bytes and sends the first 4 KiB of it. Returns 0 when the
 * peer then closes the connection without answering (within timeout_ms),
 * -1 with why (the caller's buffer) otherwise. */
int sp_raw_length_cut(const char *url, uint64_t len, int timeout_ms, char *why, size_t why_len);

#endif
