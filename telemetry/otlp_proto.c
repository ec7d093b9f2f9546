/* otlp_proto.c - ExportTraceServiceRequest and ExportMetricsServiceRequest in the protobuf binary encoding
 * (see otlp.h).
 *
 * Field numbers are opentelemetry-proto's (trace/v1/trace.proto, common/v1/common.proto,
 * resource/v1/resource.proto, collector/trace/v1/trace_service.proto). A span, the bulk of every request,
 * is sized first and written in one go (span() below). Other nested messages are written in place after a
 * one-byte length; when one is done and its length needs more bytes, the body moves up to make room: a
 * memmove per level, a few per request (the resource and scope around a batch, metric points). */
#include "telemetry/otlp.h"

#include <string.h>

#include "common/errors.h"
#include "telemetry/span_int.h"

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

struct pb {
    struct lgw_buf *out;
    int rc; /* the first failure (the buffer's cap); later writes are skipped */
};

/* Room for n more bytes at out->ptr + out->len. Inline and one comparison on the way: the encoder writes
 * a few bytes at a time, hundreds of times per span. */
static inline uint8_t *room(struct pb *pb, size_t n)
{
    struct lgw_buf *b = pb->out;
    if (pb->rc)
        return NULL;
    if (b->len + n + 1 > b->cap && (pb->rc = lgw_buf_reserve(b, n)))
        return NULL;
    return (uint8_t *)b->ptr + b->len;
}

static inline void put(struct pb *pb, const void *p, size_t n)
{
    uint8_t *at = room(pb, n);
    if (!at)
        return;
    memcpy(at, p, n);
    pb->out->len += n;
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline size_t varint_write(uint8_t *b, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    return n;
}

static inline void varint(struct pb *pb, uint64_t v)
{
    uint8_t *at = room(pb, 10);
    if (at)
        pb->out->len += varint_write(at, v);
}

static void tag(struct pb *pb, unsigned field, unsigned wire)
{
    varint(pb, (uint64_t)field << 3 | wire);
}

static void f_varint(struct pb *pb, unsigned field, uint64_t v)
{
    tag(pb, field, WT_VARINT);
    varint(pb, v);
}

static void f_fixed64(struct pb *pb, unsigned field, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i)); /* little-endian */
    tag(pb, field, WT_I64);
    put(pb, b, 8);
}

static void f_bytes(struct pb *pb, unsigned field, const void *p, size_t n)
{
    tag(pb, field, WT_LEN);
    varint(pb, n);
    put(pb, p, n);
}

static void f_string(struct pb *pb, unsigned field, const char *s)
{
    f_bytes(pb, field, s, strlen(s));
}

/* Opens a nested message: its tag and a one-byte length placeholder. Returns where its body starts. */
static size_t begin(struct pb *pb, unsigned field)
{
    tag(pb, field, WT_LEN);
    uint8_t zero = 0;
    put(pb, &zero, 1);
    return pb->out->len;
}

/* Closes the message begun at start: writes its length, moving the body up when the length needs more than
 * the one byte reserved. */
static void end(struct pb *pb, size_t start)
{
    if (pb->rc)
        return;
    size_t len = pb->out->len - start, n = varint_len(len);
    if (n > 1) {
        static const uint8_t pad[9];
        put(pb, pad, n - 1);
        if (pb->rc)
            return;
        memmove(pb->out->ptr + start + n - 1, pb->out->ptr + start, len);
    }
    varint_write((uint8_t *)pb->out->ptr + start - 1, len);
}

/* common.v1.KeyValue {1: key, 2: AnyValue value}, AnyValue {1: string, 2: bool, 3: int64, 4: double,
 * 5: ArrayValue {1: repeated AnyValue}}. */
static void kv_string(struct pb *pb, unsigned field, const char *key, const char *value)
{
    size_t kv = begin(pb, field);
    f_string(pb, 1, key);
    size_t any = begin(pb, 2);
    f_string(pb, 1, value);
    end(pb, any);
    end(pb, kv);
}

/* ---- trace.v1.Span: sized first, then written in one go ----
 * A span is a few hundred bytes in a few dozen fields: the encoder computes its exact size from the lengths it
 * already knows, reserves that once, and writes every field through a bare pointer, with no capacity check per
 * field and no body moved for a length that needs two bytes. Field numbers below 16 have a one-byte tag. */

/* Bytes of a LEN field (tag, length, body) with a body of n bytes. */
static inline size_t len_field(size_t n)
{
    return 1 + varint_len(n) + n;
}

