/* Test helper: a hand-made connection speaking the actor runtime's stream
 * protocol (actors/actor_stream.h) byte by byte, for tests that send what
 * the runtime's own client never would: a length above a listener's bound,
 * bodies that are not actor frames, a wrong greeting. Loopback tcp only. */
#ifndef DP_TEST_STREAM_RAW_H
#define DP_TEST_STREAM_RAW_H

#include <stddef.h>
#include <stdint.h>

/* Connects to url ("tcp://127.0.0.1:PORT") and sends hello (hello_len
 * bytes; the real greeting is "DPACTOR1"); with expect_hello, reads the
 * listener's greeting back. A socket with a receive timeout of timeout_ms,
 * or -1 with why (the caller's buffer). */
int stream_raw_connect(const char *url, const char *hello, size_t hello_len, int expect_hello,
                       int timeout_ms, char *why, size_t why_len);

/* Sends one frame (call id, body of len bytes) on fd and reads the answer
 * frame for it: its status byte (0, or a dp code's magnitude), or -1 with
 * why. */
int stream_raw_call(int fd, uint32_t id, const void *body, size_t len, char *why, size_t why_len);

/* 0 when the peer closes fd without sending anything (within its receive
 * timeout), else -1 with why. */
int stream_raw_expect_cut(int fd, const char *what, char *why, size_t why_len);

/* Connects as a good peer, announces a frame of len bytes and sends the
 * first 4 KiB of it: 0 when the listener then closes the connection
 * without answering, -1 with why otherwise. */
int stream_raw_length_cut(const char *url, uint32_t len, int timeout_ms, char *why, size_t why_len);

#endif
