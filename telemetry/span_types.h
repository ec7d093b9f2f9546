/* span_types.h - the plain types of spans (kind, status) and their limits, shared by the span API
 * (span.h) and the span record the encoders read (span_int.h). */
#ifndef LGW_TELEMETRY_SPAN_TYPES_H
#define LGW_TELEMETRY_SPAN_TYPES_H

/* OTLP's SpanKind values. */
enum lgw_span_kind {
    LGW_SPAN_INTERNAL = 1,
    LGW_SPAN_SERVER = 2,
    LGW_SPAN_CLIENT = 3,
    LGW_SPAN_PRODUCER = 4,
    LGW_SPAN_CONSUMER = 5,
};

/* OTLP's Status.code values. */
enum lgw_span_status { LGW_SPAN_UNSET = 0, LGW_SPAN_OK = 1, LGW_SPAN_ERROR = 2 };

/* Limits per span: past them attributes and events are dropped and counted (the OTLP dropped_* fields). */
#define LGW_SPAN_ATTRS_MAX 32
#define LGW_SPAN_EVENTS_MAX 8
#define LGW_SPAN_VALUE_MAX 1024 /* bytes of one string value (cut on a character boundary) */
#define LGW_SPAN_NAME_MAX 128
/* Bytes of one value set with lgw_span_set_long_strn: captured GenAI content (a JSON document, which a cut
 * would break, so the caller keeps under it). */
#define LGW_SPAN_LONG_VALUE_MAX 16384

#endif
