/* Addresses of the stream transport: parsing tcp:// and ipc:// URLs,
 * listening, connecting with a deadline and the greeting (actor_stream.h). */
#include "actors/actor_stream.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>

int actor_stream_handles(const char *url)
{
    return url != NULL && (strncmp(url, "tcp://", 6) == 0 || strncmp(url, "ipc://", 6) == 0);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The unix address of an ipc:// URL (the rest of the URL is the path). */
static int ipc_addr(const char *url, struct sockaddr_un *sun, dp_err *err)
{
    const char *path = url + 6;
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    if (path[0] == '\0' || strlen(path) >= sizeof sun->sun_path)
        return dp_err_set(err, DP_EINVAL, "%s: an ipc path of 1..%zu bytes is needed", url,
                          sizeof sun->sun_path - 1);
    memcpy(sun->sun_path, path, strlen(path));
    return 0;
}

/* getaddrinfo for a tcp:// URL; host "*" or empty means every address. */
static int tcp_addrs(const char *url, bool passive, struct addrinfo **out, dp_err *err)
{
    nng_url *u = NULL;
    if (nng_url_parse(&u, url) != 0 || u->u_port == NULL || u->u_port[0] == '\0') {
        nng_url_free(u);
        return dp_err_set(err, DP_EINVAL, "%s: not a tcp://host:port URL", url);
    }
    const char *host = u->u_hostname;
    if (host[0] == '\0' || strcmp(host, "*") == 0)
        host = NULL;
    if (host == NULL && !passive) {
        nng_url_free(u);
        return dp_err_set(err, DP_EINVAL, "%s: a host to connect to is needed", url);
    }
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0};
    int rv = getaddrinfo(host, u->u_port, &hints, out);
    nng_url_free(u);
    if (rv != 0)
        return dp_err_set(err, passive ? DP_EINVAL : DP_EUNAVAIL, "%s: %s", url, gai_strerror(rv));
    return 0;
}

/* url with its port replaced by the one fd is bound to. */
static char *with_bound_port(const char *url, int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return strdup(url);
    unsigned port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                             : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    const char *colon = strrchr(url, ':');
    size_t len = (size_t)(colon - url) + 16;
    char *out = malloc(len);
    if (out != NULL)
        snprintf(out, len, "%.*s:%u", (int)(colon - url), url, port);
    return out;
}

static int listen_tcp(const char *url, char **resolved, dp_err *err)
{
    struct addrinfo *ai = NULL;
    if (tcp_addrs(url, true, &ai, err) != 0)
        return -1;
    int fd = -1, one = 1, saved = 0;
    for (struct addrinfo *p = ai; p != NULL && fd < 0; p = p->ai_next) {
        fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, p->ai_addr, p->ai_addrlen) != 0 || listen(fd, 128) != 0) {
            saved = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        dp_err_set(err, saved == EADDRINUSE || saved == EACCES ? DP_EIO : DP_EINVAL,
                   "cannot listen on %s: %s", url, strerror(saved != 0 ? saved : EINVAL));
        return -1;
    }
    const char *colon = strrchr(url, ':');
    *resolved = strcmp(colon + 1, "0") == 0 ? with_bound_port(url, fd) : strdup(url);
    if (*resolved == NULL) {
        close(fd);
        dp_err_set(err, DP_ENOMEM, "out of memory for url %s", url);
        return -1;
    }
    return fd;
}

/* 0 only when nobody listens at the unix socket path any more (a file
 * left by a process that died: the connect is refused). Non-blocking, so
 * a live listener with a full backlog counts as live, not as a hang. */
static int ipc_in_use(const struct sockaddr_un *sun)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return 1;
    int used = connect(fd, (const struct sockaddr *)sun, sizeof *sun) == 0 ||
               (errno != ECONNREFUSED && errno != ENOENT);
    close(fd);
    return used;
}

