/* test_json_scan.c - the tree-less JSON checker held to jansson 2.14 (json_loadb, flags 0): a table of what it
 * refuses and accepts, nesting depth, very long numbers, a seeded random differential run, and the member and
 * element spans. Every text is checked from a heap copy of exactly its length, so ASan catches a read past it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/json_scan.h"

/* The text printable in a failure message: bytes outside ASCII's printable range as \xNN (cut at 400 bytes).
 * Three buffers in turn, so one message may show three texts. */
static const char *show(const char *text, size_t len)
{
    static char bufs[3][4 * 400 + 8];
    static unsigned turn;
    char *out = bufs[turn++ % 3];
    size_t n = 0;
    for (size_t i = 0; i < len && i < 400; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            out[n++] = (char)c;
        else
            n += (size_t)snprintf(out + n, sizeof(bufs[0]) - n, "\\x%02x", c);
    }
    if (len > 400)
        n += (size_t)snprintf(out + n, sizeof(bufs[0]) - n, "...");
    out[n] = '\0';
    return out;
}

/* The old path's verdict: json_loadb with flags 0 and an object or array on top. */
static bool jansson_accepts(const char *text, size_t len)
{
    json_t *j = json_loadb(text, len, 0, NULL);
    bool ok = j && (json_is_object(j) || json_is_array(j));
    json_decref(j);
    return ok;
}

/* A heap copy of exactly len bytes (a zero-length text points just past a one-byte block): a read past the end
 * is a heap overflow ASan reports. Free with free_exact. */
static char *copy_exact(const char *text, size_t len)
{
    char *block = malloc(len ? len : 1);
    assert_non_null(block);
    memcpy(block, text, len);
    return len ? block : block + 1;
}

static void free_exact(char *copy, size_t len)
{
    free(len ? copy : copy - 1);
}

static int check_exact(const char *text, size_t len, int depth_max, size_t *err_at)
{
    char *copy = copy_exact(text, len);
    int rc = lgw_json_check(copy, len, depth_max, err_at);
    free_exact(copy, len);
    return rc;
}

/* Checks text with LGW_JSON_DEPTH_MAX and asserts that the checker and jansson both give want; when refused, that
 * err_at is at. */
static void expect_both(const char *text, size_t len, bool want, size_t at)
{
    size_t err_at = SIZE_MAX;
    bool jansson = jansson_accepts(text, len);
    int rc = check_exact(text, len, LGW_JSON_DEPTH_MAX, &err_at);
    if (jansson != want)
        fail_msg("jansson %s \"%s\", the test expects the opposite", jansson ? "accepts" : "refuses", show(text, len));
    if ((rc == LGW_OK) != want)
        fail_msg("checker %s \"%s\" (rc %d, err_at %zu), jansson %s it", rc == LGW_OK ? "accepts" : "refuses",
                 show(text, len), rc, err_at, jansson ? "accepts" : "refuses");
    if (!want) {
        assert_int_equal(rc, LGW_ERR(INVALID));
        if (err_at != at)
            fail_msg("\"%s\": err_at %zu, expected %zu", show(text, len), err_at, at);
    }
}

struct scan_case {
    const char *text;
    size_t len;
    bool ok;
    size_t at; /* refused: the err_at the checker gives, at or before the byte that is wrong */
};

#define OK(s) {s, sizeof(s) - 1, true, 0}
#define BAD(s, at) {s, sizeof(s) - 1, false, at}

