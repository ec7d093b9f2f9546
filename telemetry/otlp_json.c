/* otlp_json.c - ExportTraceServiceRequest and ExportMetricsServiceRequest in OTLP's JSON mapping (see otlp.h):
 * proto3 JSON with lowerCamelCase keys, trace and span ids as hex (not base64), enums as numbers, 64-bit
 * integers as decimal strings. */
#include "telemetry/otlp.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "common/errors.h"
#include "telemetry/context.h"
#include "telemetry/span_int.h"

static void str(struct lgw_buf *b, const char *s)
{
    lgw_buf_json_string(b, s, strlen(s));
}

static void hex_id(struct lgw_buf *b, const char *key, const uint8_t *id, size_t n)
{
    char hex[33];
    lgw_span_ctx_hex(id, n, hex);
    lgw_buf_printf(b, "\"%s\":\"%s\"", key, hex);
}

static void kv_string(struct lgw_buf *b, const char *key, const char *value)
{
    lgw_buf_puts(b, "{\"key\":");
    str(b, key);
    lgw_buf_puts(b, ",\"value\":{\"stringValue\":");
    str(b, value);
    lgw_buf_puts(b, "}}");
}

static void attr(struct lgw_buf *b, const struct lgw_attr *a)
{
    lgw_buf_puts(b, "{\"key\":");
    str(b, a->key);
    lgw_buf_puts(b, ",\"value\":{");
    switch (a->type) {
    case LGW_ATTR_STR:
        lgw_buf_puts(b, "\"stringValue\":");
        lgw_buf_json_string(b, a->s, a->n);
        break;
    case LGW_ATTR_BOOL:
        lgw_buf_printf(b, "\"boolValue\":%s", a->v.b ? "true" : "false");
        break;
    case LGW_ATTR_INT:
        lgw_buf_printf(b, "\"intValue\":\"%" PRId64 "\"", a->v.i);
        break;
    case LGW_ATTR_DOUBLE:
        /* proto3 JSON: a number, or one of these strings for what JSON numbers cannot say. */
        if (isnan(a->v.d))
            lgw_buf_puts(b, "\"doubleValue\":\"NaN\"");
        else if (isinf(a->v.d))
            lgw_buf_puts(b, a->v.d > 0 ? "\"doubleValue\":\"Infinity\"" : "\"doubleValue\":\"-Infinity\"");
        else
            lgw_buf_printf(b, "\"doubleValue\":%.17g", a->v.d);
        break;
    case LGW_ATTR_STRS: {
        lgw_buf_puts(b, "\"arrayValue\":{\"values\":[");
        const char *s = a->s;
        for (size_t i = 0; i < a->n; i++) {
            lgw_buf_puts(b, i ? ",{\"stringValue\":" : "{\"stringValue\":");
            str(b, s);
            lgw_buf_puts(b, "}");
            s += strlen(s) + 1;
        }
        lgw_buf_puts(b, "]}");
        break;
    }
    }
    lgw_buf_puts(b, "}}");
}

