/* test_telemetry_export.c - the span exporter against a scripted HTTP server (tests/support/upstream.h)
 * standing in for an OTLP collector: a batch arrives as OTLP protobuf or JSON with the configured headers;
 * 503 is retried; a collector that does not answer in time, or cannot be reached, costs the spans (counted)
 * and never the caller; a full queue drops spans at once and counts them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/metrics.h"
#include "providers/http.h"
#include "telemetry/otel_env.h"
#include "telemetry/span.h"
#include "telemetry/span_int.h"
#include "telemetry/tracer.h"
#include "tests/support/upstream.h"

static const char *const *env_table;

static const char *fake_get(const char *name)
{
    for (const char *const *p = env_table; p && *p; p += 2)
        if (strcmp(p[0], name) == 0)
            return p[1];
    return NULL;
}

struct fixture {
    struct lgw_upstream *up;
    struct lgw_metrics *m;
    struct lgw_tracer *tr;
    struct lgw_otel_config cfg;
    char endpoint[128];
};

/* A tracer exporting to the scripted server with the given extra variables (name, value, ..., NULL). */
static void start(struct fixture *f, const char *const *extra)
{
    const char *table[32];
    size_t n = 0;
    table[n++] = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
    snprintf(f->endpoint, sizeof(f->endpoint), "%s/v1/traces", lgw_upstream_url(f->up));
    table[n++] = f->endpoint;
    for (; extra && *extra; extra++)
        table[n++] = *extra;
    table[n] = NULL;
    env_table = table;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    assert_int_equal(lgw_otel_config_load("test", fake_get, &f->cfg, &errs), 0);
    lgw_buf_cleanup(&errs);
    env_table = NULL;
    assert_int_equal(lgw_tracer_new(&f->cfg, "9.9.9", f->m, &f->tr), 0);
    assert_non_null(f->tr);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->up = lgw_upstream_new();
    f->m = lgw_metrics_new();
    *state = f;
    return f->up ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    lgw_tracer_free(f->tr);
    lgw_upstream_free(f->up);
    lgw_metrics_free(f->m);
    free(f);
    return 0;
}

static void end_spans(struct lgw_tracer *tr, int n)
{
    for (int i = 0; i < n; i++) {
        struct lgw_span *s = lgw_span_start(tr, "op", LGW_SPAN_INTERNAL, NULL, NULL);
        assert_non_null(s);
        lgw_span_set_int(s, "i", i);
        lgw_span_end(&s);
        assert_null(s);
    }
}

static int64_t metric(struct fixture *f, const char *name, const char *labels)
{
    return lgw_metrics_value(f->m, name, labels);
}