/* Bytes of a string array's ArrayValue body: each value an AnyValue holding a string_value. */
static size_t strs_body(const struct lgw_attr *a)
{
    size_t arr = 0;
    const char *v = a->s;
    for (size_t i = 0; i < a->n; i++) {
        size_t len = strlen(v);
        arr += len_field(len_field(len));
        v += len + 1;
    }
    return arr;
}

/* Bytes of attribute a's AnyValue body. */
static size_t any_size(const struct lgw_attr *a)
{
    switch (a->type) {
    case LGW_ATTR_STR:
        return len_field(a->n);
    case LGW_ATTR_BOOL:
        return 2;
    case LGW_ATTR_INT:
        return 1 + varint_len((uint64_t)a->v.i);
    case LGW_ATTR_DOUBLE:
        return 9;
    case LGW_ATTR_STRS:
        return len_field(strs_body(a));
    }
    return 0;
}

static inline uint8_t *w_varint(uint8_t *w, uint64_t v)
{
    return w + varint_write(w, v);
}

static inline uint8_t *w_len(uint8_t *w, unsigned field, size_t n)
{
    *w++ = (uint8_t)(field << 3 | WT_LEN);
    return w_varint(w, n);
}

static inline uint8_t *w_bytes(uint8_t *w, unsigned field, const void *p, size_t n)
{
    w = w_len(w, field, n);
    memcpy(w, p, n);
    return w + n;
}

static inline uint8_t *w_fixed64(uint8_t *w, unsigned field, uint64_t v)
{
    *w++ = (uint8_t)(field << 3 | WT_I64);
    for (int i = 0; i < 8; i++)
        *w++ = (uint8_t)(v >> (8 * i)); /* little-endian */
    return w;
}

static void span(struct pb *pb, const struct lgw_span *s)
{
    size_t kv[LGW_SPAN_ATTRS_MAX], any[LGW_SPAN_ATTRS_MAX], ev[LGW_SPAN_EVENTS_MAX];
    size_t name_len = strlen(s->name), ts_len = s->trace_state ? strlen(s->trace_state) : 0;
    size_t msg_len = s->status_msg ? strlen(s->status_msg) : 0, status = 0;
    size_t size = len_field(16) + len_field(8) + len_field(name_len) + 2 + 9 + 9 + 6; /* ids, name, kind, times,
                                                                                         * flags */
    if (s->trace_state)
        size += len_field(ts_len);
    if (s->has_parent)
        size += len_field(8);
    for (int i = 0; i < s->nattrs; i++) {
        any[i] = any_size(&s->attrs[i]);
        kv[i] = len_field(s->attrs[i].klen) + len_field(any[i]);
        size += len_field(kv[i]);
    }
    if (s->dropped_attrs)
        size += 1 + varint_len((uint64_t)s->dropped_attrs);
    for (int i = 0; i < s->nevents; i++) {
        ev[i] = 9 + len_field(strlen(s->events[i].name));
        size += len_field(ev[i]);
    }
    if (s->dropped_events)
        size += 1 + varint_len((uint64_t)s->dropped_events);
    if (s->status != LGW_SPAN_UNSET) {
        status = (s->status_msg ? len_field(msg_len) : 0) + 2;
        size += len_field(status);
    }
    size_t total = len_field(size);
    uint8_t *w = room(pb, total);
    if (!w)
        return;
    uint8_t *const first = w;
    w = w_len(w, 2, size); /* ScopeSpans.spans */
    w = w_bytes(w, 1, s->trace_id, 16);
    w = w_bytes(w, 2, s->span_id, 8);
    if (s->trace_state)
        w = w_bytes(w, 3, s->trace_state, ts_len);
    if (s->has_parent)
        w = w_bytes(w, 4, s->parent_id, 8);
    w = w_bytes(w, 5, s->name, name_len);
    *w++ = 6 << 3 | WT_VARINT;
    *w++ = (uint8_t)s->kind; /* below 128: one byte */
    w = w_fixed64(w, 7, (uint64_t)s->start_ns);
    w = w_fixed64(w, 8, (uint64_t)s->end_ns);
    for (int i = 0; i < s->nattrs; i++) {
        const struct lgw_attr *a = &s->attrs[i];
        w = w_len(w, 9, kv[i]); /* Span.attributes: KeyValue {1: key, 2: AnyValue} */
        w = w_bytes(w, 1, a->key, a->klen);
        w = w_len(w, 2, any[i]);
        switch (a->type) {
        case LGW_ATTR_STR:
            w = w_bytes(w, 1, a->s, a->n);
            break;
        case LGW_ATTR_BOOL:
            *w++ = 2 << 3 | WT_VARINT;
            *w++ = a->v.b ? 1 : 0;
            break;
        case LGW_ATTR_INT:
            *w++ = 3 << 3 | WT_VARINT;
            w = w_varint(w, (uint64_t)a->v.i); /* int64: two's complement, ten bytes when negative */
            break;
        case LGW_ATTR_DOUBLE: {
            uint64_t bits;
            memcpy(&bits, &a->v.d, 8);
            w = w_fixed64(w, 4, bits);
            break;
        }
        case LGW_ATTR_STRS: {
            w = w_len(w, 5, strs_body(a)); /* AnyValue.array_value */
            const char *v = a->s;
            for (size_t j = 0; j < a->n; j++) {
                size_t len = strlen(v);
                w = w_len(w, 1, len_field(len)); /* ArrayValue.values: AnyValue {1: string_value} */
                w = w_bytes(w, 1, v, len);
                v += len + 1;
            }
            break;
        }
        }
    }
    if (s->dropped_attrs) {
        *w++ = 10 << 3 | WT_VARINT;
        w = w_varint(w, (uint64_t)s->dropped_attrs);
    }
    for (int i = 0; i < s->nevents; i++) {
        w = w_len(w, 11, ev[i]); /* Span.events: Event {1: time, 2: name} */
        w = w_fixed64(w, 1, (uint64_t)s->events[i].time_ns);
        w = w_bytes(w, 2, s->events[i].name, strlen(s->events[i].name));
    }
    if (s->dropped_events) {
        *w++ = 12 << 3 | WT_VARINT;
        w = w_varint(w, (uint64_t)s->dropped_events);
    }
    if (s->status != LGW_SPAN_UNSET) {
        w = w_len(w, 15, status); /* Span.status: Status {2: message, 3: code} */
        if (s->status_msg)
            w = w_bytes(w, 2, s->status_msg, msg_len);
        *w++ = 3 << 3 | WT_VARINT;
        *w++ = (uint8_t)s->status;
    }
    /* SpanFlags (field 16, a two-byte tag): the W3C flags (sampled: every exported span is) and whether the
     * parent is remote. */
    uint32_t flags = 0x01 | 0x100;
    if (s->has_parent && s->parent_remote)
        flags |= 0x200;
    w = w_varint(w, 16 << 3 | WT_I32);
    for (int i = 0; i < 4; i++)
        *w++ = (uint8_t)(flags >> (8 * i));
    pb->out->len += (size_t)(w - first);
}

