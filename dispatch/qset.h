/* A small set of queue ids (strings) for the leaser's routing: which queues
 * a parked runner can take, which queues a wake named, which ones a pass has
 * found empty. Linear scans: the sets are a runner's eligible queues
 * (tens), a wake's ids (<= RQ_WAKE_QIDS_MAX). The set owns its strings. */
#ifndef DP_QSET_H
#define DP_QSET_H

#include <stddef.h>

typedef struct {
    char **v; /* heap array of heap strings */
    size_t n, cap;
} qset;

int qset_has(const qset *s, const char *id);
/* Adds a copy of id unless present; 0, or -1 when out of memory. */
int qset_add(qset *s, const char *id);
/* Takes over a heap array of heap strings (rq_runner_queues' output). */
void qset_take(qset *s, char **v, size_t n);
/* Whether some member of a is in b and not in except (except may be NULL). */
int qset_overlaps(const qset *a, const qset *b, const qset *except);
/* Whether every member of a is in b (an empty a: yes). */
int qset_within(const qset *a, const qset *b);
void qset_free(qset *s); /* empties it; the struct can be reused */

#endif
