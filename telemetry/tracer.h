/* tracer.h - a process's tracing: its OpenTelemetry configuration (telemetry/otel_env.h), sampler, resource
 * (service.name and the rest) and span exporter. One per process, made by the command that runs the roles
 * and passed to each role explicitly; NULL when tracing is off (no endpoint, OTEL_SDK_DISABLED), which every
 * span function takes as "record nothing". */
#ifndef LGW_TELEMETRY_TRACER_H
#define LGW_TELEMETRY_TRACER_H

#include "common/metrics.h"
#include "telemetry/otel_env.h"
#include "telemetry/sampler.h"

struct lgw_tracer;
struct lgw_span;

/* A tracer for cfg (validated by lgw_otel_config_load; copied), version naming service.version and the
 * instrumentation scope's version (borrowed for the call), counting into m (borrowed; it must outlive the
 * tracer). The llmgw_otel_* metrics are declared in m either way. With cfg->enabled false, *out is NULL and
 * the result 0. Returns 0 or LGW_ERR(INTERNAL) (the export thread could not start). Main thread, at start. */
int lgw_tracer_new(const struct lgw_otel_config *cfg, const char *version, struct lgw_metrics *m,
                   struct lgw_tracer **out);
/* Exports the spans still queued (bounded by OTEL_BSP_EXPORT_TIMEOUT), stops the exporter and frees tr.
 * After every role that used tr is gone. NULL: a no-op. */
void lgw_tracer_free(struct lgw_tracer *tr);

/* Whether tr's spans may carry GenAI message content (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT).
 * NULL: false. Any thread. */
bool lgw_tracer_captures_content(const struct lgw_tracer *tr);
/* The sampler spans of tr start with (span.c). Any thread. */
const struct lgw_sampler *lgw_tracer_sampler(const struct lgw_tracer *tr);
/* Hands an ended span (taken) to the exporter (span.c, from lgw_span_end). Any thread; never blocks. */
void lgw_tracer_export(struct lgw_tracer *tr, struct lgw_span *span);
/* A span's memory, zeroed: from tr's pool of spans already exported, else new. Spans are a few KB, and malloc
 * pays for blocks that size on every call (it consolidates its small free lists first), so they are reused.
 * lgw_tracer_span_put gives one back (its contents already freed), or frees it when the pool is full. Any
 * thread (the pool has its own lock). */
struct lgw_span *lgw_tracer_span_get(struct lgw_tracer *tr);
void lgw_tracer_span_put(struct lgw_tracer *tr, struct lgw_span *span);
/* lgw_tracer_span_put of spans[0..n), under one lock. */
void lgw_tracer_span_put_many(struct lgw_tracer *tr, struct lgw_span **spans, size_t n);

#endif
