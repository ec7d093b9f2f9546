/* span_int.h - a span's record, as the telemetry folder's encoders and exporter read it (see span.h). */
#ifndef LGW_TELEMETRY_SPAN_INT_H
#define LGW_TELEMETRY_SPAN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "telemetry/span_types.h"

enum lgw_attr_type { LGW_ATTR_STR, LGW_ATTR_INT, LGW_ATTR_DOUBLE, LGW_ATTR_BOOL, LGW_ATTR_STRS };

struct lgw_attr {
    const char *key; /* a string literal */
    uint32_t klen;   /* strlen(key): most keys differ in length, so a set rarely compares their bytes */
    enum lgw_attr_type type;
    union {
        int64_t i;
        double d;
        bool b;
    } v;
    char *s;  /* STR: the value (NUL-terminated; a literal's own bytes for lgw_span_set_static); STRS: the values
               * one after another, each NUL-terminated */
    size_t n; /* STR: its length; STRS: how many values */
    bool heap; /* s was malloc'd (it did not fit in the span's arena) */
};

struct lgw_span_event {
    char name[64];
    int64_t time_ns;
};

struct lgw_tracer;

struct lgw_span {
    struct lgw_tracer *tracer;
    uint8_t trace_id[16], span_id[8], parent_id[8];
    bool has_parent, parent_remote;
    char name[LGW_SPAN_NAME_MAX];
    enum lgw_span_kind kind;
    int64_t start_ns, end_ns; /* Unix epoch nanoseconds */
    enum lgw_span_status status;
    char *status_msg; /* NULL: none */
    char *trace_state; /* the W3C tracestate of the span's context (OTLP Span.trace_state); NULL: none. In the
                        * arena, or malloc'd (trace_state_heap) */
    bool trace_state_heap;
    /* Bit (klen % 64) set for every attribute key's length: a key whose bit is clear is not there yet, and is
     * appended without searching the others (most keys of a span differ in length). Before attrs: the pool's
     * reset clears it. */
    uint64_t klens;
    struct lgw_attr attrs[LGW_SPAN_ATTRS_MAX];
    int nattrs, dropped_attrs;
    struct lgw_span_event events[LGW_SPAN_EVENTS_MAX];
    int nevents, dropped_events;
    /* String values live here while they fit (a span's usually do), so a span costs one allocation; larger
     * ones are malloc'd. A replaced value's bytes stay used until the span is freed. */
    char arena[768];
    size_t arena_used;
};

/* Frees what span holds and gives it back to its tracer's pool (or frees it, without a tracer). NULL: a
 * no-op. Any thread. */
void lgw_span_free(struct lgw_span *span);
/* lgw_span_free of spans[0..n) (none NULL), giving them back to their tracer's pool under one lock rather than
 * n: what the export thread does with a batch of 512, while request threads take spans from the same pool. */
void lgw_span_free_many(struct lgw_span **spans, size_t n);
/* Unix epoch nanoseconds now. */
int64_t lgw_span_now_ns(void);

#endif
