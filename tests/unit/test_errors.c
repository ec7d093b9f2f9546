/* test_errors.c - the error table: status to row, code lookup, x-should-retry, and the one error builder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "common/errors.h"
#include "common/http_error.h"

static void test_from_status(void **state)
{
    (void)state;
    /* the first row of each status is the canonical one */
    assert_int_equal(lgw_err_from_status(200), LGW_OK);
    assert_int_equal(lgw_err_from_status(400), LGW_ERR(INVALID));
    assert_int_equal(lgw_err_from_status(401), LGW_ERR(UNAUTHORIZED));
    assert_int_equal(lgw_err_from_status(403), LGW_ERR(FORBIDDEN));
    assert_int_equal(lgw_err_from_status(404), LGW_ERR(NOT_FOUND));
    assert_int_equal(lgw_err_from_status(408), LGW_ERR(REQUEST_TIMEOUT));
    assert_int_equal(lgw_err_from_status(409), LGW_ERR(CONFLICT));
    assert_int_equal(lgw_err_from_status(422), LGW_ERR(UNPROCESSABLE));
    assert_int_equal(lgw_err_from_status(429), LGW_ERR(RATE_LIMITED));
    assert_int_equal(lgw_err_from_status(500), LGW_ERR(SERVER_ERROR));
    assert_int_equal(lgw_err_from_status(502), LGW_ERR(PROVIDER));
    assert_int_equal(lgw_err_from_status(503), LGW_ERR(UNAVAILABLE));
    assert_int_equal(lgw_err_from_status(504), LGW_ERR(TIMEOUT));
    assert_int_equal(lgw_err_from_status(418), LGW_ERR(INVALID));
    assert_int_equal(lgw_err_from_status(529), LGW_ERR(SERVER_ERROR));
    assert_int_equal(lgw_err_from_status(302), LGW_ERR(INTERNAL));
    /* every row maps back to a row of its own status */
#define X(name, status, type, code, retriable, msg)                                                            \
    if (status != 200)                                                                                         \
        assert_int_equal(lgw_err_status(lgw_err_from_status(status)), status);
    LGW_ERROR_TABLE(X)
#undef X
}

static void test_find(void **state)
{
    (void)state;
    assert_int_equal(lgw_err_find(429, "insufficient_quota"), LGW_ERR(QUOTA));
    assert_int_equal(lgw_err_find(429, "rate_limit_exceeded"), LGW_ERR(RATE_LIMITED));
    assert_int_equal(lgw_err_find(400, "context_length_exceeded"), LGW_ERR(CONTEXT_LENGTH));
    assert_int_equal(lgw_err_find(500, "insufficient_quota"), LGW_ERR(SERVER_ERROR)); /* status must match */
    assert_int_equal(lgw_err_find(429, NULL), LGW_ERR(RATE_LIMITED));
    assert_int_equal(lgw_err_find(503, "no_such_code"), LGW_ERR(UNAVAILABLE));
    /* a retired model: 404, its own code, nothing to retry */
    assert_int_equal(lgw_err_find(404, "model_retired"), LGW_ERR(MODEL_RETIRED));
    assert_int_equal(lgw_err_status(LGW_ERR(MODEL_RETIRED)), 404);
    assert_string_equal(lgw_err_type(LGW_ERR(MODEL_RETIRED)), "invalid_request_error");
    assert_false(lgw_err_retriable(LGW_ERR(MODEL_RETIRED)));
}

static void test_retry(void **state)
{
    (void)state;
    /* rows the SDKs already treat right get no header */
    assert_int_equal(lgw_err_retry_header(LGW_ERR(RATE_LIMITED)), -1);
    assert_int_equal(lgw_err_retry_header(LGW_ERR(UNAVAILABLE)), -1);
    assert_int_equal(lgw_err_retry_header(LGW_ERR(INVALID)), -1);
    assert_int_equal(lgw_err_retry_header(LGW_ERR(UNAUTHORIZED)), -1);
    /* a 429 that waiting does not cure, and a 5xx a retry cannot change, say false */
    assert_int_equal(lgw_err_retry_header(LGW_ERR(QUOTA)), 0);
    assert_int_equal(lgw_err_retry_header(LGW_ERR(CONFIG)), 0);
    assert_false(lgw_err_retriable(LGW_ERR(QUOTA)));
    assert_true(lgw_err_retriable(LGW_ERR(CONFLICT)));
    assert_true(lgw_err_retriable(LGW_ERR(SERVER_ERROR)));
    assert_false(lgw_err_retriable(LGW_ERR(INVALID)));
}

static void test_builder(void **state)
{
    (void)state;
    struct lgw_buf b;
    lgw_buf_init(&b, 0);
    assert_int_equal(lgw_http_error_body(LGW_ERR(QUOTA), NULL, &b), 0);
    assert_string_equal(b.ptr, "{\"error\":{\"message\":\"You exceeded your current quota; raise the budget before "
                               "trying again.\",\"type\":\"insufficient_quota\",\"param\":null,\"code\":"
                               "\"insufficient_quota\"}}");
    lgw_buf_cleanup(&b);
    lgw_buf_init(&b, 0);
    assert_int_equal(lgw_http_error_body(0, "say \"why\"\n", &b), 0); /* 0 is a caller bug: internal */
    assert_string_equal(b.ptr, "{\"error\":{\"message\":\"say \\\"why\\\"\\n\",\"type\":\"server_error\",\"param\":"
                               "null,\"code\":\"internal_error\"}}");
    lgw_buf_cleanup(&b);
    /* a message that is not UTF-8 cannot become a JSON string: the row's text instead */
    json_t *obj = lgw_http_error_object(LGW_ERR(PROVIDER), "bad \xff byte", NULL, "overloaded_error");
    assert_string_equal(json_string_value(json_object_get(obj, "message")), "provider error");
    assert_string_equal(json_string_value(json_object_get(obj, "type")), "api_error");
    assert_string_equal(json_string_value(json_object_get(obj, "code")), "overloaded_error");
    assert_true(json_is_null(json_object_get(obj, "param")));
    json_decref(obj);
    /* param names the request field at fault, as OpenAI's errors do; "" and text that is not UTF-8: null */
    lgw_buf_init(&b, 0);
    assert_int_equal(lgw_http_error_body_param(LGW_ERR(INVALID), "Invalid 'max_tokens'.", "max_tokens", &b), 0);
    assert_string_equal(b.ptr, "{\"error\":{\"message\":\"Invalid 'max_tokens'.\",\"type\":\"invalid_request_error\","
                               "\"param\":\"max_tokens\",\"code\":\"invalid_request\"}}");
    lgw_buf_cleanup(&b);
    obj = lgw_http_error_object(LGW_ERR(INVALID), NULL, "", NULL);
    assert_true(json_is_null(json_object_get(obj, "param")));
    json_decref(obj);
    obj = lgw_http_error_object(LGW_ERR(INVALID), NULL, "bad \xff", NULL);
    assert_true(json_is_null(json_object_get(obj, "param")));
    json_decref(obj);
    lgw_buf_init(&b, 8); /* the cap holds */
    assert_int_equal(lgw_http_error_body(LGW_ERR(INVALID), NULL, &b), LGW_ERR(TOO_LARGE));
    lgw_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_status),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_retry),
        cmocka_unit_test(test_builder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