static void span(struct lgw_buf *b, const struct lgw_span *s)
{
    lgw_buf_puts(b, "{");
    hex_id(b, "traceId", s->trace_id, 16);
    lgw_buf_puts(b, ",");
    hex_id(b, "spanId", s->span_id, 8);
    if (s->has_parent) {
        lgw_buf_puts(b, ",");
        hex_id(b, "parentSpanId", s->parent_id, 8);
    }
    if (s->trace_state) {
        lgw_buf_puts(b, ",\"traceState\":");
        str(b, s->trace_state);
    }
    lgw_buf_puts(b, ",\"name\":");
    str(b, s->name);
    lgw_buf_printf(b, ",\"kind\":%d,\"startTimeUnixNano\":\"%" PRId64 "\",\"endTimeUnixNano\":\"%" PRId64 "\"",
                   (int)s->kind, s->start_ns, s->end_ns);
    lgw_buf_puts(b, ",\"attributes\":[");
    for (int i = 0; i < s->nattrs; i++) {
        if (i)
            lgw_buf_puts(b, ",");
        attr(b, &s->attrs[i]);
    }
    lgw_buf_puts(b, "]");
    if (s->dropped_attrs)
        lgw_buf_printf(b, ",\"droppedAttributesCount\":%d", s->dropped_attrs);
    if (s->nevents) {
        lgw_buf_puts(b, ",\"events\":[");
        for (int i = 0; i < s->nevents; i++) {
            lgw_buf_printf(b, "%s{\"timeUnixNano\":\"%" PRId64 "\",\"name\":", i ? "," : "", s->events[i].time_ns);
            str(b, s->events[i].name);
            lgw_buf_puts(b, "}");
        }
        lgw_buf_puts(b, "]");
    }
    if (s->dropped_events)
        lgw_buf_printf(b, ",\"droppedEventsCount\":%d", s->dropped_events);
    if (s->status != LGW_SPAN_UNSET) {
        lgw_buf_printf(b, ",\"status\":{\"code\":%d", (int)s->status);
        if (s->status_msg) {
            lgw_buf_puts(b, ",\"message\":");
            str(b, s->status_msg);
        }
        lgw_buf_puts(b, "}");
    }
    unsigned flags = 0x01 | 0x100 | (s->has_parent && s->parent_remote ? 0x200 : 0); /* as otlp_proto.c */
    lgw_buf_printf(b, ",\"flags\":%u}", flags);
}

