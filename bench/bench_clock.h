/* bench_clock.h - what the micro-benchmarks time with (reply_text_bench.c, json_write_bench.c, span_cost.c): this
 * thread's CPU time, which other work on a shared machine moves less than the wall clock, and a comparator for
 * qsort to take medians. Bench-only code. */
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

#endif
