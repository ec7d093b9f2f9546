/* metrics.h - a small Prometheus registry: counters, gauges and latency histograms with labels.
 *
 * One registry per process role context (in `llmgw dev` all roles share one, so /metrics shows all).
 * Series are identified by metric name + label text (e.g. `route="/v1/chat",status="200"`), created on
 * first use. Thread-safe; updates take one mutex, held for a hash lookup and an add. */
#ifndef LGW_METRICS_H
#define LGW_METRICS_H

#include <stdbool.h>
#include <stddef.h>
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

/* ---- per-metric definitions: buckets, units, private marks, double values ---- */

/* Most bucket bounds one histogram may declare (the GenAI token buckets have 14). */
#define LGW_METRICS_MAX_BOUNDS 32

/* A metric's full definition, for metrics that need more than lgw_metrics_declare gives: their own histogram
 * buckets, a unit and OpenTelemetry name for the OTLP exporter, a "private" mark, or a double value. */
struct lgw_metric_def {
    const char *name;          /* Prometheus name, e.g. "gen_ai_client_token_usage" */
    enum lgw_metric_type type;
    const char *help;
    const char *otel_name;     /* OpenTelemetry name, e.g. "gen_ai.client.token.usage"; NULL: same as name */
    const char *unit;          /* UCUM unit for OTLP: "s", "{token}", "USD", "1"; NULL: none */
    const double *bounds;      /* histogram upper bounds, strictly ascending, finite; NULL: the default
                                * seconds buckets (0.0005 .. 60) */
    size_t nbounds;            /* <= LGW_METRICS_MAX_BOUNDS */
    bool is_private;           /* carries per-tenant series: left out of public rendering and snapshots */
    bool is_double;            /* counter or gauge holding a double (updated with the _f calls) */
};

/* Declares a metric from def (copied). Declaring a name again keeps the first definition (a warning is
 * logged if the type differs). Returns 0, or LGW_ERR(INVALID) for bad bounds.
 * Any thread. */
int lgw_metrics_define(struct lgw_metrics *m, const struct lgw_metric_def *def);

/* Double-valued updates, for metrics defined with is_double (cost in USD). On an integer metric the value
 * is ignored with a one-time warning. */
void lgw_metrics_add_f(struct lgw_metrics *m, const char *name, const char *labels, double by); /* counter */
void lgw_metrics_gauge_set_f(struct lgw_metrics *m, const char *name, const char *labels, double value);

/* Histogram observation of any unit (tokens, seconds) against the metric's own buckets; the same as
 * lgw_metrics_observe, named for what it records. */
void lgw_metrics_observe_value(struct lgw_metrics *m, const char *name, const char *labels, double value);

/* Writes value escaped for label text (backslash, double quote and newline, as format 0.0.4 wants) into out,
 * cut short rather than overflowing (outsz >= 1). For values that come from outside the code: tenant and
 * model names, a provider's response model. Returns out. */
char *lgw_metrics_escape(const char *value, char *out, size_t outsz);

/* Removes a series (a gauge of a Kafka partition this consumer no longer owns), so a scrape does not show a
 * stale value. No-op when absent. Any thread. */
void lgw_metrics_remove(struct lgw_metrics *m, const char *name, const char *labels);

/* A collect hook refreshes gauges that are cheaper to compute when read than to keep current (a budget's
 * used ratio): it runs before every render and snapshot, outside the registry's lock (it may update
 * metrics), one render at a time. Add at start-up; remove before whatever fn reads is freed (removal waits
 * for a hook that is running). Returns 0 or LGW_ERR(TOO_LARGE) past LGW_METRICS_MAX_HOOKS. */
#define LGW_METRICS_MAX_HOOKS 8
typedef void (*lgw_metrics_collect_fn)(void *opaque, struct lgw_metrics *m);
int lgw_metrics_hook_add(struct lgw_metrics *m, lgw_metrics_collect_fn fn, void *opaque);
void lgw_metrics_hook_remove(struct lgw_metrics *m, lgw_metrics_collect_fn fn, void *opaque);

/* ---- capped labels ---- */

