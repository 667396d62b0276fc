#include "dispatch/outcome_box.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void clear_outcome(dp_result_outcome *o)
{
    free(o->job_id);
    free(o->outcome);
    free(o->message);
    memset(o, 0, sizeof *o);
}

void outcome_box_free_outcomes(dp_result_outcome *outs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        clear_outcome(&outs[i]);
    free(outs);
}

int outcome_box_add(outcome_box *b, const char *runner_id, dp_result_outcome *outs, size_t n,
                    int64_t now_ms, dp_err *err)
{
    for (size_t i = 0; i < n; i++) {
        if (b->n == OUTCOME_BOX_MAX) { /* the oldest quarter goes: their runners resend */
            size_t drop = OUTCOME_BOX_MAX / 4;
            for (size_t k = 0; k < drop; k++)
                clear_outcome(&b->v[k].outcome);
            memmove(&b->v[0], &b->v[drop], (b->n - drop) * sizeof *b->v);
            b->n -= drop;
        }
        if (b->n == b->cap) {
            size_t cap = b->cap ? b->cap * 2 : 64;
            outcome_box_entry *v = realloc(b->v, cap * sizeof *v);
            if (v == NULL)
                return dp_err_set(err, DP_ENOMEM, "leaser: out of memory keeping outcomes");
            b->v = v;
            b->cap = cap;
        }
        outcome_box_entry *e = &b->v[b->n++];
        snprintf(e->runner_id, sizeof e->runner_id, "%s", runner_id);
        e->outcome = outs[i];
        e->added_ms = now_ms;
        memset(&outs[i], 0, sizeof outs[i]);
    }
    return DP_OK;
}

int outcome_box_has(const outcome_box *b, const char *runner_id)
{
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->v[i].runner_id, runner_id) == 0)
            return 1;
    return 0;
}

size_t outcome_box_take(outcome_box *b, const char *runner_id, size_t max, dp_result_outcome **out)
{
    *out = NULL;
    size_t n = 0;
    for (size_t i = 0; i < b->n && n < max; i++)
        n += strcmp(b->v[i].runner_id, runner_id) == 0;
    if (n == 0 || (*out = calloc(n, sizeof **out)) == NULL)
        return 0;
    size_t taken = 0, kept = 0; /* one pass: the first n of runner_id's out, the rest closed up */
    for (size_t i = 0; i < b->n; i++) {
        if (taken < n && strcmp(b->v[i].runner_id, runner_id) == 0)
            (*out)[taken++] = b->v[i].outcome;
        else
            b->v[kept++] = b->v[i];
    }
    b->n = kept;
    return n;
}

size_t outcome_box_expire(outcome_box *b, int64_t cutoff_ms)
{
    size_t k = 0; /* oldest first: the expired ones are a prefix */
    while (k < b->n && b->v[k].added_ms < cutoff_ms)
        clear_outcome(&b->v[k++].outcome);
    if (k == 0)
        return 0; /* also an empty box, whose v may be NULL (memmove would be UB) */
    memmove(&b->v[0], &b->v[k], (b->n - k) * sizeof *b->v);
    b->n -= k;
    return k;
}

void outcome_box_free(outcome_box *b)
{
    for (size_t i = 0; i < b->n; i++)
        clear_outcome(&b->v[i].outcome);
    free(b->v);
    memset(b, 0, sizeof *b);
}
