/* test_json_write.c - lgw_json_write (common/json_write.c), the compact writer behind lgw_buf_dump_json, held to
 * jansson's json_dumpb: byte for byte where their escapes agree, as the same JSON everywhere else, on fixed
 * cases and on random trees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/errors.h"
#include "common/json_write.h"
#include "tests/support/rng.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint64_t rnd(void)
{
    return lgw_test_rng_next(&rng_state);
}

/* Writes v both ways; exact: the texts must be the same bytes, else only the same JSON. */
static void same_as_jansson(const json_t *v, bool exact)
{
    struct lgw_buf b;
    lgw_buf_init(&b, 0);
    assert_int_equal(lgw_buf_append(&b, "<", 1), 0); /* the writer appends */
    assert_int_equal(lgw_json_write(&b, v), 0);
    size_t n = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
    char *want = malloc(n + 1);
    assert_non_null(want);
    assert_int_equal(json_dumpb(v, want, n, JSON_COMPACT | JSON_ENCODE_ANY), n);
    want[n] = '\0';
    if (exact && (b.len - 1 != n || memcmp(b.ptr + 1, want, n) != 0))
        fail_msg("written:\n%s\njansson:\n%s", b.ptr + 1, want);
    json_error_t err;
    json_t *back = json_loadb(b.ptr + 1, b.len - 1, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!back || !json_equal(back, v))
        fail_msg("written text does not read back as the value (%s):\n%s\njansson:\n%s", back ? "differs" : err.text,
                 b.ptr + 1, want);
    json_decref(back);
    free(want);
    lgw_buf_cleanup(&b);
}

static void test_scalars_and_reals_as_jansson_writes_them(void **state)
{
    (void)state;
    static const double reals[] = {0.0, -0.0, 1.0, -1.0, 0.1, 0.7, 1.5, 100.0, 1e15, 1e16, 1e17, 1e21, 1e22,
                                   1e300, -1e300, 1e-7, 1e-5, 1e-300, 5e-324, 2.2250738585072014e-308, DBL_MAX,
                                   -DBL_MAX, 123456789012345678.0, 0.30000000000000004, 3.141592653589793};
    for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++) {
        json_t *r = json_real(reals[i]);
        same_as_jansson(r, true);
        json_decref(r);
    }
    for (int i = 0; i < 20000; i++) { /* any finite double, from its bits */
        uint64_t bits = rnd();
        double d;
        memcpy(&d, &bits, sizeof(d));
        if (!isfinite(d))
            continue;
        json_t *r = json_real(d);
        same_as_jansson(r, true);
        json_decref(r);
    }
    static const json_int_t ints[] = {0, -1, 1, INT64_MAX, INT64_MIN, 1000000, -999};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        json_t *v = json_integer(ints[i]);
        same_as_jansson(v, true);
        json_decref(v);
    }
    same_as_jansson(json_true(), true);
    same_as_jansson(json_false(), true);
    same_as_jansson(json_null(), true);
}

