/* test_cost.c - nano-USD arithmetic: exact cost, rounding, overflow, decimal text at the edges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/cost.h"
#include "common/envelope.h"
#include "common/errors.h"

/* gpt-4o-mini: $0.15 input, $0.60 output, $0.075 cached input per 1M tokens. */
/* Positional price with no long-context tier: input, output, cached, known, cache write. */
#define PRICE(in_, out_, cached_, known_, write_)                                                         \
    {.input_nusd_per_mtok = (in_), .output_nusd_per_mtok = (out_), .cached_input_nusd_per_mtok = (cached_),\
     .known = (known_), .cache_write_nusd_per_mtok = (write_)}

static const struct lgw_price mini = PRICE(150000000, 600000000, 75000000, true, 0);

static void test_compute(void **state)
{
    (void)state;
    int64_t c;
    /* 800 uncached * 150 + 200 cached * 75 + 500 out * 600 (nusd per token) */
    assert_int_equal(lgw_cost_compute(&mini, 1000, 500, 200, &c), 0);
    assert_int_equal(c, 435000); /* (800*150000000 + 200*75000000 + 500*600000000) / 1e6 */
    assert_int_equal(lgw_cost_compute(&mini, 0, 0, 0, &c), 0);
    assert_int_equal(c, 0);
    /* a billion tokens: no float anywhere, so not a nano-dollar lost */
    assert_int_equal(lgw_cost_compute(&mini, 1000000000, 1000000000, 0, &c), 0);
    assert_int_equal(c, 750000000000LL);
}

static void test_rounding(void **state)
{
    (void)state;
    int64_t c;
    struct lgw_price p = PRICE(1, 0, 0, true, 0); /* 1 nusd per million tokens */
    assert_int_equal(lgw_cost_compute(&p, 499999, 0, 0, &c), 0);
    assert_int_equal(c, 0);
    assert_int_equal(lgw_cost_compute(&p, 500000, 0, 0, &c), 0); /* half rounds up */
    assert_int_equal(c, 1);
    assert_int_equal(lgw_cost_compute(&p, 1500000, 0, 0, &c), 0);
    assert_int_equal(c, 2);
    /* rounding happens once on the sum, not per part: 0.4 + 0.4 = 0.8 -> 1 */
    struct lgw_price q = PRICE(400000, 400000, 0, true, 0);
    assert_int_equal(lgw_cost_compute(&q, 1, 1, 0, &c), 0);
    assert_int_equal(c, 1);
}

static void test_invalid(void **state)
{
    (void)state;
    int64_t c = 42;
    assert_int_equal(lgw_cost_compute(&mini, -1, 0, 0, &c), LGW_ERR(INVALID));
    assert_int_equal(lgw_cost_compute(&mini, 10, 0, 11, &c), LGW_ERR(INVALID)); /* cached > input */
    struct lgw_price huge = PRICE(INT64_MAX, 0, 0, true, 0);
    assert_int_equal(lgw_cost_compute(&huge, INT64_MAX, 0, 0, &c), LGW_ERR(INVALID));
    assert_int_equal(c, 42); /* untouched on error */
    /* every rate and count at the maximum: the 128-bit sum must not overflow on the way to the error */
    struct lgw_price all = PRICE(INT64_MAX, INT64_MAX, INT64_MAX, true, 0);
    assert_int_equal(lgw_cost_compute(&all, INT64_MAX, INT64_MAX, INT64_MAX / 2, &c), LGW_ERR(INVALID));
    /* the largest cost that fits is still exact */
    struct lgw_price one = PRICE(1000000, 0, 0, true, 0); /* 1 nusd per token */
    assert_int_equal(lgw_cost_compute(&one, INT64_MAX, 0, 0, &c), 0);
    assert_int_equal(c, INT64_MAX);
    struct lgw_price neg = PRICE(-1, 0, 0, true, 0);
    assert_int_equal(lgw_cost_compute(&neg, 1, 0, 0, &c), LGW_ERR(INVALID));
    /* unknown price: an error, never a silent $0 */
    struct lgw_price unknown = PRICE(0, 0, 0, false, 0);
    c = 42;
    assert_int_equal(lgw_cost_compute(&unknown, 10, 10, 0, &c), LGW_ERR(INVALID));
    assert_int_equal(c, 42);
}

