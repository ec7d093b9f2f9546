/* test_dialect.c - the client dialects' whole answers (ingress/dialect_*.c): the gateway's own errors in
 * OpenAI's shape with the field at fault as "param", and in Anthropic's shape (which has no such field);
 * Anthropic message ids; an answer given as the worker's text. Streams are test_sse.c's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/errors.h"
#include "ingress/dialect.h"
#include "ingress/request.h"

static void assert_json(const char *want, const char *got, size_t got_len)
{
    json_t *w = json_loads(want, 0, NULL), *g = json_loadb(got, got_len, 0, NULL);
    if (!w)
        fail_msg("expected text is not JSON: %s", want);
    bool same = g && json_equal(w, g);
    json_decref(w);
    json_decref(g);
    if (!same)
        fail_msg("JSON differs\n--- want\n%s\n--- got\n%.*s", want, (int)got_len, got);
}

/* The answer a request completed with a gateway error gets, in dialect d. */
static void answer_error(const struct lgw_dialect *d, int rc, const char *message, const char *param, int status,
                         const char *want)
{
    struct lgw_req *req = lgw_req_new(NULL, NULL, 0);
    req->dialect = d;
    lgw_req_complete_error_param(req, rc, message, param);
    assert_int_equal(req->status, status);
    assert_json(want, req->resp, req->resp_len);
    lgw_req_unref(req);
}

static void test_openai_errors_name_the_param(void **state)
{
    (void)state;
    answer_error(&lgw_dialect_openai, LGW_ERR(INVALID), "Invalid 'max_tokens': expected a positive integer.",
                 "max_tokens", 400,
                 "{\"error\":{\"message\":\"Invalid 'max_tokens': expected a positive integer.\",\"type\":"
                 "\"invalid_request_error\",\"param\":\"max_tokens\",\"code\":\"invalid_request\"}}");
    answer_error(&lgw_dialect_openai, LGW_ERR(INVALID), "Invalid 'messages[2].role'.", "messages[2].role", 400,
                 "{\"error\":{\"message\":\"Invalid 'messages[2].role'.\",\"type\":\"invalid_request_error\","
                 "\"param\":\"messages[2].role\",\"code\":\"invalid_request\"}}");
    /* no field at fault: null, as OpenAI sends it */
    answer_error(&lgw_dialect_openai, LGW_ERR(BAD_JSON), "not JSON", NULL, 400,
                 "{\"error\":{\"message\":\"not JSON\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":"
                 "\"invalid_json\"}}");
    answer_error(&lgw_dialect_openai, LGW_ERR(TOO_LARGE), NULL, "", 413,
                 "{\"error\":{\"message\":\"request body is too large\",\"type\":\"invalid_request_error\","
                 "\"param\":null,\"code\":\"request_too_large\"}}");
}

static void test_anthropic_errors_keep_their_shape(void **state)
{
    (void)state;
    answer_error(&lgw_dialect_anthropic, LGW_ERR(INVALID), "max_tokens: Field required", "max_tokens", 400,
                 "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":"
                 "\"max_tokens: Field required\"}}");
    answer_error(&lgw_dialect_anthropic, LGW_ERR(NOT_FOUND), NULL, NULL, 404,
                 "{\"type\":\"error\",\"error\":{\"type\":\"not_found_error\",\"message\":\"no such route\"}}");
}

/* A whole answer in Anthropic's shape has an Anthropic message id: msg_ and the chat completion's id without
 * its chatcmpl- prefix (the stream's message_start makes the same one), or a provider's own msg_ id. */
static void test_anthropic_message_ids(void **state)
{
    (void)state;
    static const struct {
        const char *id, *want;
    } cases[] = {
        {"chatcmpl-6f1c2d3e-0a1b-4c5d-8e9f-0a1b2c3d4e5f", "msg_6f1c2d3e0a1b4c5d8e9f0a1b2c3d4e5f"},
        {"msg_01XFDUDYJgAACzvnptvVoYEL", "msg_01XFDUDYJgAACzvnptvVoYEL"},
        {"gen-abc_123", "msg_genabc123"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *answer = json_pack("{s:s, s:s, s:[{s:i, s:{s:s, s:s}, s:s}], s:{s:i, s:i}}", "id", cases[i].id,
                                   "model", "gpt-4o-mini", "choices", "index", 0, "message", "role", "assistant",
                                   "content", "hi", "finish_reason", "stop", "usage", "prompt_tokens", 9,
                                   "completion_tokens", 1);
        struct lgw_buf out;
        lgw_buf_init(&out, 0);
        assert_int_equal(lgw_dialect_anthropic.message(answer, &out), 0);
        json_t *m = json_loadb(out.ptr, out.len, 0, NULL);
        assert_non_null(m);
        assert_string_equal(json_string_value(json_object_get(m, "id")), cases[i].want);
        assert_string_equal(json_string_value(json_object_get(m, "type")), "message");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "usage"), "input_tokens")), 9);
        json_decref(m);
        json_decref(answer);
        lgw_buf_cleanup(&out);
    }
}

/* A 4xx Anthropic has no type of its own for (405 on /v1/messages, 431) is an invalid_request_error. */
static void test_anthropic_4xx_types(void **state)
{
    (void)state;
    answer_error(&lgw_dialect_anthropic, LGW_ERR(METHOD), NULL, NULL, 405,
                 "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":"
                 "\"method not allowed\"}}");
    answer_error(&lgw_dialect_anthropic, LGW_ERR(HEADERS_TOO_LARGE), NULL, NULL, 431,
                 "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":"
                 "\"the request's headers are too large\"}}");
}

/* A worker's 200 answer given as its text (the ingress's reply path, lgw_reply_decode_text): the OpenAI dialect
 * answers those very bytes; Anthropic's reads the text and answers its own shape; a text it cannot read is the
 * gateway's 502, not a crash. */
static void test_answer_from_text(void **state)
{
    (void)state;
    const char *text = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"gpt-4o-mini\","
                       "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                       "\"content\":\"h\\u00e9 \\\"x\\\"\"},"
                       "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1}}";
    struct lgw_req *req = lgw_req_new(NULL, NULL, 0);
    lgw_req_complete_reply_text(req, text, strlen(text));
    assert_int_equal(req->status, 200);
    assert_int_equal(req->resp_len, strlen(text));
    assert_memory_equal(req->resp, text, strlen(text)); /* as it came: an escape stays as the worker wrote it */
    lgw_req_unref(req);

    req = lgw_req_new(NULL, NULL, 0);
    req->dialect = &lgw_dialect_anthropic;
    lgw_req_complete_reply_text(req, text, strlen(text));
    assert_int_equal(req->status, 200);
    json_t *m = json_loadb(req->resp, req->resp_len, 0, NULL);
    assert_non_null(m);
    assert_string_equal(json_string_value(json_object_get(m, "type")), "message");
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(m, "content"), 0), "text")),
                        "h\u00e9 \"x\"");
    json_decref(m);
    lgw_req_unref(req);

    req = lgw_req_new(NULL, NULL, 0);
    req->dialect = &lgw_dialect_anthropic;
    lgw_req_complete_reply_text(req, "{\"a\":1,\"a\":2}", 13); /* a repeated key: jansson's reader refuses it */
    assert_int_equal(req->status, 502);
    lgw_req_unref(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_errors_name_the_param),
        cmocka_unit_test(test_anthropic_errors_keep_their_shape),
        cmocka_unit_test(test_anthropic_message_ids),
        cmocka_unit_test(test_anthropic_4xx_types),
        cmocka_unit_test(test_answer_from_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
