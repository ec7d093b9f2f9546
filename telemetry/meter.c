/* meter.c - the periodic OTLP metrics push (see meter.h). */
#include "telemetry/meter.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "telemetry/metric_read.h"
#include "telemetry/otlp.h"
#include "telemetry/otlp_http.h"
#include "telemetry/resource.h"

struct lgw_meter {
    struct lgw_metrics *m;
    enum lgw_otlp_protocol protocol;
    int64_t interval_ms, export_timeout_ms, request_timeout_ms;
    int64_t start_ns; /* the start of every cumulative series: the registry is as old as the process */
    struct lgw_otel_resource *res; /* points into cfg and version below */
    struct lgw_otel_config *cfg;   /* copied: the resource points into it */
    char version[64];              /* copied: the resource points into it */

    pthread_mutex_t lock;
    pthread_cond_t cond; /* stopping */
    bool stopping;
    pthread_t thread;

    /* The push thread's own. */
    struct lgw_otlp_http http;
    struct lgw_buf body;
};

static int64_t unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Waits ms or until stopping; returns false when stopping. */
static bool wait_cb(void *opaque, int64_t ms)
{
    struct lgw_meter *mt = opaque;
    pthread_mutex_lock(&mt->lock);
    struct timespec ts = lgw_deadline_in_ms(CLOCK_MONOTONIC, ms);
    while (!mt->stopping && pthread_cond_timedwait(&mt->cond, &mt->lock, &ts) == 0)
        ;
    bool stop = mt->stopping;
    pthread_mutex_unlock(&mt->lock);
    return !stop;
}

/* One push of every series. final: one try (the role is stopping). */
static void push(struct lgw_meter *mt, bool final)
{
    struct lgw_metric_read r;
    int rc = lgw_metric_read(mt->m, mt->start_ns, &r);
    lgw_buf_reset(&mt->body);
    if (rc == 0)
        rc = mt->protocol == LGW_OTLP_HTTP_JSON
                 ? lgw_otlp_encode_metrics_json(&mt->res->meta, r.metrics, r.nmetrics, unix_ns(), &mt->body)
                 : lgw_otlp_encode_metrics_proto(&mt->res->meta, r.metrics, r.nmetrics, unix_ns(), &mt->body);
    size_t n = r.npoints;
    lgw_metric_read_cleanup(&r);
    bool sent = false;
    if (rc == 0)
        sent = lgw_otlp_http_export(&mt->http, mt->body.ptr, mt->body.len, mt->request_timeout_ms,
                                    lgw_mono_ms() + mt->export_timeout_ms, final, wait_cb, mt, n);
    else
        lgw_otlp_http_log_failure(&mt->http, 0, "the registry could not be read or encoded", n);
    /* Counted after the read: the next push carries them. */
    lgw_metrics_add(mt->m, sent ? "llmgw_otel_metric_exports_total" : "llmgw_otel_metric_export_failures_total",
                    NULL, 1);
}

static void *push_main(void *arg)
{
    pthread_setname_np(pthread_self(), "otel-metrics"); /* its CPU apart in top -H, perf and /proc/<pid>/task */
    struct lgw_meter *mt = arg;
    for (;;) {
        /* The interval counts from the end of the previous push, so a slow collector spaces pushes out
         * rather than stacking them. */
        if (!wait_cb(mt, mt->interval_ms))
            break;
        push(mt, false);
    }
    push(mt, true);
    return NULL;
}

static void declare_metrics(struct lgw_metrics *m)
{
    lgw_metrics_declare(m, "llmgw_otel_metric_exports_total", LGW_METRIC_COUNTER,
                        "OTLP metric pushes the collector accepted.");
    lgw_metrics_declare(m, "llmgw_otel_metric_export_failures_total", LGW_METRIC_COUNTER,
                        "OTLP metric pushes that failed after their retries (the next push sends the totals again).");
    lgw_metrics_add(m, "llmgw_otel_metric_exports_total", NULL, 0);
    lgw_metrics_add(m, "llmgw_otel_metric_export_failures_total", NULL, 0);
}

int lgw_meter_new(const struct lgw_otel_config *cfg, const char *version, struct lgw_metrics *m,
                  struct lgw_meter **out)
{
    *out = NULL;
    declare_metrics(m);
    if (!cfg->metrics.enabled)
        return LGW_OK;
    struct lgw_meter *mt = lgw_calloc(1, sizeof(*mt));
    mt->m = m;
    mt->protocol = cfg->metrics.protocol;
    mt->interval_ms = cfg->metric_interval_ms;
    mt->export_timeout_ms = cfg->metric_export_timeout_ms;
    mt->request_timeout_ms = cfg->metrics.timeout_ms;
    mt->start_ns = unix_ns();
    mt->cfg = lgw_malloc(sizeof(*mt->cfg));
    *mt->cfg = *cfg;
    mt->res = lgw_malloc(sizeof(*mt->res));
    lgw_strlcpy(mt->version, version, sizeof(mt->version));
    lgw_otel_resource_init(mt->res, mt->cfg, mt->version);
    lgw_buf_init(&mt->body, 0);
    pthread_mutex_init(&mt->lock, NULL);
    lgw_cond_init_mono(&mt->cond);
    int rc = lgw_otlp_http_init(&mt->http, &cfg->metrics, "metric point(s)");
    if (rc == 0 && pthread_create(&mt->thread, NULL, push_main, mt) != 0) {
        lgw_otlp_http_cleanup(&mt->http);
        rc = LGW_ERR(INTERNAL);
    }
    if (rc) {
        LGW_ERROR("otel", "the metric exporter could not start");
        pthread_cond_destroy(&mt->cond);
        pthread_mutex_destroy(&mt->lock);
        lgw_buf_cleanup(&mt->body);
        free(mt->res);
        free(mt->cfg);
        free(mt);
        return LGW_ERR(INTERNAL);
    }
    if (cfg->metrics.gzip_requested)
        LGW_WARN("otel", "OTEL_EXPORTER_OTLP_COMPRESSION=gzip is not supported: metrics are sent uncompressed");
    LGW_INFO("otel", "pushing metrics as %s: %s to the OTLP endpoint every %lld ms", cfg->service_name,
             cfg->metrics.protocol == LGW_OTLP_HTTP_JSON ? "http/json" : "http/protobuf",
             (long long)cfg->metric_interval_ms);
    *out = mt;
    return LGW_OK;
}

void lgw_meter_free(struct lgw_meter *mt)
{
    if (!mt)
        return;
    pthread_mutex_lock(&mt->lock);
    mt->stopping = true;
    pthread_cond_broadcast(&mt->cond);
    pthread_mutex_unlock(&mt->lock);
    pthread_join(mt->thread, NULL);
    lgw_otlp_http_cleanup(&mt->http);
    lgw_buf_cleanup(&mt->body);
    pthread_cond_destroy(&mt->cond);
    pthread_mutex_destroy(&mt->lock);
    free(mt->res);
    free(mt->cfg);
    free(mt);
}