int lgw_otlp_encode_proto(const struct lgw_otlp_meta *meta, struct lgw_span *const *spans, size_t n,
                          struct lgw_buf *out)
{
    struct pb pb = {out, 0};
    size_t rs = begin(&pb, 1); /* ExportTraceServiceRequest.resource_spans */
    size_t res = begin(&pb, 1); /* ResourceSpans.resource */
    for (size_t i = 0; i < meta->nresource; i++)
        kv_string(&pb, 1, meta->resource[i].key, meta->resource[i].value);
    end(&pb, res);
    size_t ss = begin(&pb, 2); /* ResourceSpans.scope_spans */
    size_t scope = begin(&pb, 1);
    f_string(&pb, 1, meta->scope_name);
    f_string(&pb, 2, meta->scope_version);
    end(&pb, scope);
    for (size_t i = 0; i < n; i++)
        span(&pb, spans[i]);
    f_string(&pb, 3, LGW_OTLP_SCHEMA_URL);
    end(&pb, ss);
    f_string(&pb, 3, LGW_OTLP_SCHEMA_URL);
    end(&pb, rs);
    if (pb.rc == 0)
        out->ptr[out->len] = '\0'; /* as every lgw_buf is (the reserve kept room for it) */
    return pb.rc ? LGW_ERR(TOO_LARGE) : LGW_OK;
}

/* ---- metrics (metrics/v1/metrics.proto, collector/metrics/v1/metrics_service.proto) ---- */

#define AGGREGATION_TEMPORALITY_CUMULATIVE 2

/* One element of a packed fixed64 or double field: 8 bytes, little-endian. */
static void le64(struct pb *pb, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(pb, b, 8);
}

static void f_double(struct pb *pb, unsigned field, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, 8);
    f_fixed64(pb, field, bits);
}

static void point_attrs(struct pb *pb, unsigned field, const struct lgw_otlp_point *p)
{
    for (size_t i = 0; i < p->nattrs; i++)
        kv_string(pb, field, p->attrs[i].key, p->attrs[i].value);
}

