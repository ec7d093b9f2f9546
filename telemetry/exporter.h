/* exporter.h - the batch span processor and OTLP/HTTP exporter: ended spans wait in a bounded queue, and one
 * background thread sends them in batches (a full batch at once, a partial one after the schedule delay) as
 * http/protobuf or http/json over libcurl, retrying what the OTLP spec calls retryable (429, 502, 503, 504,
 * and a collector that cannot be reached) with exponential backoff or the collector's Retry-After, within
 * the export timeout.
 *
 * A request never waits on the collector: a full queue drops the span at once, and every drop is counted in
 * llmgw_otel_spans_dropped_total{reason} (queue_full, export_failed, shutdown). Spans exported are counted in
 * llmgw_otel_spans_exported_total, export requests that failed in llmgw_otel_export_failures_total. */
#ifndef LGW_TELEMETRY_EXPORTER_H
#define LGW_TELEMETRY_EXPORTER_H

#include <stdbool.h>

#include "common/metrics.h"
#include "telemetry/otel_env.h"
#include "telemetry/otlp.h"

struct lgw_exporter;
struct lgw_span;

/* Starts the exporter thread for cfg (enabled, with an endpoint; copied) sending meta's resource and scope
 * (copied) and counting into m (borrowed; must outlive the exporter). Returns 0 or LGW_ERR(INTERNAL). */
int lgw_exporter_new(const struct lgw_otel_config *cfg, const struct lgw_otlp_meta *meta, struct lgw_metrics *m,
                     struct lgw_exporter **out);
/* Queues an ended span (taken). Returns false when it was dropped (queue full, or the exporter stopping):
 * freed and counted. Never blocks on the network; any thread. */
bool lgw_exporter_push(struct lgw_exporter *ex, struct lgw_span *span);
/* Exports what is queued (one try per batch, for at most OTEL_BSP_EXPORT_TIMEOUT in all; the rest is dropped
 * as shutdown), stops the thread and frees ex. NULL: a no-op. Once, after every span was ended. */
void lgw_exporter_free(struct lgw_exporter *ex);

#endif
