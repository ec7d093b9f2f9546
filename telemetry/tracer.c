/* tracer.c - a process's tracing: sampler, resource and exporter (see tracer.h). */
#include "telemetry/tracer.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/errors.h"
#include "common/log.h"
#include "telemetry/exporter.h"
#include "telemetry/resource.h"
#include "telemetry/span_int.h"

/* Spans kept for reuse at most (a few MB): what a burst needs, not what it left behind. */
#define POOL_MAX 1024

struct lgw_tracer {
    struct lgw_sampler sampler;
    bool capture_content;
    struct lgw_exporter *exporter;
    pthread_mutex_t pool_lock;
    struct lgw_span *pool[POOL_MAX];
    size_t npool;
};

static void declare_metrics(struct lgw_metrics *m)
{
    lgw_metrics_declare(m, "llmgw_otel_spans_exported_total", LGW_METRIC_COUNTER,
                        "Spans the OTLP collector accepted.");
    lgw_metrics_declare(m, "llmgw_otel_spans_dropped_total", LGW_METRIC_COUNTER,
                        "Spans dropped before export: queue_full (the collector is slow or down and the queue "
                        "is full), export_failed (the collector refused them or could not be reached in time), "
                        "shutdown.");
    lgw_metrics_declare(m, "llmgw_otel_export_failures_total", LGW_METRIC_COUNTER,
                        "OTLP export requests that failed after their retries.");
    lgw_metrics_add(m, "llmgw_otel_spans_exported_total", NULL, 0); /* shown as 0, not absent */
    lgw_metrics_add(m, "llmgw_otel_spans_dropped_total", "reason=\"queue_full\"", 0);
    lgw_metrics_add(m, "llmgw_otel_spans_dropped_total", "reason=\"export_failed\"", 0);
    lgw_metrics_add(m, "llmgw_otel_export_failures_total", NULL, 0);
}

int lgw_tracer_new(const struct lgw_otel_config *cfg, const char *version, struct lgw_metrics *m,
                   struct lgw_tracer **out)
{
    *out = NULL;
    declare_metrics(m);
    if (!cfg->traces.enabled)
        return LGW_OK;
    struct lgw_otel_resource *res = lgw_malloc(sizeof(*res)); /* copied by the exporter below */
    lgw_otel_resource_init(res, cfg, version);

    struct lgw_tracer *tr = lgw_calloc(1, sizeof(*tr));
    tr->sampler = cfg->sampler;
    tr->capture_content = cfg->capture_content;
    pthread_mutex_init(&tr->pool_lock, NULL);
    int rc = lgw_exporter_new(cfg, &res->meta, m, &tr->exporter);
    free(res);
    if (rc) {
        pthread_mutex_destroy(&tr->pool_lock);
        free(tr);
        return rc;
    }
    if (cfg->traces.gzip_requested)
        LGW_WARN("otel", "OTEL_EXPORTER_OTLP_COMPRESSION=gzip is not supported: spans are sent uncompressed");
    if (cfg->capture_content)
        LGW_WARN("otel", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT is on: prompts and completions of "
                         "sampled requests are exported as span attributes");
    LGW_INFO("otel", "tracing as %s: %s to the OTLP endpoint, sampler %s%s", cfg->service_name,
             cfg->traces.protocol == LGW_OTLP_HTTP_JSON ? "http/json" : "http/protobuf", lgw_sampler_name(cfg->sampler.kind),
             cfg->sampler.kind == LGW_SAMPLER_TRACEIDRATIO || cfg->sampler.kind == LGW_SAMPLER_PARENTBASED_TRACEIDRATIO
                 ? " (ratio from OTEL_TRACES_SAMPLER_ARG)"
                 : "");
    *out = tr;
    return LGW_OK;
}

void lgw_tracer_free(struct lgw_tracer *tr)
{
    if (!tr)
        return;
    lgw_exporter_free(tr->exporter); /* its last spans come back to the pool: freed below */
    for (size_t i = 0; i < tr->npool; i++)
        free(tr->pool[i]);
    pthread_mutex_destroy(&tr->pool_lock);
    free(tr);
}

struct lgw_span *lgw_tracer_span_get(struct lgw_tracer *tr)
{
    struct lgw_span *span = NULL;
    pthread_mutex_lock(&tr->pool_lock);
    if (tr->npool)
        span = tr->pool[--tr->npool];
    pthread_mutex_unlock(&tr->pool_lock);
    if (!span)
        return lgw_calloc(1, sizeof(*span));
    memset(span, 0, offsetof(struct lgw_span, attrs)); /* the arrays past it are read only up to their counts */
    span->nattrs = span->dropped_attrs = span->nevents = span->dropped_events = 0;
    span->arena_used = 0;
    return span;
}

void lgw_tracer_span_put(struct lgw_tracer *tr, struct lgw_span *span)
{
    pthread_mutex_lock(&tr->pool_lock);
    bool kept = tr->npool < POOL_MAX;
    if (kept)
        tr->pool[tr->npool++] = span;
    pthread_mutex_unlock(&tr->pool_lock);
    if (!kept)
        free(span);
}

void lgw_tracer_span_put_many(struct lgw_tracer *tr, struct lgw_span **spans, size_t n)
{
    pthread_mutex_lock(&tr->pool_lock);
    size_t kept = POOL_MAX - tr->npool < n ? POOL_MAX - tr->npool : n;
    memcpy(tr->pool + tr->npool, spans, kept * sizeof(*spans));
    tr->npool += kept;
    pthread_mutex_unlock(&tr->pool_lock);
    for (size_t i = kept; i < n; i++)
        free(spans[i]);
}

bool lgw_tracer_captures_content(const struct lgw_tracer *tr)
{
    return tr && tr->capture_content;
}

const struct lgw_sampler *lgw_tracer_sampler(const struct lgw_tracer *tr)
{
    return &tr->sampler;
}

void lgw_tracer_export(struct lgw_tracer *tr, struct lgw_span *span)
{
    lgw_exporter_push(tr->exporter, span);
}
