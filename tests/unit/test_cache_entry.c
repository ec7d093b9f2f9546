/* test_cache_entry.c - what the response cache stores for an answer: a whole body or a stream's chunks, with
 * the usage, read back exactly; bytes that are not an entry are refused, never trusted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cache/entry.h"

static void test_body_roundtrip(void **state)
{
    (void)state;
    json_t *body = json_loads("{\"id\":\"chatcmpl-1\",\"choices\":[{\"message\":{\"content\":\"hi \\u00e9\"}}]}", 0,
                              NULL);
    struct lgw_usage u = {.input_tokens = 10, .output_tokens = 3, .cached_input_tokens = 4};
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    assert_int_equal(lgw_cache_entry_encode(&u, body, NULL, &out), 0);
    struct lgw_cache_entry e;
    assert_int_equal(lgw_cache_entry_decode(out.ptr, out.len, &e), 0);
    assert_true(json_equal(e.body, body));
    assert_null(e.chunks);
    assert_int_equal(e.usage.input_tokens, 10);
    assert_int_equal(e.usage.output_tokens, 3);
    assert_int_equal(e.usage.cached_input_tokens, 4);
    lgw_cache_entry_cleanup(&e);
    lgw_cache_entry_cleanup(&e); /* twice is harmless */
    /* a cap too small: refused, nothing half-written is mistaken for an entry */
    struct lgw_buf small;
    lgw_buf_init(&small, 40);
    assert_int_not_equal(lgw_cache_entry_encode(&u, body, NULL, &small), 0);
    lgw_buf_cleanup(&small);
    lgw_buf_cleanup(&out);
    json_decref(body);
}

static void test_chunks_roundtrip(void **state)
{
    (void)state;
    const char *text = "{\"choices\":[{\"delta\":{\"content\":\"a\"}}]},{\"choices\":[],\"usage\":{\"x\":1}}";
    struct lgw_str chunks = {text, strlen(text)};
    struct lgw_usage u = {.input_tokens = 1, .output_tokens = 2};
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    assert_int_equal(lgw_cache_entry_encode(&u, NULL, &chunks, &out), 0);
    struct lgw_cache_entry e;
    assert_int_equal(lgw_cache_entry_decode(out.ptr, out.len, &e), 0);
    assert_null(e.body);
    assert_int_equal(json_array_size(e.chunks), 2);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(json_object_get(json_array_get(e.chunks, 0), "choices"), 0),
                                            "delta"),
                            "content")),
                        "a");
    lgw_cache_entry_cleanup(&e);
    lgw_buf_cleanup(&out);
}

static void test_refuses_what_is_not_an_entry(void **state)
{
    (void)state;
    const char *bad[] = {
        "", "not json", "[]", "{}", "{\"v\":2,\"body\":{}}", "{\"v\":1}", "{\"v\":1,\"body\":[]}",
        "{\"v\":1,\"chunks\":{}}", "{\"v\":1,\"chunks\":[1]}", "{\"v\":\"1\",\"body\":{}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct lgw_cache_entry e;
        if (lgw_cache_entry_decode(bad[i], strlen(bad[i]), &e) == 0)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_null(e.body);
        assert_null(e.chunks);
    }
    /* negative or odd usage is read as 0, never as a negative count */
    const char *odd = "{\"v\":1,\"usage\":{\"input_tokens\":-5,\"output_tokens\":\"x\"},\"body\":{}}";
    struct lgw_cache_entry e;
    assert_int_equal(lgw_cache_entry_decode(odd, strlen(odd), &e), 0);
    assert_int_equal(e.usage.input_tokens, 0);
    assert_int_equal(e.usage.output_tokens, 0);
    lgw_cache_entry_cleanup(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_roundtrip),
        cmocka_unit_test(test_chunks_roundtrip),
        cmocka_unit_test(test_refuses_what_is_not_an_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
