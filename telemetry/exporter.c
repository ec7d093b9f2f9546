/* exporter.c - the bounded span queue and the OTLP/HTTP export thread (see exporter.h). */
#include "telemetry/exporter.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "telemetry/otlp_http.h"
#include "telemetry/span_int.h"

struct lgw_exporter {
    struct lgw_otel_config cfg;
    struct lgw_metrics *m;
    /* The resource and scope, copied: the strings live in `strings`, the array points into it. */
    struct lgw_otlp_kv *resource;
    size_t nresource;
    char *strings;
    char *scope_name, *scope_version;

    pthread_mutex_t lock;
    pthread_cond_t cond; /* a batch is full, or stopping (also interrupts a backoff wait) */
    struct lgw_span **ring;
    size_t cap, head, count;
    bool stopping;
    pthread_t thread;

    /* The export thread's own. */
    struct lgw_otlp_http http;
    struct lgw_buf body;
};

static void count_dropped(struct lgw_exporter *ex, const char *reason, size_t n)
{
    char labels[48];
    snprintf(labels, sizeof(labels), "reason=\"%s\"", reason);
    lgw_metrics_add(ex->m, "llmgw_otel_spans_dropped_total", labels, (int64_t)n);
}

bool lgw_exporter_push(struct lgw_exporter *ex, struct lgw_span *span)
{
    pthread_mutex_lock(&ex->lock);
    bool ok = !ex->stopping && ex->count < ex->cap;
    if (ok) {
        ex->ring[(ex->head + ex->count) % ex->cap] = span;
        ex->count++;
        if (ex->count >= (size_t)ex->cfg.max_export_batch_size)
            pthread_cond_signal(&ex->cond);
    }
    pthread_mutex_unlock(&ex->lock);
    if (!ok) {
        lgw_span_free(span);
        count_dropped(ex, "queue_full", 1);
    }
    return ok;
}

/* The backoff between two tries (lgw_otlp_wait_cb): on the queue's condition, so that stopping cuts it
 * short. Called without the lock. */
static bool backoff_wait(void *opaque, int64_t ms)
{
    struct lgw_exporter *ex = opaque;
    pthread_mutex_lock(&ex->lock);
    struct timespec ts = lgw_deadline_in_ms(CLOCK_MONOTONIC, ms);
    while (!ex->stopping && pthread_cond_timedwait(&ex->cond, &ex->lock, &ts) == 0)
        ; /* a batch filling up wakes us too: keep waiting out the backoff */
    bool stop = ex->stopping;
    pthread_mutex_unlock(&ex->lock);
    return !stop;
}

/* Sends spans[0..n) with retries. Called with the lock held (it is let go while the network is used). */
static void export_batch(struct lgw_exporter *ex, struct lgw_span **spans, size_t n, bool final)
{
    pthread_mutex_unlock(&ex->lock);
    struct lgw_otlp_meta meta = {ex->resource, ex->nresource, ex->scope_name, ex->scope_version};
    lgw_buf_reset(&ex->body);
    int rc = ex->cfg.traces.protocol == LGW_OTLP_HTTP_JSON ? lgw_otlp_encode_json(&meta, spans, n, &ex->body)
                                                    : lgw_otlp_encode_proto(&meta, spans, n, &ex->body);
    lgw_span_free_many(spans, n); /* encoded: the spans go back to the pool before the network wait */
    bool sent = false;
    if (rc == 0)
        sent = lgw_otlp_http_export(&ex->http, ex->body.ptr, ex->body.len, ex->cfg.traces.timeout_ms,
                                    lgw_mono_ms() + ex->cfg.export_timeout_ms, final, backoff_wait, ex, n);
    else
        lgw_otlp_http_log_failure(&ex->http, 0, "the batch could not be encoded", n);
    if (sent) {
        lgw_metrics_add(ex->m, "llmgw_otel_spans_exported_total", NULL, (int64_t)n);
        pthread_mutex_lock(&ex->lock);
        return;
    }
    lgw_metrics_add(ex->m, "llmgw_otel_export_failures_total", NULL, 1);
    count_dropped(ex, "export_failed", n);
    pthread_mutex_lock(&ex->lock);
}

