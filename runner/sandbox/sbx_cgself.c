/* See sbx_cgself.h. libc only: also built into tests/sandbox/hostile. */
#include "runner/sandbox/sbx_cgself.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

ssize_t sbx_cg_read_self(char *buf, size_t len)
{
    if (!buf || len == 0)
        return -EINVAL;
    buf[0] = '\0';
    int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t used = 0;
    ssize_t rc = 0;
    for (;;) {
        if (used + 1 >= len) {
            char probe;
            ssize_t more = read(fd, &probe, 1); /* anything left: it did not fit */
            rc = more == 0 ? (ssize_t)used : -ENOSPC;
            break;
        }
        ssize_t n = read(fd, buf + used, len - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (n == 0) {
            rc = (ssize_t)used;
            break;
        }
        used += (size_t)n;
    }
    close(fd);
    buf[rc < 0 ? 0 : used] = '\0';
    return rc;
}
