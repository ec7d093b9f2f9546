/* otel_env.h - the OpenTelemetry SDK environment variables llmgw reads for its traces and metrics: the standard ones
 * every OpenTelemetry SDK reads (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER, ...), not llmgw settings,
 * so a deployment configures llmgw's traces as it configures every other service's. Parsed and validated
 * once at start, before anything listens: a value llmgw cannot honour (grpc, an unknown sampler, a malformed
 * header list) stops the start with the reason, as a bad llmgw setting does. docs/CONFIG.md lists them
 * (lgw_otel_write_docs). */
#ifndef LGW_TELEMETRY_OTEL_ENV_H
#define LGW_TELEMETRY_OTEL_ENV_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/buf.h"
#include "telemetry/sampler.h"

enum lgw_otlp_protocol { LGW_OTLP_HTTP_PROTOBUF, LGW_OTLP_HTTP_JSON };

#define LGW_OTEL_URL_MAX 1024
#define LGW_OTEL_HEADERS_MAX 16     /* OTEL_EXPORTER_OTLP_HEADERS pairs */
#define LGW_OTEL_HEADER_MAX 1024    /* bytes of one "Name: value" header line */
#define LGW_OTEL_RESOURCE_MAX 32    /* OTEL_RESOURCE_ATTRIBUTES pairs */
#define LGW_OTEL_RESOURCE_KEY_MAX 128
#define LGW_OTEL_RESOURCE_VALUE_MAX 256

struct lgw_otel_resource_attr {
    char key[LGW_OTEL_RESOURCE_KEY_MAX];
    char value[LGW_OTEL_RESOURCE_VALUE_MAX];
};

/* One signal's OTLP/HTTP destination: OTEL_EXPORTER_OTLP_<SIGNAL>_* where set, else the shared
 * OTEL_EXPORTER_OTLP_* (the endpoint gets the signal's path, /v1/traces or /v1/metrics). */
struct lgw_otel_signal {
    /* false: this signal is not exported (OTEL_SDK_DISABLED=true, OTEL_<SIGNAL>_EXPORTER=none, or no endpoint
     * configured). */
    bool enabled;
    char endpoint[LGW_OTEL_URL_MAX]; /* the full URL requests are POSTed to */
    enum lgw_otlp_protocol protocol;
    /* "Name: value" lines for libcurl; secret (they often carry an API key): never logged. */
    char headers[LGW_OTEL_HEADERS_MAX][LGW_OTEL_HEADER_MAX];
    int nheaders;
    int64_t timeout_ms; /* one export request */
    bool gzip_requested; /* OTEL_EXPORTER_OTLP_COMPRESSION=gzip: not supported; bodies go uncompressed (warned) */
};

struct lgw_otel_config {
    /* Traces: when not enabled nothing is traced or exported; the traceparent still travels with every
     * request as before. */
    struct lgw_otel_signal traces;
    /* Metrics pushed over OTLP: every role's registry (the same series as its /metrics), every
     * metric_interval_ms. Not enabled with OTEL_METRICS_EXPORTER=none or prometheus (the /metrics text is
     * always served: prometheus means "scrape, do not push"). */
    struct lgw_otel_signal metrics;
    int64_t metric_interval_ms, metric_export_timeout_ms; /* OTEL_METRIC_EXPORT_INTERVAL, _TIMEOUT */
    char service_name[128];  /* OTEL_SERVICE_NAME, else service.name of the resource attributes, else llmgw-<role> */
    struct lgw_otel_resource_attr resource[LGW_OTEL_RESOURCE_MAX]; /* OTEL_RESOURCE_ATTRIBUTES, service.name aside */
    int nresource;
    struct lgw_sampler sampler;
    /* The batch span processor (OTEL_BSP_*). */
    int64_t schedule_delay_ms, export_timeout_ms, max_queue_size, max_export_batch_size;
    /* OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: prompts and completions become attributes of the
     * GenAI spans (gen_ai.input.messages, gen_ai.output.messages). Off unless an operator turns it on: the
     * content is tenant data, and whoever reads the traces reads it. */
    bool capture_content;
};

/* Reads the variables through get (getenv in production; tests pass their own) into *out, with role naming
 * the default service (llmgw-<role>). Every problem is appended to errs, one line each, and the result is
 * LGW_ERR(CONFIG); otherwise 0. Values of header variables never appear in errs. */
int lgw_otel_config_load(const char *role, const char *(*get)(const char *name), struct lgw_otel_config *out,
                         struct lgw_buf *errs);

/* Appends the section of docs/CONFIG.md that lists these variables and what llmgw does with each. */
void lgw_otel_write_docs(FILE *out);

#endif
