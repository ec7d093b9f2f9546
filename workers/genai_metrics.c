/* genai_metrics.c - GenAI client metrics per provider call (see genai_metrics.h). The buckets are the ones
 * the OpenTelemetry GenAI semantic conventions advise for these two instruments. */
#include "workers/genai_metrics.h"

#include <stdio.h>

#define TOKENS "gen_ai_client_token_usage"
#define DURATION "gen_ai_client_operation_duration_seconds"

static const double token_bounds[] = {1,      4,       16,      64,       256,      1024,     4096,
                                      16384,  65536,   262144,  1048576,  4194304,  16777216, 67108864};
static const double duration_bounds[] = {0.01, 0.02, 0.04, 0.08,  0.16,  0.32,  0.64,
                                         1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92};

void lgw_genai_metrics_declare(struct lgw_metrics *m)
{
    struct lgw_metric_def tokens = {
        .name = TOKENS,
        .type = LGW_METRIC_HISTOGRAM,
        .help = "Tokens per provider call that reported usage, by gen_ai_token_type (input, output).",
        .otel_name = "gen_ai.client.token.usage",
        .unit = "{token}",
        .bounds = token_bounds,
        .nbounds = sizeof(token_bounds) / sizeof(token_bounds[0]),
    };
    struct lgw_metric_def duration = {
        .name = DURATION,
        .type = LGW_METRIC_HISTOGRAM,
        .help = "Duration of each provider call (a route candidate, its retries included), to the end of the "
                "answer; error_type is the HTTP status of a failed call.",
        .otel_name = "gen_ai.client.operation.duration",
        .unit = "s",
        .bounds = duration_bounds,
        .nbounds = sizeof(duration_bounds) / sizeof(duration_bounds[0]),
    };
    lgw_metrics_define(m, &tokens);
    lgw_metrics_define(m, &duration);
}

void lgw_genai_metrics_call(struct lgw_metrics *m, const struct lgw_job *job, const char *provider,
                            const char *request_model, const struct lgw_prov_result *res, int64_t us)
{
    if (!m)
        return;
    char prov[2 * LGW_NAME_MAX], req[2 * LGW_NAME_MAX], resp[2 * LGW_NAME_MAX];
    lgw_metrics_escape(provider, prov, sizeof(prov));
    lgw_metrics_escape(request_model, req, sizeof(req));
    /* The model that answered, as the provider named it; a failure names none, so the request's stands. */
    lgw_metrics_escape(res->model[0] ? res->model : request_model, resp, sizeof(resp));
    const char *op = job->kind == LGW_JOB_EMBEDDINGS ? "embeddings" : "chat";
    char labels[8 * LGW_NAME_MAX + 192];
    int n = snprintf(labels, sizeof(labels),
                     "gen_ai_operation_name=\"%s\",gen_ai_provider_name=\"%s\",gen_ai_request_model=\"%s\","
                     "gen_ai_response_model=\"%s\"",
                     op, prov, req, resp);
    bool ok = res->status >= 200 && res->status < 300;
    if (!ok) /* the status, not a message: a bounded set, as the conventions ask of error.type */
        snprintf(labels + n, sizeof(labels) - (size_t)n, ",error_type=\"%d\"", res->status);
    lgw_metrics_observe_value(m, DURATION, labels, (double)us / 1e6);
    if (!ok || (res->usage.input_tokens <= 0 && res->usage.output_tokens <= 0))
        return; /* no usage reported: nothing to count (estimates are the cost's business, not this metric's) */
    labels[n] = '\0';
    char tl[sizeof(labels) + 32];
    snprintf(tl, sizeof(tl), "%s,gen_ai_token_type=\"input\"", labels);
    lgw_metrics_observe_value(m, TOKENS, tl, (double)res->usage.input_tokens);
    if (job->kind == LGW_JOB_EMBEDDINGS)
        return; /* an embedding has no output tokens: a 0 there would only skew the output histogram */
    snprintf(tl, sizeof(tl), "%s,gen_ai_token_type=\"output\"", labels);
    lgw_metrics_observe_value(m, TOKENS, tl, (double)res->usage.output_tokens);
}
