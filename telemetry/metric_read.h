/* metric_read.h - a role's registry (common/metrics.h) read as OTLP metrics (telemetry/otlp.h): every series
 * of its Prometheus text, under the OpenTelemetry names. The registry is read through its Prometheus
 * rendering (lgw_metrics_render), which carries every series, histogram buckets included; the names and
 * units OTLP wants come from the table in metric_read.c (the GenAI semantic conventions:
 * gen_ai_client_token_usage is gen_ai.client.token.usage, unit {token}, with gen_ai.* attribute keys), and
 * for llmgw's own metrics from their Prometheus names (a counter's _total dropped, _seconds giving unit s).
 * Internal to telemetry/ (meter.c). */
#ifndef LGW_TELEMETRY_METRIC_READ_H
#define LGW_TELEMETRY_METRIC_READ_H

#include <stddef.h>
#include <stdint.h>

#include "common/metrics.h"
#include "telemetry/otlp.h"

/* Most families and series one read keeps (the registry's own caps are lower; these only bound a bug). */
#define LGW_METRIC_READ_MAX_FAMILIES 1024
#define LGW_METRIC_READ_MAX_BOUNDS 64

struct lgw_metric_read {
    struct lgw_otlp_metric *metrics; /* nmetrics of them, each with its points */
    size_t nmetrics, npoints;        /* npoints: in all */
    /* What the metrics point into: freed by lgw_metric_read_cleanup. */
    void **allocs;
    size_t nallocs;
};

/* Reads m's series into *out, with start_ns as the start of every cumulative series (the registry lives as
 * long as the process: its start). Returns 0 or an LGW_ERR (the rendering failed; *out is then empty). The
 * caller owns *out (lgw_metric_read_cleanup). Any thread. */
int lgw_metric_read(struct lgw_metrics *m, int64_t start_ns, struct lgw_metric_read *out);
/* Parses Prometheus text (format 0.0.4, as lgw_metrics_render writes it) the same way: for the above and tests. */
int lgw_metric_read_text(const char *text, size_t len, int64_t start_ns, struct lgw_metric_read *out);
void lgw_metric_read_cleanup(struct lgw_metric_read *r);

#endif