static const struct scan_case cases[] = {
    /* The text as a whole: one object or array, only JSON whitespace around it. */
    BAD("", 0), BAD("   ", 3), BAD(" \t\r\n", 4), BAD("1", 0), BAD("\"a\"", 0), BAD("true", 0), BAD("null", 0),
    BAD("[] x", 3), BAD("[][]", 2), BAD("{}}", 2), BAD("\f[]", 0), BAD("[]\f", 2), BAD("[]\v", 2),
    BAD("\xef\xbb\xbf[]", 0), BAD("[", 1), BAD("{", 1), BAD("]", 0), BAD("[]\0", 2), BAD("\0[]", 0),
    BAD("[\0]", 1), BAD("[[]", 3), BAD("[[]]]", 4), BAD("{\"a\":{}", 7),
    OK("[]"), OK("{}"), OK(" \t\r\n[ \t\r\n] \t\r\n"), OK("[1]"), OK("{\"a\":1}"), OK("[[],{},[[]]]"),

    /* Raw bytes in strings: below 0x20 refused, DEL allowed. */
    BAD("[\"\x01\"]", 2), BAD("[\"\x1f\"]", 2), BAD("[\"a\nb\"]", 3), BAD("[\"a\tb\"]", 3), BAD("[\"\0\"]", 2),
    OK("[\"\x7f\"]"), OK("[\" ~\"]"), BAD("[\"abc]", 6), BAD("[\"", 2), BAD("[\"abc\"", 6), BAD("['a']", 1),

    /* UTF-8: every row of the well-formed table at its edges, then what falls outside it. */
    OK("[\"\xc2\x80\xdf\xbf\"]"), OK("[\"\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xe1\x80\x80\xec\xbf\xbf\"]"),
    OK("[\"\xf0\x90\x80\x80\xf3\xbf\xbf\xbf\xf4\x8f\xbf\xbf\xf1\x80\x80\x80\"]"),
    OK("{\"caf\xc3\xa9\":\"\xe2\x82\xac \xf0\x9f\x98\x80\"}"),
    BAD("[\"\xc0\x80\"]", 2), BAD("[\"\xc1\xbf\"]", 2),                            /* overlong ASCII */
    BAD("[\"\xe0\x80\x80\"]", 2), BAD("[\"\xe0\x9f\xbf\"]", 2),                    /* overlong 3-byte */
    BAD("[\"\xf0\x80\x80\x80\"]", 2), BAD("[\"\xf0\x8f\xbf\xbf\"]", 2),            /* overlong 4-byte */
    BAD("[\"\xed\xa0\x80\"]", 2), BAD("[\"\xed\xbf\xbf\"]", 2),                    /* surrogates */
    BAD("[\"\xf4\x90\x80\x80\"]", 2), BAD("[\"\xf5\x80\x80\x80\"]", 2),            /* above U+10FFFF */
    BAD("[\"\xf7\xbf\xbf\xbf\"]", 2), BAD("[\"\xf8\x88\x80\x80\x80\"]", 2),
    BAD("[\"\xfc\x84\x80\x80\x80\x80\"]", 2), BAD("[\"\xfe\"]", 2), BAD("[\"\xff\"]", 2),
    BAD("[\"\x80\"]", 2), BAD("[\"\xbf\"]", 2), BAD("[\"a\x80\"]", 3), BAD("[\"\xc3\xa9\xa9\"]", 4), /* stray */
    BAD("[\"\xc3\"]", 2), BAD("[\"\xe2\x82\"]", 2), BAD("[\"\xf0\x9f\x98\"]", 2),  /* truncated */
    BAD("[\"\xe2\x82x\"]", 2), BAD("[\"\xe2\x82", 2), BAD("[\"\xf0\x9f", 2), BAD("[\"\xc3\xc3\xa9\"]", 2),
    BAD("[\xc3\xa9]", 1), BAD("\xc3\xa9", 0), BAD("{\"\xff\":1}", 2), BAD("{\"a\":\"\xed\xa0\x80\"}", 6),

    /* Escapes. */
    OK("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]"), OK("[\"\\u0041\\u00e9\\u00E9\\uFFFF\\uffff\\u0001\\u001f\\uaBcD\"]"),
    OK("[\"\\uD83D\\uDE00\\ud83d\\ude00\\uDBFF\\uDFFF\\uD800\\uDC00\"]"), OK("{\"\\u00e9\\n\":\"\\/\"}"),
    BAD("[\"\\a\"]", 2), BAD("[\"\\x41\"]", 2), BAD("[\"\\U0041\"]", 2), BAD("[\"\\'\"]", 2), BAD("[\"\\0\"]", 2),
    BAD("[\"\\ \"]", 2), BAD("[\"\\\x01\"]", 2), BAD("[\"\\u\"]", 2), BAD("[\"\\u12\"]", 2),
    BAD("[\"\\u12G4\"]", 2), BAD("[\"\\u 123\"]", 2), BAD("[\"\\\"]", 5), BAD("[\"\\", 2), BAD("[\"\\u00", 2),
    BAD("[\"\\u0000\"]", 2), BAD("[\"a\\u0000\"]", 3), BAD("{\"\\u0000\":1}", 2), BAD("{\"a\\u0000b\":1}", 3),
    BAD("[\"\\uD800\"]", 2), BAD("[\"\\uD800x\"]", 2), BAD("[\"\\uD800\\n\"]", 2), BAD("[\"\\uD800\\u0041\"]", 2),
    BAD("[\"\\uD800\\uD800\"]", 2), BAD("[\"\\uDBFF\\uE000\"]", 2), BAD("[\"\\uDC00\"]", 2), BAD("[\"\\uDFFF\"]", 2),
    BAD("[\"\\uDC00\\uD800\"]", 2), BAD("[\"\\uD800\\\"]", 2), BAD("[\"\\uD800\\u\"]", 2),
    BAD("[\"\\uD800\\uDC0\"]", 2), BAD("[\"a\\uD83D\"]", 3), BAD("{\"\\uDE00\":1}", 2),

    /* Numbers: the grammar. */
    OK("[0,-0,1,-1,123,1.5,-1.5,0.0,1e5,1E5,1e+5,1e-5,1.5e10,0e0,-0.0e-0,10.25E+02,0.000001]"),
    BAD("[01]", 2), BAD("[-01]", 3), BAD("[00]", 2), BAD("[1.]", 3), BAD("[.5]", 1), BAD("[-]", 2), BAD("[+1]", 1),
    BAD("[1e]", 3), BAD("[1e+]", 4), BAD("[1E-]", 4), BAD("[1.e5]", 3), BAD("[-.5]", 2), BAD("[0x10]", 2),
    BAD("[1_000]", 2), BAD("[Infinity]", 1), BAD("[NaN]", 1), BAD("[-Infinity]", 2), BAD("[1.5.3]", 4),
    BAD("[--1]", 2), BAD("[1ee5]", 3), BAD("[- 1]", 2), BAD("[1", 2), BAD("[1.", 3), BAD("[-", 2), BAD("[1e", 3),
    /* Integers within long long; outside it jansson says "too big integer". */
    OK("[9223372036854775807,-9223372036854775808,-9223372036854775807,1000000000000000000]"),
    BAD("[9223372036854775808]", 1), BAD("[-9223372036854775809]", 1), BAD("[10000000000000000000]", 1),
    BAD("[99999999999999999999]", 1), BAD("[1,-99999999999999999999]", 3),
    OK("[9223372036854775808.0,-9223372036854775809e0,99999999999999999999e-5]"), /* reals: no limit but a double's */
    /* Reals: overflow refused, underflow accepted. */
    OK("[1e308,1.7976931348623157e308,1.7976931348623158e308,-1.7976931348623158e308,1.797693134862315807e308]"),
    OK("[1e-400,-1e-400,4.9e-324,2e-324,123456789012345678901234567890.0,1e-99999999999999999999999]"),
    OK("[1e000000000000000000000000308,1000e305,0.001e310,0.0e99999999999999999,0e400,-0.0e99999]"),
    BAD("[1e309]", 1), BAD("[-1e309]", 1), BAD("[1.7976931348623159e308]", 1), BAD("[1e400]", 1), BAD("[2e308]", 1),
    BAD("[0.1e310]", 1), BAD("[10000e305]", 1), BAD("[1e99999999999999999999999]", 1), BAD("[1E+309]", 1),
    BAD("[1e0000000000000000000000309]", 1), BAD("{\"a\":[0,-1.8e308]}", 8), BAD("[1.797693134862315808e308]", 1),

    /* Literals. */
    OK("[true,false,null]"), OK("{\"t\":true,\"f\":false,\"n\":null}"), BAD("[tru]", 1), BAD("[truex]", 5),
    BAD("[True]", 1), BAD("[nul]", 1), BAD("[nulll]", 5), BAD("[t]", 1), BAD("[f]", 1), BAD("[fals]", 1),
    BAD("[undefined]", 1), BAD("[true", 5), BAD("[tr", 1), BAD("[true false]", 6), BAD("[NULL]", 1),

    /* Structure: names are strings, ':' and ',' where the grammar wants them, no trailing commas or comments. */
    BAD("[1,]", 3), BAD("[,1]", 1), BAD("[1 2]", 3), BAD("[1,,2]", 3), BAD("{\"a\":1,}", 7), BAD("{,}", 1),
    BAD("{\"a\"}", 4), BAD("{\"a\":}", 5), BAD("{\"a\" 1}", 5), BAD("{1:1}", 1), BAD("{a:1}", 1), BAD("{'a':1}", 1),
    BAD("{\"a\":1 \"b\":2}", 7), BAD("[}", 1), BAD("{]", 1), BAD("[1}", 2), BAD("{\"a\":1]", 6), BAD("{\"a\"::1}", 5),
    BAD("[\"a\":1]", 4), BAD("{\"a\":1,,\"b\":2}", 7), BAD("{\"a\":1,\"b\"}", 10), BAD("[1]//", 3),
    BAD("/*x*/[1]", 0), BAD("[1 /*x*/]", 3), BAD("{\"a\":1,\"b\":}", 11), BAD("{null:1}", 1),
    OK("{\"a\":1,\"a\":2}"), /* duplicate names: jansson with flags 0 keeps the last, and does not refuse */
    OK("{\"a\":[1,{\"b\":null}],\"c\":{},\"\":\"\"}"), OK("[ 1 , [ ] , { } , \"x\" ]"), OK("{ \"a\" : 1 }"),
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_both(cases[i].text, cases[i].len, cases[i].ok, cases[i].at);
}

