#include "common/clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t dp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t dp_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t dp_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* "YYYY-MM-DDTHH:MM:SS" of sec, kept per thread for the last second asked:
 * gmtime_r takes glibc's time zone lock and strftime is slow, and the
 * dispatcher stamps every event (a profile showed 3 % of its CPU here). */
static _Thread_local time_t iso_cached_sec = (time_t)-1;
static _Thread_local char iso_cached[24];

void dp_iso_now(char *buf, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != iso_cached_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        if (strftime(iso_cached, sizeof iso_cached, "%Y-%m-%dT%H:%M:%S", &tm) != 19) {
            if (len > 0)
                buf[0] = '\0';
            return;
        }
        iso_cached_sec = ts.tv_sec;
    }
    if (len < DP_ISO_LEN) { /* too small for the whole stamp: what fits */
        if (len > 0)
            snprintf(buf, len, "%s", iso_cached);
        return;
    }
    long ms = ts.tv_nsec / 1000000;
    memcpy(buf, iso_cached, 19);
    buf[19] = '.';
    buf[20] = (char)('0' + ms / 100);
    buf[21] = (char)('0' + ms / 10 % 10);
    buf[22] = (char)('0' + ms % 10);
    buf[23] = 'Z';
    buf[24] = '\0';
}
