/* sampler.h - which traces are recorded: the OpenTelemetry SDK samplers that OTEL_TRACES_SAMPLER names.
 *
 * The decision is taken once, where a trace enters a process without a sampled parent to follow, and it
 * travels in the traceparent's sampled flag: with the jobs, replies and cost events on Kafka, so every
 * process of one request agrees (the parent-based samplers follow the flag; traceidratio decides from the
 * trace id alone, which is the same everywhere). Plain values; any thread. */
#ifndef LGW_TELEMETRY_SAMPLER_H
#define LGW_TELEMETRY_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "telemetry/context.h"

enum lgw_sampler_kind {
    LGW_SAMPLER_ALWAYS_ON,
    LGW_SAMPLER_ALWAYS_OFF,
    LGW_SAMPLER_TRACEIDRATIO,
    LGW_SAMPLER_PARENTBASED_ALWAYS_ON, /* the SDKs' default */
    LGW_SAMPLER_PARENTBASED_ALWAYS_OFF,
    LGW_SAMPLER_PARENTBASED_TRACEIDRATIO,
};

struct lgw_sampler {
    enum lgw_sampler_kind kind;
    double ratio;       /* the traceidratio samplers' probability, 0..1 */
    uint64_t threshold; /* ratio as a bound on the trace id's low 56 bits */
};

/* Parses OTEL_TRACES_SAMPLER's value name (NULL or "": parentbased_always_on) and OTEL_TRACES_SAMPLER_ARG's
 * arg (NULL or "": 1.0; read only by the ratio samplers) into *out. Returns 0, or LGW_ERR(CONFIG) with the
 * reason in why (a sampler llmgw does not have, such as jaeger_remote, or a ratio outside 0..1). */
int lgw_sampler_parse(const char *name, const char *arg, struct lgw_sampler *out, char *why, size_t whysz);

/* Whether a span of trace trace_id is recorded: parent is the context it continues (NULL: it starts the
 * trace). The parent-based samplers follow parent's sampled flag; the others decide from the trace id. */
bool lgw_sampler_decide(const struct lgw_sampler *s, const uint8_t trace_id[16], const struct lgw_span_ctx *parent);

/* The sampler's name as OTEL_TRACES_SAMPLER spells it. */
const char *lgw_sampler_name(enum lgw_sampler_kind kind);

#endif