/* The one difference from jansson, on purpose (json_scan.h): it lets a NUL byte through right after a number or a
 * literal, which the check refuses, because a text it accepts may be passed on as it is. Found by the fuzz
 * harness. */
/* The string scan goes 16 bytes, then 8, then one at a time while nothing needs a look: every special byte (a
 * quote that ends the string early, a backslash, a control, bytes from 0x80 good and bad) at every position of
 * strings around those widths, among ASCII and multi-byte fill. */
static void test_specials_at_every_position(void **state)
{
    (void)state;
    static const char *const specials[] = {"\"", "\\n", "\\", "\x01", "\x1f", "\x7f", "\xc3\xa9", "\xff", "\xc3",
                                           " "};
    static const char *const fills[] = {"a", "\xc3\xa9"};
    char t[160];
    for (size_t f = 0; f < sizeof(fills) / sizeof(fills[0]); f++) {
        for (size_t units = 0; units <= 40; units++) {
            size_t n = strlen(fills[f]) * units;
            for (size_t pos = 0; pos <= n; pos++) {
                for (size_t k = 0; k < sizeof(specials) / sizeof(specials[0]); k++) {
                    size_t sl = strlen(specials[k]), len = 0;
                    t[len++] = '[';
                    t[len++] = '"';
                    for (size_t u = 0; u < units; u++, len += strlen(fills[f]))
                        memcpy(t + len, fills[f], strlen(fills[f]));
                    memmove(t + 2 + pos + sl, t + 2 + pos, n - pos);
                    memcpy(t + 2 + pos, specials[k], sl);
                    len += sl;
                    t[len++] = '"';
                    t[len++] = ']';
                    bool want = jansson_accepts(t, len);
                    if ((check_exact(t, len, LGW_JSON_DEPTH_MAX, NULL) == LGW_OK) != want)
                        fail_msg("checker and jansson differ on \"%s\"", show(t, len));
                }
            }
        }
    }
}

static void test_nul_after_a_token(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t len;
    } nul[] = {{"[5\0]", 4}, {"[0,5\0,1]", 8}, {"{\"a\":true\0}", 11}, {"[1.5\0]", 6}, {"[null\0]", 7}};
    for (size_t i = 0; i < sizeof(nul) / sizeof(nul[0]); i++) {
        assert_true(jansson_accepts(nul[i].text, nul[i].len));
        assert_int_equal(check_exact(nul[i].text, nul[i].len, LGW_JSON_DEPTH_MAX, NULL), LGW_ERR(INVALID));
    }
    /* Elsewhere jansson refuses a NUL too. */
    expect_both("[\"a\"\0]", 6, false, 4);
    expect_both("[1]\0", 4, false, 3);
}

