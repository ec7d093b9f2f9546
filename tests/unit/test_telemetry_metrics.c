/* test_telemetry_metrics.c - metrics over OTLP: the OTEL_* metrics variables (per-signal overrides,
 * OTEL_METRICS_EXPORTER, the interval), a real registry read back under the OpenTelemetry names (GenAI
 * semantic conventions), the ExportMetricsServiceRequest bytes decoded field by field from the .proto
 * numbers (tests/support/pb_decode.h), its JSON read back with jansson, and the push thread against a
 * scripted collector (tests/support/upstream.h): what it sends, a refused push counted, the last push at
 * stop. */
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
#include "common/errors.h"
#include "common/metrics.h"
#include "telemetry/meter.h"
#include "telemetry/metric_read.h"
#include "telemetry/otel_env.h"
#include "telemetry/otlp.h"
#include "tests/support/pb_decode.h"
#include "tests/support/upstream.h"

static const char *const *env_table;

static const char *fake_get(const char *name)
{
    for (const char *const *p = env_table; p && *p; p += 2)
        if (strcmp(p[0], name) == 0)
            return p[1];
    return NULL;
}

static int load(const char *const *table, struct lgw_otel_config *c, struct lgw_buf *errs)
{
    env_table = table;
    lgw_buf_reset(errs);
    int rc = lgw_otel_config_load("worker", fake_get, c, errs);
    env_table = NULL;
    return rc;
}

/* ---- the environment */

