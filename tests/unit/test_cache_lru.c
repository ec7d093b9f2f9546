/* test_cache_lru.c - the in-memory LRU: the byte bound, eviction order, time to live, replacement. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "cache/lru.h"
#include "common/envelope.h"
#include "common/redis.h"
#include "common/uuid.h"
#include "tests/support/services.h"

static bool has(struct lgw_lru *lru, const char *key, int64_t now)
{
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    bool hit = lgw_lru_get(lru, key, now, &out);
    lgw_buf_cleanup(&out);
    return hit;
}

static void test_get_put(void **state)
{
    (void)state;
    struct lgw_lru *lru = lgw_lru_new(1 << 20);
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    assert_false(lgw_lru_get(lru, "k", 0, &out));
    assert_true(lgw_lru_put(lru, "k", "value", 5, 1000));
    assert_true(lgw_lru_get(lru, "k", 0, &out));
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.ptr, "value", 5);
    /* replaced, counted once */
    assert_true(lgw_lru_put(lru, "k", "other!", 6, 1000));
    assert_int_equal(lgw_lru_count(lru), 1);
    lgw_buf_reset(&out);
    assert_true(lgw_lru_get(lru, "k", 0, &out));
    assert_string_equal(out.ptr, "other!");
    lgw_buf_cleanup(&out);
    lgw_lru_free(lru);
    lgw_lru_free(NULL);
}

static void test_ttl(void **state)
{
    (void)state;
    struct lgw_lru *lru = lgw_lru_new(1 << 20);
    assert_true(lgw_lru_put(lru, "k", "v", 1, 1000));
    assert_true(has(lru, "k", 999));
    assert_false(has(lru, "k", 1000)); /* expired at its expiry, and dropped */
    assert_int_equal(lgw_lru_count(lru), 0);
    assert_int_equal(lgw_lru_bytes(lru), 0);
    lgw_lru_free(lru);
}

/* Expired entries go on the next store even if nobody looks them up: the coldest ones, past a live one. */
static void test_expire(void **state)
{
    (void)state;
    struct lgw_lru *lru = lgw_lru_new(1 << 20);
    assert_true(lgw_lru_put(lru, "live", "v", 1, 5000)); /* the coldest, and live */
    size_t one = lgw_lru_bytes(lru);
    char key[16];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_true(lgw_lru_put(lru, key, "v", 1, 1000));
    }
    assert_int_equal(lgw_lru_expire(lru, 999), 0);
    assert_int_equal(lgw_lru_count(lru), 11);
    assert_int_equal(lgw_lru_expire(lru, 1000), 10);
    assert_int_equal(lgw_lru_count(lru), 1);
    assert_int_equal(lgw_lru_bytes(lru), one);
    assert_true(has(lru, "live", 1000));
    /* Bounded work: of 40 expired entries one call drops the 16 coldest. */
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "e%d", i);
        assert_true(lgw_lru_put(lru, key, "v", 1, 2000));
    }
    assert_true(has(lru, "live", 2000)); /* now the warmest */
    assert_int_equal(lgw_lru_expire(lru, 2000), 16);
    assert_int_equal(lgw_lru_count(lru), 25);
    assert_false(has(lru, "e15", 1500)); /* among the 16 dropped */
    assert_true(has(lru, "e16", 1500));
    lgw_lru_free(lru);
}

static void test_byte_bound(void **state)
{
    (void)state;
    char val[1000];
    memset(val, 'x', sizeof(val));
    const size_t bound = 10000;
    struct lgw_lru *lru = lgw_lru_new(bound);
    char key[16];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_true(lgw_lru_put(lru, key, val, sizeof(val), 1000));
        assert_true(lgw_lru_bytes(lru) <= bound);
    }
    /* about nine entries of ~1 KB fit; the newest are the ones kept */
    size_t n = lgw_lru_count(lru);
    assert_true(n >= 5 && n < 10);
    assert_true(has(lru, "k99", 0));
    assert_false(has(lru, "k0", 0));
    /* an entry larger than the whole bound is refused, and evicts nothing */
    char big[bound];
    memset(big, 'y', sizeof(big));
    assert_false(lgw_lru_put(lru, "big", big, sizeof(big), 1000));
    assert_int_equal(lgw_lru_count(lru), n);
    lgw_lru_free(lru);
}

static void test_eviction_order(void **state)
{
    (void)state;
    char val[1000];
    memset(val, 'x', sizeof(val));
    /* room for three entries, not four */
    struct lgw_lru *lru = lgw_lru_new(3 * (sizeof(val) + 200));
    assert_true(lgw_lru_put(lru, "a", val, sizeof(val), 1000));
    assert_true(lgw_lru_put(lru, "b", val, sizeof(val), 1000));
    assert_true(lgw_lru_put(lru, "c", val, sizeof(val), 1000));
    assert_true(has(lru, "a", 0)); /* a is now the most recent: b goes first */
    assert_true(lgw_lru_put(lru, "d", val, sizeof(val), 1000));
    assert_false(has(lru, "b", 0));
    assert_true(has(lru, "a", 0));
    assert_true(has(lru, "c", 0));
    assert_true(has(lru, "d", 0));
    assert_true(lgw_lru_put(lru, "e", val, sizeof(val), 1000)); /* the least recent now: a (read before c, d) */
    assert_false(has(lru, "a", 0));
    assert_int_equal(lgw_lru_count(lru), 3);
    lgw_lru_free(lru);
}

static void test_many(void **state)
{
    (void)state;
    /* the table grows; every entry stays reachable */
    struct lgw_lru *lru = lgw_lru_new(1 << 24);
    char key[16];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_true(lgw_lru_put(lru, key, key, strlen(key), 1000));
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_true(has(lru, key, 0));
    }
    assert_int_equal(lgw_lru_count(lru), 5000);
    lgw_lru_free(lru);
}

