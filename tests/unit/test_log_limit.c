/* test_log_limit.c - the rate limit of outsider-caused log lines (common/log_limit.c): at most N lines of a
 * kind a second, the rest counted and reported once when the kind's next second starts or when a ticking
 * caller flushes; kinds are independent; kinds beyond the table share one budget and lose no count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/log_limit.h"

static const char kind_a[] = "Error processing request (HTTP response code is %u ('%s')). Closing connection.\n";
static const char kind_b[] = "Closing connection (failed to create response header).\n";

/* Lines let through out of n of key at now_ms; the report the first of them carried in *report (about key
 * itself, unless key is one of the kinds that share the pool, whose report names the last one held back). */
static int burst_of(struct lgw_log_limit *l, const void *key, int64_t now_ms, int n, uint64_t *report, bool own)
{
    int allowed = 0;
    for (int i = 0; i < n; i++) {
        uint64_t r;
        const void *rk;
        if (lgw_log_limit_allow(l, key, now_ms, &r, &rk))
            allowed++;
        if (i == 0) {
            *report = r;
            if (r && own)
                assert_ptr_equal(rk, key);
        } else {
            assert_int_equal(r, 0); /* reported once */
        }
    }
    return allowed;
}

static int burst(struct lgw_log_limit *l, const void *key, int64_t now_ms, int n, uint64_t *report)
{
    return burst_of(l, key, now_ms, n, report, true);
}

static void test_per_second_per_kind(void **state)
{
    (void)state;
    struct lgw_log_limit l;
    lgw_log_limit_init(&l, "http", 5);
    uint64_t report;
    /* 182 lines of one kind in one second: 5 logged */
    assert_int_equal(burst(&l, kind_a, 10000, 182, &report), 5);
    assert_int_equal(report, 0);
    /* another kind in the same second has its own budget */
    assert_int_equal(burst(&l, kind_b, 10500, 3, &report), 3);
    assert_int_equal(report, 0);
    /* the next second: a fresh budget, and the first line says what was held back: 177 */
    assert_int_equal(burst(&l, kind_a, 11000, 7, &report), 5);
    assert_int_equal(report, 177);
    /* a quiet second after that: nothing held back to say */
    assert_int_equal(burst(&l, kind_a, 13000, 1, &report), 1);
    assert_int_equal(report, 2);
    assert_int_equal(burst(&l, kind_a, 14000, 1, &report), 1);
    assert_int_equal(report, 0);
    lgw_log_limit_cleanup(&l);
}

struct flushed {
    const void *key[32];
    uint64_t n[32];
    int count;
};

static void collect(void *opaque, const void *key, uint64_t n)
{
    struct flushed *f = opaque;
    assert_true(f->count < 32);
    f->key[f->count] = key;
    f->n[f->count++] = n;
}

static void test_flush(void **state)
{
    (void)state;
    struct lgw_log_limit l;
    lgw_log_limit_init(&l, "http", 2);
    uint64_t report;
    burst(&l, kind_a, 5000, 10, &report);
    burst(&l, kind_b, 5100, 2, &report); /* within budget: nothing to say */
    struct flushed f = {0};
    lgw_log_limit_flush(&l, 5999, collect, &f);
    assert_int_equal(f.count, 0); /* the second is not over: its lines may still be let through */
    lgw_log_limit_flush(&l, 6000, collect, &f);
    assert_int_equal(f.count, 1);
    assert_ptr_equal(f.key[0], kind_a);
    assert_int_equal(f.n[0], 8);
    lgw_log_limit_flush(&l, 9000, collect, &f);
    assert_int_equal(f.count, 1); /* said once */
    assert_int_equal(burst(&l, kind_a, 9000, 1, &report), 1);
    assert_int_equal(report, 0); /* and not again when the kind comes back */
    lgw_log_limit_cleanup(&l);
}

static void test_more_kinds_than_slots(void **state)
{
    (void)state;
    struct lgw_log_limit l;
    lgw_log_limit_init(&l, "http", 1);
    static char keys[LGW_LOG_LIMIT_KINDS + 4];
    uint64_t report, total_reported = 0;
    int allowed = 0;
    for (int second = 0; second < 2; second++)
        for (size_t k = 0; k < sizeof(keys); k++) {
            allowed += burst_of(&l, &keys[k], second * 1000, 3, &report, k < LGW_LOG_LIMIT_KINDS);
            total_reported += report;
        }
    /* 16 kinds of their own (1 line each a second) and 4 sharing one budget (1 line a second between them) */
    assert_int_equal(allowed, 2 * (LGW_LOG_LIMIT_KINDS + 1));
    struct flushed f = {0};
    lgw_log_limit_flush(&l, 2000, collect, &f);
    for (int i = 0; i < f.count; i++)
        total_reported += f.n[i];
    /* every line is either logged or counted */
    assert_int_equal(total_reported + (uint64_t)allowed, 2 * 3 * sizeof(keys));
    lgw_log_limit_cleanup(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_second_per_kind),
        cmocka_unit_test(test_flush),
        cmocka_unit_test(test_more_kinds_than_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
