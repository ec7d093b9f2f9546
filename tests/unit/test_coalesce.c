/* test_coalesce.c - workers/coalesce.c: which chunks wait and which go at once, the cap, one flush armed per
 * batch, and a reader that does not take batched chunks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "workers/coalesce.h"

static json_t *chunk(int n)
{
    return json_pack("{s:i}", "n", n);
}

/* Holds c (the test's reference is dropped either way); returns what hold said. */
static bool hold(struct lgw_coalesce *co, int n)
{
    json_t *c = chunk(n);
    bool held = lgw_coalesce_hold(co, c);
    json_decref(c);
    return held;
}

static void test_first_goes_at_once_then_held_in_order(void **state)
{
    (void)state;
    struct lgw_coalesce co;
    lgw_coalesce_init(&co, 0, true);
    assert_false(hold(&co, 0)); /* the first chunk: time to first token */
    assert_null(lgw_coalesce_take(&co));
    assert_false(lgw_coalesce_arm(&co)); /* nothing waits: nothing to schedule */
    assert_true(hold(&co, 1));
    assert_true(lgw_coalesce_arm(&co));
    assert_true(hold(&co, 2));
    assert_false(lgw_coalesce_arm(&co)); /* one flush per batch */
    assert_false(lgw_coalesce_full(&co));
    assert_int_equal(lgw_coalesce_window_ms(&co), 0);
    json_t *got = lgw_coalesce_take(&co);
    assert_int_equal(json_array_size(got), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(got, 0), "n")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(got, 1), "n")), 2);
    json_decref(got);
    assert_true(hold(&co, 3)); /* after a flush the next batch arms again */
    assert_true(lgw_coalesce_arm(&co));
    lgw_coalesce_cleanup(&co);
    assert_null(lgw_coalesce_take(&co));
}

static void test_cap(void **state)
{
    (void)state;
    struct lgw_coalesce co;
    lgw_coalesce_init(&co, 20, true);
    assert_int_equal(lgw_coalesce_window_ms(&co), 20);
    assert_false(hold(&co, 0));
    for (int i = 1; i < LGW_COALESCE_MAX_CHUNKS; i++) {
        assert_true(hold(&co, i));
        assert_false(lgw_coalesce_full(&co));
    }
    assert_true(hold(&co, LGW_COALESCE_MAX_CHUNKS));
    assert_true(lgw_coalesce_full(&co));
    json_t *got = lgw_coalesce_take(&co);
    assert_int_equal(json_array_size(got), LGW_COALESCE_MAX_CHUNKS);
    json_decref(got);
    assert_false(lgw_coalesce_full(&co));
    lgw_coalesce_cleanup(&co);
}

/* -1, or a job whose writer did not say it reads more_chunks: every chunk goes alone. */
static void test_off(void **state)
{
    (void)state;
    struct lgw_coalesce co;
    lgw_coalesce_init(&co, -1, true);
    for (int i = 0; i < 3; i++)
        assert_false(hold(&co, i));
    lgw_coalesce_init(&co, 50, false);
    for (int i = 0; i < 3; i++)
        assert_false(hold(&co, i));
    assert_null(lgw_coalesce_take(&co));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_goes_at_once_then_held_in_order),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
