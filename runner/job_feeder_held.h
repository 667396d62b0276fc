/* The results a runner holds until the dispatcher has an outcome for them
 * (part of the job feeder actor, runner/job_feeder.c; only its thread
 * touches a feeder_held). Each result is either waiting to be sent (call 0)
 * or travelling in one complete_lease call (call = that call's id); an
 * answer without an outcome for it, a failed call or a `retry` outcome puts
 * it back to waiting, so it is sent again, unchanged, until it is acked,
 * refused as a conflict or not_found. The results are owned here: the
 * items given to feeder_held_add are moved in; feeder_held_peek lends
 * copies of the structs (the strings stay owned here) for one encoding. */
#ifndef DP_JOB_FEEDER_HELD_H
#define DP_JOB_FEEDER_HELD_H

#include "messages/msg.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    dp_result_item item;
    uint64_t call;    /* 0: waiting to be sent */
    int64_t since_ms; /* handed in (dp_now_ms): how long it has waited for an outcome */
} feeder_held_result;

typedef struct {
    feeder_held_result *v; /* oldest first */
    size_t n, cap;
} feeder_held;

/* Moves *item in (zeroed after). DP_ENOMEM leaves it with the caller. */
int feeder_held_add(feeder_held *h, dp_result_item *item, dp_err *err);

/* When the oldest result held was handed in (dp_now_ms); 0 when none. */
int64_t feeder_held_oldest_ms(const feeder_held *h);

/* Results waiting to be sent. */
size_t feeder_held_waiting(const feeder_held *h);

/* Up to max waiting results, oldest first, into out (shallow copies: valid
 * until the next change to h). */
size_t feeder_held_peek(const feeder_held *h, dp_result_item *out, size_t max);

/* Marks the n oldest waiting results (those feeder_held_peek gave) as
 * travelling in call. */
void feeder_held_mark(feeder_held *h, size_t n, uint64_t call);

/* Puts the results of call back to waiting (the call failed, or they were
 * not in the message after all). */
void feeder_held_unsend(feeder_held *h, uint64_t call);

/* Applies one outcome of call: ack / conflict / not_found forget the
 * result (1), retry puts it back to waiting (0); -1 when call carried no
 * such result (a stale or foreign outcome: ignored). */
int feeder_held_outcome(feeder_held *h, uint64_t call, const dp_result_outcome *o);

void feeder_held_free(feeder_held *h);

#endif