/* NumberDataPoint {7: attributes, 2: start_time_unix_nano, 3: time_unix_nano, 4: as_double, 6: as_int}. */
static void number_point(struct pb *pb, const struct lgw_otlp_point *p, bool cumulative, int64_t now_ns)
{
    size_t at = begin(pb, 1); /* Gauge.data_points, Sum.data_points */
    point_attrs(pb, 7, p);
    if (cumulative)
        f_fixed64(pb, 2, (uint64_t)p->start_ns);
    f_fixed64(pb, 3, (uint64_t)now_ns);
    if (p->is_int)
        f_fixed64(pb, 6, (uint64_t)p->i); /* sfixed64 */
    else
        f_double(pb, 4, p->d);
    end(pb, at);
}

/* HistogramDataPoint {9: attributes, 2: start, 3: time, 4: count (fixed64), 5: sum, 6: bucket_counts (packed
 * fixed64), 7: explicit_bounds (packed double)}. */
static void histogram_point(struct pb *pb, const struct lgw_otlp_metric *mt, const struct lgw_otlp_point *p,
                            int64_t now_ns)
{
    size_t at = begin(pb, 1);
    point_attrs(pb, 9, p);
    f_fixed64(pb, 2, (uint64_t)p->start_ns);
    f_fixed64(pb, 3, (uint64_t)now_ns);
    f_fixed64(pb, 4, p->count);
    f_double(pb, 5, p->sum);
    tag(pb, 6, WT_LEN);
    varint(pb, (mt->nbounds + 1) * 8);
    for (size_t k = 0; k <= mt->nbounds; k++)
        le64(pb, p->counts[k]);
    if (mt->nbounds) {
        tag(pb, 7, WT_LEN);
        varint(pb, mt->nbounds * 8);
        for (size_t k = 0; k < mt->nbounds; k++) {
            uint64_t bits;
            memcpy(&bits, &mt->bounds[k], 8);
            le64(pb, bits);
        }
    }
    end(pb, at);
}

/* Metric {1: name, 2: description, 3: unit, 5: gauge, 7: sum, 9: histogram}; Sum {1: data_points,
 * 2: aggregation_temporality, 3: is_monotonic}; Histogram {1: data_points, 2: aggregation_temporality}. */
static void metric(struct pb *pb, const struct lgw_otlp_metric *mt, int64_t now_ns)
{
    size_t at = begin(pb, 2); /* ScopeMetrics.metrics */
    f_string(pb, 1, mt->name);
    if (mt->description && *mt->description)
        f_string(pb, 2, mt->description);
    if (mt->unit && *mt->unit)
        f_string(pb, 3, mt->unit);
    size_t data = begin(pb, mt->kind == LGW_OTLP_GAUGE ? 5 : mt->kind == LGW_OTLP_SUM ? 7 : 9);
    for (size_t i = 0; i < mt->npoints; i++) {
        if (mt->kind == LGW_OTLP_HISTOGRAM)
            histogram_point(pb, mt, &mt->points[i], now_ns);
        else
            number_point(pb, &mt->points[i], mt->kind == LGW_OTLP_SUM, now_ns);
    }
    if (mt->kind != LGW_OTLP_GAUGE)
        f_varint(pb, 2, AGGREGATION_TEMPORALITY_CUMULATIVE);
    if (mt->kind == LGW_OTLP_SUM)
        f_varint(pb, 3, 1);
    end(pb, data);
    end(pb, at);
}

int lgw_otlp_encode_metrics_proto(const struct lgw_otlp_meta *meta, const struct lgw_otlp_metric *metrics, size_t n,
                                  int64_t now_ns, struct lgw_buf *out)
{
    struct pb pb = {out, 0};
    size_t rm = begin(&pb, 1);  /* ExportMetricsServiceRequest.resource_metrics */
    size_t res = begin(&pb, 1); /* ResourceMetrics.resource */
    for (size_t i = 0; i < meta->nresource; i++)
        kv_string(&pb, 1, meta->resource[i].key, meta->resource[i].value);
    end(&pb, res);
    size_t sm = begin(&pb, 2); /* ResourceMetrics.scope_metrics */
    size_t scope = begin(&pb, 1);
    f_string(&pb, 1, meta->scope_name);
    f_string(&pb, 2, meta->scope_version);
    end(&pb, scope);
    for (size_t i = 0; i < n; i++)
        metric(&pb, &metrics[i], now_ns);
    f_string(&pb, 3, LGW_OTLP_SCHEMA_URL);
    end(&pb, sm);
    f_string(&pb, 3, LGW_OTLP_SCHEMA_URL);
    end(&pb, rm);
    if (pb.rc == 0)
        out->ptr[out->len] = '\0';
    return pb.rc ? LGW_ERR(TOO_LARGE) : LGW_OK;
}
