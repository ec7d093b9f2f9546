/* test_trace.c - W3C traceparent: what is accepted, what is refused (on records, and in a client's header,
 * later versions included), and new ones are valid and distinct. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
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

/* A client's header: version 00 exactly as laid out; a later version read by 00's layout and carried on as
 * 00; ff and every malformed form ignored. */
static bool from_header(const char *s, char out[LGW_TRACEPARENT_SIZE])
{
    memset(out, 'x', LGW_TRACEPARENT_SIZE);
    return lgw_traceparent_from_header(s, strlen(s), out);
}

static void test_from_header(void **state)
{
    (void)state;
    char out[LGW_TRACEPARENT_SIZE];
    assert_true(from_header(GOOD, out));
    assert_string_equal(out, GOOD);
    /* a later version: its 00-shaped fields, carried on as 00; more fields after a "-" are its business */
    assert_true(from_header("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", out));
    assert_string_equal(out, GOOD);
    assert_true(from_header("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-has", out));
    assert_string_equal(out, GOOD);
    assert_false(lgw_traceparent_valid("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 55));
    /* invalid, each: a new trace */
    static const char *const bad[] = {
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", /* 00 has nothing after its flags */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-010",      /* nor a longer flags field */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",      /* a later version's next field: "-" */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",       /* version ff */
        "FF-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",       /* uppercase version */
        "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",       /* version not hex */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",       /* uppercase trace-id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",       /* uppercase parent-id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",       /* uppercase flags */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",       /* all-zero trace-id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",       /* all-zero parent-id */
        "01-00000000000000000000000000000000-00f067aa0ba902b7-01",       /* ... in a later version too */
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",        /* short trace-id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",        /* short parent-id */
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",       /* wrong separators */
        "",
        "garbage",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (from_header(bad[i], out))
            fail_msg("accepted \"%s\" as %s", bad[i], out);
    assert_false(lgw_traceparent_from_header(NULL, 0, out));
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

/* tracestate: a client's list as W3C writes it comes out with its members in order, whitespace and empty
 * members gone; anything the grammar refuses drops the whole header. */
static bool ts(const char *in, const char *want)
{
    char out[LGW_TRACESTATE_SIZE];
    bool ok = lgw_tracestate_from_header(in, strlen(in), out);
    if (want)
        assert_string_equal(out, want);
    else
        assert_string_equal(out, "");
    return ok;
}

static void test_tracestate(void **state)
{
    (void)state;
    assert_true(ts("congo=t61rcWkgMzE", "congo=t61rcWkgMzE"));
    assert_true(ts("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"));
    assert_true(ts(" rojo=1 ,\t,, congo=2\t", "rojo=1,congo=2")); /* OWS and empty members */
    assert_true(ts("", ""));
    assert_true(ts(" , ", ""));
    assert_true(ts("fw529a3039@dt=a b", "fw529a3039@dt=a b")); /* a tenant key; a space inside a value */
    assert_true(ts("a-b_c*d/e=1", "a-b_c*d/e=1"));
    assert_true(ts("k=!\"#$%&'()*+-./:;<>?@[]^_`{|}~", "k=!\"#$%&'()*+-./:;<>?@[]^_`{|}~"));
    /* Refused: the whole header goes. */
    assert_false(ts("Rojo=1", NULL));         /* uppercase key */
    assert_false(ts("1abc=1", NULL));         /* a simple key starts with a letter */
    assert_false(ts("rojo", NULL));           /* no value */
    assert_false(ts("rojo=", NULL));          /* empty value */
    assert_false(ts("rojo=a=b", NULL));       /* '=' in a value */
    assert_false(ts("rojo=\x7f", NULL));      /* not printable */
    assert_false(ts("rojo=1,rojo=2", NULL));  /* a key twice */
    assert_false(ts("t@Sys=1", NULL));        /* system id starts lowercase */
    assert_false(ts("t@abcdefghijklmno=1", NULL)); /* system id past 14 */
    assert_false(ts("_t@sys=1", NULL));       /* tenant id starts with a letter or digit */
    /* 32 members pass, 33 do not. */
    char list[LGW_TRACESTATE_SIZE * 2] = "";
    size_t o = 0;
    for (int i = 0; i < 33; i++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%sk%d=v", i ? "," : "", i);
    char *cut = strstr(list, ",k32=");
    *cut = '\0';
    assert_true(ts(list, list));
    *cut = ',';
    assert_false(ts(list, NULL));
    /* 512 characters pass, 513 do not: "a=" and 255 characters, ",", "b=" and 252 (or 253). */
    char big[600];
    memset(big, 'v', sizeof(big));
    memcpy(big, "a=", 2);
    memcpy(big + 257, ",b=", 3);
    big[512] = '\0';
    assert_true(ts(big, big));
    big[512] = 'v';
    big[513] = '\0';
    assert_false(ts(big, NULL));
    memset(big, 'v', sizeof(big));
    memcpy(big, "a=", 2);
    assert_true(lgw_tracestate_from_header(big, 2 + 256, list)); /* the longest value: 256 */
    assert_false(lgw_tracestate_from_header(big, 2 + 257, list));
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
        cmocka_unit_test(test_from_header),
        cmocka_unit_test(test_new_is_valid),
        cmocka_unit_test(test_new_is_distinct),
        cmocka_unit_test(test_tracestate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
