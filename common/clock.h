/* Clocks: monotonic milliseconds for deadlines and intervals, and RFC 3339
 * UTC timestamps for events and logs. Buffers are caller-owned. */
#ifndef DP_CLOCK_H
#define DP_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#define DP_ISO_TS_LEN 32 /* "2026-11-23T11:30:00.123Z" and its NUL fit */

/* CLOCK_MONOTONIC in milliseconds. */
int64_t dp_now_ms(void);

/* CLOCK_REALTIME in milliseconds since the epoch (the clock Redis stream
 * ids count in). */
int64_t dp_wall_ms(void);
/* The same in microseconds. */
int64_t dp_wall_us(void);

/* The current UTC time as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (len >=
 * DP_ISO_LEN; a smaller buf gets what fits, NUL-terminated). */
#define DP_ISO_LEN 25
void dp_iso_now(char *buf, size_t len);

#endif
