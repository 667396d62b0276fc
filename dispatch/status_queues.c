#include "dispatch/status_queues.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    for (int pass = 0; pass < 2 && !b->oom; pass++) {
        va_list ap;
        va_start(ap, fmt);
        int w =
            vsnprintf(b->s != NULL ? b->s + b->n : NULL, b->s != NULL ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (w < 0) {
            b->oom = 1;
            return;
        }
        if (b->s != NULL && (size_t)w < b->cap - b->n) {
            b->n += (size_t)w;
            return;
        }
        size_t cap = (b->cap ? b->cap : 1024) * 2 + (size_t)w;
        char *s = realloc(b->s, cap);
        if (s == NULL) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

/* Label values: profiles and labels are [A-Za-z0-9_.-] and commas, so
 * nothing needs escaping; anything else is dropped to be safe. */
static const char *clean(const char *s, char *buf, size_t len)
{
    size_t k = 0;
    for (; s != NULL && *s != '\0' && k + 1 < len; s++)
        if (*s != '"' && *s != '\\' && *s != '\n')
            buf[k++] = *s;
    buf[k] = '\0';
    return buf;
}

char *status_queue_metrics(rq_conn *rq, uint64_t *draining, dp_err *err)
{
    dp_queue_stats st = {0};
    if (rq_queue_depths(rq, DP_QUEUES_MAX, 1, &st, err) != DP_OK)
        return NULL;
    *draining = st.runners_draining;
    sbuf b = {0};
    sb_printf(&b, "# HELP dispatch_queue_depth Pending jobs per queue (profile x labels x "
                  "priority).\n# TYPE dispatch_queue_depth gauge\n");
    for (size_t i = 0; i < st.n_queues; i++) {
        char p[128], l[1200];
        const dp_queue_depth *q = &st.queues[i];
        sb_printf(&b, "dispatch_queue_depth{profile=\"%s\",labels=\"%s\",priority=\"%s\"} %llu\n",
                  clean(q->profile, p, sizeof p), clean(q->labels, l, sizeof l), q->priority,
                  (unsigned long long)q->depth);
    }
    sb_printf(&b, "# HELP dispatch_queue_runners Live runners that can take a queue (0: its "
                  "jobs wait).\n# TYPE dispatch_queue_runners gauge\n");
    for (size_t i = 0; i < st.n_queues; i++) {
        char p[128], l[1200];
        const dp_queue_depth *q = &st.queues[i];
        sb_printf(&b, "dispatch_queue_runners{profile=\"%s\",labels=\"%s\",priority=\"%s\"} %u\n",
                  clean(q->profile, p, sizeof p), clean(q->labels, l, sizeof l), q->priority,
                  (unsigned)q->runners);
    }
    dp_queue_stats_free(&st);
    if (b.oom) {
        free(b.s);
        dp_err_set(err, DP_ENOMEM, "queue metrics: out of memory");
        return NULL;
    }
    return b.s;
}
