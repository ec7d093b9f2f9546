/* context.h - a span context in binary form (trace id, span id, sampled flag) and its W3C traceparent text.
 *
 * The traceparent string (common/trace.h) is what travels on Kafka records; spans and the sampler work on
 * this form. Plain values: copy them freely; any thread. */
#ifndef LGW_TELEMETRY_CONTEXT_H
#define LGW_TELEMETRY_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/trace.h"

struct lgw_span_ctx {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    bool sampled; /* the W3C sampled flag: spans under this context are recorded and exported */
    bool remote;  /* it came from another process (a header), not from a span of this one */
};

/* Parses a version-00 traceparent s[0..len) (as llmgw writes them: lgw_traceparent_valid) into *out, marked
 * remote. Returns false (and leaves *out alone) when s is not one. */
bool lgw_span_ctx_parse(const char *s, size_t len, struct lgw_span_ctx *out);
/* Writes ctx as a version-00 traceparent: "00-<trace>-<span>-<01|00>". */
void lgw_span_ctx_format(const struct lgw_span_ctx *ctx, char out[LGW_TRACEPARENT_SIZE]);
/* Fills id with n (at most 16) random bytes from the kernel, never all zero (W3C: an all-zero id is invalid).
 * Any thread. */
void lgw_span_ctx_random_id(uint8_t *id, size_t n);
/* Lowercase hex of id[0..n) into out (2n characters and a NUL). */
void lgw_span_ctx_hex(const uint8_t *id, size_t n, char *out);

#endif
