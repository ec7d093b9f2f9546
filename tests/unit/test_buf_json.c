/* test_buf_json.c - JSON written straight into a buffer (lgw_buf_dump_json): the same text as json_dumps, the
 * caller's reference kept, the cap honoured, and a failed dump leaving the buffer as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/errors.h"
#include "common/json_write.h"

static void test_same_text_as_dumps(void **state)
{
    (void)state;
    json_t *o = json_pack("{s:s, s:I, s:b, s:[f, n], s:{s:s}}", "id", "req \"1\"\n\u00e9", "n", (json_int_t)-42,
                          "ok", 1, "list", 1.5, "nested", "k", "v");
    assert_non_null(o);
    char *want = json_dumps(o, JSON_COMPACT);
    struct lgw_buf b;
    lgw_buf_init(&b, 0);
    assert_int_equal(lgw_buf_puts(&b, "x="), 0);
    assert_int_equal(lgw_buf_dump_json(&b, o, JSON_COMPACT), 0);
    assert_int_equal(b.len, 2 + strlen(want));
    assert_string_equal(b.ptr + 2, want); /* appended after what was there, NUL-terminated */
    assert_int_equal(o->refcount, 1);     /* the caller's reference is kept */
    /* flags pass through: sorted keys */
    lgw_buf_reset(&b);
    json_t *s = json_pack("{s:i, s:i}", "b", 2, "a", 1);
    assert_int_equal(lgw_buf_dump_json(&b, s, JSON_COMPACT | JSON_SORT_KEYS), 0);
    assert_string_equal(b.ptr, "{\"a\":1,\"b\":2}");
    json_decref(s);
    free(want);
    json_decref(o);
    lgw_buf_cleanup(&b);
}

static void test_failures_leave_the_buffer(void **state)
{
    (void)state;
    json_t *o = json_pack("{s:s}", "text", "a value long enough to pass the cap");
    struct lgw_buf b;
    lgw_buf_init(&b, 24);
    assert_int_equal(lgw_buf_puts(&b, "head"), 0);
    assert_int_equal(lgw_buf_dump_json(&b, o, JSON_COMPACT), LGW_ERR(TOO_LARGE));
    assert_int_equal(b.len, 4);
    assert_string_equal(b.ptr, "head");
    /* a bare scalar without JSON_ENCODE_ANY: jansson refuses it, and that is not the cap */
    json_t *n = json_integer(7);
    assert_int_equal(lgw_buf_dump_json(&b, n, JSON_COMPACT), LGW_ERR(INTERNAL));
    assert_string_equal(b.ptr, "head");
    assert_int_equal(lgw_buf_dump_json(&b, n, JSON_COMPACT | JSON_ENCODE_ANY), 0);
    assert_string_equal(b.ptr, "head7");
    assert_int_equal(lgw_buf_dump_json(&b, NULL, JSON_COMPACT), LGW_ERR(INTERNAL));
    assert_string_equal(b.ptr, "head7");
    /* truncate only cuts */
    lgw_buf_truncate(&b, 9);
    assert_string_equal(b.ptr, "head7");
    lgw_buf_truncate(&b, 2);
    assert_int_equal(b.len, 2);
    assert_string_equal(b.ptr, "he");
    json_decref(n);
    json_decref(o);
    lgw_buf_cleanup(&b);
}

static void test_append_takes_the_reference(void **state)
{
    (void)state;
    struct lgw_buf b;
    lgw_buf_init(&b, 0);
    json_t *o = json_pack("{s:i}", "a", 1);
    json_incref(o); /* one for the call to take, one to check it was taken */
    assert_int_equal(lgw_buf_append_json(&b, o, JSON_COMPACT), 0);
    assert_int_equal(o->refcount, 1);
    assert_string_equal(b.ptr, "{\"a\":1}");
    json_decref(o);
    assert_int_equal(lgw_buf_append_json(&b, NULL, JSON_COMPACT), LGW_ERR(INTERNAL)); /* a json_pack that failed */
    lgw_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_text_as_dumps),
        cmocka_unit_test(test_failures_leave_the_buffer),
        cmocka_unit_test(test_append_takes_the_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
