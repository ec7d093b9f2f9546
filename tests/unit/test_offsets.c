/* test_offsets.c - commit positions when jobs of a partition finish out of order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "workers/offsets.h"

static void test_out_of_order(void **state)
{
    (void)state;
    struct lgw_offsets *t = lgw_offsets_new();
    for (int64_t o = 10; o < 15; o++)
        lgw_offsets_add(t, "jobs", 0, o);
    lgw_offsets_add(t, "jobs", 1, 7);
    assert_int_equal(lgw_offsets_inflight(t, "jobs", 0), 5);
    assert_int_equal(lgw_offsets_inflight(t, NULL, 0), 6);
    assert_int_equal(lgw_offsets_done(t, "jobs", 0, 12), -1); /* 10 and 11 still running */
    assert_int_equal(lgw_offsets_done(t, "jobs", 0, 11), -1);
    assert_int_equal(lgw_offsets_done(t, "jobs", 0, 10), 13); /* 10..12 done: commit 13 */
    assert_int_equal(lgw_offsets_done(t, "jobs", 1, 7), 8);
    assert_int_equal(lgw_offsets_done(t, "jobs", 0, 14), -1);
    assert_int_equal(lgw_offsets_done(t, "jobs", 0, 13), 15);
    assert_int_equal(lgw_offsets_inflight(t, NULL, 0), 0);
    assert_int_equal(lgw_offsets_done(t, "jobs", 0, 99), -1); /* unknown offset */
    assert_int_equal(lgw_offsets_done(t, "other", 0, 1), -1); /* unknown partition */
    lgw_offsets_free(t);
}

static void test_growth_and_drop(void **state)
{
    (void)state;
    struct lgw_offsets *t = lgw_offsets_new();
    int64_t last = -1;
    /* Many more offsets than the initial capacity, finished in windows, exercise reuse and compaction. */
    for (int64_t base = 0; base < 10000; base += 100) {
        for (int64_t o = base; o < base + 100; o++)
            lgw_offsets_add(t, "jobs", 3, o);
        for (int64_t o = base + 99; o >= base; o--) {
            int64_t c = lgw_offsets_done(t, "jobs", 3, o);
            if (c >= 0)
                last = c;
        }
        assert_int_equal(last, base + 100);
    }
    lgw_offsets_add(t, "jobs", 3, 10000);
    lgw_offsets_drop(t, "jobs", 3);
    assert_int_equal(lgw_offsets_inflight(t, NULL, 0), 0);
    assert_int_equal(lgw_offsets_done(t, "jobs", 3, 10000), -1);
    lgw_offsets_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_out_of_order),
        cmocka_unit_test(test_growth_and_drop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