/* Waits up to 10 s for a counter to reach want. */
static void wait_metric(struct fixture *f, const char *name, const char *labels, int64_t want)
{
    for (int i = 0; i < 1000 && metric(f, name, labels) < want; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(metric(f, name, labels), want);
}

static void test_protobuf_batch(void **state)
{
    struct fixture *f = *state;
    lgw_upstream_push(f->up, lgw_upstream_answer_new(200));
    static const char *const extra[] = {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "3", "OTEL_BSP_SCHEDULE_DELAY", "60000",
                                        "OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=k%20ey", NULL};
    start(f, extra);
    end_spans(f->tr, 3); /* a full batch goes at once, long before the schedule delay */
    assert_true(lgw_upstream_wait_count(f->up, 1, 10000));
    const struct lgw_upstream_request *req = lgw_upstream_request(f->up, 0);
    assert_string_equal(req->method, "POST");
    assert_string_equal(req->target, "/v1/traces");
    assert_string_equal(lgw_upstream_header(req, "content-type"), "application/x-protobuf");
    assert_string_equal(lgw_upstream_header(req, "x-api-key"), "k ey");
    assert_true(req->body_len > 3 * 20);
    assert_int_equal((unsigned char)req->body[0], 0x0a); /* ExportTraceServiceRequest.resource_spans */
    assert_non_null(memmem(req->body, req->body_len, "llmgw-test", 10)); /* service.name */
    wait_metric(f, "llmgw_otel_spans_exported_total", NULL, 3);
    assert_int_equal(metric(f, "llmgw_otel_export_failures_total", NULL), 0);
}

static void test_json_after_delay(void **state)
{
    struct fixture *f = *state;
    lgw_upstream_push(f->up, lgw_upstream_answer_new(200));
    static const char *const extra[] = {"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "OTEL_BSP_SCHEDULE_DELAY", "50",
                                        NULL};
    start(f, extra);
    end_spans(f->tr, 2); /* far from a full batch: it goes after the schedule delay */
    assert_true(lgw_upstream_wait_count(f->up, 1, 10000));
    const struct lgw_upstream_request *req = lgw_upstream_request(f->up, 0);
    assert_string_equal(lgw_upstream_header(req, "content-type"), "application/json");
    json_t *doc = json_loadb(req->body, req->body_len, 0, NULL);
    assert_non_null(doc);
    json_t *spans = json_object_get(json_array_get(json_object_get(json_array_get(json_object_get(doc, "resourceSpans"), 0),
                                                                   "scopeSpans"),
                                                   0),
                                    "spans");
    assert_int_equal(json_array_size(spans), 2);
    json_decref(doc);
    wait_metric(f, "llmgw_otel_spans_exported_total", NULL, 2);
}

static void test_503_retried(void **state)
{
    struct fixture *f = *state;
    struct lgw_upstream_answer *busy = lgw_upstream_answer_new(503);
    lgw_upstream_answer_header(busy, "Retry-After", "0");
    lgw_upstream_push(f->up, busy);
    lgw_upstream_push(f->up, lgw_upstream_answer_new(502));
    lgw_upstream_push(f->up, lgw_upstream_answer_new(200));
    static const char *const extra[] = {"OTEL_BSP_SCHEDULE_DELAY", "20", NULL};
    start(f, extra);
    end_spans(f->tr, 1);
    wait_metric(f, "llmgw_otel_spans_exported_total", NULL, 1);
    assert_int_equal(lgw_upstream_count(f->up), 3); /* the same batch, three times */
    assert_int_equal(metric(f, "llmgw_otel_export_failures_total", NULL), 0);
}

static void test_400_not_retried(void **state)
{
    struct fixture *f = *state;
    lgw_upstream_push(f->up, lgw_upstream_answer_new(400));
    lgw_upstream_push(f->up, lgw_upstream_answer_new(200));
    static const char *const extra[] = {"OTEL_BSP_SCHEDULE_DELAY", "20", NULL};
    start(f, extra);
    end_spans(f->tr, 2);
    wait_metric(f, "llmgw_otel_export_failures_total", NULL, 1);
    assert_int_equal(metric(f, "llmgw_otel_spans_dropped_total", "reason=\"export_failed\""), 2);
    assert_int_equal(lgw_upstream_count(f->up), 1); /* bad data is never sent again */
}

static void test_unreachable(void **state)
{
    struct fixture *f = *state;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    /* Port 9 (discard) on loopback: nothing listens, the connection is refused at once. */
    static const char *const table[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9", "OTEL_BSP_SCHEDULE_DELAY",
                                        "20", "OTEL_BSP_EXPORT_TIMEOUT", "400", NULL};
    env_table = table;
    assert_int_equal(lgw_otel_config_load("test", fake_get, &f->cfg, &errs), 0);
    lgw_buf_cleanup(&errs);
    assert_int_equal(lgw_tracer_new(&f->cfg, "1", f->m, &f->tr), 0);
    end_spans(f->tr, 4);
    wait_metric(f, "llmgw_otel_export_failures_total", NULL, 1); /* retried with backoff, then given up */
    assert_int_equal(metric(f, "llmgw_otel_spans_dropped_total", "reason=\"export_failed\""), 4);
    assert_int_equal(metric(f, "llmgw_otel_spans_exported_total", NULL), 0);
}

static void test_full_queue_drops(void **state)
{
    struct fixture *f = *state;
    /* The first batch's answer waits, holding the export thread while the test fills the queue. */
    struct lgw_upstream_answer *slow = lgw_upstream_answer_new(200);
    lgw_upstream_answer_delay(slow, 1500);
    lgw_upstream_push(f->up, slow);
    lgw_upstream_push(f->up, lgw_upstream_answer_new(200));
    static const char *const extra[] = {"OTEL_BSP_MAX_QUEUE_SIZE", "2", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2",
                                        "OTEL_BSP_SCHEDULE_DELAY", "60000", NULL};
    start(f, extra);
    end_spans(f->tr, 2);
    assert_true(lgw_upstream_wait_count(f->up, 1, 10000)); /* the batch is out; its answer is 1.5 s away */
    /* Two fit in the queue again, three do not: dropped at once (an exporter that waited for room would have
     * dropped none), and counted. */
    end_spans(f->tr, 5);
    assert_int_equal(metric(f, "llmgw_otel_spans_dropped_total", "reason=\"queue_full\""), 3);
    wait_metric(f, "llmgw_otel_spans_exported_total", NULL, 4); /* the first batch, then the two queued */
}

/* A batch larger than the span pool (1,024) goes back to it under one lock: the pool keeps what it has room
 * for, the rest is freed (LeakSanitizer and ASan see both in the sanitizer build), and a span taken from the
 * pool again starts empty. */
static void test_batch_back_to_pool(void **state)
{
    struct fixture *f = *state;
    lgw_upstream_push(f->up, lgw_upstream_answer_new(200));
    static const char *const extra[] = {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1100", "OTEL_BSP_SCHEDULE_DELAY", "60000",
                                        NULL};
    start(f, extra);
    for (int i = 0; i < 1100; i++) {
        struct lgw_span *s = lgw_span_start(f->tr, "op", LGW_SPAN_INTERNAL, NULL, NULL);
        lgw_span_set_str(s, "a.key", "a value");
        char big[2048];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        lgw_span_set_str(s, "on.the.heap", big); /* past the span's arena: malloc'd, freed with the span */
        lgw_span_set_status(s, LGW_SPAN_ERROR, "why");
        lgw_span_end(&s);
    }
    wait_metric(f, "llmgw_otel_spans_exported_total", NULL, 1100);
    struct lgw_span *s = lgw_span_start(f->tr, "again", LGW_SPAN_INTERNAL, NULL, NULL);
    assert_non_null(s);
    assert_int_equal(s->nattrs, 0);
    assert_int_equal(s->klens, 0);
    assert_null(s->status_msg);
    assert_int_equal(s->arena_used, 0);
    lgw_span_set_str(s, "a.key", "one");
    lgw_span_set_str(s, "a.key", "two"); /* replaced, not added */
    assert_int_equal(s->nattrs, 1);
    assert_string_equal(s->attrs[0].s, "two");
    lgw_span_discard(&s);
}

int main(void)
{
    lgw_http_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_protobuf_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_after_delay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_503_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_400_not_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_queue_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_back_to_pool, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
