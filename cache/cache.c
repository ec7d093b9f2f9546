/* cache.c - the response cache's store over its backends: Redis shared, memory as the fallback (see
 * cache.h). */
#include "cache/cache.h"

#include <hiredis/hiredis.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/lru.h"
#include "common/clock.h"
#include "common/log.h"

/* "<prefix>:cache:" plus 64 hex digits. */
#define REDIS_KEY_MAX (LGW_NAME_MAX + 80)

struct lgw_cache {
    struct lgw_lru *mem;
    size_t max_entry;
    struct lgw_redis *redis; /* NULL: memory only */
    char prefix[LGW_NAME_MAX];
    struct lgw_metrics *m;
    /* True while the last Redis command failed: the cache is on memory. Flipped by whichever thread sees
     * the change first (exchange), so each switch is logged once. */
    atomic_bool on_memory;
};

static void count(struct lgw_cache *cache, const char *name, const char *labels)
{
    if (cache->m)
        lgw_metrics_add(cache->m, name, labels, 1);
}

struct lgw_cache *lgw_cache_new(size_t mem_bytes, size_t max_entry_bytes, struct lgw_redis *redis,
                                const char *prefix, struct lgw_metrics *m)
{
    struct lgw_cache *cache = lgw_calloc(1, sizeof(*cache));
    cache->mem = lgw_lru_new(mem_bytes);
    cache->max_entry = max_entry_bytes;
    cache->redis = redis;
    lgw_strlcpy(cache->prefix, prefix ? prefix : "llmgw", sizeof(cache->prefix));
    cache->m = m;
    atomic_init(&cache->on_memory, false);
    if (m) {
        lgw_metrics_declare(m, "llmgw_cache_lookups_total", LGW_METRIC_COUNTER,
                            "Response cache lookups by result (hit, miss) and backend (memory, redis).");
        lgw_metrics_declare(m, "llmgw_cache_stores_total", LGW_METRIC_COUNTER,
                            "Answers stored in the response cache, by backend.");
        lgw_metrics_declare(m, "llmgw_cache_fallback", LGW_METRIC_GAUGE,
                            "1 while the response cache runs on this worker's memory because Redis is unavailable.");
        lgw_metrics_declare(m, "llmgw_cache_fallbacks_total", LGW_METRIC_COUNTER,
                            "Switches of the response cache from Redis to memory.");
        const char *backends[] = {"memory", "redis"};
        char labels[64];
        for (int b = 0; b < (redis ? 2 : 1); b++) {
            snprintf(labels, sizeof(labels), "result=\"hit\",backend=\"%s\"", backends[b]);
            lgw_metrics_add(m, "llmgw_cache_lookups_total", labels, 0);
            snprintf(labels, sizeof(labels), "result=\"miss\",backend=\"%s\"", backends[b]);
            lgw_metrics_add(m, "llmgw_cache_lookups_total", labels, 0);
        }
        lgw_metrics_gauge_set(m, "llmgw_cache_fallback", NULL, 0);
        lgw_metrics_add(m, "llmgw_cache_fallbacks_total", NULL, 0);
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

/* Records whether Redis answered; logs and counts each switch once. */
static void redis_state(struct lgw_cache *cache, bool ok)
{
    bool was = atomic_exchange(&cache->on_memory, !ok);
    if (was == !ok)
        return;
    if (cache->m)
        lgw_metrics_gauge_set(cache->m, "llmgw_cache_fallback", NULL, ok ? 0 : 1);
    if (ok) {
        LGW_INFO("cache", "redis is back: the response cache is shared again");
    } else {
        count(cache, "llmgw_cache_fallbacks_total", NULL);
        LGW_WARN("cache", "redis unavailable: the response cache falls back to this worker's memory");
    }
}

static void redis_key(const struct lgw_cache *cache, const char *key, char out[REDIS_KEY_MAX])
{
    snprintf(out, REDIS_KEY_MAX, "%s:cache:%s", cache->prefix, key);
}

/* MGET of the n keys: 1 and *found (index, or -1) when Redis answered, 0 when it did not. */
static bool redis_lookup(struct lgw_cache *cache, const char (*keys)[LGW_CACHE_KEY_LEN], size_t n,
                         struct lgw_buf *out, int *found)
{
    const char **argv = lgw_calloc(n + 1, sizeof(*argv));
    char(*names)[REDIS_KEY_MAX] = lgw_calloc(n, REDIS_KEY_MAX);
    argv[0] = "MGET";
    for (size_t i = 0; i < n; i++) {
        redis_key(cache, keys[i], names[i]);
        argv[i + 1] = names[i];
    }
    redisReply *reply = NULL;
    int rc = lgw_redis_command(cache->redis, (int)n + 1, argv, NULL, &reply);
    free(argv);
    free(names);
    bool ok = rc == 0 && reply->type == REDIS_REPLY_ARRAY && reply->elements == n;
    *found = -1;
    for (size_t i = 0; ok && i < n && *found < 0; i++) {
        const redisReply *e = reply->element[i];
        if (e->type == REDIS_REPLY_STRING && lgw_buf_append(out, e->str, e->len) == 0)
            *found = (int)i;
    }
    if (reply)
        freeReplyObject(reply);
    return ok;
}

int lgw_cache_lookup(struct lgw_cache *cache, const char (*keys)[LGW_CACHE_KEY_LEN], size_t n, struct lgw_buf *out)
{
    int found = -1;
    bool shared = false;
    if (cache->redis && lgw_redis_healthy(cache->redis)) {
        shared = redis_lookup(cache, keys, n, out, &found);
        redis_state(cache, shared);
    } else if (cache->redis) {
        redis_state(cache, false);
    }
    if (!shared) {
        lgw_buf_reset(out);
        int64_t now = lgw_wall_ms();
        for (size_t i = 0; i < n && found < 0; i++)
            if (lgw_lru_get(cache->mem, keys[i], now, out))
                found = (int)i;
    }
    char labels[64];
    snprintf(labels, sizeof(labels), "result=\"%s\",backend=\"%s\"", found >= 0 ? "hit" : "miss",
             shared ? "redis" : "memory");
    count(cache, "llmgw_cache_lookups_total", labels);
    return found;
}

bool lgw_cache_store(struct lgw_cache *cache, const char *key, const void *val, size_t len, int64_t ttl_s)
{
    if (ttl_s <= 0 || len > cache->max_entry)
        return false;
    /* Whichever backend this store goes to: what a Redis hiccup left in memory must not outlive its TTL. */
    lgw_lru_expire(cache->mem, lgw_wall_ms());
    if (cache->redis && lgw_redis_healthy(cache->redis)) {
        char name[REDIS_KEY_MAX], ttl[24];
        redis_key(cache, key, name);
        snprintf(ttl, sizeof(ttl), "%lld", (long long)ttl_s);
        const char *argv[] = {"SET", name, val, "EX", ttl};
        const size_t argvlen[] = {3, strlen(name), len, 2, strlen(ttl)};
        redisReply *reply = NULL;
        int rc = lgw_redis_command(cache->redis, 5, argv, argvlen, &reply);
        bool ok = rc == 0 && reply->type == REDIS_REPLY_STATUS;
        if (reply)
            freeReplyObject(reply);
        redis_state(cache, ok);
        if (ok) {
            count(cache, "llmgw_cache_stores_total", "backend=\"redis\"");
            return true;
        }
    } else if (cache->redis) {
        redis_state(cache, false);
    }
    bool ok = lgw_lru_put(cache->mem, key, val, len, lgw_wall_ms() + ttl_s * 1000);
    if (ok)
        count(cache, "llmgw_cache_stores_total", "backend=\"memory\"");
    return ok;
}

size_t lgw_cache_max_entry(const struct lgw_cache *cache)
{
    return cache->max_entry;
}
