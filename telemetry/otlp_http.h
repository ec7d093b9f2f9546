/* otlp_http.h - one OTLP/HTTP client, shared by the span exporter (exporter.c) and the metric exporter
 * (meter.c): a libcurl handle with the signal's endpoint, content type and headers, and the export loop
 * the OTLP spec asks of every exporter: POST, and retry what it calls retryable (429, 502, 503, 504, and a
 * collector that cannot be reached) with exponential backoff or the collector's Retry-After, all within
 * one deadline. Failures are logged at most once a second. Internal to telemetry/. */
#ifndef LGW_TELEMETRY_OTLP_HTTP_H
#define LGW_TELEMETRY_OTLP_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/log_limit.h"
#include "telemetry/otel_env.h"

struct lgw_otlp_http {
    void *curl; /* CURL * */
    struct curl_slist *headers;
    struct lgw_buf answer;  /* the start of the last answer's body (capped) */
    int64_t retry_after_ms; /* from the last answer's Retry-After; -1: none */
    struct lgw_log_limit loglim;
    char url_for_logs[256]; /* the endpoint without user info or query: safe to log */
    const char *what;       /* "span(s)" or "metric point(s)": for the failure lines */
};

/* Sets up h for sig's endpoint, protocol, headers (copied) and per-request timeout. what is a string
 * literal naming the items a failed export loses. Returns 0 or LGW_ERR(INTERNAL). Owner thread. */
int lgw_otlp_http_init(struct lgw_otlp_http *h, const struct lgw_otel_signal *sig, const char *what);
void lgw_otlp_http_cleanup(struct lgw_otlp_http *h);

/* Waits ms between retries; returns false when the exporter is stopping (the export gives up). */
typedef bool (*lgw_otlp_wait_cb)(void *opaque, int64_t ms);

/* Sends body[0..len) until it is accepted (true) or the deadline (monotonic ms) passes, a non-retryable
 * answer comes, or wait says stop (false: the failure was logged, naming n items lost). once: a single
 * try (shutdown). The thread that owns h only. */
bool lgw_otlp_http_export(struct lgw_otlp_http *h, const void *body, size_t len, int64_t timeout_ms,
                          int64_t until_ms, bool once, lgw_otlp_wait_cb wait, void *opaque, size_t n);

/* Logs a failed export (status, or 0 and why), at most once a second (the rest counted and said once). */
void lgw_otlp_http_log_failure(struct lgw_otlp_http *h, long status, const char *why, size_t n);

#endif