static void test_err_at_optional(void **state)
{
    (void)state;
    assert_int_equal(lgw_json_check("[1,]", 4, LGW_JSON_DEPTH_MAX, NULL), LGW_ERR(INVALID));
    assert_int_equal(lgw_json_check("[1]", 3, LGW_JSON_DEPTH_MAX, NULL), LGW_OK);
    assert_int_equal(lgw_json_check(NULL, 0, LGW_JSON_DEPTH_MAX, NULL), LGW_ERR(INVALID));
}

/* n containers, inner in the innermost. object: {"a": ... } instead of [ ... ]. */
static char *nest(size_t n, const char *inner, bool object, size_t *len)
{
    const char *open = object ? "{\"a\":" : "[", *close = object ? "}" : "]";
    size_t on = strlen(open), in = strlen(inner);
    *len = n * on + in + n;
    char *text = malloc(*len);
    assert_non_null(text);
    for (size_t i = 0; i < n; i++)
        memcpy(text + i * on, open, on);
    memcpy(text + n * on, inner, in);
    memset(text + n * on + in, close[0], n);
    return text;
}

/* jansson counts every value toward its limit of 2048, scalars too: 2048 empty arrays nested are accepted, but a
 * 1 inside 2048 arrays is the 2049th level. */
static void test_depth_against_jansson(void **state)
{
    (void)state;
    static const struct {
        size_t n;
        const char *inner;
        bool object, ok;
        size_t at;
    } deep[] = {
        {2048, "", false, true, 0},       {2049, "", false, false, 2048},    {2047, "1", false, true, 0},
        {2048, "1", false, false, 2048},  {2047, "{}", false, true, 0},      {2048, "{}", false, false, 2048},
        {2047, "1", true, true, 0},       {2048, "1", true, false, 5 * 2048}, {2047, "[]", true, true, 0},
        {2047, "\"x\"", false, true, 0}, {2048, "\"x\"", false, false, 2048},
    };
    for (size_t i = 0; i < sizeof(deep) / sizeof(deep[0]); i++) {
        size_t len;
        char *text = nest(deep[i].n, deep[i].inner, deep[i].object, &len);
        expect_both(text, len, deep[i].ok, deep[i].at);
        /* The stack is fixed at LGW_JSON_DEPTH_MAX: asking for more changes nothing. */
        assert_int_equal(check_exact(text, len, 100000, NULL) == LGW_OK, deep[i].ok);
        free(text);
    }
}

static void test_depth_max(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int depth; /* the least depth_max that accepts it */
    } texts[] = {
        {"{}", 1}, {"[]", 1}, {"{\"a\":1}", 2}, {"[[]]", 2}, {"[1,[2,[3]]]", 4}, {"{\"a\":{\"b\":[]}}", 3},
        {"[[], [[]], []]", 3},
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        size_t len = strlen(texts[i].text), at = SIZE_MAX;
        assert_int_equal(check_exact(texts[i].text, len, texts[i].depth, NULL), LGW_OK);
        assert_int_equal(check_exact(texts[i].text, len, texts[i].depth - 1, &at), LGW_ERR(INVALID));
        assert_true(at < len);
    }
    size_t at = SIZE_MAX;
    assert_int_equal(check_exact("[]", 2, 0, &at), LGW_ERR(INVALID));
    assert_int_equal(at, 0);
    assert_int_equal(check_exact("[]", 2, -1, NULL), LGW_ERR(INVALID));
}

/* 2^1024 - 2^970: halfway between DBL_MAX and 2^1024, the least value strtod rounds to overflow. */
static const char dbl_edge[] = "17976931348623158079372897140530341507993413271003782693617377898044496829276475094664"
                               "90179775872070963302864166928879109465555478519404026306574886715058206819089020007083"
                               "83676273854845817711531764475730270069855571366959622842914819860834936475292719074168"
                               "444365510704342711559699508093042880177904174497792";

/* Builds "[" + the pieces + "]" and expects want from both. */
static void expect_number(bool want, const char *a, size_t arep, const char *b, size_t brep, const char *c)
{
    char *text = malloc(2 + strlen(a) * arep + strlen(b) * brep + strlen(c));
    assert_non_null(text);
    size_t n = 0;
    text[n++] = '[';
    for (size_t i = 0; i < arep; i++, n += strlen(a))
        memcpy(text + n, a, strlen(a));
    for (size_t i = 0; i < brep; i++, n += strlen(b))
        memcpy(text + n, b, strlen(b));
    memcpy(text + n, c, strlen(c));
    n += strlen(c);
    text[n++] = ']';
    expect_both(text, n, want, 1);
    free(text);
}

/* Numbers far longer than the checker's strtod buffer, around the overflow edge: cutting the digits must not
 * move a number across it. */
