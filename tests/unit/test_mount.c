/* test_mount.c - the ingress's mount table: a mount serves its prefix for its method (another method is a
 * 405 through same_path, another path is nobody's), with the flags of its mount (a body under its own cap
 * when it has body_max); no mounts, no matches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ingress/mount.h"

static void handle_cb(void *opaque, struct lgw_http_call *call)
{
    (void)opaque;
    (void)call;
}

static void test_find(void **state)
{
    (void)state;
    const struct lgw_http_mount mounts[] = {
        {.method = "GET", .prefix = "/v1/analytics/", .auth = true, .admin = true, .handle = handle_cb},
        {.method = "POST", .prefix = "/v1/batches", .auth = true, .admin = false, .handle = handle_cb},
        {.method = "POST", .prefix = "/v1/files", .auth = true, .body_max = 1000, .handle = handle_cb},
    };
    struct lgw_mounts *ms = lgw_mounts_new(mounts, 3);
    const struct lgw_route *same = NULL, *r;
    r = lgw_mounts_find(ms, "GET", "/v1/analytics/summary", &same);
    assert_non_null(r);
    assert_ptr_equal(r, same);
    assert_string_equal(r->path, "/v1/analytics/");
    assert_true(r->auth && r->admin && !r->body);
    same = NULL;
    assert_null(lgw_mounts_find(ms, "POST", "/v1/analytics/summary", &same)); /* 405 */
    assert_non_null(same);
    same = NULL;
    assert_null(lgw_mounts_find(ms, "GET", "/v1/analytic", &same)); /* 404 */
    assert_null(same);
    r = lgw_mounts_find(ms, "POST", "/v1/batches/b1", &same);
    assert_non_null(r);
    assert_false(r->admin);
    assert_false(r->body); /* no body_max: the ingress reads no body */
    assert_int_equal(r->body_max, 0);
    r = lgw_mounts_find(ms, "POST", "/v1/files", &same);
    assert_non_null(r);
    assert_true(r->body); /* read, under the mount's own cap rather than max_body_bytes */
    assert_int_equal(r->body_max, 1000);
    same = NULL;
    assert_null(lgw_mounts_find(ms, "GET", "/v1/files/file-1", &same)); /* 405: only POST is mounted */
    assert_non_null(same);
    lgw_mounts_free(ms);
    same = NULL;
    assert_null(lgw_mounts_new(NULL, 0));
    assert_null(lgw_mounts_find(NULL, "GET", "/v1/analytics/summary", &same));
    assert_null(same);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_find)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