/* Default most distinct values of a capped label one metric keeps (the rest fold into value "other"). */
#define LGW_METRICS_DEFAULT_TENANT_CAP 100
#define LGW_METRICS_DEFAULT_MODEL_CAP 50
/* Most label names one registry can cap. */
#define LGW_METRICS_MAX_CAPPED_LABELS 8

/* Caps the label `key` (e.g. "tenant", "model", "gen_ai_request_model") in every metric of the registry:
 * each metric keeps the first `cap` distinct values it sees; later values are recorded under "other".
 * cap 0 removes the cap. Set caps at start-up, before updates. Returns 0 or LGW_ERR(TOO_LARGE) past
 * LGW_METRICS_MAX_CAPPED_LABELS. */
int lgw_metrics_cap_label(struct lgw_metrics *m, const char *key, size_t cap);

/* ---- reading ---- */

/* Current value of a counter or gauge series (0 if absent; a histogram gives its observation count); for
 * tests and readiness logic. The label text is looked up as given (caps are not applied). */
int64_t lgw_metrics_value(struct lgw_metrics *m, const char *name, const char *labels);
/* The same as a double (double metrics, histogram sums are not included: a histogram gives its count). */
double lgw_metrics_value_f(struct lgw_metrics *m, const char *name, const char *labels);

/* Appends the Prometheus text exposition format (version 0.0.4) to out, private metrics included (for the
 * ops port and admin-key scrapes). Returns 0 or an LGW_ERR. */
int lgw_metrics_render(struct lgw_metrics *m, struct lgw_buf *out);
/* The same without private metrics: what an unauthenticated scrape of a public port may see. */
int lgw_metrics_render_public(struct lgw_metrics *m, struct lgw_buf *out);

/* ---- snapshot API (the OTLP metrics exporter in telemetry/ reads the registry through it) ---- */

/* One label pair. key is the Prometheus label name; otel_key the OpenTelemetry attribute key (dotted for
 * the GenAI semantic-convention attributes, e.g. "gen_ai.request.model"; otherwise the same as key). */
struct lgw_metric_label {
    const char *key;
    const char *otel_key;
    const char *value; /* unescaped */
};

/* One series of a metric at snapshot time. */
struct lgw_metric_point {
    const struct lgw_metric_label *labels;
    size_t nlabels;
    int64_t start_unix_ns; /* when the series was created: start of its cumulative window */
    double value;          /* counter or gauge */
    /* histogram only: nbounds + 1 NON-cumulative counts (bucket_counts[i] counts values <= bounds[i] and
     * > bounds[i-1]; the last one counts values > bounds[nbounds-1]), as OTLP wants them */
    const uint64_t *bucket_counts;
    uint64_t count;
    double sum;
};

/* One metric and all its series. */
struct lgw_metric_info {
    const char *name;      /* Prometheus name */
    const char *otel_name; /* never NULL: the def's otel_name or name */
    const char *help;      /* "" if none */
    const char *unit;      /* "" if none */
    enum lgw_metric_type type;
    bool is_private;
    bool is_double;
    const double *bounds; /* histogram bucket upper bounds (NULL otherwise) */
    size_t nbounds;
    int64_t time_unix_ns; /* when the snapshot was taken */
};

/* Called once per metric that has at least one series, in name order, with its series in label order.
 * Everything pointed to is valid only during the call. Return 0 to go on, nonzero to stop (returned by
 * lgw_metrics_snapshot). */
typedef int (*lgw_metrics_visit_fn)(void *opaque, const struct lgw_metric_info *info,
                                    const struct lgw_metric_point *points, size_t npoints);

/* Copies the registry's state under its lock (consistent across metrics), then calls fn for each metric
 * WITHOUT the lock held, so fn may update metrics (e.g. count an export failure). include_private false
 * leaves private (per-tenant) metrics out. Returns 0, the first nonzero return of fn, or an LGW_ERR.
 * Any thread. */
int lgw_metrics_snapshot(struct lgw_metrics *m, bool include_private, lgw_metrics_visit_fn fn, void *opaque);

#endif