static void test_env_metrics(void **state)
{
    (void)state;
    struct lgw_otel_config *c = malloc(sizeof(*c));
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    static const char *const none[] = {NULL};
    assert_int_equal(load(none, c, &errs), 0);
    assert_false(c->metrics.enabled);
    assert_int_equal(c->metric_interval_ms, 60000);
    assert_int_equal(c->metric_export_timeout_ms, 30000);

    static const char *const base[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/", NULL};
    assert_int_equal(load(base, c, &errs), 0);
    assert_true(c->metrics.enabled);
    assert_true(c->traces.enabled);
    assert_string_equal(c->metrics.endpoint, "http://c:4318/v1/metrics");
    assert_string_equal(c->traces.endpoint, "http://c:4318/v1/traces");
    assert_int_equal(c->metrics.protocol, LGW_OTLP_HTTP_PROTOBUF);
    assert_int_equal(c->metrics.timeout_ms, 10000);

    /* Per-signal variables win for their signal only; the shared headers go to both. */
    static const char *const per[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318",
                                      "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "https://m/custom",
                                      "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json",
                                      "OTEL_EXPORTER_OTLP_HEADERS", "a=1",
                                      "OTEL_EXPORTER_OTLP_METRICS_HEADERS", "b=2",
                                      "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "1500",
                                      "OTEL_METRIC_EXPORT_INTERVAL", "250",
                                      "OTEL_METRIC_EXPORT_TIMEOUT", "900",
                                      NULL};
    assert_int_equal(load(per, c, &errs), 0);
    assert_string_equal(c->metrics.endpoint, "https://m/custom");
    assert_string_equal(c->traces.endpoint, "http://c:4318/v1/traces");
    assert_int_equal(c->metrics.protocol, LGW_OTLP_HTTP_JSON);
    assert_int_equal(c->traces.protocol, LGW_OTLP_HTTP_PROTOBUF);
    assert_int_equal(c->metrics.nheaders, 2);
    assert_string_equal(c->metrics.headers[1], "b: 2");
    assert_int_equal(c->traces.nheaders, 1);
    assert_int_equal(c->metrics.timeout_ms, 1500);
    assert_int_equal(c->traces.timeout_ms, 10000);
    assert_int_equal(c->metric_interval_ms, 250);
    assert_int_equal(c->metric_export_timeout_ms, 900);

    /* prometheus and none: no push (the text endpoint is always there); traces unaffected. */
    static const char *const prom[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_METRICS_EXPORTER",
                                       "prometheus", NULL};
    assert_int_equal(load(prom, c, &errs), 0);
    assert_false(c->metrics.enabled);
    assert_true(c->traces.enabled);
    static const char *const off[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_METRICS_EXPORTER",
                                      "none", NULL};
    assert_int_equal(load(off, c, &errs), 0);
    assert_false(c->metrics.enabled);
    static const char *const traces_off[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_TRACES_EXPORTER",
                                             "none", NULL};
    assert_int_equal(load(traces_off, c, &errs), 0);
    assert_true(c->metrics.enabled);
    assert_false(c->traces.enabled);
    static const char *const sdk_off[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_SDK_DISABLED", "true",
                                          NULL};
    assert_int_equal(load(sdk_off, c, &errs), 0);
    assert_false(c->metrics.enabled);
    assert_false(c->traces.enabled);
    /* Only the metrics endpoint: metrics pushed, nothing traced. */
    static const char *const only[] = {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:4318/v1/metrics", NULL};
    assert_int_equal(load(only, c, &errs), 0);
    assert_true(c->metrics.enabled);
    assert_false(c->traces.enabled);
    lgw_buf_cleanup(&errs);
    free(c);
}

static void test_env_metrics_refused(void **state)
{
    (void)state;
    struct lgw_otel_config *c = malloc(sizeof(*c));
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    static const char *const bad[] = {"OTEL_METRICS_EXPORTER", "console",
                                      "OTEL_METRIC_EXPORT_INTERVAL", "10",
                                      "OTEL_METRIC_EXPORT_TIMEOUT", "0",
                                      "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc",
                                      "OTEL_EXPORTER_OTLP_METRICS_HEADERS", "no-value-SECRET",
                                      NULL};
    assert_int_equal(load(bad, c, &errs), LGW_ERR(CONFIG));
    assert_false(c->metrics.enabled);
    assert_non_null(strstr(errs.ptr, "OTEL_METRICS_EXPORTER=console"));
    assert_non_null(strstr(errs.ptr, "OTEL_METRIC_EXPORT_INTERVAL=10: expected an integer from 100"));
    assert_non_null(strstr(errs.ptr, "OTEL_METRIC_EXPORT_TIMEOUT=0"));
    assert_non_null(strstr(errs.ptr, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=grpc is not supported"));
    assert_non_null(strstr(errs.ptr, "OTEL_EXPORTER_OTLP_METRICS_HEADERS: expected name=value"));
    assert_null(strstr(errs.ptr, "SECRET"));
    /* A bad shared variable is one problem, said once, though both signals read it. */
    static const char *const shared[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", NULL};
    assert_int_equal(load(shared, c, &errs), LGW_ERR(CONFIG));
    const char *first = strstr(errs.ptr, "OTEL_EXPORTER_OTLP_ENDPOINT: expected");
    assert_non_null(first);
    assert_null(strstr(first + 1, "OTEL_EXPORTER_OTLP_ENDPOINT: expected"));
    lgw_buf_cleanup(&errs);
    free(c);
}

/* ---- the registry, read as OTLP metrics */

static int64_t unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A cumulative series' start: when the registry (or the series) began, so within the test and not after now
 * (the reader may take the start it is given or the series' own). */
static void assert_start(int64_t start_ns, int64_t t0, int64_t now)
{
    assert_true(start_ns >= t0 - 1000000000);
    assert_true(start_ns <= now);
}

/* A registry with one of each kind, GenAI ones under their Prometheus names. */
static struct lgw_metrics *sample_registry(void)
{
    struct lgw_metrics *m = lgw_metrics_new();
    lgw_metrics_declare(m, "llmgw_http_requests_total", LGW_METRIC_COUNTER, "HTTP requests answered.");
    lgw_metrics_add(m, "llmgw_http_requests_total", "route=\"/v1/chat/completions\",status=\"200\"", 7);
    lgw_metrics_add(m, "llmgw_http_requests_total", "route=\"/v1/chat/completions\",status=\"429\"", 2);
    lgw_metrics_gauge_set(m, "llmgw_breaker_state", "provider=\"openai\",model=\"a \\\"quoted\\\" one\"", 2);
    lgw_metrics_declare(m, "gen_ai_client_operation_duration_seconds", LGW_METRIC_HISTOGRAM, "GenAI duration.");
    const char *ga = "gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"openai\",gen_ai_request_model=\"gpt-4o\"";
    lgw_metrics_observe(m, "gen_ai_client_operation_duration_seconds", ga, 0.0003); /* first bucket */
    lgw_metrics_observe(m, "gen_ai_client_operation_duration_seconds", ga, 0.2);    /* (0.1, 0.25] */
    lgw_metrics_observe(m, "gen_ai_client_operation_duration_seconds", ga, 0.2);
    lgw_metrics_observe(m, "gen_ai_client_operation_duration_seconds", ga, 1000);   /* above every bound */
    lgw_metrics_observe(m, "gen_ai_client_operation_duration_seconds", "gen_ai_operation_name=\"embeddings\"", 0.2);
    return m;
}

static const struct lgw_otlp_metric *named(const struct lgw_metric_read *r, const char *name)
{
    for (size_t i = 0; i < r->nmetrics; i++)
        if (strcmp(r->metrics[i].name, name) == 0)
            return &r->metrics[i];
    fail_msg("no metric %s", name);
    return NULL;
}

static const char *attr(const struct lgw_otlp_point *p, const char *key)
{
    for (size_t i = 0; i < p->nattrs; i++)
        if (strcmp(p->attrs[i].key, key) == 0)
            return p->attrs[i].value;
    return NULL;
}

static void test_read_registry(void **state)
{
    (void)state;
    int64_t t0 = unix_ns();
    struct lgw_metrics *m = sample_registry();
    struct lgw_metric_read r;
    assert_int_equal(lgw_metric_read(m, t0, &r), 0);

    const struct lgw_otlp_metric *req = named(&r, "llmgw_http_requests"); /* a Sum carries no _total */
    assert_int_equal(req->kind, LGW_OTLP_SUM);
    assert_string_equal(req->description, "HTTP requests answered.");
    assert_int_equal(req->npoints, 2);
    assert_true(req->points[0].is_int);
    assert_int_equal(req->points[0].i, 7);
    assert_start(req->points[0].start_ns, t0, unix_ns());
    assert_string_equal(attr(&req->points[1], "status"), "429");

    const struct lgw_otlp_metric *br = named(&r, "llmgw_breaker_state");
    assert_int_equal(br->kind, LGW_OTLP_GAUGE);
    assert_int_equal(br->points[0].i, 2);
    assert_string_equal(attr(&br->points[0], "model"), "a \"quoted\" one"); /* unescaped */

    const struct lgw_otlp_metric *d = named(&r, "gen_ai.client.operation.duration");
    assert_string_equal(d->unit, "s");
    assert_int_equal(d->kind, LGW_OTLP_HISTOGRAM);
    assert_int_equal(d->nbounds, 16);
    assert_true(d->bounds[0] == 0.0005 && d->bounds[15] == 60);
    assert_int_equal(d->npoints, 2);
    const struct lgw_otlp_point *chat = attr(&d->points[0], "gen_ai.operation.name") &&
                                                strcmp(attr(&d->points[0], "gen_ai.operation.name"), "chat") == 0
                                            ? &d->points[0]
                                            : &d->points[1];
    assert_string_equal(attr(chat, "gen_ai.provider.name"), "openai");
    assert_string_equal(attr(chat, "gen_ai.request.model"), "gpt-4o");
    assert_null(attr(chat, "gen_ai_request_model"));
    assert_int_equal(chat->count, 4);
    assert_true(chat->sum > 1000.4 && chat->sum < 1000.41);
    /* Per bucket, not cumulative: 1 in the first, 2 in (0.1, 0.25] (the ninth), 1 above 60. */
    uint64_t total = 0;
    for (size_t k = 0; k <= d->nbounds; k++)
        total += chat->counts[k];
    assert_int_equal(total, 4);
    assert_int_equal(chat->counts[0], 1);
    assert_int_equal(chat->counts[8], 2);
    assert_int_equal(chat->counts[16], 1);
    assert_int_equal(r.npoints, 2 + 1 + 2 + 1); /* and llmgw_metrics_dropped_series_total */
    lgw_metric_read_cleanup(&r);
    lgw_metrics_free(m);
}

/* ---- protobuf */

/* The Metric named name in ScopeMetrics sm; its fields into mf. */
static size_t find_metric(const struct field *sm, size_t nsm, const char *name, struct field *mf, size_t max)
{
    for (size_t i = 0; i < nsm; i++) {
        if (sm[i].num != 2)
            continue;
        size_t n = decode(sm[i].p, sm[i].len, mf, max);
        const struct field *nf = one(mf, n, 1);
        if (nf->len == strlen(name) && memcmp(nf->p, name, nf->len) == 0)
            return n;
    }
    fail_msg("no metric %s in the request", name);
    return 0;
}

static void test_metrics_proto(void **state)
{
    (void)state;
    int64_t t0 = unix_ns();
    struct lgw_metrics *m = sample_registry();
    struct lgw_metric_read r;
    assert_int_equal(lgw_metric_read(m, t0, &r), 0);
    static const struct lgw_otlp_kv res[] = {{"service.name", "llmgw-worker"}, {"service.version", "1.2.3"}};
    struct lgw_otlp_meta meta = {res, 2, "llmgw", "1.2.3"};
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    int64_t now = unix_ns();
    assert_int_equal(lgw_otlp_encode_metrics_proto(&meta, r.metrics, r.nmetrics, now, &out), 0);

    struct field top[4], rm[8], resource[8], val[4], sm[64], scope[4];
    size_t n = decode((const uint8_t *)out.ptr, out.len, top, 4);
    assert_int_equal(n, 1);
    const struct field *rmf = one(top, n, 1); /* ExportMetricsServiceRequest.resource_metrics */
    size_t nrm = decode(rmf->p, rmf->len, rm, 8);
    assert_str_field(one(rm, nrm, 3), "https://opentelemetry.io/schemas/1.37.0");
    const struct field *resf = one(rm, nrm, 1);
    size_t nres = decode(resf->p, resf->len, resource, 8);
    size_t nval;
    attr_named(resource, nres, 1, "service.name", val, &nval);
    assert_str_field(one(val, nval, 1), "llmgw-worker");
    const struct field *smf = one(rm, nrm, 2);
    size_t nsm = decode(smf->p, smf->len, sm, 64);
    const struct field *scf = one(sm, nsm, 1);
    size_t nsc = decode(scf->p, scf->len, scope, 4);
    assert_str_field(one(scope, nsc, 1), "llmgw");
    assert_int_equal(count(sm, nsm, 2), r.nmetrics);

    /* The counter: Sum (7), cumulative (2), monotonic, points as_int (6, sfixed64) with start and time. */
    struct field mf[8], sum[8], dp[16];
    size_t nm = find_metric(sm, nsm, "llmgw_http_requests", mf, 8);
    assert_str_field(one(mf, nm, 2), "HTTP requests answered.");
    assert_int_equal(count(mf, nm, 3), 0); /* no unit */
    const struct field *sf = one(mf, nm, 7);
    size_t nsum = decode(sf->p, sf->len, sum, 8);
    assert_int_equal(one(sum, nsum, 2)->v, 2);
    assert_int_equal(one(sum, nsum, 3)->v, 1);
    assert_int_equal(count(sum, nsum, 1), 2);
    const struct field *first = NULL; /* the first data point: status 200 (series in label order) */
    for (size_t i = 0; i < nsum && !first; i++)
        if (sum[i].num == 1)
            first = &sum[i];
    size_t ndp = decode(first->p, first->len, dp, 16);
    assert_start((int64_t)one(dp, ndp, 2)->v, t0, now);
    assert_int_equal(one(dp, ndp, 3)->v, now);
    assert_int_equal(one(dp, ndp, 6)->wire, 1);
    assert_int_equal(one(dp, ndp, 6)->v, 7);
    attr_named(dp, ndp, 7, "status", val, &nval);
    assert_str_field(one(val, nval, 1), "200");

    /* The gauge: Gauge (5), no temporality, no start time. */
    nm = find_metric(sm, nsm, "llmgw_breaker_state", mf, 8);
    const struct field *gf = one(mf, nm, 5);
    struct field gauge[4];
    size_t ng = decode(gf->p, gf->len, gauge, 4);
    assert_int_equal(ng, 1);
    ndp = decode(gauge[0].p, gauge[0].len, dp, 16);
    assert_int_equal(count(dp, ndp, 2), 0);
    assert_int_equal(one(dp, ndp, 6)->v, 2);

    /* The histogram: Histogram (9), cumulative; count, sum, packed bucket_counts and explicit_bounds. */
    nm = find_metric(sm, nsm, "gen_ai.client.operation.duration", mf, 8);
    assert_str_field(one(mf, nm, 3), "s");
    const struct field *hf = one(mf, nm, 9);
    struct field hist[8];
    size_t nh = decode(hf->p, hf->len, hist, 8);
    assert_int_equal(one(hist, nh, 2)->v, 2);
    assert_int_equal(count(hist, nh, 1), 2);
    bool seen_chat = false;
    for (size_t i = 0; i < nh; i++) {
        if (hist[i].num != 1)
            continue;
        ndp = decode(hist[i].p, hist[i].len, dp, 16);
        struct field v2[4];
        size_t nv2;
        attr_named(dp, ndp, 9, "gen_ai.operation.name", v2, &nv2);
        if (one(v2, nv2, 1)->len != 4)
            continue; /* embeddings */
        seen_chat = true;
        assert_int_equal(one(dp, ndp, 4)->v, 4); /* count, fixed64 */
        double sumv;
        uint64_t bits = one(dp, ndp, 5)->v;
        memcpy(&sumv, &bits, 8);
        assert_true(sumv > 1000.4 && sumv < 1000.41);
        const struct field *bc = one(dp, ndp, 6), *eb = one(dp, ndp, 7);
        assert_int_equal(bc->wire, 2);
        assert_int_equal(bc->len, 17 * 8);
        assert_int_equal(eb->len, 16 * 8);
        uint64_t c8 = 0, c16 = 0;
        for (int b = 7; b >= 0; b--) {
            c8 = c8 << 8 | bc->p[8 * 8 + b];
            c16 = c16 << 8 | bc->p[16 * 8 + b];
        }
        assert_int_equal(c8, 2);
        assert_int_equal(c16, 1);
        uint64_t lb = 0;
        for (int b = 7; b >= 0; b--)
            lb = lb << 8 | eb->p[15 * 8 + b];
        double last;
        memcpy(&last, &lb, 8);
        assert_true(last == 60.0);
    }
    assert_true(seen_chat);
    lgw_buf_cleanup(&out);
    lgw_metric_read_cleanup(&r);
    lgw_metrics_free(m);
}

/* ---- JSON */

static json_t *json_metric(json_t *doc, const char *name)
{
    json_t *ms = json_object_get(
        json_array_get(json_object_get(json_array_get(json_object_get(doc, "resourceMetrics"), 0), "scopeMetrics"), 0),
        "metrics");
    size_t i;
    json_t *mt;
    json_array_foreach(ms, i, mt) if (strcmp(json_string_value(json_object_get(mt, "name")), name) == 0) return mt;
    fail_msg("no metric %s", name);
    return NULL;
}

static void test_metrics_json(void **state)
{
    (void)state;
    int64_t t0 = unix_ns();
    struct lgw_metrics *m = sample_registry();
    struct lgw_metric_read r;
    assert_int_equal(lgw_metric_read(m, t0, &r), 0);
    static const struct lgw_otlp_kv res[] = {{"service.name", "llmgw-ledger"}};
    struct lgw_otlp_meta meta = {res, 1, "llmgw", "1.2.3"};
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    assert_int_equal(lgw_otlp_encode_metrics_json(&meta, r.metrics, r.nmetrics, 5000, &out), 0);
    json_error_t err;
    json_t *doc = json_loadb(out.ptr, out.len, 0, &err);
    assert_non_null(doc);
    json_t *sum = json_object_get(json_metric(doc, "llmgw_http_requests"), "sum");
    assert_int_equal(json_integer_value(json_object_get(sum, "aggregationTemporality")), 2);
    assert_true(json_is_true(json_object_get(sum, "isMonotonic")));
    json_t *p0 = json_array_get(json_object_get(sum, "dataPoints"), 0);
    assert_string_equal(json_string_value(json_object_get(p0, "asInt")), "7");
    assert_start(strtoll(json_string_value(json_object_get(p0, "startTimeUnixNano")), NULL, 10), t0, unix_ns());
    assert_string_equal(json_string_value(json_object_get(p0, "timeUnixNano")), "5000");
    json_t *gauge = json_object_get(json_metric(doc, "llmgw_breaker_state"), "gauge");
    assert_null(json_object_get(gauge, "aggregationTemporality"));
    json_t *h = json_metric(doc, "gen_ai.client.operation.duration");
    assert_string_equal(json_string_value(json_object_get(h, "unit")), "s");
    json_t *hp = json_array_get(json_object_get(json_object_get(h, "histogram"), "dataPoints"), 0);
    assert_int_equal(json_array_size(json_object_get(hp, "bucketCounts")), 17);
    assert_int_equal(json_array_size(json_object_get(hp, "explicitBounds")), 16);
    assert_true(json_real_value(json_array_get(json_object_get(hp, "explicitBounds"), 0)) == 0.0005);
    assert_true(json_is_string(json_object_get(hp, "count")));
    json_decref(doc);
    lgw_buf_cleanup(&out);
    lgw_metric_read_cleanup(&r);
    lgw_metrics_free(m);
}

/* ---- the push thread */

static void test_meter_push(void **state)
{
    (void)state;
    struct lgw_upstream *up = lgw_upstream_new();
    assert_non_null(up);
    struct lgw_metrics *m = sample_registry();
    char endpoint[128];
    snprintf(endpoint, sizeof(endpoint), "%s/v1/metrics", lgw_upstream_url(up));
    const char *table[] = {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", endpoint, "OTEL_METRIC_EXPORT_INTERVAL", "100",
                           "OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x-api-key=k", NULL};
    struct lgw_otel_config *c = malloc(sizeof(*c));
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    assert_int_equal(load(table, c, &errs), 0);
    lgw_upstream_push(up, lgw_upstream_answer_new(200));
    lgw_upstream_push(up, lgw_upstream_answer_new(400)); /* refused: counted, not retried */
    lgw_upstream_push(up, lgw_upstream_answer_new(200));
    struct lgw_meter *mt = NULL;
    assert_int_equal(lgw_meter_new(c, "9.9.9", m, &mt), 0);
    assert_non_null(mt);
    assert_true(lgw_upstream_wait_count(up, 3, 10000));
    const struct lgw_upstream_request *req = lgw_upstream_request(up, 0);
    assert_string_equal(req->method, "POST");
    assert_string_equal(req->target, "/v1/metrics");
    assert_string_equal(lgw_upstream_header(req, "content-type"), "application/x-protobuf");
    assert_string_equal(lgw_upstream_header(req, "x-api-key"), "k");
    assert_non_null(memmem(req->body, req->body_len, "gen_ai.client.operation.duration", 32));
    assert_non_null(memmem(req->body, req->body_len, "llmgw-worker", 12)); /* service.name */
    /* The third push carries the outcome of the first two, counted in the registry it reads. */
    const struct lgw_upstream_request *third = lgw_upstream_request(up, 2);
    assert_non_null(memmem(third->body, third->body_len, "llmgw_otel_metric_export_failures", 33));
    lgw_meter_free(mt); /* one last push, answered 400 by the empty queue: one try, never retried */
    assert_int_equal(lgw_metrics_value(m, "llmgw_otel_metric_exports_total", NULL), 2);
    assert_true(lgw_metrics_value(m, "llmgw_otel_metric_export_failures_total", NULL) >= 1);
    size_t seen = lgw_upstream_count(up);
    assert_true(seen >= 4);
    lgw_upstream_free(up);
    lgw_metrics_free(m);
    lgw_buf_cleanup(&errs);
    free(c);
}

/* Disabled: no thread, nothing pushed, the counters still shown. */
static void test_meter_disabled(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_otel_config *c = calloc(1, sizeof(*c));
    struct lgw_meter *mt = (struct lgw_meter *)c; /* overwritten */
    assert_int_equal(lgw_meter_new(c, "1", m, &mt), 0);
    assert_null(mt);
    struct lgw_buf text;
    lgw_buf_init(&text, 0);
    assert_int_equal(lgw_metrics_render(m, &text), 0);
    assert_non_null(strstr(text.ptr, "llmgw_otel_metric_export_failures_total 0"));
    lgw_buf_cleanup(&text);
    lgw_meter_free(NULL);
    free(c);
    lgw_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_metrics),   cmocka_unit_test(test_env_metrics_refused),
        cmocka_unit_test(test_read_registry), cmocka_unit_test(test_metrics_proto),
        cmocka_unit_test(test_metrics_json),  cmocka_unit_test(test_meter_push),
        cmocka_unit_test(test_meter_disabled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
