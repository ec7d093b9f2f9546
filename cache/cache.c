/* cache.c - the response cache's store over its backends (see cache.h). */
#include "cache/cache.h"

#include <stdlib.h>

#include "cache/lru.h"
#include "common/clock.h"

struct lgw_cache {
    struct lgw_lru *mem;
    size_t max_entry;
    struct lgw_metrics *m;
};

struct lgw_cache *lgw_cache_new(size_t mem_bytes, size_t max_entry_bytes, struct lgw_metrics *m)
{
    struct lgw_cache *cache = lgw_calloc(1, sizeof(*cache));
    cache->mem = lgw_lru_new(mem_bytes);
    cache->max_entry = max_entry_bytes;
    cache->m = m;
    if (m) {
        lgw_metrics_declare(m, "llmgw_cache_lookups_total", LGW_METRIC_COUNTER,
                            "Response cache lookups by result (hit, miss) and backend (memory, redis).");
        lgw_metrics_declare(m, "llmgw_cache_stores_total", LGW_METRIC_COUNTER,
                            "Answers stored in the response cache, by backend.");
        lgw_metrics_add(m, "llmgw_cache_lookups_total", "result=\"hit\",backend=\"memory\"", 0);
        lgw_metrics_add(m, "llmgw_cache_lookups_total", "result=\"miss\",backend=\"memory\"", 0);
    }
    return cache;
}

void lgw_cache_free(struct lgw_cache *cache)
{
    if (!cache)
        return;
    lgw_lru_free(cache->mem);
    free(cache);
}

int lgw_cache_lookup(struct lgw_cache *cache, const char (*keys)[LGW_CACHE_KEY_LEN], size_t n, struct lgw_buf *out)
{
    int64_t now = lgw_wall_ms();
    int found = -1;
    for (size_t i = 0; i < n && found < 0; i++)
        if (lgw_lru_get(cache->mem, keys[i], now, out))
            found = (int)i;
    if (cache->m)
        lgw_metrics_add(cache->m, "llmgw_cache_lookups_total",
                        found >= 0 ? "result=\"hit\",backend=\"memory\"" : "result=\"miss\",backend=\"memory\"", 1);
    return found;
}

bool lgw_cache_store(struct lgw_cache *cache, const char *key, const void *val, size_t len, int64_t ttl_s)
{
    if (ttl_s <= 0 || len > cache->max_entry)
        return false;
    bool ok = lgw_lru_put(cache->mem, key, val, len, lgw_wall_ms() + ttl_s * 1000);
    if (ok && cache->m)
        lgw_metrics_add(cache->m, "llmgw_cache_stores_total", "backend=\"memory\"", 1);
    return ok;
}

size_t lgw_cache_max_entry(const struct lgw_cache *cache)
{
    return cache->max_entry;
}