static void test_cache_front(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_cache *cache = lgw_cache_new(1 << 20, 100, NULL, "t", m);
    char keys[3][LGW_CACHE_KEY_LEN] = {"k0", "k1", "k2"};
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    assert_int_equal(lgw_cache_lookup(cache, (const char(*)[LGW_CACHE_KEY_LEN])keys, 3, &out), -1);
    assert_true(lgw_cache_store(cache, "k2", "two", 3, 60));
    assert_true(lgw_cache_store(cache, "k1", "one", 3, 60));
    /* the first candidate present wins */
    assert_int_equal(lgw_cache_lookup(cache, (const char(*)[LGW_CACHE_KEY_LEN])keys, 3, &out), 1);
    assert_string_equal(out.ptr, "one");
    /* no ttl, or over the entry maximum: not stored */
    assert_false(lgw_cache_store(cache, "k0", "zero", 4, 0));
    char big[101] = {0};
    assert_false(lgw_cache_store(cache, "k0", big, sizeof(big), 60));
    assert_int_equal(lgw_metrics_value(m, "llmgw_cache_lookups_total", "result=\"hit\",backend=\"memory\""), 1);
    assert_int_equal(lgw_metrics_value(m, "llmgw_cache_lookups_total", "result=\"miss\",backend=\"memory\""), 1);
    lgw_buf_cleanup(&out);
    lgw_cache_free(cache);
    lgw_cache_free(NULL);
    lgw_metrics_free(m);
}

/* The shared backend: with Redis there, entries go to it (another cache on the same server sees them, under
 * the same prefix only); with Redis gone, the cache runs on memory and says so (metric), and is shared again
 * once Redis answers. Needs LLMGW_TEST_REDIS (host:port), else skipped. */
static void test_redis_backend(void **state)
{
    (void)state;
    const char *hp = lgw_test_service("LLMGW_TEST_REDIS");
    char url[300], prefix[48], key[LGW_CACHE_KEY_LEN];
    snprintf(url, sizeof(url), "redis://%s", hp);
    char id[40];
    lgw_uuid4(id);
    snprintf(prefix, sizeof(prefix), "t-%s", id);
    snprintf(key, sizeof(key), "%s", "k-redis");
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_redis_options opt = {.url = url, .timeout_ms = 1000, .connect_timeout_ms = 1000, .pool = 2, .metrics = m};
    struct lgw_redis *r1, *r2;
    assert_int_equal(lgw_redis_new(&opt, &r1), 0);
    opt.metrics = NULL;
    assert_int_equal(lgw_redis_new(&opt, &r2), 0);
    struct lgw_cache *a = lgw_cache_new(1 << 20, 1000, r1, prefix, m);
    struct lgw_cache *b = lgw_cache_new(1 << 20, 1000, r2, prefix, NULL);
    struct lgw_cache *other = lgw_cache_new(1 << 20, 1000, r2, "other-prefix", NULL);
    char keys[2][LGW_CACHE_KEY_LEN] = {"k-none", "k-redis"};
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    assert_true(lgw_cache_store(a, key, "shared", 6, 60));
    assert_int_equal(lgw_cache_lookup(b, (const char(*)[LGW_CACHE_KEY_LEN])keys, 2, &out), 1); /* one MGET */
    assert_string_equal(out.ptr, "shared");
    lgw_buf_reset(&out);
    assert_int_equal(lgw_cache_lookup(other, (const char(*)[LGW_CACHE_KEY_LEN])keys, 2, &out), -1);
    assert_int_equal(lgw_metrics_value(m, "llmgw_cache_stores_total", "backend=\"redis\""), 1);
    assert_int_equal(lgw_metrics_value(m, "llmgw_cache_fallback", NULL), 0);
    lgw_cache_free(a);
    lgw_cache_free(b);
    lgw_cache_free(other);
    lgw_redis_free(r1);
    lgw_redis_free(r2);
    lgw_buf_cleanup(&out);
    lgw_metrics_free(m);
}

/* Redis not there at all (a port nobody listens on): memory serves, the fallback shows. */
static void test_redis_down(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_redis_options opt = {.url = "redis://127.0.0.1:1", .timeout_ms = 50, .connect_timeout_ms = 50,
                                    .pool = 1, .metrics = NULL};
    struct lgw_redis *r;
    assert_int_equal(lgw_redis_new(&opt, &r), 0);
    struct lgw_cache *cache = lgw_cache_new(1 << 20, 1000, r, "t", m);
    char keys[1][LGW_CACHE_KEY_LEN] = {"k"};
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    assert_true(lgw_cache_store(cache, "k", "local", 5, 60));
    assert_int_equal(lgw_cache_lookup(cache, (const char(*)[LGW_CACHE_KEY_LEN])keys, 1, &out), 0);
    assert_string_equal(out.ptr, "local");
    assert_int_equal(lgw_metrics_value(m, "llmgw_cache_fallback", NULL), 1);
    assert_int_equal(lgw_metrics_value(m, "llmgw_cache_fallbacks_total", NULL), 1); /* once, not per call */
    assert_int_equal(lgw_metrics_value(m, "llmgw_cache_lookups_total", "result=\"hit\",backend=\"memory\""), 1);
    lgw_cache_free(cache);
    lgw_redis_free(r);
    lgw_buf_cleanup(&out);
    lgw_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_put),       cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_expire),        cmocka_unit_test(test_byte_bound),
        cmocka_unit_test(test_eviction_order), cmocka_unit_test(test_many), cmocka_unit_test(test_cache_front),
        cmocka_unit_test(test_redis_backend), cmocka_unit_test(test_redis_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
