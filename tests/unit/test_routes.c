/* test_routes.c - the ingress's route table (ingress/routes.c): exact paths, a known path with another
 * method (405), pattern paths (/v1/models/{id}, /v1/messages/{any}) and what they matched, and which
 * dialect answers; the dashboard's routes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "ingress/routes.h"

static void test_exact(void **state)
{
    (void)state;
    const struct lgw_route *same, *r;
    const char *arg;
    r = lgw_route_find("POST", "/v1/chat/completions", &same, &arg);
    assert_non_null(r);
    assert_ptr_equal(r, same);
    assert_null(arg);
    assert_string_equal(r->path, "/v1/chat/completions");
    r = lgw_route_find("GET", "/v1/chat/completions", &same, &arg); /* 405 */
    assert_null(r);
    assert_non_null(same);
    r = lgw_route_find("GET", "/v2/nothing", &same, &arg); /* 404 */
    assert_null(r);
    assert_null(same);
    r = lgw_route_find("POST", "/v1/messages", &same, &arg);
    assert_ptr_equal(r->dialect, &lgw_dialect_anthropic);
}

static void test_patterns(void **state)
{
    (void)state;
    const struct lgw_route *same, *r;
    const char *arg;
    r = lgw_route_find("GET", "/v1/models/gpt-4o-mini", &same, &arg);
    assert_non_null(r);
    assert_string_equal(r->path, "/v1/models/{id}");
    assert_string_equal(arg, "gpt-4o-mini");
    r = lgw_route_find("GET", "/v1/models/openai/gpt-4o", &same, &arg); /* provider/model ids have a slash */
    assert_string_equal(arg, "openai/gpt-4o");
    r = lgw_route_find("DELETE", "/v1/models/gpt-4o", &same, &arg); /* 405, labelled by the pattern */
    assert_null(r);
    assert_string_equal(same->path, "/v1/models/{id}");
    r = lgw_route_find("GET", "/v1/models", &same, &arg); /* the list itself, not the pattern */
    assert_string_equal(r->path, "/v1/models");
    assert_null(arg);
    r = lgw_route_find("GET", "/v1/models/", &same, &arg); /* nothing after the prefix: no match */
    assert_null(r);

    /* Anthropic's own paths: count_tokens exactly; anything else under /v1/messages/ is its 404, any method */
    r = lgw_route_find("POST", "/v1/messages/count_tokens", &same, &arg);
    assert_string_equal(r->path, "/v1/messages/count_tokens");
    r = lgw_route_find("GET", "/v1/messages/count_tokens", &same, &arg); /* a known path: 405, not the 404 row */
    assert_null(r);
    assert_string_equal(same->path, "/v1/messages/count_tokens");
    assert_ptr_equal(same->dialect, &lgw_dialect_anthropic);
    r = lgw_route_find("DELETE", "/v1/messages/batches/x", &same, &arg);
    assert_non_null(r);
    assert_string_equal(r->path, "/v1/messages/{any}");
    assert_ptr_equal(r->dialect, &lgw_dialect_anthropic);
    assert_string_equal(arg, "batches/x");
}

/* The dashboard: GET and HEAD of / and /ui/<file>, public (the page carries no data; its calls carry the
 * key); another method is a 405. */
static void test_dashboard(void **state)
{
    (void)state;
    const struct lgw_route *same, *r;
    const char *arg;
    const char *methods[] = {"GET", "HEAD"};
    for (size_t i = 0; i < 2; i++) {
        r = lgw_route_find(methods[i], "/", &same, &arg);
        assert_non_null(r);
        assert_string_equal(r->path, "/");
        assert_false(r->auth);
        assert_false(r->body);
        r = lgw_route_find(methods[i], "/ui/app.js", &same, &arg);
        assert_non_null(r);
        assert_string_equal(r->path, "/ui/{name}");
        assert_string_equal(arg, "app.js");
        assert_false(r->auth);
    }
    r = lgw_route_find("POST", "/", &same, &arg);
    assert_null(r);
    assert_string_equal(same->path, "/");
    r = lgw_route_find("GET", "/ui/", &same, &arg); /* no name: no file */
    assert_null(r);
    r = lgw_route_find("GET", "/index.html", &same, &arg); /* only / and /ui/ are the page's */
    assert_null(r);
    assert_null(same);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact),
        cmocka_unit_test(test_patterns),
        cmocka_unit_test(test_dashboard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
