/* clock.h - wall and monotonic milliseconds. Deadlines that cross processes (job deadline_ms) use wall
 * time, since monotonic clocks are per machine; local waits use the monotonic clock. */
#ifndef LGW_CLOCK_H
#define LGW_CLOCK_H

#include <pthread.h>
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

/* Initializes c for timed waits on the monotonic clock (deadlines from lgw_deadline_in_ms(CLOCK_MONOTONIC,
 * ...)): a step of the wall clock neither cuts a wait short nor stretches it. */
static inline void lgw_cond_init_mono(pthread_cond_t *c)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(c, &ca);
    pthread_condattr_destroy(&ca);
}

/* The absolute time ms from now on clock (CLOCK_MONOTONIC or CLOCK_REALTIME, the one the condition variable
 * waits on), for pthread_cond_timedwait. */
static inline struct timespec lgw_deadline_in_ms(clockid_t clock, int64_t ms)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

#endif
