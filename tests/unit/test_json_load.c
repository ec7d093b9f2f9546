/* test_json_load.c - lgw_json_loadb (common/json_load.c) answers what jansson's json_loadb answers, for flags 0 and
 * JSON_REJECT_DUPLICATES: the same tree, members in the same order and numbers of the same type, or the same
 * refusal with the same error. Fixed cases, long strings, and 30,000 random texts, a third of them damaged; each
 * text in a heap block of its exact size, so a read past it is ASan's to report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json_load.h"
#include "common/json_write.h"
#include "tests/support/rng.h"

static uint64_t rng_state = 0xD1B54A32D192ED03ull;

static uint64_t rnd(void)
{
    return lgw_test_rng_next(&rng_state);
}

/* Both readers on text[0..len), with flags; returns whether jansson took it. */
static bool same_as_jansson(const char *text, size_t len, size_t flags)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    json_error_t ea, eb;
    json_t *a = json_loadb(copy, len, flags, &ea);
    json_t *b = lgw_json_loadb(copy, len, flags, &eb);
    if (!a != !b)
        fail_msg("jansson %s, lgw_json_loadb %s (flags %zu): %.*s", a ? "took it" : "refused it",
                 b ? "took it" : "refused it", flags, (int)len, text);
    if (a) {
        /* The same values, types and member order: the two trees written out are the same bytes. */
        struct lgw_buf wa, wb;
        lgw_buf_init(&wa, 0);
        lgw_buf_init(&wb, 0);
        assert_int_equal(lgw_json_write(&wa, a), 0);
        assert_int_equal(lgw_json_write(&wb, b), 0);
        if (wa.len != wb.len || memcmp(wa.ptr, wb.ptr, wa.len) != 0)
            fail_msg("trees differ for %.*s:\njansson %s\nllmgw   %s", (int)len, text, wa.ptr, wb.ptr);
        assert_true(json_equal(a, b));
        lgw_buf_cleanup(&wa);
        lgw_buf_cleanup(&wb);
    } else {
        assert_string_equal(ea.text, eb.text);
        assert_int_equal(ea.position, eb.position);
        assert_int_equal(ea.line, eb.line);
        assert_int_equal(ea.column, eb.column);
    }
    json_decref(a);
    json_decref(b);
    free(copy);
    return a != NULL;
}

static void both_flags(const char *text)
{
    same_as_jansson(text, strlen(text), 0);
    same_as_jansson(text, strlen(text), JSON_REJECT_DUPLICATES);
}

static void test_fixed_cases(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "{}", "[]", " \t\r\n{ } ", "[1,-0,0.0,-0.0,1e5,1E+2,1e-7,2.5e-400,1e400,9223372036854775807]",
        "[9223372036854775808]", "[-9223372036854775808]", "[-9223372036854775809]", "[0.1,1.7976931348623157e308]",
        "{\"a\":1,\"a\":2}", "{\"a\":{\"b\":[true,false,null]},\"c\":\"d\"}", "{\"a\":1,\"b\":2,\"a\":3}",
        "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20ac\\ud83d\\ude00\"]", "[\"\\u0000\"]", "[\"\\ud800\"]",
        "[\"caf\xc3\xa9\"]", "[\"\xff\"]", "{\"k\\u00e9y\":1,\"k\xc3\xa9y\":2}", "[1,]", "{\"a\":}", "[01]", "[1.]",
        "[.5]", "[-]", "[tru]", "[nul]", "[\"a\" \"b\"]", "{\"a\" 1}", "{1:2}", "[", "{", "", "  ", "1", "\"s\"",
        "null", "[1] x", "[1]]", "[\"\x01\"]", "{\"a\":1}\n", "[1e2,1.5E-3,-12.75e+01]",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        both_flags(texts[i]);
    /* jansson lets a NUL right after a number or literal through; the check does not, and jansson then decides. */
    same_as_jansson("[5\0]", 4, 0);
    same_as_jansson("{\"a\":true\0}", 11, 0);
    /* Nesting at jansson's limit and one past it. */
    for (int depth = 2047; depth <= 2049; depth++) {
        char *t = malloc((size_t)depth * 2);
        memset(t, '[', (size_t)depth);
        memset(t + depth, ']', (size_t)depth);
        same_as_jansson(t, (size_t)depth * 2, 0);
        free(t);
    }
}

/* Long strings: a prompt of 100 KB with no escape (taken from the text as it is), and one with escapes spread
 * through it. */
static void test_long_strings(void **state)
{
    (void)state;
    size_t n = 100 * 1024;
    char *t = malloc(n + 64);
    size_t k = 0;
    k += (size_t)sprintf(t, "{\"messages\":[{\"role\":\"user\",\"content\":\"");
    size_t body = k;
    for (; k < body + n; k++)
        t[k] = "Summarise the following report. "[(k - body) % 32];
    k += (size_t)sprintf(t + k, "\"}]}");
    assert_true(same_as_jansson(t, k, JSON_REJECT_DUPLICATES));
    for (size_t i = body + 100; i + 2 < body + n; i += 997) { /* \n, \" and \u00e9 every so often */
        const char *e = (i / 997) % 3 == 0 ? "\\n" : (i / 997) % 3 == 1 ? "\\\"" : "\\u00e9";
        if (i + strlen(e) < body + n)
            memcpy(t + i, e, strlen(e));
    }
    assert_true(same_as_jansson(t, k, JSON_REJECT_DUPLICATES));
    free(t);
}

/* Random JSON text: containers, repeated keys, every escape, UTF-8, numbers at and past their limits. */
static void gen_value(struct lgw_buf *b, int depth);

