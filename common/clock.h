/* clock.h - wall and monotonic milliseconds. Deadlines that cross processes (job deadline_ms) use wall
 * time, since monotonic clocks are per machine; local waits use the monotonic clock. */
#ifndef LGW_CLOCK_H
#define LGW_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t lgw_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t lgw_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t lgw_mono_ms(void)
{
    return lgw_mono_us() / 1000;
}

#endif
