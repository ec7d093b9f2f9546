/* trace.h - the W3C trace context (traceparent) that travels with every request: from the client's header
 * (or a new one) through the job, the worker, and back on the reply and the cost event.
 *
 * Format (W3C Trace Context, level 1): "00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>", lowercase,
 * ids not all zero. Spans are telemetry/'s; this only carries the context. */
#ifndef LGW_TRACE_H
#define LGW_TRACE_H

#include <stdbool.h>
#include <stddef.h>

#define LGW_TRACEPARENT_LEN 55  /* characters, without the NUL */
#define LGW_TRACEPARENT_SIZE 56 /* a buffer that holds one */

/* True when s[0..len) is a valid version-00 traceparent (what llmgw writes on its records). Thread-safe. */
bool lgw_traceparent_valid(const char *s, size_t len);
/* A client's traceparent header s[0..len) as the version-00 value llmgw carries on, into out; false when it
 * must be ignored (a new trace starts). As W3C Trace Context says: version 00 is exactly its 55 characters;
 * version ff is invalid; a later version is read by version 00's layout (it must be at least as long and,
 * when longer, go on with "-") and carried on as 00, the version this code speaks. Every field lowercase
 * hex, neither id all zeros. Thread-safe. */
bool lgw_traceparent_from_header(const char *s, size_t len, char out[LGW_TRACEPARENT_SIZE]);
/* True when s[0..len) is a trace id as a traceparent carries it: 32 lowercase hex digits, not all zero. */
bool lgw_trace_id_valid(const char *s, size_t len);
/* The trace id of a valid traceparent tp into out (32 hex digits and a NUL); "" when tp is "" or invalid. */
void lgw_trace_id_of(const char *tp, char out[33]);
/* Writes a new traceparent (random trace-id and parent-id, sampled flag) to out. Thread-safe. */
void lgw_traceparent_new(char out[LGW_TRACEPARENT_SIZE]);

/* tracestate: the vendor data that travels with a traceparent (W3C Trace Context, level 1): list members
 * "key=value" separated by commas, at most 32 of them and 512 characters in all. llmgw carries a client's
 * on, untouched, with the job and back (Kafka records' tracestate header) and on every span of the request
 * (OTLP Span.trace_state); it adds no member of its own. */
#define LGW_TRACESTATE_MAX 512         /* characters, as W3C bounds what a vendor must propagate */
#define LGW_TRACESTATE_SIZE 513        /* a buffer that holds one */
#define LGW_TRACESTATE_MEMBERS_MAX 32
/* A client's tracestate header s[0..len) as the value llmgw carries on, into out: its list members in order,
 * the optional whitespace around commas and empty members left out. False (out "") when it must be dropped,
 * whole, as OpenTelemetry's propagators drop it: a member whose key or value W3C's grammar refuses, a key
 * twice, more than 32 members, or more than 512 characters. An empty header gives "" and true. Only
 * meaningful with a valid traceparent (the caller drops it otherwise). Thread-safe. */
bool lgw_tracestate_from_header(const char *s, size_t len, char out[LGW_TRACESTATE_SIZE]);

#endif
