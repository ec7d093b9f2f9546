/* memtrim.c - the heap trimmer (memtrim.h says why and when it trims). */
#include "common/memtrim.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/metrics.h"

struct lgw_memtrim {
    int64_t interval_ms, min_bytes;
    struct lgw_metrics *m;
    /* The free heap's lowest point since the last trim (or since start); only the thread (or a test calling
     * lgw_memtrim_tick in its stead) touches it. */
    int64_t low_free;
    pthread_mutex_t lock; /* guards stop, for the condition variable */
    pthread_cond_t wake;  /* the tick, cut short by a stop (CLOCK_MONOTONIC) */
    bool stop;
    pthread_t thread;
};

int64_t lgw_memtrim_anon_rss(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    long long size, resident, shared;
    int n = fscanf(f, "%lld %lld %lld", &size, &resident, &shared);
    fclose(f);
    if (n != 3)
        return -1;
    return (int64_t)(resident - shared) * (int64_t)sysconf(_SC_PAGESIZE);
}

/* One look at the allocator over every arena: what it has handed out and not had back (arena chunks in use
 * plus its own mmaps) and what sits in its free chunks, both gauged; returns the free bytes. mallinfo2 walks
 * the arenas' bins under their locks: microseconds for the heaps llmgw keeps, once an interval. */
static int64_t heap_look(struct lgw_memtrim *t)
{
    struct mallinfo2 mi = mallinfo2();
    lgw_metrics_gauge_set(t->m, "llmgw_memory_heap_in_use_bytes", NULL, (int64_t)(mi.uordblks + mi.hblkhd));
    lgw_metrics_gauge_set(t->m, "llmgw_memory_heap_free_bytes", NULL, (int64_t)mi.fordblks);
    return (int64_t)mi.fordblks;
}

int64_t lgw_memtrim_tick(struct lgw_memtrim *t)
{
    int64_t free_now = heap_look(t);
    if (free_now < t->low_free)
        t->low_free = free_now;
    if (free_now - t->low_free < t->min_bytes)
        return 0;
    int64_t before = lgw_memtrim_anon_rss();
    int64_t t0 = lgw_mono_us();
    malloc_trim(0);
    double took = (double)(lgw_mono_us() - t0) / 1e6;
    int64_t after = lgw_memtrim_anon_rss();
    /* Free again at the level trimmed: only what is freed from now on counts towards the next trim. */
    t->low_free = heap_look(t);
    int64_t returned = before >= 0 && after >= 0 && before > after ? before - after : 0;
    lgw_metrics_add(t->m, "llmgw_memory_trims_total", NULL, 1);
    lgw_metrics_add(t->m, "llmgw_memory_returned_bytes_total", NULL, returned);
    lgw_metrics_observe(t->m, "llmgw_memory_trim_seconds", NULL, took);
    LGW_DEBUG("memtrim", "%lld byte(s) of the heap free: trimmed in %.3f ms, %lld byte(s) returned",
              (long long)free_now, took * 1e3, (long long)returned);
    return returned;
}

static void *trim_main(void *arg)
{
    pthread_setname_np(pthread_self(), "memtrim"); /* its CPU apart in top -H, perf and /proc/<pid>/task */
    struct lgw_memtrim *t = arg;
    pthread_mutex_lock(&t->lock);
    while (!t->stop) {
        struct timespec until = lgw_deadline_in_ms(CLOCK_MONOTONIC, t->interval_ms);
        pthread_cond_timedwait(&t->wake, &t->lock, &until);
        if (t->stop)
            break;
        /* Unlocked: the trim takes the allocator's locks, and a stop must not wait behind it for more than
         * one trim. */
        pthread_mutex_unlock(&t->lock);
        lgw_memtrim_tick(t);
        pthread_mutex_lock(&t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

int lgw_memtrim_start(int64_t interval_ms, int64_t min_bytes, struct lgw_metrics *m, struct lgw_memtrim **out)
{
    *out = NULL;
    lgw_metrics_declare(m, "llmgw_memory_trims_total", LGW_METRIC_COUNTER,
                        "Times freed heap memory was given back to the system (memory_trim_interval_ms).");
    lgw_metrics_declare(m, "llmgw_memory_returned_bytes_total", LGW_METRIC_COUNTER,
                        "Resident memory those trims gave back to the system, in bytes.");
    lgw_metrics_declare(m, "llmgw_memory_trim_seconds", LGW_METRIC_HISTOGRAM,
                        "Time one trim held the allocator (each arena's lock in turn).");
    lgw_metrics_add(m, "llmgw_memory_trims_total", NULL, 0); /* shown as 0, not absent */
    lgw_metrics_add(m, "llmgw_memory_returned_bytes_total", NULL, 0);
    if (interval_ms <= 0)
        return 0;
    /* Only with the thread that sets them: a gauge never set would read as an empty heap. */
    lgw_metrics_declare(m, "llmgw_memory_heap_in_use_bytes", LGW_METRIC_GAUGE,
                        "Heap bytes allocated and not freed, over every arena (mallinfo2), at the last look.");
    lgw_metrics_declare(m, "llmgw_memory_heap_free_bytes", LGW_METRIC_GAUGE,
                        "Heap bytes in the allocator's free chunks (mallinfo2), resident or not, at the last look.");
    struct lgw_memtrim *t = lgw_calloc(1, sizeof(*t));
    t->interval_ms = interval_ms;
    t->min_bytes = min_bytes;
    t->m = m;
    t->low_free = heap_look(t);
    pthread_mutex_init(&t->lock, NULL);
    lgw_cond_init_mono(&t->wake);
    if (pthread_create(&t->thread, NULL, trim_main, t) != 0) {
        LGW_ERROR("memtrim", "cannot start the heap trim thread");
        pthread_cond_destroy(&t->wake);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return LGW_ERR(INTERNAL);
    }
    *out = t;
    return 0;
}

void lgw_memtrim_stop(struct lgw_memtrim *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->stop = true;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
}
