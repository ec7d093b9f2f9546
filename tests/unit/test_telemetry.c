/* test_telemetry.c - the tracing library's pure parts: span contexts, the samplers, the OpenTelemetry
 * environment variables (grpc and other values llmgw cannot honour are refused), span attributes and their
 * limits, and the two OTLP encodings: protobuf bytes decoded here by a minimal decoder written from the .proto
 * field numbers, and JSON read back with jansson. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/errors.h"
#include "common/metrics.h"
#include "telemetry/context.h"
#include "telemetry/otel_env.h"
#include "telemetry/otlp.h"
#include "telemetry/sampler.h"
#include "telemetry/span.h"
#include "telemetry/span_int.h"
#include "telemetry/tracer.h"
#include "tests/support/pb_decode.h"

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

/* ---- contexts */

static void test_ctx_roundtrip(void **state)
{
    (void)state;
    struct lgw_span_ctx c;
    assert_true(lgw_span_ctx_parse(TP, strlen(TP), &c));
    assert_true(c.sampled);
    assert_true(c.remote);
    assert_int_equal(c.trace_id[0], 0x4b);
    assert_int_equal(c.span_id[7], 0xb7);
    char out[LGW_TRACEPARENT_SIZE];
    lgw_span_ctx_format(&c, out);
    assert_string_equal(out, TP);
    c.sampled = false;
    lgw_span_ctx_format(&c, out);
    assert_string_equal(out, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    assert_false(lgw_span_ctx_parse("00-zz", 5, &c));
}

/* ---- samplers */

static struct lgw_span_ctx parent_with(bool sampled)
{
    struct lgw_span_ctx p;
    assert_true(lgw_span_ctx_parse(TP, strlen(TP), &p));
    p.sampled = sampled;
    return p;
}

static void test_sampler_parse(void **state)
{
    (void)state;
    struct lgw_sampler s;
    char why[256];
    assert_int_equal(lgw_sampler_parse(NULL, NULL, &s, why, sizeof(why)), 0);
    assert_int_equal(s.kind, LGW_SAMPLER_PARENTBASED_ALWAYS_ON);
    assert_int_equal(lgw_sampler_parse("traceidratio", "0.25", &s, why, sizeof(why)), 0);
    assert_true(s.ratio == 0.25);
    assert_int_equal(lgw_sampler_parse("jaeger_remote", NULL, &s, why, sizeof(why)), LGW_ERR(CONFIG));
    assert_non_null(strstr(why, "jaeger_remote"));
    assert_int_equal(lgw_sampler_parse("traceidratio", "1.5", &s, why, sizeof(why)), LGW_ERR(CONFIG));
    assert_int_equal(lgw_sampler_parse("traceidratio", "half", &s, why, sizeof(why)), LGW_ERR(CONFIG));
    assert_int_equal(lgw_sampler_parse("parentbased_traceidratio", "nan", &s, why, sizeof(why)), LGW_ERR(CONFIG));
}

static void test_sampler_decisions(void **state)
{
    (void)state;
    struct lgw_sampler s;
    char why[256];
    uint8_t id[16] = {0};
    struct lgw_span_ctx yes = parent_with(true), no = parent_with(false);

    lgw_sampler_parse("always_on", NULL, &s, why, sizeof(why));
    assert_true(lgw_sampler_decide(&s, id, &no)); /* not parent-based: the parent's flag is not asked */
    lgw_sampler_parse("always_off", NULL, &s, why, sizeof(why));
    assert_false(lgw_sampler_decide(&s, id, &yes));
    lgw_sampler_parse("parentbased_always_on", NULL, &s, why, sizeof(why));
    assert_true(lgw_sampler_decide(&s, id, NULL));
    assert_false(lgw_sampler_decide(&s, id, &no));
    assert_true(lgw_sampler_decide(&s, id, &yes));
    lgw_sampler_parse("parentbased_always_off", NULL, &s, why, sizeof(why));
    assert_false(lgw_sampler_decide(&s, id, NULL));
    assert_true(lgw_sampler_decide(&s, id, &yes));

    /* Ratio: the trace id's low 56 bits against ratio * 2^56. */
    lgw_sampler_parse("traceidratio", "0.5", &s, why, sizeof(why));
    id[9] = 0x7f; /* just below half */
    assert_true(lgw_sampler_decide(&s, id, &no));
    id[9] = 0x80; /* half and above */
    assert_false(lgw_sampler_decide(&s, id, &yes));
    lgw_sampler_parse("parentbased_traceidratio", "0.5", &s, why, sizeof(why));
    assert_true(lgw_sampler_decide(&s, id, &yes)); /* a parent decides */
    assert_false(lgw_sampler_decide(&s, id, NULL)); /* a root: the ratio */
    lgw_sampler_parse("traceidratio", "0", &s, why, sizeof(why));
    memset(id, 0, sizeof(id));
    assert_false(lgw_sampler_decide(&s, id, NULL)); /* 0 samples nothing, not even id 0 */
    lgw_sampler_parse("traceidratio", "1", &s, why, sizeof(why));
    memset(id, 0xff, sizeof(id));
    assert_true(lgw_sampler_decide(&s, id, NULL));

    /* Over many random ids a ratio of 0.25 samples about a quarter. */
    lgw_sampler_parse("traceidratio", "0.25", &s, why, sizeof(why));
    int sampled = 0;
    for (int i = 0; i < 4000; i++) {
        lgw_span_ctx_random_id(id, 16);
        sampled += lgw_sampler_decide(&s, id, NULL);
    }
    assert_in_range(sampled, 800, 1200);
}

/* ---- environment */

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
    return lgw_otel_config_load("worker", fake_get, c, errs);
}

