/* The run's byte plumbing on the parent side: output capture with a cap,
 * stdin as a read-only memfd, child fds kept off 0..2. See sbx_internal.h. */
#include "runner/sandbox/sbx_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Reads what is available; returns 0 on EOF, 1 when more may come. */
int sbx_stream_read(sbx_stream *st)
{
    for (;;) {
        char tmp[65536];
        char *dst = tmp;
        size_t room = sizeof tmp;
        if (st->len < st->limit) {
            if (st->cap - st->len < 4096 && st->cap < st->limit + 1) {
                size_t nc = st->cap * 2;
                if (nc > st->limit + 1)
                    nc = st->limit + 1;
                char *nb = realloc(st->buf, nc);
                if (!nb)
                    return 1; /* keep what we have; the next read retries */
                st->buf = nb;
                st->cap = nc;
            }
            dst = st->buf + st->len;
            room = st->cap - 1 - st->len;
            if (room > st->limit - st->len)
                room = st->limit - st->len;
            if (room == 0) {
                dst = tmp;
                room = sizeof tmp;
            }
        }
        ssize_t n = read(st->fd, dst, room);
        if (n == 0)
            return 0;
        if (n < 0)
            return errno == EINTR ? 1 : (errno == EAGAIN ? 1 : 0);
        if (dst == tmp)
            st->over = 1;
        else
            st->len += (size_t)n;
        if ((size_t)n < room)
            return 1;
    }
}

/* The child's stdin: the data in a sealed memfd, read-only, or /dev/null. */
int sbx_stdin_fd(const char *data, size_t len)
{
    if (!data || len == 0)
        return open("/dev/null", O_RDONLY | O_CLOEXEC);
    int fd = memfd_create("sbx-stdin", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)n;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int ro = open(path, O_RDONLY | O_CLOEXEC);
    close(fd);
    return ro;
}

/* Child ends must not land on 0..2, which the supervisor overwrites. */
int sbx_high_fd(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int h = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return h;
}
