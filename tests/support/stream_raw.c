#include "tests/support/stream_raw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int raw_fail(int fd, char *why, size_t why_len, const char *what, const char *detail)
{
    snprintf(why, why_len, "%s (%s): %s", what, detail, errno != 0 ? strerror(errno) : "");
    if (fd >= 0)
        close(fd);
    return -1;
}

static int read_exact(int fd, unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = recv(fd, buf + got, n - got, 0);
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    return 0;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int stream_raw_connect(const char *url, const char *hello, size_t hello_len, int expect_hello,
                       int timeout_ms, char *why, size_t why_len)
{
    int port = 0;
    errno = 0;
    if (sscanf(url, "tcp://127.0.0.1:%d", &port) != 1)
        return raw_fail(-1, why, why_len, "not a tcp://127.0.0.1:PORT url", url);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return raw_fail(fd, why, why_len, "socket", url);
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return raw_fail(fd, why, why_len, "connect", url);
    if (send(fd, hello, hello_len, MSG_NOSIGNAL) != (ssize_t)hello_len)
        return raw_fail(fd, why, why_len, "greeting not sent", url);
    if (!expect_hello)
        return fd;
    unsigned char theirs[8];
    if (read_exact(fd, theirs, sizeof theirs) != 0)
        return raw_fail(fd, why, why_len, "no greeting back", url);
    if (memcmp(theirs, "DPACTOR1", 8) != 0) {
        errno = 0;
        return raw_fail(fd, why, why_len, "not an actor stream listener", url);
    }
    return fd;
}

int stream_raw_call(int fd, uint32_t id, const void *body, size_t len, char *why, size_t why_len)
{
    unsigned char hdr[8];
    put32(hdr, (uint32_t)len);
    put32(hdr + 4, id);
    errno = 0;
    if (send(fd, hdr, sizeof hdr, MSG_NOSIGNAL) != (ssize_t)sizeof hdr ||
        send(fd, body, len, MSG_NOSIGNAL) != (ssize_t)len)
        return raw_fail(-1, why, why_len, "frame not sent", "call");
    unsigned char rh[8];
    if (read_exact(fd, rh, sizeof rh) != 0)
        return raw_fail(-1, why, why_len, "no answer", "call");
    uint32_t rlen = get32(rh), rid = get32(rh + 4);
    if (rid != id || rlen == 0 || rlen > (1u << 20)) {
        errno = 0;
        snprintf(why, why_len, "answer for id %u of %u bytes, asked id %u", rid, rlen, id);
        return -1;
    }
    unsigned char *rb = malloc(rlen);
    if (rb == NULL || read_exact(fd, rb, rlen) != 0) {
        free(rb);
        return raw_fail(-1, why, why_len, "answer cut short", "call");
    }
    int status = rb[0];
    free(rb);
    return status;
}

int stream_raw_expect_cut(int fd, const char *what, char *why, size_t why_len)
{
    unsigned char byte;
    errno = 0;
    ssize_t k = recv(fd, &byte, 1, 0);
    if (k == 0 || (k < 0 && errno == ECONNRESET))
        return 0;
    snprintf(why, why_len, "connection not cut after %s: %s", what,
             k > 0 ? "it answered" : strerror(errno));
    return -1;
}

int stream_raw_length_cut(const char *url, uint32_t len, int timeout_ms, char *why, size_t why_len)
{
    int fd = stream_raw_connect(url, "DPACTOR1", 8, 1, timeout_ms, why, why_len);
    if (fd < 0)
        return -1;
    unsigned char frame[8 + 4096];
    put32(frame, len);
    put32(frame + 4, 1);
    memset(frame + 8, 0xA1, sizeof frame - 8);
    (void)send(fd, frame, sizeof frame, MSG_NOSIGNAL); /* the peer may have cut already */
    char what[64];
    snprintf(what, sizeof what, "a %u-byte length", len);
    int rc = stream_raw_expect_cut(fd, what, why, why_len);
    close(fd);
    return rc;
}
