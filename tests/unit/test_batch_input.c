/* test_batch_input.c - the batch input validator (batch/submit.h): every bad line reported with its 1-based
 * line number and a code, valid lines kept in order, limits from the configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/submit.h"
#include "common/config.h"
#include "common/errors.h"

#define CHAT(id) "{\"custom_id\":\"" id "\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}}"
#define EMB(id) "{\"custom_id\":\"" id "\",\"method\":\"POST\",\"url\":\"/v1/embeddings\",\"body\":{\"model\":\"m\",\"input\":\"x\"}}"

static struct lgw_config cfg;

static struct lgw_batch_input *parse(const char *text, const char *endpoint)
{
    struct lgw_batch_input *in = NULL;
    assert_int_equal(lgw_batch_input_parse(&cfg, text, strlen(text), endpoint, &in), 0);
    assert_non_null(in);
    return in;
}

/* Asserts error i has line and code, printing both on a mismatch. */
static void expect_error(const struct lgw_batch_input *in, size_t i, int64_t line, const char *code)
{
    const struct lgw_batch_line_error *e = lgw_batch_input_error(in, i);
    assert_non_null(e);
    if (e->line != line || strcmp(e->code, code) != 0)
        fail_msg("error %zu: got line %lld code %s (%s), want line %lld code %s", i, (long long)e->line, e->code,
                 e->message, (long long)line, code);
}

static void test_valid(void **state)
{
    (void)state;
    struct lgw_batch_input *in = parse(CHAT("a") "\n" CHAT("b") "\r\n\n" CHAT("c") "\n", NULL);
    assert_int_equal(lgw_batch_input_error_count(in), 0);
    assert_int_equal(lgw_batch_input_lines(in), 3);
    assert_string_equal(lgw_batch_input_endpoint(in), "/v1/chat/completions");
    lgw_batch_input_free(in);
    in = parse(EMB("e1") "\n" EMB("e2"), "/v1/embeddings");
    assert_int_equal(lgw_batch_input_error_count(in), 0);
    assert_int_equal(lgw_batch_input_lines(in), 2);
    lgw_batch_input_free(in);
}

static void test_bad_lines(void **state)
{
    (void)state;
    const char *text = CHAT("a") "\n"                                                                    /* 1 ok */
        "{not json\n"                                                                                    /* 2 */
        "{\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{}}\n"                           /* 3 */
        CHAT("a") "\n"                                                                                   /* 4 dup */
        "{\"custom_id\":\"g\",\"method\":\"GET\",\"url\":\"/v1/chat/completions\",\"body\":{}}\n"        /* 5 */
        "{\"custom_id\":\"h\",\"method\":\"POST\",\"url\":\"/v1/completions\",\"body\":{}}\n"            /* 6 */
        EMB("i") "\n"                                                                                    /* 7 */
        "{\"custom_id\":\"j\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":[1]}\n"      /* 8 */
        "{\"custom_id\":\"k\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"messages\":[]}}\n" /* 9 */
        "[1,2]\n"                                                                                        /* 10 */
        "{\"custom_id\":\"\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{}}\n"        /* 11 */
        "{\"custom_id\":\"s\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"m\","
        "\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}}\n"                        /* 12 */
        CHAT("z") "\n";                                                                                  /* 13 ok */
    struct lgw_batch_input *in = parse(text, NULL);
    assert_int_equal(lgw_batch_input_lines(in), 2);
    assert_int_equal(lgw_batch_input_error_count(in), 11);
    assert_int_equal(lgw_batch_input_errors_kept(in), 11);
    expect_error(in, 0, 2, "invalid_json");
    expect_error(in, 1, 3, "missing_custom_id");
    expect_error(in, 2, 4, "duplicate_custom_id");
    assert_non_null(strstr(lgw_batch_input_error(in, 2)->message, "line 1"));
    expect_error(in, 3, 5, "invalid_method");
    expect_error(in, 4, 6, "invalid_url");
    expect_error(in, 5, 7, "mismatched_url");
    expect_error(in, 6, 8, "invalid_body");
    expect_error(in, 7, 9, "invalid_body");
    assert_string_equal(lgw_batch_input_error(in, 7)->param, "body.model");
    expect_error(in, 8, 10, "invalid_json");
    expect_error(in, 9, 11, "invalid_custom_id");
    expect_error(in, 10, 12, "invalid_body");
    assert_string_equal(lgw_batch_input_error(in, 10)->param, "body.stream");
    lgw_batch_input_free(in);
}

