/* The decided outcomes of early complete_lease results (messages/msg.h),
 * kept by the leaser until their runner's next answer carries them. Part
 * of the leaser actor: only its thread touches an outcome_box. Bounded:
 * at most OUTCOME_BOX_MAX outcomes (a full box drops its oldest quarter) and none
 * older than what outcome_box_expire is given; a dropped outcome costs
 * nothing but a resend (the runner sends a result whose outcome never came
 * again after FEEDER_AWAIT_MS, and a repeat is acked without a second
 * record). Ownership: the box owns the outcomes' strings; outcome_box_take
 * hands out an array the caller frees with outcome_box_free_outcomes. */
#ifndef DP_OUTCOME_BOX_H
#define DP_OUTCOME_BOX_H

#include "messages/msg.h"

#include <stddef.h>
#include <stdint.h>

#define OUTCOME_BOX_MAX 65536

typedef struct {
    char runner_id[DP_ID_MAX];
    dp_result_outcome outcome;
    int64_t added_ms;
} outcome_box_entry;

typedef struct {
    outcome_box_entry *v; /* oldest first */
    size_t n, cap;
} outcome_box;

/* Moves the n outcomes in (their strings; the array stays the caller's, its
 * entries zeroed). DP_ENOMEM leaves the rest with the caller. */
int outcome_box_add(outcome_box *b, const char *runner_id, dp_result_outcome *outs, size_t n,
                    int64_t now_ms, dp_err *err);

/* Whether any outcome waits for runner_id. */
int outcome_box_has(const outcome_box *b, const char *runner_id);

/* Takes up to max of runner_id's outcomes, oldest first, into a new array
 * (*out, NULL when none or out of memory: they then stay in the box);
 * returns how many. */
size_t outcome_box_take(outcome_box *b, const char *runner_id, size_t max, dp_result_outcome **out);

/* Drops every outcome added before cutoff_ms; returns how many. */
size_t outcome_box_expire(outcome_box *b, int64_t cutoff_ms);

void outcome_box_free_outcomes(dp_result_outcome *outs, size_t n);
void outcome_box_free(outcome_box *b);

#endif
