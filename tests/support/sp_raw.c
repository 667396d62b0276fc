#include "tests/support/sp_raw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int sp_fail(int fd, char *why, size_t why_len, const char *what, const char *url)
{
    snprintf(why, why_len, "%s (%s): %s", what, url, errno != 0 ? strerror(errno) : "");
    if (fd >= 0)
        close(fd);
    return -1;
}

int sp_raw_length_cut(const char *url, uint64_t len, int timeout_ms, char *why, size_t why_len)
{
    int port = 0;
    errno = 0;
    if (sscanf(url, "tcp://127.0.0.1:%d", &port) != 1)
        return sp_fail(-1, why, why_len, "not a tcp://127.0.0.1:PORT url", url);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return sp_fail(fd, why, why_len, "socket", url);
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return sp_fail(fd, why, why_len, "connect", url);
    const unsigned char hello[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0}; /* req0 (0x30) */
    if (send(fd, hello, sizeof hello, MSG_NOSIGNAL) != (ssize_t)sizeof hello)
        return sp_fail(fd, why, why_len, "handshake not sent", url);
    unsigned char theirs[8];
    size_t got = 0;
    while (got < sizeof theirs) {
        ssize_t k = recv(fd, theirs + got, sizeof theirs - got, 0);
        if (k <= 0)
            return sp_fail(fd, why, why_len, "no SP handshake", url);
        got += (size_t)k;
    }
    if (theirs[1] != 'S' || theirs[2] != 'P' || theirs[5] != 0x31) { /* rep0 */
        errno = 0;
        return sp_fail(fd, why, why_len, "not an SP rep0 peer", url);
    }
    unsigned char frame[8 + 4096];
    for (int i = 0; i < 8; i++)
        frame[i] = (unsigned char)(len >> (56 - 8 * i)); /* big-endian length */
    memset(frame + 8, 0x80, sizeof frame - 8);
    (void)send(fd, frame, sizeof frame, MSG_NOSIGNAL); /* the peer may have cut already */
    unsigned char byte;
    ssize_t k = recv(fd, &byte, 1, 0);
    if (k == 0 || (k < 0 && errno == ECONNRESET)) {
        close(fd);
        return 0;
    }
    if (k > 0)
        errno = 0;
    snprintf(why, why_len, "connection not cut after a %llu-byte length (%s): %s",
             (unsigned long long)len, url, k > 0 ? "it answered" : strerror(errno));
    close(fd);
    return -1;
}