int lgw_otlp_encode_json(const struct lgw_otlp_meta *meta, struct lgw_span *const *spans, size_t n,
                         struct lgw_buf *out)
{
    /* Written to an uncapped buffer (appends cannot fail there) and moved to out in one append, which is the
     * one place out's cap can say no. */
    struct lgw_buf all, *b = &all;
    lgw_buf_init(&all, 0);
    lgw_buf_puts(b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    for (size_t i = 0; i < meta->nresource; i++) {
        if (i)
            lgw_buf_puts(b, ",");
        kv_string(b, meta->resource[i].key, meta->resource[i].value);
    }
    lgw_buf_puts(b, "]},\"scopeSpans\":[{\"scope\":{\"name\":");
    str(b, meta->scope_name);
    lgw_buf_puts(b, ",\"version\":");
    str(b, meta->scope_version);
    lgw_buf_puts(b, "},\"spans\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            lgw_buf_puts(b, ",");
        span(b, spans[i]);
    }
    lgw_buf_puts(b, "],\"schemaUrl\":\"" LGW_OTLP_SCHEMA_URL "\"}],\"schemaUrl\":\"" LGW_OTLP_SCHEMA_URL "\"}]}");
    int rc = lgw_buf_append(out, all.ptr, all.len);
    lgw_buf_cleanup(&all);
    return rc;
}

/* ---- metrics ---- */

/* A double as proto3 JSON: a number, or the strings JSON numbers cannot say. */
static void json_double(struct lgw_buf *b, double d)
{
    if (isnan(d))
        lgw_buf_puts(b, "\"NaN\"");
    else if (isinf(d))
        lgw_buf_puts(b, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    else
        lgw_buf_printf(b, "%.17g", d);
}

static void point_json(struct lgw_buf *b, const struct lgw_otlp_metric *mt, const struct lgw_otlp_point *p,
                       int64_t now_ns)
{
    lgw_buf_puts(b, "{\"attributes\":[");
    for (size_t i = 0; i < p->nattrs; i++) {
        if (i)
            lgw_buf_puts(b, ",");
        kv_string(b, p->attrs[i].key, p->attrs[i].value);
    }
    lgw_buf_puts(b, "]");
    if (mt->kind != LGW_OTLP_GAUGE)
        lgw_buf_printf(b, ",\"startTimeUnixNano\":\"%" PRId64 "\"", p->start_ns);
    lgw_buf_printf(b, ",\"timeUnixNano\":\"%" PRId64 "\"", now_ns);
    if (mt->kind == LGW_OTLP_HISTOGRAM) {
        lgw_buf_printf(b, ",\"count\":\"%" PRIu64 "\",\"sum\":", p->count);
        json_double(b, p->sum);
        lgw_buf_puts(b, ",\"bucketCounts\":[");
        for (size_t k = 0; k <= mt->nbounds; k++)
            lgw_buf_printf(b, "%s\"%" PRIu64 "\"", k ? "," : "", p->counts[k]);
        lgw_buf_puts(b, "],\"explicitBounds\":[");
        for (size_t k = 0; k < mt->nbounds; k++) {
            if (k)
                lgw_buf_puts(b, ",");
            json_double(b, mt->bounds[k]);
        }
        lgw_buf_puts(b, "]");
    } else if (p->is_int) {
        lgw_buf_printf(b, ",\"asInt\":\"%" PRId64 "\"", p->i);
    } else {
        lgw_buf_puts(b, ",\"asDouble\":");
        json_double(b, p->d);
    }
    lgw_buf_puts(b, "}");
}

static void metric_json(struct lgw_buf *b, const struct lgw_otlp_metric *mt, int64_t now_ns)
{
    lgw_buf_puts(b, "{\"name\":");
    str(b, mt->name);
    if (mt->description && *mt->description) {
        lgw_buf_puts(b, ",\"description\":");
        str(b, mt->description);
    }
    if (mt->unit && *mt->unit) {
        lgw_buf_puts(b, ",\"unit\":");
        str(b, mt->unit);
    }
    lgw_buf_puts(b, mt->kind == LGW_OTLP_GAUGE ? ",\"gauge\":{\"dataPoints\":["
                    : mt->kind == LGW_OTLP_SUM ? ",\"sum\":{\"dataPoints\":["
                                               : ",\"histogram\":{\"dataPoints\":[");
    for (size_t i = 0; i < mt->npoints; i++) {
        if (i)
            lgw_buf_puts(b, ",");
        point_json(b, mt, &mt->points[i], now_ns);
    }
    lgw_buf_puts(b, "]");
    if (mt->kind != LGW_OTLP_GAUGE)
        lgw_buf_puts(b, ",\"aggregationTemporality\":2"); /* CUMULATIVE */
    if (mt->kind == LGW_OTLP_SUM)
        lgw_buf_puts(b, ",\"isMonotonic\":true");
    lgw_buf_puts(b, "}}");
}

int lgw_otlp_encode_metrics_json(const struct lgw_otlp_meta *meta, const struct lgw_otlp_metric *metrics, size_t n,
                                 int64_t now_ns, struct lgw_buf *out)
{
    struct lgw_buf all, *b = &all; /* uncapped, then moved to out in one append (as for spans) */
    lgw_buf_init(&all, 0);
    lgw_buf_puts(b, "{\"resourceMetrics\":[{\"resource\":{\"attributes\":[");
    for (size_t i = 0; i < meta->nresource; i++) {
        if (i)
            lgw_buf_puts(b, ",");
        kv_string(b, meta->resource[i].key, meta->resource[i].value);
    }
    lgw_buf_puts(b, "]},\"scopeMetrics\":[{\"scope\":{\"name\":");
    str(b, meta->scope_name);
    lgw_buf_puts(b, ",\"version\":");
    str(b, meta->scope_version);
    lgw_buf_puts(b, "},\"metrics\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            lgw_buf_puts(b, ",");
        metric_json(b, &metrics[i], now_ns);
    }
    lgw_buf_puts(b, "],\"schemaUrl\":\"" LGW_OTLP_SCHEMA_URL "\"}],\"schemaUrl\":\"" LGW_OTLP_SCHEMA_URL "\"}]}");
    int rc = lgw_buf_append(out, all.ptr, all.len);
    lgw_buf_cleanup(&all);
    return rc;
}
