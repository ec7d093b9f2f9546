/* test_sse_parse.c - SSE parsing: events split across reads, CRLF, comments, multi-line data, caps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/errors.h"
#include "providers/http.h"
#include "providers/sse_parse.h"

struct seen {
    char events[8][64];
    char data[8][128];
    int n;
};

static int record(void *opaque, const char *event, const char *data, size_t len)
{
    struct seen *s = opaque;
    if (s->n < 8) {
        strcpy(s->events[s->n], event);
        memcpy(s->data[s->n], data, len);
        s->data[s->n][len] = '\0';
        s->n++;
    }
    return 0;
}

static void test_split_reads(void **state)
{
    (void)state;
    const char *stream = "data: {\"a\":1}\n\n: keep-alive\n\nevent: message_delta\r\ndata: x\r\ndata: y\r\n\r\ndata: [DONE]\n\n";
    /* every split point gives the same events */
    for (size_t cut = 0; cut <= strlen(stream); cut++) {
        struct seen s = {0};
        struct lgw_sse_parser p;
        lgw_sse_parser_init(&p, 1024);
        assert_int_equal(lgw_sse_parser_feed(&p, stream, cut, record, &s), 0);
        assert_int_equal(lgw_sse_parser_feed(&p, stream + cut, strlen(stream) - cut, record, &s), 0);
        lgw_sse_parser_cleanup(&p);
        assert_int_equal(s.n, 3);
        assert_string_equal(s.data[0], "{\"a\":1}");
        assert_string_equal(s.events[0], "");
        assert_string_equal(s.events[1], "message_delta");
        assert_string_equal(s.data[1], "x\ny");
        assert_string_equal(s.data[2], "[DONE]");
    }
}

static void test_cap(void **state)
{
    (void)state;
    struct seen s = {0};
    struct lgw_sse_parser p;
    lgw_sse_parser_init(&p, 16);
    char big[64];
    memset(big, 'x', sizeof(big));
    assert_int_equal(lgw_sse_parser_feed(&p, big, sizeof(big), record, &s), LGW_ERR(TOO_LARGE));
    lgw_sse_parser_cleanup(&p);
}

static int stop_cb(void *opaque, const char *event, const char *data, size_t len)
{
    (void)opaque;
    (void)event;
    (void)data;
    (void)len;
    return LGW_ERR(PROVIDER);
}

static void test_callback_stops(void **state)
{
    (void)state;
    struct lgw_sse_parser p;
    lgw_sse_parser_init(&p, 1024);
    assert_int_equal(lgw_sse_parser_feed(&p, "data: a\n\ndata: b\n\n", 18, stop_cb, NULL), LGW_ERR(PROVIDER));
    lgw_sse_parser_cleanup(&p);
}

static void test_url_policy_and_backoff(void **state)
{
    (void)state;
    assert_true(lgw_http_url_allowed("https://api.openai.com/v1"));
    assert_true(lgw_http_url_allowed("http://127.0.0.1:8000/v1"));
    assert_true(lgw_http_url_allowed("http://localhost:9/v1"));
    assert_true(lgw_http_url_allowed("http://[::1]:9/v1"));
    assert_false(lgw_http_url_allowed("http://api.openai.com/v1"));
    assert_false(lgw_http_url_allowed("http://localhost.evil.com/v1"));
    assert_false(lgw_http_url_allowed("ftp://127.0.0.1/"));
    assert_false(lgw_http_url_allowed("https://"));
    assert_int_equal(lgw_http_backoff_ms(3, 1500), 1500); /* Retry-After wins */
    for (int attempt = 0; attempt < 10; attempt++) {
        int64_t cap = 250LL << (attempt < 5 ? attempt : 5);
        if (cap > 8000)
            cap = 8000;
        for (int i = 0; i < 50; i++) {
            int64_t d = lgw_http_backoff_ms(attempt, -1);
            assert_true(d >= 0 && d < cap);
        }
    }
    /* the table's predicate by status, unless the provider said x-should-retry */
    static const long again[] = {408, 409, 429, 500, 502, 503, 504, 529};
    static const long never[] = {400, 401, 403, 404, 413, 422};
    struct lgw_http_resp resp;
    lgw_http_resp_init(&resp, 0);
    for (size_t i = 0; i < sizeof(again) / sizeof(again[0]); i++) {
        resp.status = again[i];
        assert_true(lgw_http_retryable(&resp));
    }
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        resp.status = never[i];
        assert_false(lgw_http_retryable(&resp));
    }
    resp.status = 429;
    resp.should_retry = 0; /* OpenAI's insufficient_quota */
    assert_false(lgw_http_retryable(&resp));
    resp.status = 400;
    resp.should_retry = 1;
    assert_true(lgw_http_retryable(&resp));
    lgw_http_resp_cleanup(&resp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_reads),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_url_policy_and_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
