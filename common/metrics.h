/* metrics.h - a small Prometheus registry: counters, gauges and latency histograms with labels.
 *
 * One registry per process role context (in `llmgw dev` all roles share one, so /metrics shows all).
 * Series are identified by metric name + label text (e.g. `route="/v1/chat",status="200"`), created on
 * first use. Thread-safe; updates take one mutex, held for a hash lookup and an add. */
#ifndef LGW_METRICS_H
#define LGW_METRICS_H

#include <stdint.h>

#include "common/buf.h"

struct lgw_metrics;

/* Most series one registry holds (label explosion must not eat memory). Past it, updates that would create
 * a series are dropped and counted in llmgw_metrics_dropped_series_total, which is always present. */
#define LGW_METRICS_MAX_SERIES 10000

enum lgw_metric_type { LGW_METRIC_COUNTER, LGW_METRIC_GAUGE, LGW_METRIC_HISTOGRAM };

/* Heap registry; the caller owns it. lgw_metrics_free(NULL) is a no-op. */
struct lgw_metrics *lgw_metrics_new(void);
void lgw_metrics_free(struct lgw_metrics *m);

/* Declares a metric's type and help text (shown as # HELP / # TYPE). Declaring twice is harmless.
 * Updating an undeclared name declares it with empty help and the type implied by the call. */
void lgw_metrics_declare(struct lgw_metrics *m, const char *name, enum lgw_metric_type type, const char *help);

/* labels may be NULL or "" for an unlabelled series; it is copied. */
void lgw_metrics_add(struct lgw_metrics *m, const char *name, const char *labels, int64_t by); /* counter */
void lgw_metrics_gauge_add(struct lgw_metrics *m, const char *name, const char *labels, int64_t by);
void lgw_metrics_gauge_set(struct lgw_metrics *m, const char *name, const char *labels, int64_t value);
/* Histogram of seconds, fixed buckets 0.0005 .. 60 s (see metrics.c). */
void lgw_metrics_observe(struct lgw_metrics *m, const char *name, const char *labels, double seconds);

/* Current value of a counter or gauge series (0 if absent; a histogram gives its observation count); for
 * tests and readiness logic. */
int64_t lgw_metrics_value(struct lgw_metrics *m, const char *name, const char *labels);

/* Appends the Prometheus text exposition format (version 0.0.4) to out. Returns 0 or an LGW_ERR. */
int lgw_metrics_render(struct lgw_metrics *m, struct lgw_buf *out);

#endif
