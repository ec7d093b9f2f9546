/* otlp.h - spans as an OTLP ExportTraceServiceRequest (opentelemetry-proto, collector/trace/v1): the binary
 * protobuf encoding (http/protobuf) and OTLP's JSON mapping (http/json). Encoded by hand from the .proto
 * field numbers; one resource and one instrumentation scope per request, as one process sends them. */
#ifndef LGW_TELEMETRY_OTLP_H
#define LGW_TELEMETRY_OTLP_H

#include <stddef.h>

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

#endif
