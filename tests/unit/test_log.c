/* test_log.c - the JSON log line: id, tenant, and for a request being handled its trace_id and span_id from
 * the traceparent it carries (none from an absent or malformed one). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

/* Runs one LGW_LOG_TP line with stderr captured; returns it parsed (new reference). */
static json_t *line_with(const char *traceparent)
{
    char path[] = "/tmp/llmgw-log-XXXXXX", text[4096] = "";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(2);
    dup2(fd, 2);
    LGW_LOG_TP(LGW_LOG_WARN, "worker", "req-1", "acme", traceparent, "attempt %d failed", 1);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    json_t *line = json_loads(text, 0, NULL);
    assert_non_null(line);
    return line;
}

static void test_trace_ids(void **state)
{
    (void)state;
    json_t *line = line_with("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    assert_string_equal(json_string_value(json_object_get(line, "id")), "req-1");
    assert_string_equal(json_string_value(json_object_get(line, "tenant")), "acme");
    assert_string_equal(json_string_value(json_object_get(line, "trace_id")), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(json_string_value(json_object_get(line, "span_id")), "00f067aa0ba902b7");
    assert_string_equal(json_string_value(json_object_get(line, "msg")), "attempt 1 failed");
    json_decref(line);
}

static void test_no_trace_ids(void **state)
{
    (void)state;
    static const char *const none[] = {NULL, "", "garbage", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                                       "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        json_t *line = line_with(none[i]);
        assert_null(json_object_get(line, "trace_id"));
        assert_null(json_object_get(line, "span_id"));
        assert_string_equal(json_string_value(json_object_get(line, "msg")), "attempt 1 failed");
        json_decref(line);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_trace_ids), cmocka_unit_test(test_no_trace_ids)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
