/* pool.h - a fixed set of threads fed by a bounded queue: the producer blocks while the queue is full, which
 * is the worker's back-pressure on Kafka. Generic: items are opaque pointers run by one callback. */
#ifndef LGW_POOL_H
#define LGW_POOL_H

#include <stdatomic.h>
#include <stddef.h>

struct lgw_pool;

/* Runs one item on a pool thread; the callback owns item from here on. */
typedef void (*lgw_pool_run_cb)(void *item, void *opaque);

/* Starts nthreads threads (>= 1) that run run_cb(item, opaque) for each item pushed, in push order, with
 * room for capacity (>= 1) items waiting. opaque is borrowed for the pool's life. *out is owned by the
 * caller (lgw_pool_close, lgw_pool_join, lgw_pool_free). Returns 0, or LGW_ERR(INTERNAL) when the OS gives
 * no thread (the threads already started are stopped). */
int lgw_pool_new(size_t nthreads, size_t capacity, lgw_pool_run_cb run_cb, void *opaque, struct lgw_pool **out);
/* Queues item, blocking while the queue is full; the wait is bounded (100 ms steps) so that *stop is
 * noticed. Returns 0 when item was queued (the pool owns it), or LGW_ERR(UNAVAILABLE) when *stop became
 * true or the pool is closed (the caller keeps item). One producer thread at a time is the intended use,
 * but any thread may call. */
int lgw_pool_push(struct lgw_pool *p, void *item, const atomic_bool *stop);
/* No more pushes: the threads run what is still queued, then exit. Any thread; idempotent. */
void lgw_pool_close(struct lgw_pool *p);
/* Waits for every thread to exit; call after lgw_pool_close, from a thread that is not a pool thread. */
void lgw_pool_join(struct lgw_pool *p);
/* Frees the pool after lgw_pool_join. Items still queued (none once the threads drained the queue) are
 * passed to drop_cb (may be NULL). NULL p is a no-op. */
void lgw_pool_free(struct lgw_pool *p, void (*drop_cb)(void *item));

#endif