static void test_strings_and_keys(void **state)
{
    (void)state;
    /* Every byte jansson takes in a string, NUL included: the same JSON (the escapes differ for \b, \f and the
     * other controls). */
    char all[256];
    size_t n = 0;
    for (int c = 0; c < 0x80; c++)
        all[n++] = (char)c;
    json_t *o = json_object();
    json_object_set_new(o, "all", json_stringn(all, n));
    json_object_set_new(o, "utf8", json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf"));
    json_object_set_new(o, "quote\"back\\slash/\n\r\t", json_string(""));
    same_as_jansson(o, false);
    /* A key with a NUL (json_object_setn): written as jansson writes it, which jansson cannot read back. */
    json_object_setn_new(o, "k\0ey", 4, json_true());
    struct lgw_buf b;
    lgw_buf_init(&b, 0);
    assert_int_equal(lgw_json_write(&b, o), 0);
    assert_non_null(strstr(b.ptr, ",\"k\\u0000ey\":true}"));
    lgw_buf_cleanup(&b);
    json_decref(o);
    /* Without \b, \f and other controls the bytes are jansson's. */
    o = json_pack("{s:s, s:s, s:[s, s]}", "a", "x \"y\" \\ / \n\r\t \x7f", "b", "caf\xc3\xa9", "arr", "",
                  "\xe2\x82\xac");
    same_as_jansson(o, true);
    json_decref(o);
}

/* The string writer skips eight bytes at a time while none needs escaping: every special byte at every position
 * of strings around that width, among ASCII and among multi-byte UTF-8 (bytes from 0x80, never escaped). */
static void test_escapes_at_every_position(void **state)
{
    (void)state;
    static const char specials[] = {'"', '\\', '\n', '\x01', '\x1f', ' ', '\x7f'};
    static const char *const fills[] = {"a", "\xc3\xa9", "\xe2\x82\xac"};
    char s[128];
    for (size_t f = 0; f < sizeof(fills) / sizeof(fills[0]); f++) {
        for (size_t units = 1; units <= 20; units++) {
            size_t n = 0;
            for (size_t u = 0; u < units; u++) {
                memcpy(s + n, fills[f], strlen(fills[f]));
                n += strlen(fills[f]);
            }
            for (size_t pos = 0; pos <= n; pos++) {
                for (size_t k = 0; k < sizeof(specials); k++) {
                    char t[130];
                    memcpy(t, s, pos);
                    t[pos] = specials[k]; /* inserted before a fill unit or inside one: then not UTF-8 */
                    memcpy(t + pos + 1, s + pos, n - pos);
                    json_t *v = json_stringn(t, n + 1);
                    if (!v)
                        continue; /* it split a multi-byte character */
                    same_as_jansson(v, specials[k] != '\x01' && specials[k] != '\x1f');
                    json_decref(v);
                }
            }
        }
    }
}

static void test_limits(void **state)
{
    (void)state;
    /* Nesting at the limit is written, one deeper is refused, and the buffer is left as it was. */
    json_t *deep = json_array(), *in = deep;
    for (int i = 1; i < LGW_JSON_WRITE_DEPTH_MAX; i++) {
        json_t *a = json_array();
        json_array_append_new(in, a);
        in = a;
    }
    struct lgw_buf b;
    lgw_buf_init(&b, 0);
    assert_int_equal(lgw_json_write(&b, deep), 0);
    assert_int_equal(b.len, 2 * LGW_JSON_WRITE_DEPTH_MAX);
    json_array_append_new(in, json_integer(1));
    lgw_buf_reset(&b);
    assert_int_equal(lgw_buf_append(&b, "x", 1), 0);
    assert_int_equal(lgw_json_write(&b, deep), LGW_ERR(INTERNAL));
    assert_string_equal(b.ptr, "x");
    json_decref(deep);
    /* A tree that holds itself, which jansson refuses too. */
    json_t *arr = json_array(), *obj = json_object();
    json_object_set(obj, "a", arr);
    json_array_append(arr, obj);
    assert_int_equal(lgw_json_write(&b, arr), LGW_ERR(INTERNAL));
    assert_string_equal(b.ptr, "x");
    json_array_clear(arr);
    json_decref(arr);
    json_decref(obj);
    assert_int_equal(lgw_json_write(&b, NULL), LGW_ERR(INTERNAL));
    lgw_buf_cleanup(&b);
    /* At a buffer's cap: refused, the buffer as it was; one byte more and it fits. */
    json_t *v = json_pack("{s:s, s:[i, f]}", "content", "hello", "n", 1, 0.5);
    struct lgw_buf full;
    lgw_buf_init(&full, 0);
    assert_int_equal(lgw_json_write(&full, v), 0);
    for (size_t max = 1; max <= full.len + 2; max++) {
        struct lgw_buf c;
        lgw_buf_init(&c, max);
        int rc = lgw_json_write(&c, v);
        if (rc == 0)
            assert_memory_equal(c.ptr, full.ptr, full.len);
        else
            assert_true(rc == LGW_ERR(TOO_LARGE) && c.len == 0);
        assert_int_equal(rc == 0, max >= full.len); /* the cap counts the text, not its NUL */
        lgw_buf_cleanup(&c);
    }
    lgw_buf_cleanup(&full);
    json_decref(v);
}

/* lgw_buf_dump_json hands compact dumps to the writer, and the rest to jansson. */
static void test_the_dump_takes_the_writer_for_compact_only(void **state)
{
    (void)state;
    json_t *v = json_pack("{s:s, s:f}", "b", "\b", "a", 0.5);
    struct lgw_buf b;
    lgw_buf_init(&b, 0);
    assert_int_equal(lgw_buf_dump_json(&b, v, JSON_COMPACT), 0);
    assert_string_equal(b.ptr, "{\"b\":\"\\u0008\",\"a\":0.5}"); /* the writer's escape */
    lgw_buf_reset(&b);
    assert_int_equal(lgw_buf_dump_json(&b, v, JSON_COMPACT | JSON_SORT_KEYS), 0);
    assert_string_equal(b.ptr, "{\"a\":0.5,\"b\":\"\\b\"}"); /* jansson's, keys sorted */
    lgw_buf_reset(&b);
    json_t *s = json_string("x");
    assert_int_equal(lgw_buf_dump_json(&b, s, JSON_COMPACT), LGW_ERR(INTERNAL)); /* a scalar needs ENCODE_ANY */
    assert_int_equal(lgw_buf_dump_json(&b, s, JSON_COMPACT | JSON_ENCODE_ANY), 0);
    assert_string_equal(b.ptr, "\"x\"");
    json_decref(s);
    json_decref(v);
    lgw_buf_cleanup(&b);
}

static json_t *random_tree(int depth, bool plain)
{
    static const char *const pieces[] = {"a", "Z", " ", "\"", "\\", "/", "\n", "\r", "\t", "\x7f", "\xc3\xa9",
                                         "\xf0\x9f\x98\x80", "\b", "\f", "\x01", "\x1f"};
    size_t npieces = sizeof(pieces) / sizeof(pieces[0]) - (plain ? 4 : 0);
    char s[64];
    size_t n = 0;
    for (size_t want = rnd() % 12; n < want;) {
        const char *p = pieces[rnd() % npieces];
        memcpy(s + n, p, strlen(p));
        n += strlen(p);
    }
    switch (rnd() % (depth > 4 ? 5 : 7)) {
    case 0:
        return json_integer((json_int_t)rnd());
    case 1: {
        uint64_t bits = rnd();
        double d;
        memcpy(&d, &bits, sizeof(d));
        return json_real(isfinite(d) ? d : (double)(int64_t)bits / 1e3);
    }
    case 2:
        return rnd() & 1 ? json_boolean(rnd() & 1) : json_null();
    case 3:
    case 4:
        return json_stringn(s, n);
    case 5: {
        json_t *a = json_array();
        for (int i = (int)(rnd() % 5); i > 0; i--)
            json_array_append_new(a, random_tree(depth + 1, plain));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (int i = (int)(rnd() % 5); i > 0; i--) {
            s[n] = (char)('a' + rnd() % 26); /* a different key most times */
            json_object_setn_new(o, s, n + 1, random_tree(depth + 1, plain));
        }
        return o;
    }
    }
}

static void test_random_trees(void **state)
{
    (void)state;
    for (int i = 0; i < 20000; i++) {
        bool plain = i % 2 == 0;
        json_t *v = random_tree(0, plain);
        same_as_jansson(v, plain);
        json_decref(v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars_and_reals_as_jansson_writes_them),
        cmocka_unit_test(test_strings_and_keys),
        cmocka_unit_test(test_escapes_at_every_position),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_the_dump_takes_the_writer_for_compact_only),
        cmocka_unit_test(test_random_trees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