static void test_limits(void **state)
{
    (void)state;
    struct lgw_config small = cfg;
    small.batch_max_line_bytes = 200;
    small.batch_max_lines = 2;
    char big[400];
    snprintf(big, sizeof(big), "{\"custom_id\":\"big\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\","
                               "\"body\":{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"%0150d\"}]}}",
             0);
    char text[1024];
    snprintf(text, sizeof(text), "%s\n%s\n%s\n%s\n", CHAT("a"), big, CHAT("b"), CHAT("c"));
    struct lgw_batch_input *in = NULL;
    assert_int_equal(lgw_batch_input_parse(&small, text, strlen(text), NULL, &in), 0);
    assert_int_equal(lgw_batch_input_lines(in), 2);
    assert_int_equal(lgw_batch_input_error_count(in), 2);
    expect_error(in, 0, 2, "line_too_large");
    expect_error(in, 1, 4, "too_many_lines");
    lgw_batch_input_free(in);
    /* The whole input over batch_max_input_bytes: one error, nothing parsed. */
    small.batch_max_input_bytes = 100;
    assert_int_equal(lgw_batch_input_parse(&small, text, strlen(text), NULL, &in), 0);
    assert_int_equal(lgw_batch_input_lines(in), 0);
    expect_error(in, 0, 0, "input_too_large");
    lgw_batch_input_free(in);
    /* From a FILE*: the same limit, read no further than needed. */
    FILE *f = fmemopen(text, strlen(text), "r");
    assert_int_equal(lgw_batch_input_read(&small, f, NULL, &in), 0);
    expect_error(in, 0, 0, "input_too_large");
    lgw_batch_input_free(in);
    fclose(f);
    f = fmemopen(text, strlen(text), "r");
    assert_int_equal(lgw_batch_input_read(&cfg, f, NULL, &in), 0);
    assert_int_equal(lgw_batch_input_lines(in), 4);
    lgw_batch_input_free(in);
    fclose(f);
}

static void test_empty_and_endpoint(void **state)
{
    (void)state;
    struct lgw_batch_input *in = parse("\n\n", NULL);
    assert_int_equal(lgw_batch_input_lines(in), 0);
    expect_error(in, 0, 0, "empty_file");
    lgw_batch_input_free(in);
    assert_int_equal(lgw_batch_input_parse(&cfg, "x", 1, "/v1/completions", &in), LGW_ERR(INVALID));
    /* The endpoint given wins over the first line's url. */
    in = parse(CHAT("a") "\n" EMB("b"), "/v1/embeddings");
    assert_int_equal(lgw_batch_input_lines(in), 1);
    expect_error(in, 0, 1, "mismatched_url");
    lgw_batch_input_free(in);
}

static void test_prepare(void **state)
{
    (void)state;
    char err[256];
    struct lgw_batch_record rec;
    struct lgw_batch_input *in = parse(CHAT("a") "\n{bad\n" CHAT("b"), NULL);
    struct lgw_batch_submit_opts o = {.tenant = "acme"};
    assert_int_equal(lgw_batch_submit_prepare(in, &o, &rec, err, sizeof(err)), LGW_ERR(INVALID));
    lgw_batch_record_cleanup(&rec);
    o.skip_invalid = true;
    json_t *meta = json_pack("{s:s}", "k", "v");
    o.metadata = meta;
    assert_int_equal(lgw_batch_submit_prepare(in, &o, &rec, err, sizeof(err)), 0);
    assert_int_equal(rec.total, 2);
    assert_int_equal(rec.state, LGW_BATCH_SUBMITTING);
    assert_string_equal(rec.tenant, "acme");
    assert_string_equal(rec.endpoint, "/v1/chat/completions");
    assert_int_equal(strlen(rec.id), LGW_BATCH_ID_LEN);
    assert_int_equal(rec.expires_ms - rec.created_ms, LGW_BATCH_WINDOW_MS);
    assert_ptr_equal(rec.metadata, meta);
    lgw_batch_record_cleanup(&rec);
    o.tenant = NULL;
    assert_int_equal(lgw_batch_submit_prepare(in, &o, &rec, err, sizeof(err)), LGW_ERR(INVALID));
    lgw_batch_record_cleanup(&rec);
    json_decref(meta);
    lgw_batch_input_free(in);
}

int main(void)
{
    lgw_config_defaults(&cfg);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_empty_and_endpoint),
        cmocka_unit_test(test_prepare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
