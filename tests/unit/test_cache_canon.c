/* test_cache_canon.c - the response cache's canonical request and key: what must give one key, and what
 * must not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cache/canon.h"

/* The key of a JSON body (chat unless kind says otherwise), for tenant and model. */
static void key_of(const char *json, enum lgw_job_kind kind, const char *tenant, const char *model,
                   char key[LGW_CACHE_KEY_LEN])
{
    json_error_t err;
    json_t *body = json_loads(json, 0, &err);
    assert_non_null(body);
    struct lgw_buf form;
    lgw_buf_init(&form, 0);
    assert_int_equal(lgw_cache_canon(body, kind, &form), 0);
    struct lgw_str s = {form.ptr, form.len};
    lgw_cache_key(tenant, model, &s, key);
    lgw_buf_cleanup(&form);
    json_decref(body);
}

static void assert_same(const char *a, const char *b)
{
    char ka[LGW_CACHE_KEY_LEN], kb[LGW_CACHE_KEY_LEN];
    key_of(a, LGW_JOB_CHAT, "acme", "openai/gpt-4o-mini", ka);
    key_of(b, LGW_JOB_CHAT, "acme", "openai/gpt-4o-mini", kb);
    assert_string_equal(ka, kb);
}

static void assert_differ(const char *a, const char *b)
{
    char ka[LGW_CACHE_KEY_LEN], kb[LGW_CACHE_KEY_LEN];
    key_of(a, LGW_JOB_CHAT, "acme", "openai/gpt-4o-mini", ka);
    key_of(b, LGW_JOB_CHAT, "acme", "openai/gpt-4o-mini", kb);
    assert_string_not_equal(ka, kb);
}

/* SHA-256 of the length-prefixed parts, computed independently (Python hashlib). */
#define KEY_VECTOR "330f9b3ffc7cd88061a9b8b02a9a06ba0aa5130276f7b26793c3ddceae78e0ac"
#define MSG "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

static void test_form(void **state)
{
    (void)state;
    json_t *body = json_loads("{\"model\":\"m\",\"z\":1,\"a\":{\"y\":2,\"b\":[3]},\"llmgw\":{\"strategy\":\"cost\"},"
                              "\"user\":null}",
                              0, NULL);
    struct lgw_buf form;
    lgw_buf_init(&form, 0);
    assert_int_equal(lgw_cache_canon(body, LGW_JOB_CHAT, &form), 0);
    /* kind line; keys sorted; numbers as reals; defaults filled; model, llmgw and nulls left out */
    assert_string_equal(form.ptr, "chat\n{\"a\":{\"b\":[3.0],\"y\":2.0},\"frequency_penalty\":0.0,\"n\":1.0,"
                                  "\"presence_penalty\":0.0,\"stream\":false,\"temperature\":1.0,\"top_p\":1.0,"
                                  "\"z\":1.0}");
    lgw_buf_reset(&form);
    assert_int_equal(lgw_cache_canon(body, LGW_JOB_EMBEDDINGS, &form), 0);
    assert_string_equal(form.ptr, "embeddings\n{\"a\":{\"b\":[3.0],\"y\":2.0},\"encoding_format\":\"float\",\"z\":1.0}");
    lgw_buf_cleanup(&form);
    json_decref(body);
    /* not an object */
    json_t *arr = json_array();
    lgw_buf_init(&form, 0);
    assert_int_not_equal(lgw_cache_canon(arr, LGW_JOB_CHAT, &form), 0);
    lgw_buf_cleanup(&form);
    json_decref(arr);
    /* a cap too small for the form */
    body = json_loads("{" MSG "}", 0, NULL);
    lgw_buf_init(&form, 16);
    assert_int_not_equal(lgw_cache_canon(body, LGW_JOB_CHAT, &form), 0);
    lgw_buf_cleanup(&form);
    json_decref(body);
}

