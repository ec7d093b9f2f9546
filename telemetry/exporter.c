/* exporter.c - the bounded span queue and the OTLP/HTTP export thread (see exporter.h). */
#include "telemetry/exporter.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/log_limit.h"
#include "common/random.h"
#include "telemetry/span_int.h"

/* Backoff between retries of one batch: 100 ms doubling to 5 s, each wait drawn from its upper half (so
 * exporters of many processes do not retry in step). A Retry-After from the collector is honoured up to
 * RETRY_AFTER_MAX_MS; all of it within OTEL_BSP_EXPORT_TIMEOUT. */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define RETRY_AFTER_MAX_MS 30000
/* Failure lines at most this often per kind: a collector that is down must not flood the logs. */
#define LOG_PER_SEC 1

struct lgw_exporter {
    struct lgw_otel_config cfg;
    struct lgw_metrics *m;
    /* The resource and scope, copied: the strings live in `strings`, the array points into it. */
    struct lgw_otlp_kv *resource;
    size_t nresource;
    char *strings;
    char *scope_name, *scope_version;
    char url_for_logs[256]; /* the endpoint without user info or query: safe to log */

    pthread_mutex_t lock;
    pthread_cond_t cond; /* a batch is full, or stopping (also interrupts a backoff wait) */
    struct lgw_span **ring;
    size_t cap, head, count;
    bool stopping;
    pthread_t thread;

    /* The export thread's own. */
    CURL *curl;
    struct curl_slist *headers;
    struct lgw_buf body, answer;
    int64_t retry_after_ms; /* from the last answer's Retry-After; -1: none */
    struct lgw_log_limit loglim;
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

/* A deadline for pthread_cond_timedwait: ms from now on the condition's clock (monotonic). */
static struct timespec deadline_in(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static size_t discard_cb(char *data, size_t size, size_t n, void *opaque)
{
    struct lgw_buf *answer = opaque;
    lgw_buf_append(answer, data, size * n); /* capped: only the start of an error body is kept, for the log */
    return size * n;
}

/* Retry-After in seconds (the collector's throttling advice); the HTTP-date form is read as absent. */
static size_t header_cb(char *data, size_t size, size_t n, void *opaque)
{
    struct lgw_exporter *ex = opaque;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        const char *v = data + sizeof(name) - 1;
        size_t vlen = len - (sizeof(name) - 1);
        while (vlen && (*v == ' ' || *v == '\t'))
            v++, vlen--;
        while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
            vlen--;
        long long s;
        if (lgw_parse_int64(v, vlen, &s) == 0 && s >= 0)
            ex->retry_after_ms = s * 1000 < RETRY_AFTER_MAX_MS ? s * 1000 : RETRY_AFTER_MAX_MS;
    }
    return len;
}

/* One POST of ex->body. Returns the HTTP status, or 0 when no answer came (not reachable, timed out);
 * *why gets libcurl's reason then. */
static long post(struct lgw_exporter *ex, long timeout_ms, const char **why)
{
    ex->retry_after_ms = -1;
    lgw_buf_reset(&ex->answer);
    curl_easy_setopt(ex->curl, CURLOPT_POSTFIELDS, ex->body.ptr);
    curl_easy_setopt(ex->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)ex->body.len);
    curl_easy_setopt(ex->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    CURLcode cc = curl_easy_perform(ex->curl);
    if (cc != CURLE_OK) {
        *why = curl_easy_strerror(cc);
        return 0;
    }
    long status = 0;
    curl_easy_getinfo(ex->curl, CURLINFO_RESPONSE_CODE, &status);
    *why = NULL;
    return status;
}

static bool retryable(long status)
{
    return status == 0 || status == 429 || status == 502 || status == 503 || status == 504;
}

/* A failed export, in the log at most LOG_PER_SEC times a second (the rest counted and said once). */
static void log_failure(struct lgw_exporter *ex, long status, const char *why, size_t n)
{
    static const char kind = 0; /* one kind: every failure line */
    uint64_t held;
    const void *held_key;
    if (!lgw_log_limit_allow(&ex->loglim, &kind, lgw_mono_ms(), &held, &held_key))
        return;
    if (held)
        LGW_WARN("otel", "%llu more export failure(s) not logged", (unsigned long long)held);
    if (status)
        LGW_WARN("otel", "export to %s failed: HTTP %ld; %zu span(s) dropped", ex->url_for_logs, status, n);
    else
        LGW_WARN("otel", "export to %s failed: %s; %zu span(s) dropped", ex->url_for_logs, why, n);
}

/* Sends spans[0..n) with retries. Called with the lock held (it is let go while the network is used). */
static void export_batch(struct lgw_exporter *ex, struct lgw_span **spans, size_t n, bool final)
{
    pthread_mutex_unlock(&ex->lock);
    struct lgw_otlp_meta meta = {ex->resource, ex->nresource, ex->scope_name, ex->scope_version};
    lgw_buf_reset(&ex->body);
    int rc = ex->cfg.protocol == LGW_OTLP_HTTP_JSON ? lgw_otlp_encode_json(&meta, spans, n, &ex->body)
                                                    : lgw_otlp_encode_proto(&meta, spans, n, &ex->body);
    for (size_t i = 0; i < n; i++)
        lgw_span_free(spans[i]);
    long status = 0;
    const char *why = "the batch could not be encoded";
    int64_t until = lgw_mono_ms() + ex->cfg.export_timeout_ms;
    for (int attempt = 0; rc == 0; attempt++) {
        int64_t left = until - lgw_mono_ms();
        if (left <= 0)
            break;
        status = post(ex, (long)(left < ex->cfg.timeout_ms ? left : ex->cfg.timeout_ms), &why);
        if (status >= 200 && status < 300) {
            lgw_metrics_add(ex->m, "llmgw_otel_spans_exported_total", NULL, (int64_t)n);
            pthread_mutex_lock(&ex->lock);
            return;
        }
        if (!retryable(status) || final)
            break;
        int64_t wait = ex->retry_after_ms;
        if (wait < 0) {
            int64_t cap = (int64_t)BACKOFF_FIRST_MS << (attempt < 6 ? attempt : 6);
            if (cap > BACKOFF_MAX_MS)
                cap = BACKOFF_MAX_MS;
            uint32_t r;
            lgw_random_bytes(&r, sizeof(r));
            wait = cap / 2 + (int64_t)(r % (uint32_t)(cap / 2 + 1));
        }
        if (lgw_mono_ms() + wait >= until)
            break;
        pthread_mutex_lock(&ex->lock);
        struct timespec ts = deadline_in(wait);
        while (!ex->stopping && pthread_cond_timedwait(&ex->cond, &ex->lock, &ts) == 0)
            ; /* a batch filling up wakes us too: keep waiting out the backoff */
        bool stop = ex->stopping;
        pthread_mutex_unlock(&ex->lock);
        if (stop)
            break;
    }
    lgw_metrics_add(ex->m, "llmgw_otel_export_failures_total", NULL, 1);
    count_dropped(ex, "export_failed", n);
    log_failure(ex, status, why, n);
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
        struct timespec ts = deadline_in(ex->cfg.schedule_delay_ms);
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
            for (size_t i = 0; i < n; i++)
                lgw_span_free(batch[i]);
            count_dropped(ex, "shutdown", n);
            continue;
        }
        export_batch(ex, batch, n, ex->stopping);
    }
    pthread_mutex_unlock(&ex->lock);
    free(batch);
    return NULL;
}