static void test_long_numbers(void **state)
{
    (void)state;
    /* The edge and one less, as integer digits and as d.ddd (for an e308 after them). */
    char below[sizeof(dbl_edge)], sci[sizeof(dbl_edge) + 1], sci_below[sizeof(dbl_edge) + 1];
    memcpy(below, dbl_edge, sizeof(dbl_edge));
    below[sizeof(dbl_edge) - 2]--; /* ...791 */
    snprintf(sci, sizeof(sci), "%c.%s", dbl_edge[0], dbl_edge + 1);
    snprintf(sci_below, sizeof(sci_below), "%c.%s", below[0], below + 1);

    expect_number(false, "1", 5000, "", 0, ".0");            /* 1e4999 */
    expect_number(false, "1", 5000, "", 0, "");              /* too big integer */
    expect_number(true, "0.", 1, "0", 5000, "1");            /* 1e-5001: underflow */
    expect_number(false, "0.", 1, "9", 5000, "e309");        /* 0.99...e309 */
    expect_number(true, "0.", 1, "9", 5000, "e308");         /* 0.99...e308 */
    expect_number(true, "0.", 1, "0", 5000, "1e5309");       /* 1e308 */
    expect_number(false, "0.", 1, "0", 5000, "1e5310");      /* 1e309 */
    expect_number(true, "1e", 1, "0", 5000, "308");          /* a long exponent */
    expect_number(false, "1e", 1, "0", 5000, "309");
    expect_number(false, dbl_edge, 1, "", 0, ".0");          /* the edge itself rounds up */
    expect_number(true, below, 1, "", 0, ".0");
    expect_number(true, below, 1, "", 0, ".9999999999999999999999999999999999999999999999999999999");
    expect_number(true, below, 1, ".", 1, "9");
    char *nines = malloc(5002);
    assert_non_null(nines);
    nines[0] = '.';
    memset(nines + 1, '9', 5000);
    nines[5001] = '\0';
    expect_number(true, below, 1, nines, 1, "");             /* below the edge by 10^-5000 */
    expect_number(false, dbl_edge, 1, ".", 1, "0");
    free(nines);
    char *zeros_one = malloc(5003);
    assert_non_null(zeros_one);
    zeros_one[0] = '.';
    memset(zeros_one + 1, '0', 5000);
    zeros_one[5001] = '1';
    zeros_one[5002] = '\0';
    expect_number(false, dbl_edge, 1, zeros_one, 1, "");     /* above the edge by 10^-5001 */
    free(zeros_one);
    expect_number(false, sci, 1, "", 0, "e308");
    expect_number(true, sci_below, 1, "", 0, "e308");
    expect_number(true, sci_below, 1, "9", 4000, "e308");    /* 1.797...791999...e308: still below */
    expect_number(false, sci, 1, "0", 4000, "1e308");
    expect_number(false, sci, 1, "0", 4000, "E+308");
}

/* A deterministic generator (splitmix64) of JSON-ish text: valid documents from random values, then bytes
 * flipped, inserted, deleted or cut. */
struct gen {
    uint64_t s;
    char buf[4096];
    size_t len;
};

