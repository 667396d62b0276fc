/* Helpers shared by the actor tests. */
#ifndef DP_TEST_ACTOR_UTIL_H
#define DP_TEST_ACTOR_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Threads of this process (entries of /proc/self/task). */
int util_thread_count(void);

/* Resident set size of this process in KiB (VmRSS). */
long util_rss_kb(void);

/* Sorts v (n entries) and returns the median. */
double util_median(double *v, size_t n);

#endif
