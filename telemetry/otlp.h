/* otlp.h - spans as an OTLP ExportTraceServiceRequest (opentelemetry-proto, collector/trace/v1) and metrics
 * as an ExportMetricsServiceRequest (collector/metrics/v1): the binary protobuf encoding (http/protobuf) and
 * OTLP's JSON mapping (http/json). Encoded by hand from the .proto field numbers; one resource and one
 * instrumentation scope per request, as one process sends them. */
#ifndef LGW_TELEMETRY_OTLP_H
#define LGW_TELEMETRY_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct lgw_span;

/* The semantic-conventions version llmgw's attribute names follow; the schema URL of every request. */
#define LGW_OTLP_SCHEMA_URL "https://opentelemetry.io/schemas/1.37.0"

struct lgw_otlp_kv {
    const char *key, *value;
};

/* Who sent the spans: the resource's string attributes (service.name first, by convention) and the
 * instrumentation scope. Borrowed for the call. */
struct lgw_otlp_meta {
    const struct lgw_otlp_kv *resource;
    size_t nresource;
    const char *scope_name, *scope_version;
};

/* Appends the request for spans[0..n) to out, as protobuf bytes or as JSON text. Returns 0 or
 * LGW_ERR(TOO_LARGE) when out's cap is reached. Any thread. */
int lgw_otlp_encode_proto(const struct lgw_otlp_meta *meta, struct lgw_span *const *spans, size_t n,
                          struct lgw_buf *out);
int lgw_otlp_encode_json(const struct lgw_otlp_meta *meta, struct lgw_span *const *spans, size_t n,
                         struct lgw_buf *out);

/* ---- metrics ---- */

enum lgw_otlp_metric_kind {
    LGW_OTLP_SUM,      /* a counter: monotonic, cumulative */
    LGW_OTLP_GAUGE,
    LGW_OTLP_HISTOGRAM /* explicit bounds, cumulative */
};

/* One series: its attributes and its value. */
struct lgw_otlp_point {
    const struct lgw_otlp_kv *attrs;
    size_t nattrs;
    int64_t start_ns; /* start of the cumulative window (sums and histograms): when the series began */
    bool is_int;      /* sums and gauges: sent as as_int (i), else as_double (d) */
    int64_t i;
    double d;
    /* Histograms: nbounds + 1 counts, NOT cumulative (counts[k] is the values in (bounds[k-1], bounds[k]],
     * the last one those above the last bound), their count and sum. */
    const uint64_t *counts;
    uint64_t count;
    double sum;
};

/* One metric, by its OpenTelemetry name (gen_ai.client.token.usage), with every series. */
struct lgw_otlp_metric {
    const char *name, *description, *unit;
    enum lgw_otlp_metric_kind kind;
    const double *bounds; /* histograms */
    size_t nbounds;
    const struct lgw_otlp_point *points;
    size_t npoints;
};

/* Appends the ExportMetricsServiceRequest for metrics[0..n), observed at now_ns, to out. Returns 0 or
 * LGW_ERR(TOO_LARGE) when out's cap is reached. Any thread. */
int lgw_otlp_encode_metrics_proto(const struct lgw_otlp_meta *meta, const struct lgw_otlp_metric *metrics, size_t n,
                                  int64_t now_ns, struct lgw_buf *out);
int lgw_otlp_encode_metrics_json(const struct lgw_otlp_meta *meta, const struct lgw_otlp_metric *metrics, size_t n,
                                 int64_t now_ns, struct lgw_buf *out);

#endif
