/* test_batch_api.c - the Batch object of /v1/batches (batch/api_batches.c) as OpenAI's: every field present,
 * null timestamps for steps not taken, llmgw's own part (tenant, cost so far), and the output and error file ids
 * only once the batch is over and only when it has such lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "batch/api_int.h"
#include "batch/store.h"

static struct lgw_batch_info info(const char *status, int64_t completed, int64_t failed)
{
    struct lgw_batch_info b = {.id = "batch_0123", .tenant = "acme", .endpoint = "/v1/chat/completions",
                               .input_file_id = "file-9", .created_at = 1000, .in_progress_at = 1001,
                               .expires_at = 1000 + 86400, .total = 3, .completed = completed, .failed = failed};
    strcpy(b.status, status);
    return b;
}

static char *render(const struct lgw_batch_info *b)
{
    json_t *o = lgw_api_batch_json(b);
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

static void test_in_progress(void **state)
{
    (void)state;
    struct lgw_batch_info b = info("in_progress", 1, 1);
    b.metadata = json_pack("{s:s}", "project", "p1");
    b.cost_nusd = 1500; /* the spend so far, exact, in llmgw's own part */
    char *s = render(&b);
    assert_string_equal(s, "{\"cancelled_at\":null,\"cancelling_at\":null,\"completed_at\":null,"
                           "\"completion_window\":\"24h\",\"created_at\":1000,\"endpoint\":\"/v1/chat/completions\","
                           "\"error_file_id\":null,\"errors\":null,\"expired_at\":null,\"expires_at\":87400,"
                           "\"failed_at\":null,\"finalizing_at\":null,\"id\":\"batch_0123\",\"in_progress_at\":1001,"
                           "\"input_file_id\":\"file-9\",\"llmgw\":{\"cost_usd\":\"0.000001500\",\"tenant\":\"acme\"},"
                           "\"metadata\":{\"project\":\"p1\"},\"object\":\"batch\","
                           "\"output_file_id\":null,\"request_counts\":{\"completed\":1,\"failed\":1,\"total\":3},"
                           "\"status\":\"in_progress\"}");
    free(s);
    lgw_batch_info_cleanup(&b);
}

static void test_files_once_over(void **state)
{
    (void)state;
    struct lgw_batch_info b = info("completed", 2, 1);
    b.completed_at = 1500;
    json_t *o = lgw_api_batch_json(&b);
    assert_string_equal(json_string_value(json_object_get(o, "output_file_id")), "file-batch-output-batch_0123");
    assert_string_equal(json_string_value(json_object_get(o, "error_file_id")), "file-batch-errors-batch_0123");
    assert_int_equal(json_integer_value(json_object_get(o, "completed_at")), 1500);
    json_decref(o);
    /* Every line succeeded: no error file. */
    b = info("completed", 3, 0);
    o = lgw_api_batch_json(&b);
    assert_true(json_is_string(json_object_get(o, "output_file_id")));
    assert_true(json_is_null(json_object_get(o, "error_file_id")));
    json_decref(o);
    /* Cancelled with nothing run: only the error file (the cancelled lines). */
    b = info("cancelled", 0, 3);
    o = lgw_api_batch_json(&b);
    assert_true(json_is_null(json_object_get(o, "output_file_id")));
    assert_true(json_is_string(json_object_get(o, "error_file_id")));
    json_decref(o);
    /* A failed submission has no files, but its errors. */
    b = info("failed", 0, 0);
    b.errors = json_pack("{s:s,s:[{s:s,s:s}]}", "object", "list", "data", "code", "kafka", "message", "down");
    o = lgw_api_batch_json(&b);
    assert_true(json_is_null(json_object_get(o, "output_file_id")));
    assert_true(json_is_null(json_object_get(o, "error_file_id")));
    assert_true(json_equal(json_object_get(o, "errors"), b.errors));
    json_decref(o);
    lgw_batch_info_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_in_progress), cmocka_unit_test(test_files_once_over)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
