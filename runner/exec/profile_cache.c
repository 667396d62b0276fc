/* The per-slot profile cache; see profile.h. */
#include "runner/exec/profile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROFILE_FILE_MAX (256 * 1024)

typedef struct profile_entry {
    char *name;
    struct timespec mtime;
    off_t size;
    exec_profile *profile;
    struct profile_entry *next;
} profile_entry;

struct exec_profile_cache {
    char *dir;
    profile_entry *entries;
};

exec_profile_cache *exec_profile_cache_new(const char *dir, dp_err *err)
{
    exec_profile_cache *c = calloc(1, sizeof *c);
    if (c == NULL || (c->dir = strdup(dir)) == NULL) {
        free(c);
        dp_err_set(err, DP_ENOMEM, "out of memory");
        return NULL;
    }
    return c;
}

void exec_profile_cache_free(exec_profile_cache *c)
{
    if (c == NULL)
        return;
    profile_entry *e = c->entries;
    while (e != NULL) {
        profile_entry *next = e->next;
        free(e->name);
        exec_profile_free(e->profile);
        free(e);
        e = next;
    }
    free(c->dir);
    free(c);
}

/* Reads the whole (small) file open as fd into a malloc'd buffer. */
static int read_all(int fd, const char *path, off_t size, char **out, dp_err *err)
{
    if (size > PROFILE_FILE_MAX)
        return dp_err_set(err, DP_EINVAL, "profile file %s: larger than %d bytes", path,
                          PROFILE_FILE_MAX);
    char *buf = malloc((size_t)size + 1);
    if (buf == NULL)
        return dp_err_set(err, DP_ENOMEM, "out of memory");
    size_t got = 0;
    while (got < (size_t)size) {
        ssize_t n = read(fd, buf + got, (size_t)size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            free(buf);
            return dp_err_set(err, DP_EIO, "profile file %s: read: %s", path,
                              n < 0 ? strerror(errno) : "short read");
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    *out = buf;
    return DP_OK;
}

int exec_profile_get(exec_profile_cache *c, const char *name, const exec_profile **out, dp_err *err)
{
    *out = NULL;
    if (!exec_profile_name_ok(name))
        return dp_err_set(err, DP_ENOTFOUND, "unknown profile '%.80s' (not a valid name)",
                          name != NULL ? name : "");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.json", c->dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return errno == ENOENT
                   ? dp_err_set(err, DP_ENOTFOUND, "unknown profile '%s' (no %s)", name, path)
                   : dp_err_set(err, DP_EIO, "profile file %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return dp_err_set(err, DP_EIO, "profile file %s: not a readable regular file", path);
    }
    profile_entry *e = c->entries;
    while (e != NULL && strcmp(e->name, name) != 0)
        e = e->next;
    if (e != NULL && e->size == st.st_size && e->mtime.tv_sec == st.st_mtim.tv_sec &&
        e->mtime.tv_nsec == st.st_mtim.tv_nsec) {
        close(fd);
        *out = e->profile;
        return DP_OK;
    }
    char *json = NULL;
    int rc = read_all(fd, path, st.st_size, &json, err);
    close(fd);
    exec_profile *p = NULL;
    if (rc == DP_OK)
        rc = exec_profile_parse(name, json, strlen(json), &p, err);
    free(json);
    if (rc != DP_OK)
        return rc; /* a stale good copy is not used: the operator changed the file */
    if (e == NULL) {
        e = calloc(1, sizeof *e);
        if (e == NULL || (e->name = strdup(name)) == NULL) {
            free(e);
            exec_profile_free(p);
            return dp_err_set(err, DP_ENOMEM, "out of memory");
        }
        e->next = c->entries;
        c->entries = e;
    }
    exec_profile_free(e->profile);
    e->profile = p;
    e->mtime = st.st_mtim;
    e->size = st.st_size;
    *out = p;
    return DP_OK;
}
