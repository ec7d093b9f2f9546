/* bench_clock.h - what the micro-benchmarks time with (reply_text_bench.c, json_write_bench.c, span_cost.c): this
 * thread's CPU time, which other work on a shared machine moves less than the wall clock, and a comparator for
 * qsort to take medians; and a moment some ms from now, for the bench servers' waits (fakeprov.c, http_hold/).
 * Bench-only code. */
#ifndef LGW_BENCH_CLOCK_H
#define LGW_BENCH_CLOCK_H

#include <time.h>

/* This thread's CPU time, in seconds. */
static inline double bench_thread_cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* qsort's comparator for doubles, ascending. */
static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The moment ms milliseconds from now on clock clk, as pthread_cond_timedwait and sleeps take it. */
static inline struct timespec bench_after_ms(clockid_t clk, long ms)
{
    struct timespec t;
    clock_gettime(clk, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

#endif