static void test_format_parse(void **state)
{
    (void)state;
    char buf[32];
    int64_t v;
    assert_int_equal(lgw_cost_format_usd(435000, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "0.000435000");
    assert_int_equal(lgw_cost_format_usd(-1000000000, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "-1.000000000");
    assert_int_equal(lgw_cost_format_usd(INT64_MIN, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "-9223372036.854775808");
    assert_int_equal(lgw_cost_format_usd(1, buf, 5), LGW_ERR(INVALID));
    assert_int_equal(lgw_cost_parse_usd("0.15", &v), 0);
    assert_int_equal(v, 150000000);
    assert_int_equal(lgw_cost_parse_usd("2", &v), 0);
    assert_int_equal(v, 2000000000);
    assert_int_equal(lgw_cost_parse_usd("-1.5", &v), 0);
    assert_int_equal(v, -1500000000);
    assert_int_equal(lgw_cost_parse_usd("0.000000001", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(lgw_cost_parse_usd("-9223372036.854775808", &v), 0); /* INT64_MIN reads back */
    assert_int_equal(v, INT64_MIN);
    assert_int_equal(lgw_cost_parse_usd("9223372036.854775807", &v), 0);
    assert_int_equal(v, INT64_MAX);
    const char *bad[] = {"",   ".5",  "1.",  "1.0000000001", "abc", "1e3", "1.2.3", "99999999999", " 1", "1 ",
                         "-",  "--1", "0x1", "9223372036.854775808", "-9223372036.854775809", "1,5", "nan"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (lgw_cost_parse_usd(bad[i], &v) != LGW_ERR(INVALID))
            fail_msg("accepted \"%s\"", bad[i]);
    const int64_t edges[] = {0, 1, -1, 999999999, 1000000000, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        assert_int_equal(lgw_cost_format_usd(edges[i], buf, sizeof(buf)), 0);
        assert_int_equal(lgw_cost_parse_usd(buf, &v), 0);
        assert_int_equal(v, edges[i]);
    }
    assert_int_equal(lgw_cost_format_usd(1500, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "0.000001500");
    for (int64_t x = -3000000001; x < 3000000001; x += 999999937) {
        assert_int_equal(lgw_cost_format_usd(x, buf, sizeof(buf)), 0);
        assert_int_equal(lgw_cost_parse_usd(buf, &v), 0);
        assert_int_equal(v, x);
    }
}

static void test_cache_writes(void **state)
{
    (void)state;
    /* claude-sonnet-4-6: $3 input, $15 output, $0.30 cache read, $3.75 cache write per 1M tokens */
    struct lgw_price sonnet = PRICE(3000000000LL, 15000000000LL, 300000000LL, true, 3750000000LL);
    struct lgw_usage u = {.input_tokens = 1000, .output_tokens = 100, .cached_input_tokens = 200,
                          .cache_write_input_tokens = 300};
    int64_t c;
    assert_int_equal(lgw_cost_of_usage(&sonnet, &u, &c), 0);
    assert_int_equal(c, 500 * 3000 + 200 * 300 + 300 * 3750 + 100 * 15000);
    u.cache_write_input_tokens = 0; /* no writes: the same as lgw_cost_compute */
    int64_t plain;
    assert_int_equal(lgw_cost_compute(&sonnet, 1000, 100, 200, &plain), 0);
    assert_int_equal(lgw_cost_of_usage(&sonnet, &u, &c), 0);
    assert_int_equal(c, plain);
    u.cache_write_input_tokens = 900; /* writes + reads > input */
    assert_int_equal(lgw_cost_of_usage(&sonnet, &u, &c), LGW_ERR(INVALID));
}

/* Gemini 2.5 Pro: 1.25/10.00/0.125 up to 200k input tokens, 2.50/15.00/0.25 above, for the whole call. */
static void test_long_context_tier(void **state)
{
    (void)state;
    struct lgw_price pro = PRICE(1250000000LL, 10000000000LL, 125000000LL, true, 0);
    pro.long_above_tokens = 200000;
    pro.long_input_nusd_per_mtok = 2500000000LL;
    pro.long_output_nusd_per_mtok = 15000000000LL;
    pro.long_cached_input_nusd_per_mtok = 250000000LL;
    int64_t c = 0;
    struct lgw_usage at = {.input_tokens = 200000, .output_tokens = 1000};
    assert_int_equal(lgw_cost_of_usage(&pro, &at, &c), 0);
    assert_int_equal(c, 200000LL * 1250 + 1000LL * 10000); /* at the threshold: base rates */
    struct lgw_usage above = {.input_tokens = 200001, .output_tokens = 1000, .cached_input_tokens = 100000};
    assert_int_equal(lgw_cost_of_usage(&pro, &above, &c), 0);
    assert_int_equal(c, 100001LL * 2500 + 100000LL * 250 + 1000LL * 15000); /* every token at the tier */
    struct lgw_price t = lgw_price_for_input(&pro, 300000);
    assert_int_equal(t.input_nusd_per_mtok, 2500000000LL);
    assert_int_equal(t.long_above_tokens, 200000);
    assert_int_equal(t.long_input_nusd_per_mtok, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compute),
        cmocka_unit_test(test_rounding),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_format_parse),
        cmocka_unit_test(test_cache_writes),
        cmocka_unit_test(test_long_context_tier),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