static void test_env_defaults(void **state)
{
    (void)state;
    struct lgw_otel_config *c = malloc(sizeof(*c));
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    static const char *const none[] = {NULL};
    assert_int_equal(load(none, c, &errs), 0);
    assert_false(c->traces.enabled); /* nothing exported unless an endpoint is configured */
    assert_string_equal(c->service_name, "llmgw-worker");
    assert_int_equal(c->traces.protocol, LGW_OTLP_HTTP_PROTOBUF);
    assert_int_equal(c->max_queue_size, 2048);
    assert_int_equal(c->max_export_batch_size, 512);
    assert_int_equal(c->schedule_delay_ms, 5000);
    assert_int_equal(c->sampler.kind, LGW_SAMPLER_PARENTBASED_ALWAYS_ON);

    static const char *const base[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/", NULL};
    assert_int_equal(load(base, c, &errs), 0);
    assert_true(c->traces.enabled);
    assert_string_equal(c->traces.endpoint, "http://127.0.0.1:4318/v1/traces");

    static const char *const full[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318",
                                       "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://b/custom/path",
                                       "OTEL_EXPORTER_OTLP_PROTOCOL", "http/json",
                                       "OTEL_SERVICE_NAME", "gw",
                                       "OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=prod, team=a%2Cb,service.name=ignored",
                                       "OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cr%3Dt,Authorization=Bearer abc",
                                       "OTEL_TRACES_SAMPLER", "parentbased_traceidratio",
                                       "OTEL_TRACES_SAMPLER_ARG", "0.1",
                                       "OTEL_BSP_SCHEDULE_DELAY", "200",
                                       NULL};
    assert_int_equal(load(full, c, &errs), 0);
    assert_string_equal(c->traces.endpoint, "https://b/custom/path"); /* the signal's own URL, as given */
    assert_int_equal(c->traces.protocol, LGW_OTLP_HTTP_JSON);
    assert_string_equal(c->service_name, "gw"); /* OTEL_SERVICE_NAME wins over the resource's */
    assert_int_equal(c->nresource, 2);
    assert_string_equal(c->resource[1].key, "team");
    assert_string_equal(c->resource[1].value, "a,b");
    assert_int_equal(c->traces.nheaders, 2);
    assert_string_equal(c->traces.headers[0], "x-api-key: s3cr=t");
    assert_string_equal(c->traces.headers[1], "Authorization: Bearer abc");
    assert_true(c->sampler.ratio == 0.1);
    assert_int_equal(c->schedule_delay_ms, 200);

    assert_false(c->capture_content); /* prompts and completions stay out of spans unless turned on */
    static const char *const capture[] = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "TRUE", NULL};
    assert_int_equal(load(capture, c, &errs), 0);
    assert_true(c->capture_content);
    static const char *const span_only[] = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only", NULL};
    assert_int_equal(load(span_only, c, &errs), 0);
    assert_true(c->capture_content);
    static const char *const no[] = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "false", NULL};
    assert_int_equal(load(no, c, &errs), 0);
    assert_false(c->capture_content);
    static const char *const events[] = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "EVENT_ONLY", NULL};
    assert_int_equal(load(events, c, &errs), 0);
    assert_false(c->capture_content); /* no GenAI events are recorded: nothing captured */

    static const char *const off[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318", "OTEL_SDK_DISABLED", "TRUE", NULL};
    assert_int_equal(load(off, c, &errs), 0);
    assert_false(c->traces.enabled);
    static const char *const none_exp[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318", "OTEL_TRACES_EXPORTER", "none", NULL};
    assert_int_equal(load(none_exp, c, &errs), 0);
    assert_false(c->traces.enabled);
    lgw_buf_cleanup(&errs);
    free(c);
}

static void test_env_refused(void **state)
{
    (void)state;
    struct lgw_otel_config *c = malloc(sizeof(*c));
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    static const char *const grpc[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4317", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", NULL};
    assert_int_equal(load(grpc, c, &errs), LGW_ERR(CONFIG));
    assert_false(c->traces.enabled);
    assert_non_null(strstr(errs.ptr, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported"));
    static const char *const grpc_traces[] = {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc", NULL};
    assert_int_equal(load(grpc_traces, c, &errs), LGW_ERR(CONFIG)); /* refused even with no endpoint yet */
    assert_non_null(strstr(errs.ptr, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc"));
    /* A malformed header list is refused without echoing what may be a secret. */
    static const char *const hdr[] = {"OTEL_EXPORTER_OTLP_HEADERS", "api-key-without-value-SECRET", NULL};
    assert_int_equal(load(hdr, c, &errs), LGW_ERR(CONFIG));
    assert_null(strstr(errs.ptr, "SECRET"));
    static const char *const bad[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318",
                                      "OTEL_TRACES_EXPORTER", "zipkin",
                                      "OTEL_TRACES_SAMPLER", "xray",
                                      "OTEL_BSP_MAX_QUEUE_SIZE", "10",
                                      "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "20",
                                      "OTEL_EXPORTER_OTLP_TIMEOUT", "-1",
                                      "OTEL_RESOURCE_ATTRIBUTES", "novalue",
                                      "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "yes",
                                      NULL};
    assert_int_equal(load(bad, c, &errs), LGW_ERR(CONFIG));
    /* Every problem is reported, one line each. */
    assert_non_null(strstr(errs.ptr, "OTEL_EXPORTER_OTLP_ENDPOINT: expected an http:// or https:// URL"));
    assert_non_null(strstr(errs.ptr, "OTEL_TRACES_EXPORTER=zipkin"));
    assert_non_null(strstr(errs.ptr, "OTEL_TRACES_SAMPLER=xray"));
    assert_non_null(strstr(errs.ptr, "is larger than OTEL_BSP_MAX_QUEUE_SIZE"));
    assert_non_null(strstr(errs.ptr, "OTEL_EXPORTER_OTLP_TIMEOUT=-1"));
    assert_non_null(strstr(errs.ptr, "OTEL_RESOURCE_ATTRIBUTES"));
    assert_non_null(strstr(errs.ptr, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=yes: expected true or false"));
    lgw_buf_cleanup(&errs);
    free(c);
}

/* ---- spans */

/* A recorded span without an exporter: tracing "on" with every span kept by the test (never ended). */
static struct lgw_span *test_span(const char *name, enum lgw_span_kind kind, const struct lgw_span_ctx *parent)
{
    struct lgw_span *s = lgw_calloc(1, sizeof(*s));
    memset(s->trace_id, 0x11, 16);
    memset(s->span_id, 0x22, 8);
    if (parent) {
        memcpy(s->trace_id, parent->trace_id, 16);
        memcpy(s->parent_id, parent->span_id, 8);
        s->has_parent = true;
        s->parent_remote = parent->remote;
    }
    lgw_strlcpy(s->name, name, sizeof(s->name));
    s->kind = kind;
    s->start_ns = 1700000000000000000LL;
    s->end_ns = 1700000000123456789LL;
    return s;
}

static void test_span_without_tracer(void **state)
{
    (void)state;
    struct lgw_span_ctx parent = parent_with(false), ctx;
    /* Tracing off: nothing is recorded, and the context passes through as it came. */
    struct lgw_span *s = lgw_span_start(NULL, "x", LGW_SPAN_SERVER, &parent, &ctx);
    assert_null(s);
    assert_memory_equal(ctx.trace_id, parent.trace_id, 16);
    assert_memory_equal(ctx.span_id, parent.span_id, 8);
    assert_false(ctx.sampled);
    /* No parent: a new sampled root, as the traceparent always started. */
    assert_null(lgw_span_start(NULL, "x", LGW_SPAN_SERVER, NULL, &ctx));
    assert_true(ctx.sampled);
    /* Every call takes NULL. */
    lgw_span_set_str(s, "k", "v");
    lgw_span_set_int(s, "k", 1);
    lgw_span_add_event(s, "e");
    lgw_span_set_status(s, LGW_SPAN_ERROR, "x");
    assert_null(lgw_span_child(s, "c", LGW_SPAN_INTERNAL));
    char tp[LGW_TRACEPARENT_SIZE];
    lgw_span_traceparent(s, tp);
    assert_string_equal(tp, "");
    lgw_span_end(&s);
    lgw_span_discard(&s);
}

static void test_span_attributes(void **state)
{
    (void)state;
    struct lgw_span *s = test_span("a", LGW_SPAN_INTERNAL, NULL);
    lgw_span_set_str(s, "k", "one");
    lgw_span_set_str(s, "k", "two"); /* replaced, not added */
    assert_int_equal(s->nattrs, 1);
    assert_string_equal(s->attrs[0].s, "two");
    /* Not UTF-8: '?' in its place; a value is cut on a character boundary. */
    lgw_span_set_str(s, "bad", "a\xff" "b\xc3");
    assert_string_equal(s->attrs[1].s, "a?b?");
    char *long_value = malloc(LGW_SPAN_VALUE_MAX + 10);
    memset(long_value, 'x', LGW_SPAN_VALUE_MAX + 9);
    memcpy(long_value + LGW_SPAN_VALUE_MAX - 1, "\xc3\xa9", 2); /* é across the cut */
    long_value[LGW_SPAN_VALUE_MAX + 9] = '\0';
    lgw_span_set_str(s, "long", long_value);
    assert_int_equal(s->attrs[2].n, LGW_SPAN_VALUE_MAX - 1);
    free(long_value);
    /* A long value (captured content) keeps up to LGW_SPAN_LONG_VALUE_MAX bytes. */
    char *content = malloc(LGW_SPAN_LONG_VALUE_MAX + 100);
    memset(content, 'c', LGW_SPAN_LONG_VALUE_MAX + 100);
    lgw_span_set_long_strn(s, "gen_ai.input.messages", content, 5000);
    assert_int_equal(s->attrs[3].n, 5000);
    assert_true(s->attrs[3].heap);
    lgw_span_set_long_strn(s, "gen_ai.input.messages", content, LGW_SPAN_LONG_VALUE_MAX + 100);
    assert_int_equal(s->nattrs, 4);
    assert_int_equal(s->attrs[3].n, LGW_SPAN_LONG_VALUE_MAX);
    free(content);
    assert_false(lgw_span_captures_content(s)); /* no tracer: no capture */
    assert_false(lgw_span_captures_content(NULL));
    /* The tracestate: set, replaced, cleared. */
    assert_null(lgw_span_trace_state(s));
    lgw_span_set_trace_state(s, "a=1");
    lgw_span_set_trace_state(s, "b=2");
    assert_string_equal(lgw_span_trace_state(s), "b=2");
    lgw_span_set_trace_state(s, "");
    assert_null(lgw_span_trace_state(s));
    lgw_span_set_trace_state(s, "c=3");
    /* A literal is kept by pointer; replacing it with a copy (or a copy with it) frees nothing it must not. */
    static const char kafka[] = "kafka";
    lgw_span_set_static(s, "messaging.system", kafka);
    assert_ptr_equal(s->attrs[4].s, kafka);
    assert_int_equal(s->attrs[4].n, 5);
    assert_false(s->attrs[4].heap);
    lgw_span_set_str(s, "messaging.system", "kafka2");
    assert_string_equal(s->attrs[4].s, "kafka2");
    lgw_span_set_long_strn(s, "messaging.system", "x", 1);
    lgw_span_set_static(s, "messaging.system", kafka); /* the heap copy is freed, the literal kept */
    assert_ptr_equal(s->attrs[4].s, kafka);
    assert_int_equal(s->nattrs, 5);
    for (int i = 0; i < LGW_SPAN_EVENTS_MAX + 2; i++)
        lgw_span_add_event(s, "e");
    assert_int_equal(s->nevents, LGW_SPAN_EVENTS_MAX);
    assert_int_equal(s->dropped_events, 2);
    lgw_span_free(s);
}

static void test_span_cap(void **state)
{
    (void)state;
    static const char *const keys[] = {"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "b0", "b1",
                                       "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9", "c0", "c1", "c2", "c3",
                                       "c4", "c5", "c6", "c7", "c8", "c9", "d0", "d1", "d2", "d3", "d4"};
    _Static_assert(sizeof(keys) / sizeof(keys[0]) == LGW_SPAN_ATTRS_MAX + 3, "three past the cap");
    struct lgw_span *s = test_span("a", LGW_SPAN_INTERNAL, NULL);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        lgw_span_set_int(s, keys[i], (int64_t)i);
    assert_int_equal(s->nattrs, LGW_SPAN_ATTRS_MAX);
    assert_int_equal(s->dropped_attrs, 3);
    lgw_span_free(s);
}

/* ---- protobuf, read back by a minimal decoder (tests/support/pb_decode.h) */

static void test_proto_encoding(void **state)
{
    (void)state;
    struct lgw_span_ctx remote = parent_with(true);
    struct lgw_span *s = test_span("POST /v1/chat/completions", LGW_SPAN_SERVER, &remote);
    char big[300];
    memset(big, 'u', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    lgw_span_set_str(s, "user_agent.original", big); /* a length past 127: the two-byte length path */
    lgw_span_set_int(s, "http.response.status_code", 200);
    lgw_span_set_int(s, "neg", -5);
    lgw_span_set_double(s, "llmgw.cost_usd", 0.25);
    lgw_span_set_bool(s, "flag", true);
    static const char *const reasons[] = {"stop", "length"};
    lgw_span_set_strs(s, "gen_ai.response.finish_reasons", reasons, 2);
    lgw_span_add_event(s, "llmgw.reply");
    lgw_span_set_status(s, LGW_SPAN_ERROR, "upstream 503");
    lgw_span_set_trace_state(s, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    struct lgw_span *root = test_span("root", LGW_SPAN_INTERNAL, NULL);
    struct lgw_span *spans[] = {s, root};
    const struct lgw_otlp_kv res[] = {{"service.name", "llmgw-ingress"}, {"service.version", "0.1.0"}};
    struct lgw_otlp_meta meta = {res, 2, "llmgw", "0.1.0"};
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    assert_int_equal(lgw_otlp_encode_proto(&meta, spans, 2, &out), 0);

    struct field req[4], rs[8], resource[8], ss[8], scope[4], sp[32], val[4], sub[8];
    size_t n = decode((const uint8_t *)out.ptr, out.len, req, 4);
    assert_int_equal(n, 1);
    const struct field *f = one(req, n, 1); /* ExportTraceServiceRequest.resource_spans */
    size_t nrs = decode(f->p, f->len, rs, 8);
    assert_str_field(one(rs, nrs, 3), LGW_OTLP_SCHEMA_URL);
    f = one(rs, nrs, 1); /* Resource */
    size_t nres = decode(f->p, f->len, resource, 8);
    assert_int_equal(count(resource, nres, 1), 2);
    size_t nv;
    attr_named(resource, nres, 1, "service.name", val, &nv);
    assert_str_field(one(val, nv, 1), "llmgw-ingress");
    f = one(rs, nrs, 2); /* ScopeSpans */
    size_t nss = decode(f->p, f->len, ss, 8);
    f = one(ss, nss, 1);
    size_t nscope = decode(f->p, f->len, scope, 4);
    assert_str_field(one(scope, nscope, 1), "llmgw");
    assert_str_field(one(scope, nscope, 2), "0.1.0");
    assert_int_equal(count(ss, nss, 2), 2);
    f = &ss[1];
    assert_int_equal(f->num, 2);
    size_t nsp = decode(f->p, f->len, sp, 32);

    const struct field *id = one(sp, nsp, 1);
    assert_int_equal(id->len, 16);
    assert_memory_equal(id->p, remote.trace_id, 16);
    assert_memory_equal(one(sp, nsp, 2)->p, s->span_id, 8);
    assert_memory_equal(one(sp, nsp, 4)->p, remote.span_id, 8);
    assert_str_field(one(sp, nsp, 3), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"); /* Span.trace_state */
    assert_str_field(one(sp, nsp, 5), "POST /v1/chat/completions");
    assert_int_equal(one(sp, nsp, 6)->v, 2); /* SERVER */
    assert_int_equal(one(sp, nsp, 7)->wire, 1);
    assert_int_equal(one(sp, nsp, 7)->v, 1700000000000000000ULL);
    assert_int_equal(one(sp, nsp, 8)->v, 1700000000123456789ULL);
    assert_int_equal(one(sp, nsp, 16)->wire, 5);
    assert_int_equal(one(sp, nsp, 16)->v, 0x301); /* sampled, has-is-remote, remote parent */
    assert_int_equal(count(sp, nsp, 9), 6);

    attr_named(sp, nsp, 9, "user_agent.original", val, &nv);
    assert_int_equal(one(val, nv, 1)->len, sizeof(big) - 1);
    attr_named(sp, nsp, 9, "http.response.status_code", val, &nv);
    assert_int_equal(one(val, nv, 3)->v, 200);
    attr_named(sp, nsp, 9, "neg", val, &nv);
    assert_int_equal((int64_t)one(val, nv, 3)->v, -5); /* two's complement, ten bytes */
    attr_named(sp, nsp, 9, "llmgw.cost_usd", val, &nv);
    uint64_t bits = one(val, nv, 4)->v;
    double d;
    memcpy(&d, &bits, 8);
    assert_true(d == 0.25);
    attr_named(sp, nsp, 9, "flag", val, &nv);
    assert_int_equal(one(val, nv, 2)->v, 1);
    attr_named(sp, nsp, 9, "gen_ai.response.finish_reasons", val, &nv);
    f = one(val, nv, 5); /* ArrayValue */
    size_t narr = decode(f->p, f->len, sub, 8);
    assert_int_equal(count(sub, narr, 1), 2);
    struct field inner[2];
    size_t ni = decode(sub[1].p, sub[1].len, inner, 2);
    assert_str_field(one(inner, ni, 1), "length");

    f = one(sp, nsp, 11); /* Event */
    size_t nev = decode(f->p, f->len, sub, 8);
    assert_str_field(one(sub, nev, 2), "llmgw.reply");
    assert_int_equal(one(sub, nev, 1)->wire, 1);
    f = one(sp, nsp, 15); /* Status */
    size_t nst = decode(f->p, f->len, sub, 8);
    assert_int_equal(one(sub, nst, 3)->v, 2);
    assert_str_field(one(sub, nst, 2), "upstream 503");

    /* The root span has no parent field and a local flag. */
    nsp = decode(ss[2].p, ss[2].len, sp, 32);
    assert_int_equal(count(sp, nsp, 4), 0);
    assert_int_equal(count(sp, nsp, 3), 0); /* no tracestate: no field */
    assert_int_equal(one(sp, nsp, 16)->v, 0x101);
    assert_int_equal(count(sp, nsp, 15), 0); /* status unset: not sent */

    lgw_buf_cleanup(&out);
    lgw_span_free(s);
    lgw_span_free(root);
}

/* Bytes derived by hand from the .proto for the smallest request: one resource attribute, one span with
 * no parent and no attributes. Its ResourceSpans is 163 bytes long: a two-byte length, so the body moved. */
static void test_proto_known_bytes(void **state)
{
    (void)state;
    struct lgw_span *s = test_span("n", LGW_SPAN_INTERNAL, NULL);
    s->start_ns = 1;
    s->end_ns = 2;
    struct lgw_span *spans[] = {s};
    const struct lgw_otlp_kv res[] = {{"k", "v"}};
    struct lgw_otlp_meta meta = {res, 1, "s", "1"};
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    assert_int_equal(lgw_otlp_encode_proto(&meta, spans, 1, &out), 0);
    assert_int_equal(strlen(LGW_OTLP_SCHEMA_URL), 39);
    static const uint8_t head[] = {
        0x0a, 0xa3, 0x01,       /* ExportTraceServiceRequest.resource_spans (1, LEN), 163 bytes */
        0x0a, 0x0a,             /* ResourceSpans.resource (1), 10 bytes */
        0x0a, 0x08,             /* Resource.attributes (1): KeyValue, 8 bytes */
        0x0a, 0x01, 'k',        /* KeyValue.key (1) */
        0x12, 0x03, 0x0a, 0x01, 'v', /* KeyValue.value (2): AnyValue.string_value (1) */
        0x12, 0x6c,             /* ResourceSpans.scope_spans (2), 108 bytes */
        0x0a, 0x06, 0x0a, 0x01, 's', 0x12, 0x01, '1', /* ScopeSpans.scope (1): name (1), version (2) */
        0x12, 0x39,             /* ScopeSpans.spans (2), 57 bytes */
        0x0a, 0x10, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
        0x12, 0x08, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, /* Span.span_id (2) */
        0x2a, 0x01, 'n',        /* Span.name (5) */
        0x30, 0x01,             /* Span.kind (6, VARINT): INTERNAL */
        0x39, 1, 0, 0, 0, 0, 0, 0, 0, /* Span.start_time_unix_nano (7, I64) */
        0x41, 2, 0, 0, 0, 0, 0, 0, 0, /* Span.end_time_unix_nano (8, I64) */
        0x85, 0x01, 0x01, 0x01, 0x00, 0x00, /* Span.flags (16, I32): 0x101 */
        0x1a, 0x27,             /* ScopeSpans.schema_url (3), 39 bytes */
    };
    assert_int_equal(out.len, 3 + 163);
    assert_memory_equal(out.ptr, head, sizeof(head));
    assert_memory_equal(out.ptr + sizeof(head), LGW_OTLP_SCHEMA_URL, 39);
    static const uint8_t tail[] = {0x1a, 0x27}; /* ResourceSpans.schema_url (3) */
    assert_memory_equal(out.ptr + sizeof(head) + 39, tail, 2);
    assert_memory_equal(out.ptr + sizeof(head) + 41, LGW_OTLP_SCHEMA_URL, 39);
    lgw_buf_cleanup(&out);
    lgw_span_free(s);
}

/* ---- JSON */

static void test_json_encoding(void **state)
{
    (void)state;
    struct lgw_span_ctx remote = parent_with(true);
    struct lgw_span *s = test_span("send llmgw.jobs.chat", LGW_SPAN_PRODUCER, &remote);
    lgw_span_set_str(s, "messaging.system", "kafka");
    lgw_span_set_int(s, "messaging.kafka.offset", 9007199254740993LL); /* past a double's exact integers */
    lgw_span_set_double(s, "d", 1.5);
    lgw_span_set_bool(s, "b", false);
    static const char *const reasons[] = {"stop"};
    lgw_span_set_strs(s, "gen_ai.response.finish_reasons", reasons, 1);
    lgw_span_set_str(s, "quote", "a\"b\n");
    lgw_span_add_event(s, "ev");
    lgw_span_set_status(s, LGW_SPAN_ERROR, "bad");
    lgw_span_set_trace_state(s, "congo=t61rcWkgMzE");
    struct lgw_span *spans[] = {s};
    const struct lgw_otlp_kv res[] = {{"service.name", "llmgw-worker"}};
    struct lgw_otlp_meta meta = {res, 1, "llmgw", "0.1.0"};
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    assert_int_equal(lgw_otlp_encode_json(&meta, spans, 1, &out), 0);
    json_error_t err;
    json_t *doc = json_loadb(out.ptr, out.len, 0, &err);
    assert_non_null(doc);
    json_t *rs = json_array_get(json_object_get(doc, "resourceSpans"), 0);
    assert_string_equal(json_string_value(json_object_get(rs, "schemaUrl")), LGW_OTLP_SCHEMA_URL);
    json_t *rattr = json_array_get(json_object_get(json_object_get(rs, "resource"), "attributes"), 0);
    assert_string_equal(json_string_value(json_object_get(rattr, "key")), "service.name");
    assert_string_equal(json_string_value(json_object_get(json_object_get(rattr, "value"), "stringValue")), "llmgw-worker");
    json_t *ss = json_array_get(json_object_get(rs, "scopeSpans"), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(ss, "scope"), "name")), "llmgw");
    json_t *sp = json_array_get(json_object_get(ss, "spans"), 0);
    assert_string_equal(json_string_value(json_object_get(sp, "traceId")), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(json_string_value(json_object_get(sp, "spanId")), "2222222222222222");
    assert_string_equal(json_string_value(json_object_get(sp, "parentSpanId")), "00f067aa0ba902b7");
    assert_string_equal(json_string_value(json_object_get(sp, "traceState")), "congo=t61rcWkgMzE");
    assert_int_equal(json_integer_value(json_object_get(sp, "kind")), 4);
    assert_string_equal(json_string_value(json_object_get(sp, "startTimeUnixNano")), "1700000000000000000");
    assert_string_equal(json_string_value(json_object_get(sp, "endTimeUnixNano")), "1700000000123456789");
    assert_int_equal(json_integer_value(json_object_get(sp, "flags")), 0x301);
    json_t *attrs = json_object_get(sp, "attributes");
    assert_int_equal(json_array_size(attrs), 6);
    json_t *v = json_object_get(json_array_get(attrs, 1), "value");
    assert_string_equal(json_string_value(json_object_get(v, "intValue")), "9007199254740993"); /* int64 as a string */
    v = json_object_get(json_array_get(attrs, 2), "value");
    assert_true(json_real_value(json_object_get(v, "doubleValue")) == 1.5);
    v = json_object_get(json_array_get(attrs, 3), "value");
    assert_true(json_is_false(json_object_get(v, "boolValue")));
    v = json_object_get(json_array_get(attrs, 4), "value");
    json_t *vals = json_object_get(json_object_get(v, "arrayValue"), "values");
    assert_string_equal(json_string_value(json_object_get(json_array_get(vals, 0), "stringValue")), "stop");
    v = json_object_get(json_array_get(attrs, 5), "value");
    assert_string_equal(json_string_value(json_object_get(v, "stringValue")), "a\"b\n");
    json_t *ev = json_array_get(json_object_get(sp, "events"), 0);
    assert_string_equal(json_string_value(json_object_get(ev, "name")), "ev");
    json_t *st = json_object_get(sp, "status");
    assert_int_equal(json_integer_value(json_object_get(st, "code")), 2);
    assert_string_equal(json_string_value(json_object_get(st, "message")), "bad");
    json_decref(doc);
    lgw_buf_cleanup(&out);
    lgw_span_free(s);
}

/* ---- a tracer whose sampler says no records nothing, but the decision travels */

static void test_tracer_sampling_travels(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_otel_config *c = malloc(sizeof(*c));
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    /* A tracer whose endpoint nobody serves: nothing here is ever exported (every span is unsampled). */
    static const char *const env[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9", "OTEL_TRACES_SAMPLER",
                                      "always_off", NULL};
    assert_int_equal(load(env, c, &errs), 0);
    struct lgw_tracer *tr;
    assert_int_equal(lgw_tracer_new(c, "test", m, &tr), 0);
    assert_non_null(tr);
    struct lgw_span_ctx ctx, parent = parent_with(true);
    assert_null(lgw_span_start(tr, "root", LGW_SPAN_SERVER, NULL, &ctx));
    assert_false(ctx.sampled); /* the "no" travels in the flag */
    assert_null(lgw_span_start(tr, "child", LGW_SPAN_SERVER, &parent, &ctx));
    assert_false(ctx.sampled);
    assert_memory_equal(ctx.trace_id, parent.trace_id, 16); /* same trace, a span id of its own */
    assert_memory_not_equal(ctx.span_id, parent.span_id, 8);
    lgw_tracer_free(tr);
    /* The metrics exist from the start, at 0. */
    assert_int_equal(lgw_metrics_value(m, "llmgw_otel_spans_dropped_total", "reason=\"queue_full\""), 0);
    struct lgw_buf text;
    lgw_buf_init(&text, 0);
    lgw_metrics_render(m, &text);
    assert_non_null(strstr(text.ptr, "llmgw_otel_spans_exported_total 0"));
    assert_non_null(strstr(text.ptr, "llmgw_otel_export_failures_total 0"));
    lgw_buf_cleanup(&text);
    lgw_buf_cleanup(&errs);
    free(c);
    lgw_metrics_free(m);
}

/* A recorded span's children inherit its tracestate; content capture is the tracer's switch. */
static void test_tracer_capture_and_trace_state(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_otel_config *c = malloc(sizeof(*c));
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    for (int on = 0; on < 2; on++) {
        /* Spans are discarded, never ended: nothing is exported to the endpoint nobody serves. */
        static const char *const env_off[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9", NULL};
        static const char *const env_on[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9",
                                             "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true", NULL};
        assert_int_equal(load(on ? env_on : env_off, c, &errs), 0);
        struct lgw_tracer *tr;
        assert_int_equal(lgw_tracer_new(c, "test", m, &tr), 0);
        assert_int_equal(lgw_tracer_captures_content(tr), on);
        struct lgw_span_ctx parent = parent_with(true);
        struct lgw_span *root = lgw_span_start(tr, "root", LGW_SPAN_CONSUMER, &parent, NULL);
        assert_non_null(root);
        assert_int_equal(lgw_span_captures_content(root), on);
        lgw_span_set_trace_state(root, "rojo=00f067aa0ba902b7");
        struct lgw_span *child = lgw_span_child(root, "route", LGW_SPAN_INTERNAL);
        struct lgw_span *plain = lgw_span_start(tr, "other", LGW_SPAN_INTERNAL, &parent, NULL);
        assert_string_equal(lgw_span_trace_state(child), "rojo=00f067aa0ba902b7");
        assert_null(lgw_span_trace_state(plain)); /* set where the context arrives, not guessed */
        lgw_span_discard(&child);
        lgw_span_discard(&plain);
        lgw_span_discard(&root);
        lgw_tracer_free(tr);
    }
    assert_false(lgw_tracer_captures_content(NULL));
    lgw_buf_cleanup(&errs);
    free(c);
    lgw_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctx_roundtrip),        cmocka_unit_test(test_sampler_parse),
        cmocka_unit_test(test_sampler_decisions),    cmocka_unit_test(test_env_defaults),
        cmocka_unit_test(test_env_refused),          cmocka_unit_test(test_span_without_tracer),
        cmocka_unit_test(test_span_attributes),      cmocka_unit_test(test_span_cap),
        cmocka_unit_test(test_proto_encoding),       cmocka_unit_test(test_proto_known_bytes),
        cmocka_unit_test(test_json_encoding),        cmocka_unit_test(test_tracer_sampling_travels),
        cmocka_unit_test(test_tracer_capture_and_trace_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
