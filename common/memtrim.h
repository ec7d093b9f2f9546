/* memtrim.h - gives freed heap memory back to the system after a load has passed.
 *
 * glibc keeps what a process freed in its arenas: after a burst of 10,000 waiting clients the ingress's RSS
 * stayed at its peak although nearly all of it was free. Only the top of the main heap shrinks on its own;
 * the free chunks inside the thread arenas, where the HTTP and Kafka threads allocate, are returned only by
 * malloc_trim, which takes each arena's lock while it walks it. So a background thread looks every interval
 * at how much of the heap is free (mallinfo2) and trims only when that grew by at least min_bytes since its
 * lowest point after the last trim: once after a load, not on every tick of a steady one.
 *
 * With a sanitizer the sanitizer's allocator owns the heap and there is nothing of glibc's to trim: the
 * thread still runs, and finds nothing free. */
#ifndef LGW_MEMTRIM_H
#define LGW_MEMTRIM_H

#include <stdint.h>

struct lgw_metrics;
struct lgw_memtrim;

/* Starts the thread (interval_ms > 0) and declares llmgw_memory_trims_total,
 * llmgw_memory_returned_bytes_total and llmgw_memory_trim_seconds on m, and with the thread the gauges
 * llmgw_memory_heap_in_use_bytes and llmgw_memory_heap_free_bytes, set at every look. interval_ms 0:
 * *out = NULL, nothing runs. Returns 0, or LGW_ERR(INTERNAL) when the thread cannot start. The caller owns
 * *out. */
int lgw_memtrim_start(int64_t interval_ms, int64_t min_bytes, struct lgw_metrics *m, struct lgw_memtrim **out);

/* Stops and joins the thread (woken at once, not at its next tick). NULL is a no-op. */
void lgw_memtrim_stop(struct lgw_memtrim *t);

/* One look, as the thread takes every interval: sets the heap gauges; trims when the free heap grew by
 * min_bytes since its lowest point after the last trim. Returns the bytes of resident anonymous memory the
 * trim gave back (0 when it did not trim or gave nothing back). Exposed for the unit test; the thread is its
 * only other caller. */
int64_t lgw_memtrim_tick(struct lgw_memtrim *t);

/* The resident anonymous memory of this process, in bytes (/proc/self/statm: resident minus shared), or -1. */
int64_t lgw_memtrim_anon_rss(void);

#endif