static void test_same_key(void **state)
{
    (void)state;
    /* key order, at the top and inside */
    assert_same("{" MSG ",\"temperature\":0.5,\"max_tokens\":9}", "{\"max_tokens\":9,\"temperature\":0.5," MSG "}");
    assert_same("{\"messages\":[{\"content\":\"hi\",\"role\":\"user\"}]}", "{" MSG "}");
    /* defaults spelled or not, 1 and 1.0, explicit null */
    assert_same("{" MSG "}", "{" MSG ",\"temperature\":1,\"top_p\":1.0,\"n\":1,\"stream\":false}");
    assert_same("{" MSG ",\"temperature\":null}", "{" MSG "}");
    assert_same("{" MSG ",\"max_tokens\":10}", "{" MSG ",\"max_tokens\":10.0}");
    /* the model and the gateway's own fields are not the request's */
    assert_same("{\"model\":\"a\"," MSG "}", "{\"model\":\"b\"," MSG ",\"llmgw\":{\"strategy\":\"latency\"}}");
}

static void test_different_key(void **state)
{
    (void)state;
    assert_differ("{" MSG ",\"temperature\":0}", "{" MSG ",\"temperature\":0.7}");
    assert_differ("{" MSG "}", "{" MSG ",\"temperature\":0}");
    /* tools */
    assert_differ("{" MSG ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}}]}",
                  "{" MSG ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"b\"}}]}");
    assert_differ("{" MSG "}", "{" MSG ",\"tools\":[]}");
    /* images */
    assert_differ("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":"
                  "\"data:image/png;base64,AAAA\"}}]}]}",
                  "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":"
                  "\"data:image/png;base64,AAAB\"}}]}]}");
    /* provider parameters, known or not */
    assert_differ("{" MSG "}", "{" MSG ",\"top_k\":5}");
    assert_differ("{" MSG ",\"reasoning_effort\":\"low\"}", "{" MSG ",\"reasoning_effort\":\"high\"}");
    assert_differ("{" MSG "}", "{" MSG ",\"stream\":true}");
    /* integers past 2^53 are not merged */
    assert_differ("{" MSG ",\"seed\":9007199254740993}", "{" MSG ",\"seed\":9007199254740992}");
    /* message order */
    assert_differ("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\",\"content\":\"b\"}]}",
                  "{\"messages\":[{\"role\":\"user\",\"content\":\"b\"},{\"role\":\"user\",\"content\":\"a\"}]}");
}

static void test_key_parts(void **state)
{
    (void)state;
    char a[LGW_CACHE_KEY_LEN], b[LGW_CACHE_KEY_LEN];
    /* tenants never share */
    key_of("{" MSG "}", LGW_JOB_CHAT, "acme", "openai/gpt-4o-mini", a);
    key_of("{" MSG "}", LGW_JOB_CHAT, "globex", "openai/gpt-4o-mini", b);
    assert_string_not_equal(a, b);
    /* nor models */
    key_of("{" MSG "}", LGW_JOB_CHAT, "acme", "openai/gpt-4o", b);
    assert_string_not_equal(a, b);
    /* nor kinds */
    key_of("{\"input\":\"x\"}", LGW_JOB_CHAT, "acme", "m", a);
    key_of("{\"input\":\"x\"}", LGW_JOB_EMBEDDINGS, "acme", "m", b);
    assert_string_not_equal(a, b);
    /* length prefixes: "ab"+"c" is not "a"+"bc" */
    key_of("{}", LGW_JOB_CHAT, "ab", "c", a);
    key_of("{}", LGW_JOB_CHAT, "a", "bc", b);
    assert_string_not_equal(a, b);
    /* a fixed vector, so the key cannot change by accident between releases (entries in a shared Redis) */
    struct lgw_str s = {"x", 1};
    lgw_cache_key("t", "m", &s, a);
    assert_int_equal(strlen(a), 64);
    lgw_cache_key("t", "m", &s, b);
    assert_string_equal(a, b);
    assert_string_equal(a, KEY_VECTOR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form),
        cmocka_unit_test(test_same_key),
        cmocka_unit_test(test_different_key),
        cmocka_unit_test(test_key_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
