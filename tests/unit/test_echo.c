/* test_echo.c - the echo provider: chat answers, embeddings determinism and unit length, (model lookup is test_router.c's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <openssl/evp.h>
#include <string.h>

#include "routing/catalog.h"
#include "providers/provider.h"

static int done_calls;

static void done(struct lgw_prov_call *call)
{
    (void)call;
    done_calls++;
}

/* Echo has no I/O: its call is over (done has run, once) before call() returns. */
static void run(const char *model, enum lgw_job_kind kind, json_t *body, struct lgw_prov_result *res)
{
    const struct lgw_model_info *info;
    struct lgw_config cfg;
    struct lgw_catalog *cat;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    lgw_config_defaults(&cfg);
    assert_int_equal(lgw_catalog_load(&cfg, &cat, &errs), 0);
    lgw_buf_cleanup(&errs);
    assert_int_equal(lgw_catalog_resolve(cat, model, kind, &info, 1), 1);
    const struct lgw_provider *prov = lgw_provider_by_name(info->provider);
    assert_non_null(prov);
    struct lgw_job job;
    memset(&job, 0, sizeof(job));
    strcpy(job.id, "job1");
    job.kind = kind;
    job.body = body;
    struct lgw_prov_call call = {.cfg = &cfg, .model = info, .job = &job, .done = done};
    done_calls = 0;
    assert_int_equal(prov->call(prov, &call), 0);
    assert_int_equal(done_calls, 1);
    *res = call.res;
    json_decref(body);
    lgw_catalog_unref(cat);
}

static void test_chat_echoes_last_user_message(void **state)
{
    (void)state;
    struct lgw_prov_result res;
    run("echo", LGW_JOB_CHAT,
        json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]}", "model", "echo", "messages", "role", "system",
                  "content", "be brief", "role", "user", "content", "first", "role", "user", "content",
                  "second question"),
        &res);
    assert_int_equal(res.status, 200);
    json_t *msg = json_object_get(json_array_get(json_object_get(res.body, "choices"), 0), "message");
    assert_string_equal(json_string_value(json_object_get(msg, "content")), "second question");
    assert_string_equal(json_string_value(json_object_get(res.body, "object")), "chat.completion");
    assert_string_equal(json_string_value(json_object_get(res.body, "id")), "chatcmpl-job1");
    json_t *usage = json_object_get(res.body, "usage");
    assert_int_equal(json_integer_value(json_object_get(usage, "completion_tokens")), 4); /* 15 bytes / 4 */
    assert_int_equal(res.usage.output_tokens, 4);
    assert_true(res.usage.input_tokens > 0);
    assert_int_equal(json_integer_value(json_object_get(usage, "total_tokens")),
                     res.usage.input_tokens + res.usage.output_tokens);
    lgw_prov_result_cleanup(&res);
}

static void test_chat_max_tokens_and_parts(void **state)
{
    (void)state;
    struct lgw_prov_result res;
    run("echo/echo", LGW_JOB_CHAT,
        json_pack("{s:s, s:[{s:s, s:[{s:s, s:s}, {s:s, s:s}]}], s:i}", "model", "echo/echo", "messages", "role", "user",
                  "content", "type", "text", "text", "abcdefgh", "type", "text", "text", "ijkl", "max_tokens", 2),
        &res);
    json_t *choice = json_array_get(json_object_get(res.body, "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(choice, "message"), "content")), "abcdefgh");
    assert_string_equal(json_string_value(json_object_get(choice, "finish_reason")), "length");
    lgw_prov_result_cleanup(&res);
}

static double norm_of(json_t *vec)
{
    double n = 0;
    size_t i;
    json_t *x;
    json_array_foreach(vec, i, x) n += json_real_value(x) * json_real_value(x);
    return sqrt(n);
}

static void test_embeddings(void **state)
{
    (void)state;
    struct lgw_prov_result a, b, c;
    run("echo-embedding", LGW_JOB_EMBEDDINGS, json_pack("{s:s, s:[s, s]}", "model", "echo-embedding", "input", "x", "y"),
        &a);
    run("echo-embedding", LGW_JOB_EMBEDDINGS, json_pack("{s:s, s:s}", "model", "echo-embedding", "input", "x"), &b);
    run("echo-embedding", LGW_JOB_EMBEDDINGS,
        json_pack("{s:s, s:s, s:i}", "model", "echo-embedding", "input", "x", "dimensions", 7), &c);
    json_t *ax = json_object_get(json_array_get(json_object_get(a.body, "data"), 0), "embedding");
    json_t *ay = json_object_get(json_array_get(json_object_get(a.body, "data"), 1), "embedding");
    json_t *bx = json_object_get(json_array_get(json_object_get(b.body, "data"), 0), "embedding");
    json_t *cx = json_object_get(json_array_get(json_object_get(c.body, "data"), 0), "embedding");
    assert_int_equal(json_array_size(ax), 1536);
    assert_int_equal(json_array_size(cx), 7);
    assert_true(json_equal(ax, bx)); /* same input, same vector */
    assert_false(json_equal(ax, ay));
    assert_true(fabs(norm_of(ax) - 1.0) < 1e-5);
    assert_true(fabs(norm_of(cx) - 1.0) < 1e-5);
    assert_true(a.usage.input_tokens == 2);
    lgw_prov_result_cleanup(&a);
    lgw_prov_result_cleanup(&b);
    lgw_prov_result_cleanup(&c);
}

static void test_embeddings_base64(void **state)
{
    (void)state;
    struct lgw_prov_result f, s;
    run("echo-embedding", LGW_JOB_EMBEDDINGS,
        json_pack("{s:s, s:s, s:i}", "model", "echo-embedding", "input", "hello", "dimensions", 4), &f);
    run("echo-embedding", LGW_JOB_EMBEDDINGS,
        json_pack("{s:s, s:s, s:i, s:s}", "model", "echo-embedding", "input", "hello", "dimensions", 4,
                  "encoding_format", "base64"),
        &s);
    json_t *fv = json_object_get(json_array_get(json_object_get(f.body, "data"), 0), "embedding");
    const char *b64 = json_string_value(json_object_get(json_array_get(json_object_get(s.body, "data"), 0), "embedding"));
    assert_non_null(b64);
    unsigned char raw[32];
    int n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)strlen(b64));
    assert_true(n >= 16);
    for (int i = 0; i < 4; i++) {
        float v;
        memcpy(&v, raw + 4 * i, 4);
        assert_true(fabs(v - json_real_value(json_array_get(fv, (size_t)i))) < 1e-6);
    }
    lgw_prov_result_cleanup(&f);
    lgw_prov_result_cleanup(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_echoes_last_user_message), cmocka_unit_test(test_chat_max_tokens_and_parts),
        cmocka_unit_test(test_embeddings),                    cmocka_unit_test(test_embeddings_base64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
