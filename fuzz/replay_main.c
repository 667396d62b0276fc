/* A libFuzzer-compatible driver for builds without libFuzzer (gcc with
 * ASan/UBSan in build-test): links with one fuzz_<target>.c and
 *   1. runs every file of the seed directories once, in name order;
 *   2. runs deterministic pseudo-random mutations of those seeds (bit
 *      flips, interesting bytes, inserts, deletes, duplicated ranges,
 *      splices of two seeds) until --mutations are done or --seconds pass.
 * The mutation stream depends only on the seeds and --seed, so a failure
 * reproduces with the same arguments. When an input aborts the process
 * (an ASan report or a broken invariant), the input is written to
 * ./replay-crash-<target> and its origin is printed; feed that file to the
 * libFuzzer build (build-fuzz/fuzz/fuzz_<target> FILE) to debug it.
 *
 *   replay_<target> [--seconds S] [--mutations N] [--seed X] DIR|FILE...
 *
 * Exit 0 when every input ran; 2 on bad usage or unreadable seeds. */
#include "fuzz/fuzz_check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REPLAY_MAX_INPUT (64u << 10)

/* weak: only some harnesses define it */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

typedef struct {
    char *name; /* owned */
    uint8_t *data;
    size_t size;
} replay_seed;

static replay_seed *seeds;
static size_t n_seeds, alloc_seeds;

/* The input being run, for the crash report (read from a signal handler). */
static const uint8_t *cur_data;
static size_t cur_size;
static char cur_what[512];
static char crash_path[256];

