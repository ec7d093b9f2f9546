/* cache.h - the response cache's store: entries under keys (cache/canon.h), looked up over several keys at
 * once (the route plan's candidates, in order), with a time to live.
 *
 * Two backends: Redis (common/redis.h), shared by every worker, when one is given; and an in-memory LRU
 * bounded in bytes (cache/lru.h), which is `llmgw dev`'s backend and each worker's fallback. While Redis is
 * down or slower than its budget, lookups and stores go to the LRU: the switch is logged once each way and
 * shown by llmgw_cache_fallback (1 while on memory) and the backend label of llmgw_cache_lookups_total; the
 * Redis client reconnects in the background and the next command that succeeds makes the cache shared
 * again. Entries stored in memory meanwhile stay there (they are not copied to Redis). */
#ifndef LGW_CACHE_CACHE_H
#define LGW_CACHE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/canon.h"
#include "common/buf.h"
#include "common/metrics.h"
#include "common/redis.h"

struct lgw_cache;

/* A cache holding at most mem_bytes in memory; entries larger than max_entry_bytes are never stored.
 * redis (borrowed; it must outlive the cache) is the shared backend, NULL for memory only; its keys are
 * "<prefix>:cache:<key>". m may be NULL. Owned by the caller; lgw_cache_free(NULL) is a no-op. */
struct lgw_cache *lgw_cache_new(size_t mem_bytes, size_t max_entry_bytes, struct lgw_redis *redis,
                                const char *prefix, struct lgw_metrics *m);
void lgw_cache_free(struct lgw_cache *cache);

/* Looks the n keys up in order and copies the first one present into out. Returns its index, or -1 when
 * none is (or out's cap refused it). One backend round trip for all n. Any thread. */
int lgw_cache_lookup(struct lgw_cache *cache, const char (*keys)[LGW_CACHE_KEY_LEN], size_t n, struct lgw_buf *out);

/* Stores a copy of val under key for ttl_s seconds. Returns false when it was not stored (ttl_s <= 0, or
 * larger than the configured maximum or the memory bound). Any thread. */
bool lgw_cache_store(struct lgw_cache *cache, const char *key, const void *val, size_t len, int64_t ttl_s);

/* The largest entry the cache stores, so a caller assembling one (a stream's chunks) can stop early. */
size_t lgw_cache_max_entry(const struct lgw_cache *cache);

#endif
