/* Lease marks folded into their results. A mark (state leased, attempts,
 * runner, started_at, a `leased` history row) whose attempt's result is
 * recorded in the same statement sets nothing the result does not
 * overwrite, except started_at and the history row: the result sets
 * started_at from the mark (store_result_in.leased_us) and the view
 * job_history makes the row from the job row (migration 11). So such a
 * mark is not written: by pg_stat_statements it was about 28 µs of
 * PostgreSQL per job at 2 runners x 16 slots (docs/bench.md). */
#include "dispatch/reporter_impl.h"

#include <stdint.h>
#include <string.h>

#define FOLD_SLOTS (2 * REPORTER_BATCH) /* a power of two over the batch */
_Static_assert((FOLD_SLOTS & (FOLD_SLOTS - 1)) == 0, "FOLD_SLOTS must be a power of two");

typedef struct {
    const char *job_id; /* borrowed from in[]; NULL: empty slot */
    size_t first;       /* its first result in in[] (the one the statement tries) */
    bool mixed;         /* results of more than one attempt: the newest wins, so no fold */
} fold_slot;

static size_t slot_of(const fold_slot *t, const char *job_id)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)job_id; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    size_t i = (size_t)h & (FOLD_SLOTS - 1);
    while (t[i].job_id != NULL && strcmp(t[i].job_id, job_id) != 0)
        i = (i + 1) & (FOLD_SLOTS - 1);
    return i;
}

void reporter_fold_marks(const event_buffer *marks, store_result_in *in, size_t n,
                         unsigned char *act)
{
    fold_slot t[FOLD_SLOTS];
    memset(t, 0, sizeof t);
    for (size_t k = 0; k < n && k < REPORTER_BATCH; k++) {
        fold_slot *e = &t[slot_of(t, in[k].result->job_id)];
        if (e->job_id == NULL)
            *e = (fold_slot){in[k].result->job_id, k, false};
        else if (in[e->first].result->attempt != in[k].result->attempt)
            e->mixed = true;
    }
    for (size_t i = 0; i < marks->n; i++) {
        const dp_msg_event *m = &marks->items[i].ev;
        const fold_slot *e = &t[slot_of(t, m->job_id)];
        if (e->job_id == NULL) {
            act[i] = REPORTER_MARK_DEFER;
        } else if (!e->mixed && in[e->first].result->attempt == m->attempt) {
            act[i] = REPORTER_MARK_FOLD;
            if (in[e->first].leased_us == 0) /* told twice: the first */
                in[e->first].leased_us = marks->items[i].at_us;
        } else {
            act[i] = REPORTER_MARK_WRITE;
        }
    }
}