static void gen_string(struct lgw_buf *b)
{
    static const char *const pieces[] = {"a", "key", " ", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t",
                                         "\\u0041", "\\u00E9", "\\u20ac", "\\ud83d\\ude00", "\xc3\xa9", "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80", "\\u0000", "\\udc00", "\x01", "\xff"};
    size_t np = sizeof(pieces) / sizeof(pieces[0]) - (rnd() % 8 ? 4 : 0); /* the refused ones now and then */
    lgw_buf_puts(b, "\"");
    for (int i = (int)(rnd() % 6); i > 0; i--)
        lgw_buf_puts(b, pieces[rnd() % np]);
    lgw_buf_puts(b, "\"");
}

static void gen_number(struct lgw_buf *b)
{
    static const char *const fixed[] = {"0", "-0", "1", "-1", "9223372036854775807", "-9223372036854775808",
                                        "9223372036854775808", "1.5", "-0.0", "1e308", "1e309", "2e-400", "1E+2",
                                        "123456789.123456789e-3", "0.1", "5e-324"};
    if (rnd() % 2) {
        lgw_buf_puts(b, fixed[rnd() % (sizeof(fixed) / sizeof(fixed[0]))]);
        return;
    }
    lgw_buf_printf(b, "%lld", (long long)(int64_t)(rnd() >> (rnd() % 64)) * (rnd() % 2 ? 1 : -1));
    if (rnd() % 3 == 0)
        lgw_buf_printf(b, ".%u", (unsigned)(rnd() % 100000));
    if (rnd() % 4 == 0)
        lgw_buf_printf(b, "e%d", (int)(rnd() % 40) - 20);
}

static void gen_ws(struct lgw_buf *b)
{
    static const char *const ws[] = {"", "", "", " ", "\n", "\t ", "\r\n"};
    lgw_buf_puts(b, ws[rnd() % (sizeof(ws) / sizeof(ws[0]))]);
}

static void gen_value(struct lgw_buf *b, int depth)
{
    static const char *const keys[] = {"\"a\"", "\"b\"", "\"model\"", "\"\\u0061\"", "\"\"", "\"k\xc3\xa9y\""};
    switch (rnd() % (depth > 4 ? 3 : 5)) {
    case 0:
        gen_string(b);
        return;
    case 1:
        gen_number(b);
        return;
    case 2:
        lgw_buf_puts(b, rnd() % 3 == 0 ? "true" : rnd() % 2 ? "false" : "null");
        return;
    case 3:
        lgw_buf_puts(b, "[");
        for (int i = (int)(rnd() % 4); i > 0; i--) {
            gen_ws(b);
            gen_value(b, depth + 1);
            gen_ws(b);
            if (i > 1)
                lgw_buf_puts(b, ",");
        }
        lgw_buf_puts(b, "]");
        return;
    default:
        lgw_buf_puts(b, "{");
        for (int i = (int)(rnd() % 4); i > 0; i--) {
            gen_ws(b);
            if (rnd() % 4)
                lgw_buf_puts(b, keys[rnd() % (sizeof(keys) / sizeof(keys[0]))]); /* repeats likely */
            else
                gen_string(b);
            gen_ws(b);
            lgw_buf_puts(b, ":");
            gen_ws(b);
            gen_value(b, depth + 1);
            if (i > 1)
                lgw_buf_puts(b, ",");
        }
        lgw_buf_puts(b, "}");
    }
}

static void test_random_texts(void **state)
{
    (void)state;
    struct lgw_buf b;
    lgw_buf_init(&b, 0);
    int taken = 0;
    for (int i = 0; i < 30000; i++) {
        lgw_buf_reset(&b);
        gen_ws(&b);
        bool object = rnd() % 2;
        lgw_buf_puts(&b, object ? "{\"x\":" : "[");
        gen_value(&b, 0);
        lgw_buf_puts(&b, object ? "}" : "]");
        gen_ws(&b);
        if (i % 3 == 0 && b.len > 0) { /* damage: a byte changed, dropped or doubled */
            size_t at = (size_t)(rnd() % b.len);
            switch (rnd() % 3) {
            case 0: b.ptr[at] = (char)(rnd() % 256); break;
            case 1: memmove(b.ptr + at, b.ptr + at + 1, b.len - at - 1), b.len--; break;
            default:
                if (lgw_buf_append(&b, "", 0) == 0 && lgw_buf_reserve(&b, 1) == 0) {
                    memmove(b.ptr + at + 1, b.ptr + at, b.len - at);
                    b.len++;
                }
            }
        }
        bool t0 = same_as_jansson(b.ptr, b.len, 0);
        same_as_jansson(b.ptr, b.len, JSON_REJECT_DUPLICATES);
        taken += t0;
    }
    /* The generator must give both kinds in number, or the test proves little. */
    assert_true(taken > 5000 && taken < 28000);
    lgw_buf_cleanup(&b);
}

/* Flags other than JSON_REJECT_DUPLICATES go to jansson as they are. */
static void test_other_flags_are_jansson_s(void **state)
{
    (void)state;
    same_as_jansson("\"s\"", 3, JSON_DECODE_ANY);
    same_as_jansson("[\"\\u0000\"]", 10, JSON_ALLOW_NUL);
    same_as_jansson("[1]", 3, JSON_DECODE_INT_AS_REAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_cases),
        cmocka_unit_test(test_long_strings),
        cmocka_unit_test(test_random_texts),
        cmocka_unit_test(test_other_flags_are_jansson_s),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
