/* test_memtrim.c - the heap trimmer (common/memtrim.c): memory a thread allocated, touched and freed behind a
 * live allocation (so no arena's top can shrink on its own) stays resident until a look trims it; the look
 * after gives nothing more and does not trim again; the metrics say what happened; a stop wakes the thread at
 * once (an hour-long interval here: a stop that waited for the tick would hang the test); interval 0 runs
 * nothing; the heap gauges follow what is allocated and what is freed. The sanitizer builds own the heap with
 * their own allocators, so there the resident figures are not checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/memtrim.h"
#include "common/metrics.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

#define BLOCKS 4096
#define BLOCK_BYTES 8192 /* 32 MiB in all: under the mmap threshold, so from an arena */

struct churn {
    void *pin; /* allocated last and kept: the arena's top stays in use */
};

/* A load that came and went, on a thread of its own (its own arena, as an HTTP thread's). */
static void *churn_main(void *arg)
{
    struct churn *c = arg;
    void **blocks = malloc(BLOCKS * sizeof(*blocks));
    for (int i = 0; i < BLOCKS; i++) {
        blocks[i] = malloc(BLOCK_BYTES);
        memset(blocks[i], 0xab, BLOCK_BYTES); /* resident */
    }
    c->pin = malloc(64);
    for (int i = 0; i < BLOCKS; i++)
        free(blocks[i]);
    free(blocks);
    return NULL;
}

static void test_a_load_freed_is_returned_once(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_memtrim *t = NULL;
    assert_int_equal(lgw_memtrim_start(3600 * 1000, 4 << 20, m, &t), 0);
    assert_non_null(t);
    assert_int_equal(lgw_memtrim_tick(t), 0); /* nothing freed yet: no trim */
    assert_int_equal(lgw_metrics_value(m, "llmgw_memory_trims_total", NULL), 0);

    struct churn c = {0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, churn_main, &c), 0);
    pthread_join(th, NULL);
    int64_t before = lgw_memtrim_anon_rss();
    int64_t returned = lgw_memtrim_tick(t);
    int64_t after = lgw_memtrim_anon_rss();
#ifdef SANITIZED
    assert_true(returned >= 0);
    (void)before;
    (void)after;
#else
    /* Most of the 32 MiB: what the allocator keeps around the live pin and its bookkeeping stays. */
    assert_true(returned >= 24 << 20);
    assert_true(before - after >= 24 << 20);
    assert_int_equal(lgw_metrics_value(m, "llmgw_memory_trims_total", NULL), 1);
    assert_int_equal(lgw_metrics_value(m, "llmgw_memory_returned_bytes_total", NULL), returned);
#endif
    /* Nothing freed since: the next look does not trim again. */
    int64_t trims = lgw_metrics_value(m, "llmgw_memory_trims_total", NULL);
    assert_int_equal(lgw_memtrim_tick(t), 0);
    assert_int_equal(lgw_metrics_value(m, "llmgw_memory_trims_total", NULL), trims);
    free(c.pin);
    lgw_memtrim_stop(t);
    lgw_metrics_free(m);
}

static void test_off(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_memtrim *t = (struct lgw_memtrim *)&t; /* overwritten */
    assert_int_equal(lgw_memtrim_start(0, 4 << 20, m, &t), 0);
    assert_null(t);
    lgw_memtrim_stop(t);
    struct lgw_buf text;
    lgw_buf_init(&text, 0);
    assert_int_equal(lgw_metrics_render(m, &text), 0);
    assert_non_null(strstr(text.ptr, "llmgw_memory_trims_total 0"));
    assert_null(strstr(text.ptr, "llmgw_memory_heap_in_use_bytes")); /* no thread, nobody to set it */
    lgw_buf_cleanup(&text);
    lgw_metrics_free(m);
}

/* 8 MiB allocated, then all but its last block freed (the last one kept, so that the rest stays in the arena
 * as free chunks rather than joining its top, which free() gives back on its own): the gauges move by it,
 * less what glibc's per-thread cache keeps (a few blocks, counted as in use). No trim (min_bytes out of
 * reach), so the free chunks are still there at the second look. */
static void test_heap_gauges(void **state)
{
    (void)state;
    enum { N = 1024, SZ = 8192 };
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_memtrim *t = NULL;
    assert_int_equal(lgw_memtrim_start(3600 * 1000, INT64_MAX, m, &t), 0);
    int64_t in_use0 = lgw_metrics_value(m, "llmgw_memory_heap_in_use_bytes", NULL);
    void **blocks = malloc(N * sizeof(*blocks));
    assert_non_null(blocks);
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(SZ);
        assert_non_null(blocks[i]);
        memset(blocks[i], 0xcd, SZ);
    }
    assert_int_equal(lgw_memtrim_tick(t), 0);
    int64_t in_use1 = lgw_metrics_value(m, "llmgw_memory_heap_in_use_bytes", NULL);
    int64_t free1 = lgw_metrics_value(m, "llmgw_memory_heap_free_bytes", NULL);
    for (int i = 0; i < N - 1; i++)
        free(blocks[i]);
    assert_int_equal(lgw_memtrim_tick(t), 0);
    int64_t in_use2 = lgw_metrics_value(m, "llmgw_memory_heap_in_use_bytes", NULL);
    int64_t free2 = lgw_metrics_value(m, "llmgw_memory_heap_free_bytes", NULL);
#ifdef SANITIZED
    /* The sanitizer's allocator holds the heap: glibc's figures say nothing of these blocks. */
    assert_true(in_use0 >= 0 && in_use1 >= 0 && free1 >= 0 && in_use2 >= 0 && free2 >= 0);
#else
    assert_true(in_use1 - in_use0 >= N * SZ);
    assert_true(in_use1 - in_use2 >= (N - 16) * SZ);
    assert_true(free2 - free1 >= (N - 16) * SZ);
#endif
    free(blocks[N - 1]);
    free(blocks);
    lgw_memtrim_stop(t);
    lgw_metrics_free(m);
}

static void test_anon_rss(void **state)
{
    (void)state;
    assert_true(lgw_memtrim_anon_rss() > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_load_freed_is_returned_once),
        cmocka_unit_test(test_off),
        cmocka_unit_test(test_heap_gauges),
        cmocka_unit_test(test_anon_rss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
