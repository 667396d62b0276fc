/* Zip extraction with libzip; see extract.h. */
#include "runner/exec/extract.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#define EXTRACT_NAME_MAX 1024
#define EXTRACT_DEPTH_MAX 64

int exec_zip_name_check(const char *name, dp_err *err)
{
    size_t len = strlen(name);
    if (len == 0)
        return dp_err_set(err, DP_EINVAL, "empty name");
    if (len > EXTRACT_NAME_MAX)
        return dp_err_set(err, DP_EINVAL, "name longer than %d bytes", EXTRACT_NAME_MAX);
    if (name[0] == '/')
        return dp_err_set(err, DP_EINVAL, "absolute path");
    if (strchr(name, '\\') != NULL)
        return dp_err_set(err, DP_EINVAL, "backslash in name");
    if (len >= 2 && name[1] == ':')
        return dp_err_set(err, DP_EINVAL, "drive letter in name");
    int depth = 0;
    const char *p = name;
    while (*p != '\0') {
        const char *slash = strchr(p, '/');
        size_t clen = slash != NULL ? (size_t)(slash - p) : strlen(p);
        if (clen == 0)
            return dp_err_set(err, DP_EINVAL, "empty path component");
        if (clen == 2 && p[0] == '.' && p[1] == '.')
            return dp_err_set(err, DP_EINVAL, "'..' component");
        if (clen > 255)
            return dp_err_set(err, DP_EINVAL, "path component longer than 255 bytes");
        if (++depth > EXTRACT_DEPTH_MAX)
            return dp_err_set(err, DP_EINVAL, "deeper than %d directories", EXTRACT_DEPTH_MAX);
        if (slash == NULL)
            break;
        p = slash + 1; /* a trailing '/' marks a directory */
    }
    return DP_OK;
}

int exec_zip_mode_check(uint8_t opsys, uint32_t attributes, dp_err *err)
{
    if (opsys != ZIP_OPSYS_UNIX)
        return DP_OK; /* DOS-style attributes carry no file type */
    mode_t mode = (mode_t)(attributes >> 16);
    if ((mode & S_IFMT) == 0 || S_ISREG(mode) || S_ISDIR(mode))
        return DP_OK;
    if (S_ISLNK(mode))
        return dp_err_set(err, DP_EINVAL, "symlink");
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return dp_err_set(err, DP_EINVAL, "device file");
    if (S_ISFIFO(mode))
        return dp_err_set(err, DP_EINVAL, "named pipe");
    return dp_err_set(err, DP_EINVAL, "not a regular file (mode %06o)", (unsigned)mode);
}

/* Creates the directories of rel's parent under dfd, one component at a time
 * without following symlinks; returns an fd of the parent (caller closes)
 * and points *base at the last component, or -1 with errno. */
static int open_parent(int dfd, char *rel, const char **base)
{
    int cur = dup(dfd);
    char *p = rel;
    char *slash;
    while (cur >= 0 && (slash = strchr(p, '/')) != NULL && slash[1] != '\0') {
        *slash = '\0';
        if (mkdirat(cur, p, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            close(cur);
            *slash = '/';
            errno = e;
            return -1;
        }
        int next = openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        *slash = '/';
        close(cur);
        cur = next;
        errno = e;
        p = slash + 1;
    }
    *base = p;
    return cur;
}

/* Writes entry i to fd, adding to *total; DP_EINVAL when the cap is passed. */
static int copy_entry(zip_t *za, zip_uint64_t i, const char *name, int fd, uint64_t *total,
                      uint64_t cap, dp_err *err)
{
    zip_file_t *zf = zip_fopen_index(za, i, 0);
    if (zf == NULL) {
        zip_error_t *ze = zip_get_error(za);
        int code = zip_error_code_zip(ze);
        if (code == ZIP_ER_NOPASSWD || code == ZIP_ER_WRONGPASSWD || code == ZIP_ER_ENCRNOTSUPP)
            return dp_err_set(err, DP_EINVAL, "archive entry '%s': encrypted", name);
        return dp_err_set(err, DP_EINVAL, "archive entry '%s': cannot open: %s", name,
                          zip_error_strerror(ze));
    }
    char buf[65536];
    int rc = DP_OK;
    for (;;) {
        zip_int64_t n = zip_fread(zf, buf, sizeof buf);
        if (n < 0) {
            rc = dp_err_set(err, DP_EINVAL, "archive entry '%s': corrupt: %s", name,
                            zip_error_strerror(zip_file_get_error(zf)));
            break;
        }
        if (n == 0)
            break;
        if ((uint64_t)n > cap - *total) {
            rc = dp_err_set(err, DP_EINVAL,
                            "archive entry '%s': uncompressed size passes the cap of %llu bytes",
                            name, (unsigned long long)cap);
            break;
        }
        *total += (uint64_t)n;
        for (zip_int64_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = dp_err_set(err, DP_EIO, "writing '%s': %s", name, strerror(errno));
                break;
            }
            off += w;
        }
        if (rc != DP_OK)
            break;
    }
    zip_fclose(zf);
    return rc;
}