/* The endpoint as logs may show it: no user info, no query. */
static void safe_url(const char *url, char *out, size_t outsz)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    const char *at = strchr(host, '@'), *slash = strchr(host, '/');
    size_t scheme = (size_t)(host - url);
    if (at && (!slash || at < slash))
        host = at + 1;
    size_t len = strcspn(host, "?#");
    snprintf(out, outsz, "%.*s%.*s", (int)scheme, url, (int)len, host);
}

int lgw_exporter_new(const struct lgw_otel_config *cfg, const struct lgw_otlp_meta *meta, struct lgw_metrics *m,
                     struct lgw_exporter **out)
{
    *out = NULL;
    struct lgw_exporter *ex = lgw_calloc(1, sizeof(*ex));
    ex->cfg = *cfg;
    ex->m = m;
    safe_url(cfg->endpoint, ex->url_for_logs, sizeof(ex->url_for_logs));
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
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ex->cond, &ca);
    pthread_condattr_destroy(&ca);
    lgw_buf_init(&ex->body, 0);
    lgw_buf_init(&ex->answer, 4096);
    lgw_log_limit_init(&ex->loglim, "otel", LOG_PER_SEC);

    ex->headers = curl_slist_append(NULL, cfg->protocol == LGW_OTLP_HTTP_JSON ? "Content-Type: application/json"
                                                                              : "Content-Type: application/x-protobuf");
    ex->headers = curl_slist_append(ex->headers, "Expect:"); /* no 100-continue round trip for large batches */
    for (int i = 0; i < cfg->nheaders; i++)
        ex->headers = curl_slist_append(ex->headers, cfg->headers[i]);
    ex->curl = curl_easy_init();
    if (!ex->curl || !ex->headers)
        goto fail;
    curl_easy_setopt(ex->curl, CURLOPT_URL, cfg->endpoint);
    curl_easy_setopt(ex->curl, CURLOPT_HTTPHEADER, ex->headers);
    curl_easy_setopt(ex->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(ex->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->timeout_ms);
    curl_easy_setopt(ex->curl, CURLOPT_WRITEFUNCTION, discard_cb);
    curl_easy_setopt(ex->curl, CURLOPT_WRITEDATA, &ex->answer);
    curl_easy_setopt(ex->curl, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(ex->curl, CURLOPT_HEADERDATA, ex);
    curl_easy_setopt(ex->curl, CURLOPT_USERAGENT, "llmgw-otlp-exporter");
    if (pthread_create(&ex->thread, NULL, export_main, ex) != 0)
        goto fail;
    *out = ex;
    return LGW_OK;
fail:
    LGW_ERROR("otel", "the span exporter could not start");
    ex->thread = 0;
    if (ex->curl)
        curl_easy_cleanup(ex->curl);
    curl_slist_free_all(ex->headers);
    lgw_buf_cleanup(&ex->body);
    lgw_buf_cleanup(&ex->answer);
    lgw_log_limit_cleanup(&ex->loglim);
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
    curl_easy_cleanup(ex->curl);
    curl_slist_free_all(ex->headers);
    lgw_buf_cleanup(&ex->body);
    lgw_buf_cleanup(&ex->answer);
    lgw_log_limit_cleanup(&ex->loglim);
    pthread_cond_destroy(&ex->cond);
    pthread_mutex_destroy(&ex->lock);
    free(ex->ring);
    free(ex->resource);
    free(ex->strings);
    free(ex);
}
