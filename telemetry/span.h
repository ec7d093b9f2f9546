/* span.h - spans: one timed operation of a request (an HTTP request served, a Kafka record sent or
 * processed, a routing decision, a provider call, one HTTP attempt), with its attributes, kept in a tree by
 * parent ids and exported over OTLP when it ends (telemetry/tracer.h).
 *
 * A span that is not recorded is NULL: every function here is a no-op on NULL, so call sites never ask
 * whether tracing is on, sampled, or configured at all. The context to propagate (lgw_span_start's ctx) exists
 * either way: without a tracer it is the parent passed through unchanged, or a new sampled root, as the
 * traceparent has always travelled.
 *
 * Ownership and threads: lgw_span_start returns a span the caller owns until lgw_span_end, which takes it (the
 * exporter frees it) and clears the caller's pointer. A span is used by one thread at a time, its owner's; it
 * may move between threads the way the work it times moves (a pool queue, a loop task), never be shared.
 * Attribute names are string literals (kept by pointer); values are copied. Prompts and completions are never
 * attributes, unless the operator turned content capture on (lgw_span_captures_content). */
#ifndef LGW_TELEMETRY_SPAN_H
#define LGW_TELEMETRY_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "telemetry/context.h"
#include "telemetry/span_types.h"

struct lgw_tracer;
struct lgw_span;

/* Starts a span named name (copied, cut at LGW_SPAN_NAME_MAX) of kind under parent (NULL: a new trace). tr
 * NULL (tracing off) or a sampler that says no: returns NULL. ctx (may be NULL) receives the context to
 * propagate to whatever this span causes (a Kafka record's traceparent): with a tracer, the new span's
 * (sampled or not, so the decision travels); without one, *parent unchanged, or a new sampled root when
 * parent is NULL. Any thread. */
struct lgw_span *lgw_span_start(struct lgw_tracer *tr, const char *name, enum lgw_span_kind kind,
                                const struct lgw_span_ctx *parent, struct lgw_span_ctx *ctx);
/* A child of parent in the same trace (parent NULL: NULL). The parent's owner starts it; the child has its
 * own owner from then on, and may end before or after its parent. */
struct lgw_span *lgw_span_child(const struct lgw_span *parent, const char *name, enum lgw_span_kind kind);
/* The span's context (local), for children started with lgw_span_start or for a record's traceparent.
 * Returns false (and leaves *ctx alone) for NULL. */
bool lgw_span_context(const struct lgw_span *span, struct lgw_span_ctx *ctx);
/* The span's traceparent into out, or "" for NULL: what logs print as trace_id and span_id. */
void lgw_span_traceparent(const struct lgw_span *span, char out[LGW_TRACEPARENT_SIZE]);
/* What a log line about work under span carries (common/log.h, LGW_LOG_TP): span's traceparent written to
 * buf when it is recorded, else fallback (the context the work came with; may be NULL). */
const char *lgw_span_log_tp(const struct lgw_span *span, const char *fallback, char buf[LGW_TRACEPARENT_SIZE]);

/* Attributes: set, or replace the value of the same name. Strings are copied (cut at LGW_SPAN_VALUE_MAX;
 * bytes that are not UTF-8 become '?', since OTLP strings must be UTF-8); NULL value: nothing is set. */
void lgw_span_set_str(struct lgw_span *span, const char *key, const char *value);
void lgw_span_set_strn(struct lgw_span *span, const char *key, const char *value, size_t len);
void lgw_span_set_int(struct lgw_span *span, const char *key, int64_t value);
void lgw_span_set_double(struct lgw_span *span, const char *key, double value);
void lgw_span_set_bool(struct lgw_span *span, const char *key, bool value);
/* A string attribute whose value is a string literal (or lives as long as the process), kept by pointer like
 * the key: no copy, no UTF-8 pass (it must be valid UTF-8). For the constant values most spans carry
 * ("kafka", "process", "send"): a request's spans set a few dozen of them. */
void lgw_span_set_static(struct lgw_span *span, const char *key, const char *literal);
/* A string array attribute of n values (each copied as by lgw_span_set_str). */
void lgw_span_set_strs(struct lgw_span *span, const char *key, const char *const *values, size_t n);
/* A string attribute up to LGW_SPAN_LONG_VALUE_MAX bytes (cut there, on a character boundary): GenAI content
 * (workers/content.h), which only lgw_span_captures_content spans carry. */
void lgw_span_set_long_strn(struct lgw_span *span, const char *key, const char *value, size_t len);
/* True when span is recorded and its tracer captures GenAI message content
 * (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT): only then may prompts and completions be attributes.
 * NULL: false. */
bool lgw_span_captures_content(const struct lgw_span *span);
/* Sets the W3C tracestate of span's context (OTLP Span.trace_state): ts is a tracestate as
 * lgw_tracestate_from_header normalised it (common/trace.h), copied; NULL or "": none. Children started with
 * lgw_span_child inherit it, as the trace context's vendor data travels with it. */
void lgw_span_set_trace_state(struct lgw_span *span, const char *ts);
/* The span's tracestate, or NULL (none, or span NULL). Borrowed: valid while the span is. */
const char *lgw_span_trace_state(const struct lgw_span *span);
/* Renames the span (an HTTP server span learns its route only once the request is matched). */
void lgw_span_set_name(struct lgw_span *span, const char *name);

/* An event at the current time (name copied). */
void lgw_span_add_event(struct lgw_span *span, const char *name);
/* The span's status: ERROR with a short description (copied; never a secret or a prompt), or OK. */
void lgw_span_set_status(struct lgw_span *span, enum lgw_span_status status, const char *description);

/* Ends *span now and hands it to its tracer's exporter (which owns and frees it); *span becomes NULL. A
 * full export queue drops the span and counts it: this never blocks. span or *span NULL: a no-op. */
void lgw_span_end(struct lgw_span **span);
/* Frees a span without exporting it (a request torn down at shutdown). NULL: a no-op. */
void lgw_span_discard(struct lgw_span **span);

#endif
