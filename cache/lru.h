/* lru.h - an in-memory LRU of cache entries bounded in bytes, with a time to live per entry.
 *
 * The response cache's backend in `llmgw dev` and each worker's fallback while Redis is down. The bound
 * counts each entry's key, value and bookkeeping, so memory stays under it whatever the entries' sizes;
 * an entry larger than the whole bound is refused. Thread-safe: one mutex, held for a hash lookup and a
 * copy (values are small next to a provider call). */
#ifndef LGW_CACHE_LRU_H
#define LGW_CACHE_LRU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct lgw_lru;

/* A cache of at most max_bytes. Owned by the caller; free with lgw_lru_free (NULL is a no-op). */
struct lgw_lru *lgw_lru_new(size_t max_bytes);
void lgw_lru_free(struct lgw_lru *lru);

/* Copies the value under key (NUL-terminated) into out and marks it the most recently used; an entry past
 * its expiry (now_ms >= expires_ms) is dropped and is a miss. Returns true on a hit. Any thread. */
bool lgw_lru_get(struct lgw_lru *lru, const char *key, int64_t now_ms, struct lgw_buf *out);

/* Stores a copy of val under key until expires_ms (wall clock), replacing any entry of that key, and evicts
 * the least recently used entries until the total is within the bound. Returns false (nothing stored) when
 * the entry alone is larger than the bound. Any thread. */
bool lgw_lru_put(struct lgw_lru *lru, const char *key, const void *val, size_t len, int64_t expires_ms);

/* Drops the expired entries (now_ms >= expires_ms) among the 16 least recently used: bounded work under the
 * lock, called on every store (cache.c). Without it an expired entry that nobody looks up again stays until
 * the byte bound pushes it out, so a worker that stored into memory during Redis hiccups would creep up
 * to the whole bound over hours. With one TTL the coldest entries are also the first to expire, so this
 * keeps the LRU at about what was stored within one TTL; an expired entry behind a live one waits for a
 * later call or the bound. Returns how many it dropped. Any thread. */
size_t lgw_lru_expire(struct lgw_lru *lru, int64_t now_ms);

/* The bytes and entries held now. Any thread. */
size_t lgw_lru_bytes(struct lgw_lru *lru);
size_t lgw_lru_count(struct lgw_lru *lru);

#endif