static int listen_ipc(const char *url, char **resolved, dp_err *err)
{
    struct sockaddr_un sun;
    if (ipc_addr(url, &sun, err) != 0)
        return -1;
    struct stat st;
    if (lstat(sun.sun_path, &st) == 0) {
        /* A socket left by a process that died is replaced; a live one is
         * not taken over, and nothing but a socket is ever removed. */
        if (!S_ISSOCK(st.st_mode) || ipc_in_use(&sun)) {
            dp_err_set(err, DP_EIO, "cannot listen on %s: %s", url,
                       S_ISSOCK(st.st_mode) ? "another process listens there"
                                            : "a file that is not a socket is in the way");
            return -1;
        }
        unlink(sun.sun_path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
        dp_err_set(err, errno == EADDRINUSE || errno == EACCES ? DP_EIO : DP_EINVAL,
                   "cannot listen on %s: %s", url, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    /* Private before listen(): nobody can connect until then. */
    if (chmod(sun.sun_path, 0600) != 0 || listen(fd, 128) != 0) {
        dp_err_set(err, DP_EIO, "cannot listen on %s: %s", url, strerror(errno));
        unlink(sun.sun_path);
        close(fd);
        return -1;
    }
    if ((*resolved = strdup(url)) == NULL) {
        unlink(sun.sun_path);
        close(fd);
        dp_err_set(err, DP_ENOMEM, "out of memory for url %s", url);
        return -1;
    }
    return fd;
}

int actor_stream_listen_fd(const char *url, char **resolved, dp_err *err)
{
    *resolved = NULL;
    if (strncmp(url, "ipc://", 6) == 0)
        return listen_ipc(url, resolved, err);
    return listen_tcp(url, resolved, err);
}

/* Waits until fd is ready for events or the deadline: 1 ready, 0 late. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {fd, events, 0};
        int rv = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
        if (rv > 0)
            return 1;
        if (rv < 0 && errno != EINTR)
            return 0;
    }
}

int actor_stream_write_all(int fd, const void *buf, size_t len, int timeout_ms)
{
    const unsigned char *p = buf;
    int64_t deadline = now_ms() + timeout_ms;
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            len -= (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!wait_fd(fd, POLLOUT, deadline)) {
                errno = ETIMEDOUT;
                return -1;
            }
        } else {
            return -1;
        }
    }
    return 0;
}

/* A non-blocking connect to addr, finished within the deadline: 0 or -1. */
static int connect_by(int fd, const struct sockaddr *addr, socklen_t len, int64_t deadline)
{
    if (connect(fd, addr, len) == 0)
        return 0;
    if (errno != EINPROGRESS && errno != EAGAIN)
        return -1;
    if (!wait_fd(fd, POLLOUT, deadline)) {
        errno = ETIMEDOUT;
        return -1;
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
        errno = soerr != 0 ? soerr : errno;
        return -1;
    }
    return 0;
}

/* Sends our greeting and checks the listener's: 0, or -1 with why. */
static int greet(int fd, int64_t deadline, const char **why)
{
    unsigned char got[ACTOR_STREAM_HELLO_LEN];
    size_t n = 0;
    int left = (int)(deadline - now_ms());
    if (left <= 0 ||
        actor_stream_write_all(fd, ACTOR_STREAM_HELLO, ACTOR_STREAM_HELLO_LEN, left) != 0) {
        *why = "the greeting could not be sent";
        return -1;
    }
    while (n < sizeof got) {
        if (!wait_fd(fd, POLLIN, deadline)) {
            *why = "no greeting in time";
            return -1;
        }
        ssize_t r = recv(fd, got + n, sizeof got - n, 0);
        if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
            *why = "the connection closed during the greeting";
            return -1;
        }
        n += r > 0 ? (size_t)r : 0;
    }
    if (memcmp(got, ACTOR_STREAM_HELLO, sizeof got) != 0) {
        *why = "the peer is not a dispatch actor (or another version)";
        return -1;
    }
    return 0;
}

/* A socket connected to one address: the fd, or -1 (errno set). */
static int connect_one(int family, const struct sockaddr *addr, socklen_t len, int64_t deadline)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect_by(fd, addr, len, deadline) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    int one = 1;
    if (family != AF_UNIX)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

int actor_stream_connect(const char *url, int timeout_ms, dp_err *err)
{
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 1);
    int fd = -1, saved = ECONNREFUSED;
    if (strncmp(url, "ipc://", 6) == 0) {
        struct sockaddr_un sun;
        if (ipc_addr(url, &sun, err) != 0)
            return -1;
        fd = connect_one(AF_UNIX, (struct sockaddr *)&sun, sizeof sun, deadline);
        saved = errno;
    } else {
        struct addrinfo *ai = NULL;
        if (tcp_addrs(url, false, &ai, err) != 0)
            return -1;
        for (struct addrinfo *p = ai; p != NULL && fd < 0; p = p->ai_next) {
            fd = connect_one(p->ai_family, p->ai_addr, p->ai_addrlen, deadline);
            saved = errno;
        }
        freeaddrinfo(ai);
    }
    if (fd < 0) {
        dp_err_set(err, DP_EUNAVAIL, "cannot connect to actor at %s: %s", url, strerror(saved));
        return -1;
    }
    const char *why = NULL;
    if (greet(fd, deadline, &why) != 0) {
        close(fd);
        dp_err_set(err, DP_EUNAVAIL, "cannot connect to actor at %s: %s", url,
                   why != NULL ? why : strerror(errno));
        return -1;
    }
    return fd;
}
