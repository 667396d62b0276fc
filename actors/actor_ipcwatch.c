#include "actors/actor_ipcwatch.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define WATCH_MAX 32
#define WATCH_EVERY_MS 2000
#define WATCH_ANSWER_MS 3000 /* a live actor answers in microseconds; slack for load */

typedef struct {
    nng_socket sock;
    nng_listener l;
    char url[256];
    int used;
} watch_entry;

static pthread_mutex_t watch_mu = PTHREAD_MUTEX_INITIALIZER;
static watch_entry watched[WATCH_MAX];
static int watch_started;
static atomic_ulong watch_restarts;

int actor_ipc_private(nng_listener l, const char *url)
{
    if (strncmp(url, "ipc://", 6) != 0)
        return 0;
    return nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, 0600);
}

/* Reads exactly n bytes within ms; 0 on success. */
static int read_within(int fd, unsigned char *buf, size_t n, int ms)
{
    size_t got = 0;
    while (got < n) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, ms) <= 0)
            return -1;
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* 1 when the rep socket behind path answers a request in time (or cannot be
 * asked: no listener, a socket being closed). The probe is a req peer: the
 * SP header, then one ipc message (type 1, 8-byte length, a request id with
 * its high bit set, and a one-byte body the actor runtime refuses as "not
 * an actor request frame" — with an answer). */
static int answers(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (fd < 0 || strlen(path) >= sizeof sa.sun_path) {
        if (fd >= 0)
            close(fd);
        return 1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    struct timeval tv = {1, 0}; /* a stalled peer must not hold the watchdog */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int ok = 1;
    unsigned char hdr[8];
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        static const unsigned char hello[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0}; /* req0 */
        static const unsigned char ask[14] = {1, 0, 0, 0, 0, 0, 0, 0, 5, 0x80, 0, 0, 1, 0};
        ok = send(fd, hello, sizeof hello, MSG_NOSIGNAL) == (ssize_t)sizeof hello &&
             read_within(fd, hdr, sizeof hdr, WATCH_ANSWER_MS) == 0 &&
             send(fd, ask, sizeof ask, MSG_NOSIGNAL) == (ssize_t)sizeof ask &&
             read_within(fd, hdr, 1, WATCH_ANSWER_MS) == 0;
    }
    close(fd);
    return ok;
}

static void restart(watch_entry *e)
{
    nng_listener fresh;
    nng_listener_close(e->l);
    if (nng_listener_create(&fresh, e->sock, e->url) == 0 &&
        actor_ipc_private(fresh, e->url) == 0 && nng_listener_start(fresh, 0) == 0) {
        e->l = fresh;
        atomic_fetch_add(&watch_restarts, 1);
        fprintf(stderr,
                "{\"level\":\"warn\",\"event\":\"ipc_listener_restarted\",\"url\":\"%s\","
                "\"why\":\"it stopped handing connections over (nng 1.5.2 #1518)\"}\n",
                e->url);
    } else {
        e->used = 0; /* the socket is going away */
    }
}

static void *watch_main(void *arg)
{
    (void)arg;
    for (;;) {
        struct timespec ts = {WATCH_EVERY_MS / 1000, (WATCH_EVERY_MS % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        for (int i = 0; i < WATCH_MAX; i++) {
            char path[256];
            pthread_mutex_lock(&watch_mu);
            int used = watched[i].used;
            snprintf(path, sizeof path, "%s", watched[i].url + 6);
            pthread_mutex_unlock(&watch_mu);
            if (!used || answers(path))
                continue;
            pthread_mutex_lock(&watch_mu);
            if (watched[i].used) /* not forgotten meanwhile */
                restart(&watched[i]);
            pthread_mutex_unlock(&watch_mu);
        }
    }
    return NULL;
}

int actor_ipcwatch_add(nng_socket sock, nng_listener l, const char *url)
{
    if (strncmp(url, "ipc://", 6) != 0 || strlen(url) >= sizeof watched[0].url)
        return 0;
    pthread_mutex_lock(&watch_mu);
    int rc = NNG_ENOSPC, i = 0;
    while (i < WATCH_MAX && watched[i].used)
        i++;
    if (i < WATCH_MAX) {
        watched[i] = (watch_entry){.sock = sock, .l = l, .used = 1};
        snprintf(watched[i].url, sizeof watched[i].url, "%s", url);
        rc = 0;
        if (!watch_started) {
            pthread_t t;
            pthread_attr_t at;
            pthread_attr_init(&at);
            pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
            watch_started = pthread_create(&t, &at, watch_main, NULL) == 0;
            pthread_attr_destroy(&at);
        }
    }
    pthread_mutex_unlock(&watch_mu);
    return rc;
}

void actor_ipcwatch_forget(nng_socket sock)
{
    pthread_mutex_lock(&watch_mu);
    for (int i = 0; i < WATCH_MAX; i++)
        if (watched[i].used && nng_socket_id(watched[i].sock) == nng_socket_id(sock))
            watched[i].used = 0;
    pthread_mutex_unlock(&watch_mu);
}

unsigned long actor_ipcwatch_restarts(void)
{
    return atomic_load(&watch_restarts);
}
