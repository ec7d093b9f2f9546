/* meter.h - a process's metrics over OTLP: a background thread that, every OTEL_METRIC_EXPORT_INTERVAL,
 * reads the role's registry (the series its /metrics shows: metric_read.h) and POSTs them as one OTLP
 * ExportMetricsServiceRequest (cumulative sums, gauges and explicit-bucket histograms, under the
 * OpenTelemetry names) to the metrics endpoint, in http/protobuf or http/json, retrying as the span
 * exporter does within OTEL_METRIC_EXPORT_TIMEOUT. Requests never wait on it: it only reads the registry.
 *
 * Counted in the registry itself: llmgw_otel_metric_exports_total (pushes the collector accepted) and
 * llmgw_otel_metric_export_failures_total (pushes that failed after their retries; the next interval sends
 * the cumulative totals again, so nothing is lost but resolution). */
#ifndef LGW_TELEMETRY_METER_H
#define LGW_TELEMETRY_METER_H

#include "common/metrics.h"
#include "telemetry/otel_env.h"

struct lgw_meter;

/* Starts the push of m (borrowed; it must outlive the meter) for cfg (validated by lgw_otel_config_load;
 * copied), with version as service.version (borrowed for the call). The two llmgw_otel_metric_* counters
 * are declared in m either way. With cfg->metrics.enabled false, *out is NULL and the result 0. Returns 0
 * or LGW_ERR(INTERNAL) (the thread could not start). Main thread, at start. */
int lgw_meter_new(const struct lgw_otel_config *cfg, const char *version, struct lgw_metrics *m,
                  struct lgw_meter **out);
/* Pushes once more (one try, within OTEL_METRIC_EXPORT_TIMEOUT: the last counts of a stopping role), stops
 * the thread and frees mt. After the role is stopped, before m is freed. NULL: a no-op. */
void lgw_meter_free(struct lgw_meter *mt);

#endif