static void save_current(void)
{
    static int saved;
    if (saved++ || cur_data == NULL)
        return;
    int fd = open(crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        size_t off = 0;
        while (off < cur_size) {
            ssize_t w = write(fd, cur_data + off, cur_size - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        close(fd);
    }
    const char *m1 = "replay: the failing input is ";
    (void)!write(2, m1, strlen(m1));
    (void)!write(2, cur_what, strlen(cur_what));
    (void)!write(2, ", saved as ", 11);
    (void)!write(2, crash_path, strlen(crash_path));
    (void)!write(2, "\n", 1);
}

static void on_abort(int sig)
{
    save_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int add_seed(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = malloc(REPLAY_MAX_INPUT);
    size_t n = buf != NULL ? fread(buf, 1, REPLAY_MAX_INPUT, f) : 0;
    fclose(f);
    if (buf == NULL)
        return -1;
    if (n_seeds == alloc_seeds) {
        alloc_seeds = alloc_seeds ? alloc_seeds * 2 : 64;
        replay_seed *ns = realloc(seeds, alloc_seeds * sizeof *ns);
        if (ns == NULL) {
            free(buf);
            return -1;
        }
        seeds = ns;
    }
    seeds[n_seeds].name = strdup(path);
    seeds[n_seeds].data = buf;
    seeds[n_seeds].size = n;
    n_seeds++;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return add_seed(path);
    DIR *d = opendir(path);
    if (d == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char **nn = realloc(names, (n + 1) * sizeof *nn);
        if (nn == NULL)
            break;
        names = nn;
        size_t l = strlen(path) + strlen(e->d_name) + 2;
        names[n] = malloc(l);
        if (names[n] != NULL)
            snprintf(names[n++], l, "%s/%s", path, e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && add_seed(names[i]) != 0)
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

static uint64_t rng_state;

static uint64_t rng(void)
{
    /* xorshift64*: small, fast, and the same on every platform */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static size_t below(size_t n)
{
    return n == 0 ? 0 : (size_t)(rng() % n);
}

/* Opens k bytes at a random place of buf (len bytes used, len + k <=
 * REPLAY_MAX_INPUT): returns where. */
static size_t open_gap(uint8_t *buf, size_t len, size_t k)
{
    size_t at = below(len + 1);
    size_t tail = at <= len ? len - at : 0; /* bounded: tells -O3's bounds check */
    if (tail > REPLAY_MAX_INPUT)
        tail = 0;
    memmove(buf + at + k, buf + at, tail);
    return at;
}

/* One mutation of buf (size *n, room REPLAY_MAX_INPUT) in place. */
static void mutate_once(uint8_t *buf, size_t *n)
{
    static const uint8_t interesting[] = {0,   1,   0x7f, 0x80, 0xff, '\n', '\r', ' ', '/',
                                          '.', '<', '>',  '"',  '\'', '&',  '{',  '}', '[',
                                          ']', ':', ',',  '\\', '#',  '-',  '0',  '9'};
    size_t len = *n;
    switch (rng() % 8) {
    case 0: /* flip a bit */
        if (len > 0)
            buf[below(len)] ^= (uint8_t)(1u << (rng() % 8));
        break;
    case 1: /* an interesting byte */
        if (len > 0)
            buf[below(len)] = interesting[below(sizeof interesting)];
        break;
    case 2: /* a random byte */
        if (len > 0)
            buf[below(len)] = (uint8_t)rng();
        break;
    case 3: { /* delete a range */
        if (len == 0)
            break;
        size_t at = below(len), k = 1 + below(len - at < 16 ? len - at : 16);
        memmove(buf + at, buf + at + k, len - at - k);
        *n = len - k;
        break;
    }
    case 4: { /* insert random bytes */
        size_t k = 1 + below(8);
        if (len + k > REPLAY_MAX_INPUT)
            break;
        size_t at = open_gap(buf, len, k);
        for (size_t i = 0; i < k; i++)
            buf[at + i] = (uint8_t)rng();
        *n = len + k;
        break;
    }
    case 5: { /* duplicate a range (repeats a line, an entry, a tag) */
        if (len == 0)
            break;
        size_t from = below(len), k = 1 + below(len - from < 64 ? len - from : 64);
        if (len + k > REPLAY_MAX_INPUT)
            break;
        size_t at = open_gap(buf, len, k);
        memmove(buf + at, buf + (from < at ? from : from + k), k);
        *n = len + k;
        break;
    }
    case 6: { /* overwrite with a piece of another seed */
        const replay_seed *o = &seeds[below(n_seeds)];
        if (o->size == 0 || len == 0)
            break;
        size_t from = below(o->size), at = below(len);
        size_t k = 1 + below(o->size - from);
        if (k > len - at)
            k = len - at;
        memcpy(buf + at, o->data + from, k);
        break;
    }
    default: { /* splice: this seed's head, another seed's tail */
        const replay_seed *o = &seeds[below(n_seeds)];
        size_t at = below(len + 1), from = below(o->size + 1);
        size_t k = o->size - from;
        if (at + k > REPLAY_MAX_INPUT)
            k = REPLAY_MAX_INPUT - at;
        memcpy(buf + at, o->data + from, k);
        *n = at + k;
        break;
    }
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs one input from a heap copy of exactly its size (so ASan sees any
 * read past the end). */
static void run(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size > 0 ? size : 1);
    if (copy == NULL)
        abort();
    if (size > 0)
        memcpy(copy, data, size);
    cur_data = copy;
    cur_size = size;
    LLVMFuzzerTestOneInput(copy, size);
    cur_data = NULL;
    free(copy);
}

int main(int argc, char **argv)
{
    double seconds = 3;
    unsigned long mutations = 5000;
    uint64_t seed = 0x6469737061746368ull; /* "dispatch" */
    int first = 1;
    for (; first < argc && strncmp(argv[first], "--", 2) == 0; first += 2) {
        if (first + 1 >= argc)
            break;
        if (strcmp(argv[first], "--seconds") == 0)
            seconds = strtod(argv[first + 1], NULL);
        else if (strcmp(argv[first], "--mutations") == 0)
            mutations = strtoul(argv[first + 1], NULL, 10);
        else if (strcmp(argv[first], "--seed") == 0)
            seed = strtoull(argv[first + 1], NULL, 0);
        else
            break;
    }
    if (first >= argc || seconds <= 0) {
        fprintf(stderr, "usage: %s [--seconds S] [--mutations N] [--seed X] DIR|FILE...\n",
                argv[0]);
        return 2;
    }
    for (int i = first; i < argc; i++) {
        if (add_path(argv[i]) != 0)
            return 2;
    }
    if (n_seeds == 0) {
        fprintf(stderr, "replay: no seeds in the given paths\n");
        return 2;
    }
    const char *slash = strrchr(argv[0], '/');
    const char *prog = slash != NULL ? slash + 1 : argv[0];
    snprintf(crash_path, sizeof crash_path, "replay-crash-%s",
             strncmp(prog, "replay_", 7) == 0 ? prog + 7 : prog);
    if (LLVMFuzzerInitialize != NULL)
        LLVMFuzzerInitialize(&argc, &argv);
    signal(SIGABRT, on_abort);
    signal(SIGSEGV, on_abort);
    if (__sanitizer_set_death_callback != NULL)
        __sanitizer_set_death_callback(save_current);

    double t0 = now_s();
    for (size_t i = 0; i < n_seeds; i++) {
        snprintf(cur_what, sizeof cur_what, "seed %s", seeds[i].name);
        run(seeds[i].data, seeds[i].size);
    }
    rng_state = seed != 0 ? seed : 1;
    uint8_t *buf = malloc(REPLAY_MAX_INPUT);
    if (buf == NULL)
        return 2;
    unsigned long done = 0;
    while (done < mutations && now_s() - t0 < seconds) {
        size_t s = below(n_seeds);
        size_t n = seeds[s].size;
        memcpy(buf, seeds[s].data, n);
        unsigned k = 1 + (unsigned)below(4);
        for (unsigned j = 0; j < k; j++)
            mutate_once(buf, &n);
        snprintf(cur_what, sizeof cur_what, "mutation %lu of seed %s (--seed 0x%llx, %u changes)",
                 done, seeds[s].name, (unsigned long long)seed, k);
        run(buf, n);
        done++;
    }
    printf("replay: %zu seeds and %lu mutations in %.1f s\n", n_seeds, done, now_s() - t0);
    free(buf);
    for (size_t i = 0; i < n_seeds; i++) {
        free(seeds[i].name);
        free(seeds[i].data);
    }
    free(seeds);
    return 0;
}