static uint64_t rnd(struct gen *g)
{
    uint64_t z = (g->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t pick(struct gen *g, size_t n)
{
    return (size_t)(rnd(g) % n);
}

static void put(struct gen *g, const char *s)
{
    size_t n = strlen(s);
    if (g->len + n <= sizeof(g->buf)) {
        memcpy(g->buf + g->len, s, n);
        g->len += n;
    }
}

static void put_ws(struct gen *g)
{
    static const char *const ws[] = {" ", "\n", "\t", "\r\n", "  "};
    if (pick(g, 4) == 0)
        put(g, ws[pick(g, sizeof(ws) / sizeof(ws[0]))]);
}

static void gen_string(struct gen *g)
{
    static const char *const pieces[] = {
        "a", "Hello", " ", "body", "\\n", "\\\"", "\\\\", "\\/", "\\t", "\\u00e9", "\\u20AC", "\\uD83D\\uDE00",
        "\\ud800\\udc00", "\\u0001", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xed\x9f\xbf", "\xf4\x8f\xbf\xbf",
        "{", "}", "[", "]", ",", ":", "0", "\x7f", "\\uD800", "\\u0000", "\xed\xa0\x80", "\xc0\xaf", "\x01",
    };
    put(g, "\"");
    /* Mostly valid pieces; the last five are not, so an unmutated document is refused now and then. */
    size_t valid = sizeof(pieces) / sizeof(pieces[0]) - 5;
    for (size_t n = pick(g, 6); n > 0; n--)
        put(g, pieces[pick(g, 50) == 0 ? valid + pick(g, 5) : pick(g, valid)]);
    put(g, "\"");
}

static void gen_number(struct gen *g)
{
    static const char *const edges[] = {
        "0", "-0", "1", "-1", "42", "3.14", "-2.5e-3", "1e5", "1E+2", "6.02e23", "9223372036854775807",
        "-9223372036854775808", "9223372036854775808", "-9223372036854775809", "1e308", "1.7976931348623157e308",
        "1.7976931348623159e308", "1e309", "1e-400", "0.1e310", "123456789012345678901234567890", "1.0e-5",
    };
    if (pick(g, 3) == 0) {
        put(g, edges[pick(g, sizeof(edges) / sizeof(edges[0]))]);
        return;
    }
    char num[96];
    size_t n = 0;
    if (pick(g, 3) == 0)
        num[n++] = '-';
    size_t digits = 1 + pick(g, pick(g, 4) == 0 ? 25 : 6);
    num[n++] = (char)(digits == 1 ? '0' + pick(g, 10) : '1' + pick(g, 9));
    for (size_t i = 1; i < digits; i++)
        num[n++] = (char)('0' + pick(g, 10));
    if (pick(g, 2) == 0) {
        num[n++] = '.';
        for (size_t i = 1 + pick(g, 8); i > 0; i--)
            num[n++] = (char)('0' + pick(g, 10));
    }
    if (pick(g, 3) == 0)
        n += (size_t)snprintf(num + n, sizeof(num) - n, "%s%s%zu", pick(g, 2) ? "e" : "E",
                              (const char *[]){"", "+", "-"}[pick(g, 3)], pick(g, 400));
    num[n] = '\0';
    put(g, num);
}

static void gen_value(struct gen *g, int depth, bool container)
{
    static const char *const words[] = {"true", "false", "null"};
    size_t kind = container ? 6 + pick(g, 4) : pick(g, depth < 5 ? 10 : 6);
    if (kind < 2) {
        gen_string(g);
    } else if (kind < 4) {
        gen_number(g);
    } else if (kind < 6) {
        put(g, words[pick(g, 3)]);
    } else {
        bool object = kind >= 8;
        put(g, object ? "{" : "[");
        put_ws(g);
        for (size_t i = 0, n = pick(g, 5); i < n; i++) {
            if (i) {
                put(g, ",");
                put_ws(g);
            }
            if (object) {
                gen_string(g);
                put_ws(g);
                put(g, ":");
                put_ws(g);
            }
            gen_value(g, depth + 1, false);
            put_ws(g);
        }
        put(g, object ? "}" : "]");
    }
}

static char random_byte(struct gen *g)
{
    static const char special[] = "{}[]\",:\\u0eE.-+ \t\nDd1";
    switch (pick(g, 3)) {
    case 0:
        return special[pick(g, sizeof(special) - 1)];
    case 1:
        return (char)(0x80 + pick(g, 128));
    default:
        return (char)pick(g, 256);
    }
}

static void mutate(struct gen *g)
{
    for (size_t ops = pick(g, 4); ops > 0 && g->len > 0; ops--) {
        size_t at = pick(g, g->len);
        switch (pick(g, 4)) {
        case 0:
            g->buf[at] = random_byte(g);
            break;
        case 1:
            if (g->len < sizeof(g->buf)) {
                memmove(g->buf + at + 1, g->buf + at, g->len - at);
                g->buf[at] = random_byte(g);
                g->len++;
            }
            break;
        case 2:
            memmove(g->buf + at, g->buf + at + 1, g->len - at - 1);
            g->len--;
            break;
        default:
            g->len = pick(g, g->len + 1);
        }
    }
}

/* Walks an accepted text without duplicate names alongside jansson's tree: every member jansson has is found,
 * every element is stepped to in order, and each span parses on its own to the value jansson has there. */
static void walk(const char *text, size_t len, const json_t *j)
{
    size_t off, vlen;
    if (json_is_array(j)) {
        size_t pos = 0, i = 0;
        while (lgw_json_next(text, len, &pos, &off, &vlen)) {
            assert_true(i < json_array_size(j));
            json_t *v = json_array_get(j, i++), *mine = json_loadb(text + off, vlen, JSON_DECODE_ANY, NULL);
            if (!mine || !json_equal(mine, v))
                fail_msg("element %zu of \"%s\": span \"%s\"", i - 1, show(text, len), show(text + off, vlen));
            json_decref(mine);
            walk(text + off, vlen, v);
        }
        assert_int_equal(i, json_array_size(j));
    } else if (json_is_object(j)) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)j, key, v) {
            if (!lgw_json_member(text, len, key, &off, &vlen))
                fail_msg("member \"%s\" not found in \"%s\"", show(key, strlen(key)), show(text, len));
            json_t *mine = json_loadb(text + off, vlen, JSON_DECODE_ANY, NULL);
            if (!mine || !json_equal(mine, v))
                fail_msg("member \"%s\" of \"%s\": span \"%s\"", key, show(text, len), show(text + off, vlen));
            json_decref(mine);
            walk(text + off, vlen, v);
        }
    }
}

/* The span functions on any text, checked or not, must stay inside it (ASan watches); their answers on text that
 * was not checked mean nothing. */
static void poke_spans(const char *text, size_t len)
{
    size_t off, vlen, pos = 0;
    lgw_json_member(text, len, "a", &off, &vlen);
    lgw_json_member(text, len, "body", &off, &vlen);
    for (size_t steps = 0; steps <= len && lgw_json_next(text, len, &pos, &off, &vlen); steps++)
        assert_true(off + vlen <= len && pos <= len);
}

static void test_random_against_jansson(void **state)
{
    (void)state;
    struct gen g = {.s = 20260509};
    size_t accepted = 0, refused = 0;
    for (int i = 0; i < 20000; i++) {
        g.len = 0;
        put_ws(&g);
        gen_value(&g, 0, pick(&g, 20) != 0); /* an object or array on top, any value now and then */
        put_ws(&g);
        if (pick(&g, 10) >= 3)
            mutate(&g);
        char *text = copy_exact(g.buf, g.len);
        size_t at = SIZE_MAX;
        bool jansson = jansson_accepts(text, g.len);
        int rc = lgw_json_check(text, g.len, LGW_JSON_DEPTH_MAX, &at);
        if ((rc == LGW_OK) != jansson)
            fail_msg("text %d \"%s\": jansson %s, checker %s (err_at %zu)", i, show(text, g.len),
                     jansson ? "accepts" : "refuses", rc == LGW_OK ? "accepts" : "refuses", at);
        if (rc == LGW_OK) {
            accepted++;
            json_t *j = json_loadb(text, g.len, JSON_REJECT_DUPLICATES, NULL);
            if (j)
                walk(text, g.len, j);
            json_decref(j);
        } else {
            refused++;
            assert_true(at <= g.len);
        }
        poke_spans(text, g.len);
        free_exact(text, g.len);
    }
    /* The run means something only if both answers are common. */
    if (accepted < 2000 || refused < 2000)
        fail_msg("accepted %zu, refused %zu of 20000", accepted, refused);
}

