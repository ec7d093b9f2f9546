/* test_trace.c - W3C traceparent: what is accepted, what is refused, and new ones are valid and distinct. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/trace.h"

/* The example of the W3C Trace Context recommendation. */
#define GOOD "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static bool valid(const char *s)
{
    return lgw_traceparent_valid(s, strlen(s));
}

static void test_valid(void **state)
{
    (void)state;
    assert_int_equal(strlen(GOOD), LGW_TRACEPARENT_LEN);
    assert_true(valid(GOOD));
    assert_true(valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")); /* not sampled */
    /* Only len bytes are read: a header value is not NUL-terminated. */
    assert_true(lgw_traceparent_valid(GOOD "-trailing", LGW_TRACEPARENT_LEN));
}

static void test_wrong_length(void **state)
{
    (void)state;
    assert_false(lgw_traceparent_valid(GOOD, LGW_TRACEPARENT_LEN - 1));
    assert_false(valid(GOOD "0"));
    assert_false(valid("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01")); /* 31-digit trace id */
    assert_false(valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01")); /* 15-digit parent id */
    assert_false(valid(""));
    assert_false(lgw_traceparent_valid(NULL, 0));
    assert_false(lgw_traceparent_valid(NULL, LGW_TRACEPARENT_LEN));
}

static void test_uppercase_hex(void **state)
{
    (void)state;
    assert_false(valid("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
    assert_false(valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01"));
    assert_false(valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A"));
}

static void test_not_hex(void **state)
{
    (void)state;
    assert_false(valid("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"));
    assert_false(valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01"));
    assert_false(valid("0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
}

static void test_all_zero_trace_id(void **state)
{
    (void)state;
    assert_false(valid("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
}

static void test_all_zero_parent_id(void **state)
{
    (void)state;
    assert_false(valid("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
}

static void test_version_ff(void **state)
{
    (void)state;
    assert_false(valid("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
}

static void test_missing_dashes(void **state)
{
    (void)state;
    static const size_t dashes[] = {2, 35, 52};
    for (size_t i = 0; i < sizeof(dashes) / sizeof(dashes[0]); i++) {
        char s[LGW_TRACEPARENT_SIZE];
        memcpy(s, GOOD, sizeof(s));
        s[dashes[i]] = '0'; /* same length, one dash gone */
        assert_false(valid(s));
        s[dashes[i]] = '_';
        assert_false(valid(s));
    }
    assert_false(valid("004bf92f3577b34da6a3ce929d0e0e473600f067aa0ba902b701")); /* no dashes at all */
}

static void test_new_is_valid(void **state)
{
    (void)state;
    for (int i = 0; i < 100; i++) {
        char tp[LGW_TRACEPARENT_SIZE];
        memset(tp, 'x', sizeof(tp));
        lgw_traceparent_new(tp);
        assert_int_equal(strlen(tp), LGW_TRACEPARENT_LEN);
        assert_true(lgw_traceparent_valid(tp, strlen(tp)));
        assert_memory_equal(tp, "00-", 3);
        assert_string_equal(tp + 52, "-01"); /* sampled */
    }
}

static void test_new_is_distinct(void **state)
{
    (void)state;
    enum { N = 64 };
    char tp[N][LGW_TRACEPARENT_SIZE];
    for (int i = 0; i < N; i++) {
        lgw_traceparent_new(tp[i]);
        for (int j = 0; j < i; j++) {
            if (memcmp(tp[i] + 3, tp[j] + 3, 32) == 0)
                fail_msg("trace id repeated: %s and %s", tp[j], tp[i]);
            if (memcmp(tp[i] + 36, tp[j] + 36, 16) == 0)
                fail_msg("parent id repeated: %s and %s", tp[j], tp[i]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_wrong_length),
        cmocka_unit_test(test_uppercase_hex),
        cmocka_unit_test(test_not_hex),
        cmocka_unit_test(test_all_zero_trace_id),
        cmocka_unit_test(test_all_zero_parent_id),
        cmocka_unit_test(test_version_ff),
        cmocka_unit_test(test_missing_dashes),
        cmocka_unit_test(test_new_is_valid),
        cmocka_unit_test(test_new_is_distinct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
