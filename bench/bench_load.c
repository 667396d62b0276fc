/* bench_load: a C load generator for dispatchd through the client API (one
 * process, no dispatchctl spawn per call). Needs DISPATCH_ADMIN_URL and, for
 * the modes that check persistence, DISPATCH_PG_DSN.
 *
 *   bench_load enqueue SPEC N BATCH        batched submit rate
 *   bench_load e2e SPEC N BATCH TIMEOUT_S  submit N, wait until PostgreSQL
 *                                          holds no unfinished job
 *   bench_load latency SPEC RATE SECONDS   open-loop offered load; submit ->
 *                                          queued, -> leased and -> completed, and
 *                                          each submit call's round trip
 *                                          from `watch` events, cross-checked
 *                                          with PostgreSQL timestamps
 *
 * SPEC is a file with one job spec object, the template of every job. Prints
 * one JSON object on stdout. All buffers are owned by this file; the watcher
 * thread is left blocked in dpc_watch at exit (the process ends it). */
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/dispatch_client.h"
#include "common/job_json.h"

#define BL_BATCH_MAX 10000

static double bl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bl_die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_load: %s: %s\n", what, msg);
    exit(1);
}

static void bl_sleep(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static dp_job_spec bl_load_spec(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        bl_die(path, "cannot open");
    static char text[1 << 20];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    dp_job_spec spec;
    dp_err err = {0};
    if (dp_job_spec_from_text(text, len, &spec, &err) != DP_OK)
        bl_die(path, err.msg);
    return spec;
}

static dpc *bl_open(void)
{
    const char *url = getenv("DISPATCH_ADMIN_URL");
    if (url == NULL || *url == '\0')
        bl_die("DISPATCH_ADMIN_URL", "not set");
    dp_err err = {0};
    dpc *c = dpc_open(url, 30000, &err);
    if (c == NULL)
        bl_die("open", err.msg);
    return c;
}

/* Submits n copies of the template; ids (may be NULL) get the job ids. */
static void bl_submit(dpc *c, dp_job_spec *batch, size_t n, char (*ids)[DP_ID_MAX])
{
    dpc_submitted *items = NULL;
    dp_err err = {0};
    if (dpc_submit(c, batch, n, &items, &err) != 0)
        bl_die("submit", err.msg);
    for (size_t i = 0; i < n; i++) {
        if (items[i].error != NULL)
            bl_die("submit item", items[i].error);
        if (ids)
            snprintf(ids[i], DP_ID_MAX, "%s", items[i].job_id);
    }
    dpc_submit_free(items, n);
}

static dp_job_spec *bl_batch(const dp_job_spec *tmpl, const char *submission_id)
{
    dp_job_spec *b = calloc(BL_BATCH_MAX, sizeof *b);
    for (size_t i = 0; i < BL_BATCH_MAX; i++) {
        b[i] = *tmpl; /* shallow: the client only borrows */
        b[i].submission_id = (char *)submission_id;
    }
    return b;
}

static PGconn *bl_pg(void)
{
    const char *dsn = getenv("DISPATCH_PG_DSN");
    if (dsn == NULL || *dsn == '\0')
        bl_die("DISPATCH_PG_DSN", "not set");
    PGconn *pg = PQconnectdb(dsn);
    if (PQstatus(pg) != CONNECTION_OK)
        bl_die("postgres", PQerrorMessage(pg));
    return pg;
}

static long long bl_pg_count(PGconn *pg, const char *sql, const char *arg)
{
    const char *params[1] = {arg};
    PGresult *r = PQexecParams(pg, sql, arg ? 1 : 0, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        bl_die("postgres", PQerrorMessage(pg));
    long long n = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

static int bl_enqueue(const dp_job_spec *tmpl, size_t n, size_t batch)
{
    dpc *c = bl_open();
    dp_job_spec *b = bl_batch(tmpl, "bench-enqueue");
    double t0 = bl_now();
    for (size_t i = 0; i < n; i += batch)
        bl_submit(c, b, n - i < batch ? n - i : batch, NULL);
    double s = bl_now() - t0;
    printf("{\"jobs\": %zu, \"batch\": %zu, \"seconds\": %.3f, \"jobs_per_s\": %.0f}\n", n, batch,
           s, (double)n / s);
    free(b);
    dpc_close(c);
    return 0;
}

/* 1 while any job is unfinished: stops at the first row, so polling it
 * every 20 ms costs PostgreSQL next to nothing (a count(*) over the backlog
 * cost 3 ms a poll, a sixth of a core charged to the system measured). */
static const char bl_unfinished_sql[] =
    "SELECT (EXISTS (SELECT 1 FROM jobs WHERE finished_at IS NULL))::int";

static int bl_e2e(const dp_job_spec *tmpl, size_t n, size_t batch, double timeout_s)
{
    dpc *c = bl_open();
    PGconn *pg = bl_pg();
    char tag[64];
    snprintf(tag, sizeof tag, "e2e-%ld-%d", (long)time(NULL), (int)getpid());
    dp_job_spec *b = bl_batch(tmpl, tag);
    double t0 = bl_now();
    for (size_t i = 0; i < n; i += batch)
        bl_submit(c, b, n - i < batch ? n - i : batch, NULL);
    double submit_s = bl_now() - t0;
    long long left = -1;
    while (bl_now() - t0 < timeout_s) {
        left = bl_pg_count(pg, bl_unfinished_sql, NULL);
        if (left == 0)
            break;
        bl_sleep(0.02);
    }
    double total_s = bl_now() - t0;
    long long done = bl_pg_count(
        pg, "SELECT count(*) FROM jobs WHERE submission_id = $1 AND state = 'completed'", tag);
    printf("{\"jobs\": %zu, \"batch\": %zu, \"submit_s\": %.3f, \"total_s\": %.3f, "
           "\"jobs_per_s\": %.0f, \"persisted_completed\": %lld, \"unfinished_left\": %lld}\n",
           n, batch, submit_s, total_s, (double)done / total_s, done, left);
    free(b);
    PQfinish(pg);
    dpc_close(c);
    return done == (long long)n ? 0 : 1;
}

/* ---- latency: watcher thread + open-loop submitter ---- */

typedef struct {
    char id[DP_ID_MAX];
    char state; /* 'q' queued, 'l' leased, 'c' completed */
    double t;
    double age_ms;    /* received (wall clock) - the event's own ts; NAN: no ts */
    double stream_ms; /* received - its stream entry's ms (Redis's clock); NAN: no eid */
} bl_event;

static pthread_mutex_t bl_mu = PTHREAD_MUTEX_INITIALIZER;
static bl_event *bl_events;
static size_t bl_n_events, bl_cap_events, bl_n_done;

/* Wall-clock ms of an event's ts ("YYYY-MM-DDTHH:MM:SS.mmmZ"), or -1. */
static double bl_ts_ms(const char *ts)
{
    struct tm tm = {0};
    int ms = 0;
    if (ts == NULL || sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon,
                             &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (double)timegm(&tm) * 1e3 + ms;
}

static int bl_on_event(const dpc_event *ev, void *arg)
{
    (void)arg;
    char st = strcmp(ev->state, "queued") == 0      ? 'q'
              : strcmp(ev->state, "leased") == 0    ? 'l'
              : strcmp(ev->state, "completed") == 0 ? 'c'
                                                    : 0;
    if (st == 0)
        return 0;
    double t = bl_now(), ts = bl_ts_ms(ev->ts), eid_ms = ev->eid != NULL ? atof(ev->eid) : 0;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    /* both stamps have whole ms, cut down: +0.5 ms is their mean error */
    double wall_ms = (double)wall.tv_sec * 1e3 + wall.tv_nsec / 1e6 - 0.5;
    pthread_mutex_lock(&bl_mu);
    if (bl_n_events < bl_cap_events) {
        bl_event *e = &bl_events[bl_n_events++];
        snprintf(e->id, sizeof e->id, "%s", ev->job_id);
        e->state = st;
        e->t = t;
        e->age_ms = ts >= 0 ? wall_ms - ts : NAN;
        e->stream_ms = eid_ms > 0 ? wall_ms - eid_ms : NAN;
        bl_n_done += st == 'c';
    }
    pthread_mutex_unlock(&bl_mu);
    return 0;
}

static void *bl_watch_main(void *arg)
{
    (void)arg;
    dpc *c = bl_open();
    dp_err err = {0};
    if (dpc_watch(c, NULL, bl_on_event, NULL, &err) != 0)
        fprintf(stderr, "bench_load: watch ended: %s\n", err.msg);
    return NULL;
}

/* FNV-1a; open addressing over the submitted ids. */
static size_t bl_hash(const char *s)
{
    size_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int bl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void bl_pct(const char *name, double *v, size_t n, int last)
{
    qsort(v, n, sizeof *v, bl_cmp);
    if (n == 0) {
        printf("\"%s_p50_ms\": null, \"%s_p99_ms\": null, \"%s_max_ms\": null%s", name, name, name,
               last ? "" : ", ");
        return;
    }
    printf("\"%s_p50_ms\": %.3f, \"%s_p99_ms\": %.3f, \"%s_max_ms\": %.3f%s", name, v[n / 2], name,
           v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1], name, v[n - 1], last ? "" : ", ");
}

static int bl_latency(const dp_job_spec *tmpl, double rate, double secs)
{
    size_t total = (size_t)(rate * secs);
    char(*ids)[DP_ID_MAX] = calloc(total, DP_ID_MAX);
    double *sched = calloc(total, sizeof *sched);
    double *calls = calloc(total, sizeof *calls); /* each submit call's round trip, ms */
    bl_cap_events = total * 5 + 16;               /* three states a job, and room for repeats */
    bl_events = calloc(bl_cap_events, sizeof *bl_events);
    pthread_t th;
    pthread_create(&th, NULL, bl_watch_main, NULL);
    bl_sleep(0.3); /* the subscription must be in place before the first job */

    dpc *c = bl_open();
    char tag[64];
    snprintf(tag, sizeof tag, "lat-%.0f-%d", rate, (int)getpid());
    dp_job_spec *b = bl_batch(tmpl, tag);
    size_t sent = 0, max_batch = 0, n_batches = 0;
    double t0 = bl_now();
    while (sent < total) {
        double now = bl_now();
        size_t due = (size_t)((now - t0) * rate) + 1;
        if (due > total)
            due = total;
        if (due <= sent) {
            bl_sleep(t0 + (double)sent / rate - now);
            continue;
        }
        size_t n = due - sent;
        if (n > 1000)
            n = 1000;
        for (size_t j = 0; j < n; j++) /* the intended time: no coordinated omission */
            sched[sent + j] = t0 + (double)(sent + j) / rate;
        double call0 = bl_now();
        bl_submit(c, b, n, ids + sent);
        calls[n_batches] = (bl_now() - call0) * 1e3;
        sent += n;
        n_batches++;
        if (n > max_batch)
            max_batch = n;
    }
    double submit_s = bl_now() - t0;
    double deadline = bl_now() + 15;
    for (;;) {
        pthread_mutex_lock(&bl_mu);
        size_t done = bl_n_done;
        pthread_mutex_unlock(&bl_mu);
        if (done >= total || bl_now() > deadline)
            break;
        bl_sleep(0.05);
    }
    bl_sleep(0.2);

    size_t cap = 1;
    while (cap < total * 2)
        cap <<= 1;
    size_t *slot = malloc(cap * sizeof *slot);
    memset(slot, 0xff, cap * sizeof *slot);
    for (size_t i = 0; i < total; i++) {
        size_t h = bl_hash(ids[i]) & (cap - 1);
        while (slot[h] != (size_t)-1)
            h = (h + 1) & (cap - 1);
        slot[h] = i;
    }
    double *queued = calloc(total, sizeof *queued), *lease = calloc(total, sizeof *lease),
           *done = calloc(total, sizeof *done);
    /* each state's event age on arrival: from its stamp (the dispatcher's
     * clock, whole ms) through Redis's stream and the watch socket */
    double *age[3] = {calloc(total, sizeof(double)), calloc(total, sizeof(double)),
                      calloc(total, sizeof(double))},
           *stream_age = calloc(total * 3, sizeof(double));
    size_t nq = 0, nl = 0, nd = 0, n_age[3] = {0, 0, 0}, n_stream = 0;
    pthread_mutex_lock(&bl_mu);
    for (size_t e = 0; e < bl_n_events; e++) {
        size_t h = bl_hash(bl_events[e].id) & (cap - 1);
        while (slot[h] != (size_t)-1 && strcmp(ids[slot[h]], bl_events[e].id) != 0)
            h = (h + 1) & (cap - 1);
        if (slot[h] == (size_t)-1)
            continue;
        double ms = (bl_events[e].t - sched[slot[h]]) * 1e3;
        int k = bl_events[e].state == 'q' ? 0 : bl_events[e].state == 'l' ? 1 : 2;
        if (!isnan(bl_events[e].age_ms) && n_age[k] < total)
            age[k][n_age[k]++] = bl_events[e].age_ms;
        if (!isnan(bl_events[e].stream_ms) && n_stream < total * 3)
            stream_age[n_stream++] = bl_events[e].stream_ms;
        if (bl_events[e].state == 'q' && nq < total)
            queued[nq++] = ms;
        else if (bl_events[e].state == 'l' && nl < total)
            lease[nl++] = ms;
        else if (bl_events[e].state == 'c' && nd < total)
            done[nd++] = ms;
    }
    pthread_mutex_unlock(&bl_mu);

    /* PostgreSQL's own view: finished_at - created_at (transaction clocks). */
    PGconn *pg = bl_pg();
    const char *params[1] = {tag};
    PGresult *r = PQexecParams(
        pg,
        "SELECT count(*) FILTER (WHERE state = 'completed'),"
        " coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - "
        "created_at)) * 1000, -1),"
        " coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - "
        "created_at)) * 1000, -1),"
        " coalesce(max(extract(epoch FROM finished_at - created_at)) * 1000, -1)"
        " FROM jobs WHERE submission_id = $1",
        1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        bl_die("postgres", PQerrorMessage(pg));
    printf("{\"offered_jobs_per_s\": %.0f, \"jobs\": %zu, \"achieved_submit_jobs_per_s\": %.0f, "
           "\"batches\": %zu, \"max_batch\": %zu, \"queued_events\": %zu, "
           "\"lease_events\": %zu, \"done_events\": %zu, ",
           rate, total, (double)total / submit_s, n_batches, max_batch, nq, nl, nd);
    bl_pct("submit_call", calls, n_batches, 0);
    bl_pct("queued", queued, nq, 0);
    bl_pct("lease", lease, nl, 0);
    bl_pct("done", done, nd, 0);
    bl_pct("queued_event_age", age[0], n_age[0], 0);
    bl_pct("lease_event_age", age[1], n_age[1], 0);
    bl_pct("done_event_age", age[2], n_age[2], 0);
    /* every event's age since Redis added its stream entry: the watch path */
    bl_pct("event_from_stream", stream_age, n_stream, 0);
    printf("\"pg_completed\": %s, \"pg_done_p50_ms\": %.3f, \"pg_done_p99_ms\": %.3f, "
           "\"pg_done_max_ms\": %.3f}\n",
           PQgetvalue(r, 0, 0), atof(PQgetvalue(r, 0, 1)), atof(PQgetvalue(r, 0, 2)),
           atof(PQgetvalue(r, 0, 3)));
    fflush(stdout);
    PQclear(r);
    PQfinish(pg);
    _exit(0); /* the watcher thread stays blocked in dpc_watch */
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_load enqueue SPEC N BATCH | e2e SPEC N BATCH TIMEOUT_S | "
                        "latency SPEC RATE SECONDS\n");
        return 64;
    }
    dp_job_spec tmpl = bl_load_spec(argv[2]);
    const char *mode = argv[1];
    if (strcmp(mode, "enqueue") == 0 || strcmp(mode, "e2e") == 0) {
        size_t n = strtoul(argv[3], NULL, 10), batch = strtoul(argv[4], NULL, 10);
        if (n == 0 || batch == 0 || batch > BL_BATCH_MAX)
            bl_die("usage", "N > 0 and 1 <= BATCH <= 10000");
        if (mode[0] == 'e' && mode[1] == 'n')
            return bl_enqueue(&tmpl, n, batch);
        return bl_e2e(&tmpl, n, batch, argc > 5 ? atof(argv[5]) : 120);
    }
    if (strcmp(mode, "latency") == 0)
        return bl_latency(&tmpl, atof(argv[3]), atof(argv[4]));
    fprintf(stderr, "bench_load: unknown mode %s\n", mode);
    return 64;
}