static int extract_entry(zip_t *za, zip_uint64_t i, int dfd, const exec_extract_limits *limits,
                         exec_extract_stats *st, dp_err *err)
{
    const char *name = zip_get_name(za, i, ZIP_FL_ENC_GUESS);
    if (name == NULL)
        return dp_err_set(err, DP_EINVAL, "archive entry %llu: no name", (unsigned long long)i);
    dp_err why;
    if (exec_zip_name_check(name, &why) != DP_OK)
        return dp_err_set(err, DP_EINVAL, "archive entry '%.200s': %s", name, why.msg);
    zip_uint8_t opsys;
    zip_uint32_t attr;
    if (zip_file_get_external_attributes(za, i, 0, &opsys, &attr) != 0)
        return dp_err_set(err, DP_EINVAL, "archive entry '%s': unreadable attributes", name);
    if (exec_zip_mode_check(opsys, attr, &why) != DP_OK)
        return dp_err_set(err, DP_EINVAL, "archive entry '%s': %s", name, why.msg);
    mode_t mode = opsys == ZIP_OPSYS_UNIX ? (mode_t)(attr >> 16) : 0;

    char *rel = strdup(name);
    if (rel == NULL)
        return dp_err_set(err, DP_ENOMEM, "out of memory");
    size_t len = strlen(rel);
    int is_dir = rel[len - 1] == '/' || S_ISDIR(mode);
    const char *base;
    int rc = DP_OK;
    int pfd = open_parent(dfd, rel, &base);
    if (pfd < 0) {
        rc = dp_err_set(err, errno == ENOTDIR || errno == ELOOP ? DP_EINVAL : DP_EIO,
                        "archive entry '%s': cannot create its directory: %s", name,
                        strerror(errno));
        free(rel);
        return rc;
    }
    if (is_dir) {
        if (base[strlen(base) - 1] == '/')
            ((char *)base)[strlen(base) - 1] = '\0';
        if (mkdirat(pfd, base, 0755) != 0 && errno != EEXIST)
            rc = dp_err_set(err, DP_EIO, "archive entry '%s': mkdir: %s", name, strerror(errno));
    } else {
        mode_t fmode = (mode & 0111) != 0 ? 0755 : 0644;
        int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, fmode);
        if (fd < 0) {
            rc = errno == EEXIST || errno == EISDIR
                     ? dp_err_set(err, DP_EINVAL, "archive entry '%s': duplicate name", name)
                     : dp_err_set(err, DP_EIO, "archive entry '%s': create: %s", name,
                                  strerror(errno));
        } else {
            rc = copy_entry(za, i, name, fd, &st->bytes, limits->max_bytes, err);
            if (close(fd) != 0 && rc == DP_OK)
                rc = dp_err_set(err, DP_EIO, "writing '%s': %s", name, strerror(errno));
            if (rc == DP_OK)
                fchmodat(pfd, base, fmode, 0); /* umask may have cut the mode */
        }
    }
    if (rc == DP_OK)
        st->entries++;
    close(pfd);
    free(rel);
    return rc;
}

int exec_extract(const char *zip_path, const char *dest_dir, const exec_extract_limits *limits,
                 exec_extract_stats *stats, dp_err *err)
{
    exec_extract_stats local = {0, 0};
    exec_extract_stats *st = stats != NULL ? stats : &local;
    memset(st, 0, sizeof *st);
    int zerr = 0;
    zip_t *za = zip_open(zip_path, ZIP_RDONLY, &zerr);
    if (za == NULL) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        int rc = dp_err_set(err, zerr == ZIP_ER_MEMORY ? DP_ENOMEM : DP_EINVAL,
                            "archive is not a valid zip: %s", zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return rc;
    }
    int rc = DP_OK;
    zip_int64_t n = zip_get_num_entries(za, 0);
    if (n < 0) {
        rc = dp_err_set(err, DP_EINVAL, "archive is not a valid zip: no entry count");
    } else if ((uint64_t)n > limits->max_entries) {
        rc = dp_err_set(err, DP_EINVAL, "archive has %lld entries, more than the cap of %u",
                        (long long)n, limits->max_entries);
    }
    int dfd = -1;
    if (rc == DP_OK) {
        dfd = open(dest_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            rc = dp_err_set(err, DP_EIO, "open %s: %s", dest_dir, strerror(errno));
    }
    for (zip_int64_t i = 0; rc == DP_OK && i < n; i++)
        rc = extract_entry(za, (zip_uint64_t)i, dfd, limits, st, err);
    if (dfd >= 0)
        close(dfd);
    zip_discard(za);
    return rc;
}