static void *export_main(void *arg)
{
    struct lgw_exporter *ex = arg;
    size_t batch_max = (size_t)ex->cfg.max_export_batch_size;
    struct lgw_span **batch = lgw_calloc(batch_max, sizeof(*batch));
    int64_t shutdown_until = 0;
    pthread_mutex_lock(&ex->lock);
    for (;;) {
        struct timespec ts = lgw_deadline_in_ms(CLOCK_MONOTONIC, ex->cfg.schedule_delay_ms);
        while (!ex->stopping && ex->count < batch_max)
            if (pthread_cond_timedwait(&ex->cond, &ex->lock, &ts) != 0)
                break; /* the schedule delay: send what there is */
        if (ex->stopping && !shutdown_until)
            shutdown_until = lgw_mono_ms() + ex->cfg.export_timeout_ms;
        if (ex->count == 0) {
            if (ex->stopping)
                break;
            continue;
        }
        size_t n = ex->count < batch_max ? ex->count : batch_max;
        for (size_t i = 0; i < n; i++)
            batch[i] = ex->ring[(ex->head + i) % ex->cap];
        ex->head = (ex->head + n) % ex->cap;
        ex->count -= n;
        if (shutdown_until && lgw_mono_ms() >= shutdown_until) {
            lgw_span_free_many(batch, n);
            count_dropped(ex, "shutdown", n);
            continue;
        }
        export_batch(ex, batch, n, ex->stopping);
    }
    pthread_mutex_unlock(&ex->lock);
    free(batch);
    return NULL;
}

int lgw_exporter_new(const struct lgw_otel_config *cfg, const struct lgw_otlp_meta *meta, struct lgw_metrics *m,
                     struct lgw_exporter **out)
{
    *out = NULL;
    struct lgw_exporter *ex = lgw_calloc(1, sizeof(*ex));
    ex->cfg = *cfg;
    ex->m = m;
    /* The resource and scope strings, packed in one allocation. */
    size_t bytes = strlen(meta->scope_name) + strlen(meta->scope_version) + 2;
    for (size_t i = 0; i < meta->nresource; i++)
        bytes += strlen(meta->resource[i].key) + strlen(meta->resource[i].value) + 2;
    char *p = ex->strings = lgw_malloc(bytes);
    ex->resource = lgw_calloc(meta->nresource ? meta->nresource : 1, sizeof(*ex->resource));
    ex->nresource = meta->nresource;
#define PACK(dst, src)                                                                                          \
    do {                                                                                                        \
        size_t len_ = strlen(src) + 1;                                                                          \
        memcpy(p, src, len_);                                                                                   \
        dst = p;                                                                                                \
        p += len_;                                                                                              \
    } while (0)
    PACK(ex->scope_name, meta->scope_name);
    PACK(ex->scope_version, meta->scope_version);
    for (size_t i = 0; i < meta->nresource; i++) {
        PACK(ex->resource[i].key, meta->resource[i].key);
        PACK(ex->resource[i].value, meta->resource[i].value);
    }
#undef PACK
    ex->cap = (size_t)cfg->max_queue_size;
    ex->ring = lgw_calloc(ex->cap, sizeof(*ex->ring));
    pthread_mutex_init(&ex->lock, NULL);
    lgw_cond_init_mono(&ex->cond);
    lgw_buf_init(&ex->body, 0);
    if (lgw_otlp_http_init(&ex->http, &cfg->traces, "span(s)"))
        goto fail;
    if (pthread_create(&ex->thread, NULL, export_main, ex) != 0)
        goto fail;
    pthread_setname_np(ex->thread, "otel-export"); /* its CPU apart in top -H, perf and /proc/<pid>/task */
    *out = ex;
    return LGW_OK;
fail:
    LGW_ERROR("otel", "the span exporter could not start");
    ex->thread = 0;
    lgw_otlp_http_cleanup(&ex->http);
    lgw_buf_cleanup(&ex->body);
    pthread_cond_destroy(&ex->cond);
    pthread_mutex_destroy(&ex->lock);
    free(ex->ring);
    free(ex->resource);
    free(ex->strings);
    free(ex);
    return LGW_ERR(INTERNAL);
}

void lgw_exporter_free(struct lgw_exporter *ex)
{
    if (!ex)
        return;
    pthread_mutex_lock(&ex->lock);
    ex->stopping = true;
    pthread_cond_broadcast(&ex->cond);
    pthread_mutex_unlock(&ex->lock);
    pthread_join(ex->thread, NULL);
    lgw_otlp_http_cleanup(&ex->http);
    lgw_buf_cleanup(&ex->body);
    pthread_cond_destroy(&ex->cond);
    pthread_mutex_destroy(&ex->lock);
    free(ex->ring);
    free(ex->resource);
    free(ex->strings);
    free(ex);
}