/* A chat.completion reply as the ingress receives it, about 700 bytes. */
static const char reply[] =
    "{\"v\":1,\"request_id\":\"8b0d05ba-eb09-46f5-9c71-cf78a016f1f1\",\"status\":200,\"provider\":\"openai\","
    "\"attempts\":1,\"cost_usd\":2.7e-06,\"body\":{\"id\":\"chatcmpl-9x2Kc7\",\"object\":\"chat.completion\","
    "\"created\":1767225600,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
    "\"assistant\",\"content\":\"Caf\\u00e9 \xc3\xa9t\xc3\xa9 \xe2\x82\xac" "5 \xf0\x9f\x98\x80 \\\"quoted\\\" and a "
    "longer sentence so that the content is the bulk of the message, as it is in practice.\\nSecond line.\","
    "\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12,"
    "\"completion_tokens\":34,\"total_tokens\":46,\"prompt_tokens_details\":{\"cached_tokens\":0}},"
    "\"system_fingerprint\":\"fp_0ba0d124f1\"},\"tenant\":\"acme\",\"ts\":1767225600123}";

/* Every prefix of a real message, each in a buffer of exactly its length: no NUL after it to stop a runaway
 * read, and the span functions poked at each unchecked prefix too. */
static void test_prefixes_not_terminated(void **state)
{
    (void)state;
    size_t len = sizeof(reply) - 1;
    for (size_t n = 0; n <= len; n++) {
        char *text = copy_exact(reply, n);
        bool jansson = jansson_accepts(text, n);
        size_t at = SIZE_MAX;
        int rc = lgw_json_check(text, n, LGW_JSON_DEPTH_MAX, &at);
        assert_int_equal(rc == LGW_OK, jansson);
        assert_int_equal(rc == LGW_OK, n == len);
        if (rc != LGW_OK)
            assert_true(at <= n);
        poke_spans(text, n);
        free_exact(text, n);
    }
    char *text = copy_exact(reply, len);
    size_t off, vlen, boff, blen, pos = 0;
    assert_true(lgw_json_member(text, len, "body", &boff, &blen));
    assert_true(text[boff] == '{' && text[boff + blen - 1] == '}');
    assert_true(lgw_json_member(text, len, "ts", &off, &vlen));
    assert_int_equal(vlen, 13);
    assert_memory_equal(text + off, "1767225600123", 13);
    assert_true(lgw_json_member(text + boff, blen, "choices", &off, &vlen));
    const char *choices = text + boff + off;
    assert_true(lgw_json_next(choices, vlen, &pos, &off, &vlen));
    size_t moff, mlen;
    assert_true(lgw_json_member(choices + off, vlen, "message", &moff, &mlen));
    assert_true(lgw_json_member(choices + off + moff, mlen, "refusal", &off, &vlen));
    assert_int_equal(vlen, 4);
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(j);
    walk(text, len, j);
    json_decref(j);
    free_exact(text, len);
}

static void expect_member(const char *text, const char *key, const char *want)
{
    size_t len = strlen(text), off = SIZE_MAX, vlen = SIZE_MAX;
    assert_int_equal(check_exact(text, len, LGW_JSON_DEPTH_MAX, NULL), LGW_OK);
    char *copy = copy_exact(text, len);
    bool found = lgw_json_member(copy, len, key, &off, &vlen);
    free_exact(copy, len);
    if (!want) {
        if (found)
            fail_msg("\"%s\" in %s: found \"%.*s\", expected none", key, text, (int)vlen, text + off);
        return;
    }
    if (!found)
        fail_msg("\"%s\" in %s: not found, expected \"%s\"", key, text, want);
    if (vlen != strlen(want) || memcmp(text + off, want, vlen) != 0)
        fail_msg("\"%s\" in %s: \"%.*s\", expected \"%s\"", key, text, (int)vlen, text + off, want);
}

