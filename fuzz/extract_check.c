/* Shared checks of the extractor harnesses; see extract_check.h. */
#include "fuzz/extract_check.h"
#include "fuzz/fuzz_check.h"
#include "runner/exec/extract.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char base_dir[4096];
static char zip_path[4200];
static char ws_path[4200];

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DP || type == FTW_D || type == FTW_DNR)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static void rm_tree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_base(void)
{
    if (base_dir[0] != '\0')
        rm_tree(base_dir);
}

static const char *tmp_root(void)
{
    const char *t = getenv("TMPDIR");
    return t != NULL && t[0] == '/' ? t : "/tmp";
}

/* Removes dispatch-fuzz-extract.PID.* directories of processes that are gone. */
static void sweep_stale(void)
{
    DIR *d = opendir(tmp_root());
    if (d == NULL)
        return;
    struct dirent *e;
    const char *prefix = "dispatch-fuzz-extract.";
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        long pid = strtol(e->d_name + strlen(prefix), NULL, 10);
        if (pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH)) {
            char p[4200];
            snprintf(p, sizeof p, "%s/%s", tmp_root(), e->d_name);
            rm_tree(p);
        }
    }
    closedir(d);
}

void fuzz_extract_init(void)
{
    if (base_dir[0] != '\0')
        return;
    sweep_stale();
    snprintf(base_dir, sizeof base_dir, "%s/dispatch-fuzz-extract.%ld.XXXXXX", tmp_root(),
             (long)getpid());
    if (mkdtemp(base_dir) == NULL) {
        perror("fuzz_extract: mkdtemp");
        abort();
    }
    snprintf(zip_path, sizeof zip_path, "%s/input.zip", base_dir);
    snprintf(ws_path, sizeof ws_path, "%s/ws", base_dir);
    atexit(remove_base);
}

const char *fuzz_extract_zip_path(void)
{
    fuzz_extract_init();
    return zip_path;
}

/* What the walk of the workspace found. */
static size_t walk_entries;
static uint64_t walk_bytes;
static int walk_bad;

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    if (ftw->level == 0)
        return 0;
    walk_entries++;
    if (type == FTW_F && S_ISREG(st->st_mode)) {
        walk_bytes += (uint64_t)st->st_size;
        if ((st->st_mode & 07777 & ~0755) != 0) {
            fprintf(stderr, "fuzz_extract: %s has mode %o\n", path, st->st_mode & 07777);
            walk_bad = 1;
        }
    } else if (type != FTW_D) {
        fprintf(stderr, "fuzz_extract: %s is not a regular file or directory\n", path);
        walk_bad = 1;
    }
    return 0;
}

/* Names in base_dir other than input.zip and ws. */
static int strangers(void)
{
    DIR *d = opendir(base_dir);
    FUZZ_CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            strcmp(e->d_name, "input.zip") != 0 && strcmp(e->d_name, "ws") != 0) {
            fprintf(stderr, "fuzz_extract: %s appeared next to the workspace\n", e->d_name);
            n++;
        }
    }
    closedir(d);
    return n;
}

void fuzz_extract_check(void)
{
    fuzz_extract_init();
    FUZZ_CHECK(mkdir(ws_path, 0700) == 0);

    exec_extract_limits lim = {FUZZ_MAX_ENTRIES, FUZZ_MAX_BYTES};
    exec_extract_stats st = {0, 0};
    dp_err err;
    dp_err_clear(&err);
    int rc = exec_extract(zip_path, ws_path, &lim, &st, &err);
    FUZZ_CHECK(rc == DP_OK || rc == DP_EINVAL || rc == DP_EIO || rc == DP_ENOMEM);
    FUZZ_CHECK(rc == DP_OK || err.msg[0] != '\0');
    FUZZ_CHECK(st.entries <= FUZZ_MAX_ENTRIES && st.bytes <= FUZZ_MAX_BYTES);

    walk_entries = 0;
    walk_bytes = 0;
    walk_bad = 0;
    FUZZ_CHECK(nftw(ws_path, walk_one, 16, FTW_PHYS) == 0);
    FUZZ_CHECK(!walk_bad);
    FUZZ_CHECK(walk_bytes <= FUZZ_MAX_BYTES);
    /* implied parent directories are created but not counted as entries:
     * each entry may add one per path component (64 at most) */
    FUZZ_CHECK(walk_entries <= (size_t)FUZZ_MAX_ENTRIES * 64);
    if (rc == DP_OK)
        FUZZ_CHECK(walk_bytes == st.bytes);
    FUZZ_CHECK(strangers() == 0);

    rm_tree(ws_path);
    FUZZ_CHECK(access(ws_path, F_OK) != 0);
}
