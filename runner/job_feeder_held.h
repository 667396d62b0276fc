/* The results a runner holds until the dispatcher has an outcome for them
 * (part of the job feeder actor, runner/job_feeder.c; only its thread
 * touches a feeder_held). Each result is either waiting to be sent (call 0),
 * travelling in one complete_lease call (call = that call's id), or awaiting
 * its outcome after an early call's answer (FEEDER_HELD_AWAITING: the
 * outcome comes in a later answer, msg.h); an answer to a call that was not
 * early without an outcome for it, a failed call, a `retry` outcome or an
 * await past its bound puts it back to waiting, so it is sent again,
 * unchanged, until it is acked, refused as a conflict or not_found. The results are owned here: the
 * items given to feeder_held_add are moved in; feeder_held_peek lends
 * copies of the structs (the strings stay owned here) for one encoding. */
#ifndef DP_JOB_FEEDER_HELD_H
#define DP_JOB_FEEDER_HELD_H

#include "messages/msg.h"

#include <stddef.h>
#include <stdint.h>

#define FEEDER_HELD_AWAITING UINT64_MAX

typedef struct {
    dp_result_item item;
    uint64_t call;    /* 0: waiting to be sent; FEEDER_HELD_AWAITING */
    int64_t since_ms; /* handed in (dp_now_ms): how long it has waited for an outcome */
    int64_t await_ms; /* awaiting since (dp_now_ms) */
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

/* Results awaiting their outcome (FEEDER_HELD_AWAITING). */
size_t feeder_held_awaiting(const feeder_held *h);

/* Since when (dp_now_ms) the longest-awaiting result awaits; 0: none. */
int64_t feeder_held_await_since(const feeder_held *h);

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

/* Applies an outcome that names its result by job and attempt, whatever
 * state the result is in (an early call's outcome comes in any later
 * answer): as feeder_held_outcome; -1 when no result held matches. */
int feeder_held_decided(feeder_held *h, const dp_result_outcome *o);

/* The results still travelling in call (an early call's answer came
 * without their outcomes) now await them, from now_ms. */
void feeder_held_await(feeder_held *h, uint64_t call, int64_t now_ms);

/* Puts the results awaiting since before cutoff_ms (every one with
 * INT64_MAX) back to waiting; returns how many. */
size_t feeder_held_unawait(feeder_held *h, int64_t cutoff_ms);

void feeder_held_free(feeder_held *h);

#endif