static void test_member(void **state)
{
    (void)state;
    static const char doc[] = "{\"id\":\"chatcmpl-1\",\"n\":-1.5e3,\"t\":true,\"f\":false,\"z\":null,"
                              "\"o\":{\"body\":1,\"x\":[2]},\"a\":[1,\"two\",{\"body\":3}],\"bod\":0,"
                              "\"body\":{\"k\":[1,{\"body\":2}]},\"bodyx\":4,\"body\":\"second\"}";
    expect_member(doc, "id", "\"chatcmpl-1\"");
    expect_member(doc, "n", "-1.5e3");
    expect_member(doc, "t", "true");
    expect_member(doc, "f", "false");
    expect_member(doc, "z", "null");
    expect_member(doc, "o", "{\"body\":1,\"x\":[2]}");
    expect_member(doc, "a", "[1,\"two\",{\"body\":3}]");
    expect_member(doc, "body", "{\"k\":[1,{\"body\":2}]}"); /* the first of two; not o's, which is nested */
    expect_member(doc, "bod", "0");
    expect_member(doc, "bodyx", "4");
    expect_member(doc, "bo", NULL);
    expect_member(doc, "bodyxy", NULL);
    expect_member(doc, "x", NULL); /* only nested */
    expect_member(doc, "k", NULL);
    expect_member(doc, "", NULL);
    expect_member("{\"o\":{\"body\":1,\"x\":[2]}}", "o", "{\"body\":1,\"x\":[2]}");
    expect_member("{\"body\":1,\"x\":[2]}", "x", "[2]");

    /* Names compare unescaped. */
    expect_member("{\"b\\u006fdy\":\"esc\",\"body\":\"plain\"}", "body", "\"esc\"");
    static const char esc[] = "{\"caf\\u00e9\":1,\"\\ud83d\\ude00\":2,\"a\\\"b\":3,\"a\\\\b\":4,\"\\/\":5,\"\":6,"
                              "\"tab\\t\":7,\"\\u00e9t\\u00E9\":8}";
    expect_member(esc, "caf\xc3\xa9", "1");
    expect_member(esc, "\xf0\x9f\x98\x80", "2");
    expect_member(esc, "a\"b", "3");
    expect_member(esc, "a\\b", "4");
    expect_member(esc, "/", "5");
    expect_member(esc, "", "6");
    expect_member(esc, "tab\t", "7");
    expect_member(esc, "\xc3\xa9t\xc3\xa9", "8");
    expect_member(esc, "caf", NULL);
    expect_member(esc, "caf\xc3\xa9!", NULL);
    expect_member(esc, "caf\\u00e9", NULL);
    expect_member("{\"caf\xc3\xa9\":1}", "caf\xc3\xa9", "1");

    /* Whitespace around everything; strings holding brackets, quotes and commas. */
    static const char ws[] = "  { \"a\" : [ 1 , 2 ] ,\"b\"  :  \"x y\"  , \"c\":{ } , \"d\" :\n-0.5e1\t}  ";
    expect_member(ws, "a", "[ 1 , 2 ]");
    expect_member(ws, "b", "\"x y\"");
    expect_member(ws, "c", "{ }");
    expect_member(ws, "d", "-0.5e1");
    size_t off, vlen;
    assert_true(lgw_json_member(ws, strlen(ws), "a", &off, &vlen));
    assert_int_equal(off, (size_t)(strchr(ws, '[') - ws));
    static const char tricky[] = "{\"s\":\"}{][\\\",\",\"t\":\"\\\\\",\"u\":[ \"]\" ],\"v\":1}";
    expect_member(tricky, "s", "\"}{][\\\",\"");
    expect_member(tricky, "t", "\"\\\\\"");
    expect_member(tricky, "u", "[ \"]\" ]");
    expect_member(tricky, "v", "1");

    /* Not an object. */
    assert_false(lgw_json_member("[1]", 3, "a", &off, &vlen));
    assert_false(lgw_json_member("{}", 2, "a", &off, &vlen));
    assert_false(lgw_json_member("", 0, "a", &off, &vlen));
}

/* Steps through text's elements and expects exactly want[0..n). */
static void expect_elements(const char *text, size_t len, const char *const *want, size_t n)
{
    char *copy = copy_exact(text, len);
    size_t pos = 0, off, vlen, i = 0;
    while (lgw_json_next(copy, len, &pos, &off, &vlen)) {
        if (i >= n)
            fail_msg("%s: element %zu \"%.*s\" beyond the %zu expected", text, i, (int)vlen, text + off, n);
        if (vlen != strlen(want[i]) || memcmp(text + off, want[i], vlen) != 0)
            fail_msg("%s: element %zu \"%.*s\", expected \"%s\"", text, i, (int)vlen, text + off, want[i]);
        i++;
    }
    assert_int_equal(i, n);
    assert_false(lgw_json_next(copy, len, &pos, &off, &vlen)); /* and stays done */
    assert_false(lgw_json_next(copy, len, &pos, &off, &vlen));
    free_exact(copy, len);
}

static void test_next(void **state)
{
    (void)state;
    expect_elements("[]", 2, NULL, 0);
    expect_elements(" [ \n ] ", 7, NULL, 0);
    expect_elements("[1]", 3, (const char *const[]){"1"}, 1);
    static const char mixed[] = " [ 1 , [2,3] , {\"a\":[]} , \"x,]\" , -0.5e1 , true,null,false,\"\\\"]\" ] ";
    expect_elements(mixed, strlen(mixed),
                    (const char *const[]){"1", "[2,3]", "{\"a\":[]}", "\"x,]\"", "-0.5e1", "true", "null", "false",
                                          "\"\\\"]\""},
                    9);
    expect_elements("[2,3]", 5, (const char *const[]){"2", "3"}, 2);
    expect_elements("[[[]],[]]", 9, (const char *const[]){"[[]]", "[]"}, 2);
    size_t pos = 0, off, vlen;
    assert_false(lgw_json_next("{}", 2, &pos, &off, &vlen));
    pos = 0;
    assert_false(lgw_json_next("", 0, &pos, &off, &vlen));

    /* Down a 2048-deep nest, one span at a time, to the innermost empty array. */
    size_t len;
    char *text = nest(LGW_JSON_DEPTH_MAX, "", false, &len);
    assert_int_equal(lgw_json_check(text, len, LGW_JSON_DEPTH_MAX, NULL), LGW_OK);
    const char *span = text;
    size_t slen = len;
    for (int level = 1; level < LGW_JSON_DEPTH_MAX; level++) {
        size_t eoff, elen;
        pos = 0;
        assert_true(lgw_json_next(span, slen, &pos, &eoff, &elen));
        assert_int_equal(eoff, 1);
        assert_int_equal(elen, slen - 2);
        assert_false(lgw_json_next(span, slen, &pos, &off, &vlen)); /* the only element */
        span += eoff;
        slen = elen;
    }
    assert_int_equal(slen, 2);
    pos = 0;
    assert_false(lgw_json_next(span, slen, &pos, &off, &vlen));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_specials_at_every_position),
        cmocka_unit_test(test_nul_after_a_token),
        cmocka_unit_test(test_err_at_optional),
        cmocka_unit_test(test_depth_against_jansson),
        cmocka_unit_test(test_depth_max),
        cmocka_unit_test(test_long_numbers),
        cmocka_unit_test(test_random_against_jansson),
        cmocka_unit_test(test_prefixes_not_terminated),
        cmocka_unit_test(test_member),
        cmocka_unit_test(test_next),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
