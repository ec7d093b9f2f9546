/* metric_read.h - a role's registry (common/metrics.h) read as OTLP metrics (telemetry/otlp.h): every series
 * of it, under the OpenTelemetry names. The registry is read through its snapshot (lgw_metrics_snapshot),
 * which carries every series, histogram buckets included, with the OpenTelemetry name, unit and attribute
 * keys each metric was defined with (the GenAI semantic conventions: gen_ai_client_token_usage is
 * gen_ai.client.token.usage, unit {token}, with gen_ai.* attribute keys); llmgw's own metrics take theirs
 * from their Prometheus names (a counter's _total dropped, _seconds giving unit s).
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

/* Reads m's series into *out; each cumulative series starts when the registry first saw it (start_ns, the
 * process's start, is kept for callers and not needed). Returns 0 or an LGW_ERR (the rendering failed; *out is then empty). The
 * caller owns *out (lgw_metric_read_cleanup). Any thread. */
int lgw_metric_read(struct lgw_metrics *m, int64_t start_ns, struct lgw_metric_read *out);
void lgw_metric_read_cleanup(struct lgw_metric_read *r);

#endif
