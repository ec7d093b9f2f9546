/* test_validate.c - request body validation: parse limits, chat and embeddings checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/errors.h"
#include "common/validate.h"

static int check(const char *text, int (*fn)(json_t *, char *, size_t, char *, size_t), char *param)
{
    char msg[512], p[64] = "";
    json_t *body = NULL;
    int rc = lgw_validate_parse(text, strlen(text), 64, &body, msg, sizeof(msg));
    if (rc == 0) {
        rc = fn(body, msg, sizeof(msg), p, sizeof(p));
        json_decref(body);
    }
    if (param)
        strcpy(param, p);
    return rc;
}

static void test_depth(void **state)
{
    (void)state;
    assert_int_equal(lgw_json_depth("{}", 2), 1);
    assert_int_equal(lgw_json_depth("{\"a\":[[1]]}", 11), 3);
    /* brackets inside strings, including escaped quotes, do not count */
    const char *s = "{\"a\":\"[[[\\\"[[\"}";
    assert_int_equal(lgw_json_depth(s, strlen(s)), 1);
}

static void test_parse_limits(void **state)
{
    (void)state;
    char msg[256], deep[300];
    json_t *out;
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    assert_int_equal(lgw_validate_parse(deep, 200, 64, &out, msg, sizeof(msg)), LGW_ERR(TOO_DEEP));
    assert_null(out);
    assert_int_equal(lgw_validate_parse("{\"a\":", 5, 64, &out, msg, sizeof(msg)), LGW_ERR(BAD_JSON));
    assert_int_equal(lgw_validate_parse("[1,2]", 5, 64, &out, msg, sizeof(msg)), LGW_ERR(INVALID));
    assert_int_equal(lgw_validate_parse("{\"a\":1,\"a\":2}", 13, 64, &out, msg, sizeof(msg)), LGW_ERR(BAD_JSON));
    assert_int_equal(lgw_validate_parse("{\"a\":1}", 7, 64, &out, msg, sizeof(msg)), 0);
    json_decref(out);
}

static void test_chat(void **state)
{
    (void)state;
    char p[64];
    assert_int_equal(check("{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", lgw_validate_chat, p), 0);
    assert_int_equal(check("{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}]}",
                           lgw_validate_chat, p), 0);
    assert_int_equal(check("{\"model\":\"echo\",\"messages\":[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[]}]}",
                           lgw_validate_chat, p), 0);
    assert_int_equal(check("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", lgw_validate_chat, p), LGW_ERR(INVALID));
    assert_string_equal(p, "model");
    assert_int_equal(check("{\"model\":7,\"messages\":[]}", lgw_validate_chat, p), LGW_ERR(INVALID));
    assert_string_equal(p, "model");
    assert_int_equal(check("{\"model\":\"echo\"}", lgw_validate_chat, p), LGW_ERR(INVALID));
    assert_string_equal(p, "messages");
    assert_int_equal(check("{\"model\":\"echo\",\"messages\":[]}", lgw_validate_chat, p), LGW_ERR(INVALID));
    assert_string_equal(p, "messages");
    assert_int_equal(check("{\"model\":\"echo\",\"messages\":\"hi\"}", lgw_validate_chat, p), LGW_ERR(INVALID));
    assert_int_equal(check("{\"model\":\"echo\",\"messages\":[{\"role\":\"wizard\",\"content\":\"hi\"}]}", lgw_validate_chat, p),
                     LGW_ERR(INVALID));
    assert_string_equal(p, "messages[0].role");
    assert_int_equal(check("{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":5}]}", lgw_validate_chat, p),
                     LGW_ERR(INVALID));
    assert_string_equal(p, "messages[0].content");
    assert_int_equal(check("{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"hot\"}",
                           lgw_validate_chat, p), LGW_ERR(INVALID));
    assert_string_equal(p, "temperature");
    /* OpenAI's safety_identifier, the newer name of user: a string, or refused */
    assert_int_equal(check("{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                           "\"safety_identifier\":\"u-1\"}", lgw_validate_chat, p), 0);
    assert_int_equal(check("{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                           "\"safety_identifier\":5}", lgw_validate_chat, p), LGW_ERR(INVALID));
    assert_string_equal(p, "safety_identifier");
    assert_int_equal(check("{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":0}", lgw_validate_chat, p),
                     LGW_ERR(INVALID));
    assert_int_equal(check("{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":\"yes\"}",
                           lgw_validate_chat, p), LGW_ERR(INVALID));
}

static void test_embeddings(void **state)
{
    (void)state;
    char p[64];
    assert_int_equal(check("{\"model\":\"e\",\"input\":\"hi\"}", lgw_validate_embeddings, p), 0);
    assert_int_equal(check("{\"model\":\"e\",\"input\":[\"a\",\"b\"],\"dimensions\":8}", lgw_validate_embeddings, p), 0);
    assert_int_equal(check("{\"model\":\"e\",\"input\":[1,2,3]}", lgw_validate_embeddings, p), 0);
    assert_int_equal(check("{\"model\":\"e\",\"input\":\"hi\",\"encoding_format\":\"base64\"}", lgw_validate_embeddings, p), 0);
    assert_int_equal(check("{\"model\":\"e\"}", lgw_validate_embeddings, p), LGW_ERR(INVALID));
    assert_string_equal(p, "input");
    assert_int_equal(check("{\"model\":\"e\",\"input\":\"\"}", lgw_validate_embeddings, p), LGW_ERR(INVALID));
    assert_int_equal(check("{\"model\":\"e\",\"input\":[]}", lgw_validate_embeddings, p), LGW_ERR(INVALID));
    assert_int_equal(check("{\"model\":\"e\",\"input\":[\"a\",3]}", lgw_validate_embeddings, p), LGW_ERR(INVALID));
    assert_string_equal(p, "input[1]");
    assert_int_equal(check("{\"model\":\"e\",\"input\":{}}", lgw_validate_embeddings, p), LGW_ERR(INVALID));
    assert_int_equal(check("{\"model\":\"e\",\"input\":\"a\",\"dimensions\":0}", lgw_validate_embeddings, p), LGW_ERR(INVALID));
    assert_string_equal(p, "dimensions");
    assert_int_equal(check("{\"model\":\"e\",\"input\":\"a\",\"encoding_format\":\"hex\"}", lgw_validate_embeddings, p),
                     LGW_ERR(INVALID));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_chat),
        cmocka_unit_test(test_embeddings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
