/* genai_metrics.h - the OpenTelemetry GenAI client metrics the worker records per provider call:
 * gen_ai.client.token.usage (Prometheus gen_ai_client_token_usage) and gen_ai.client.operation.duration
 * (gen_ai_client_operation_duration_seconds), with the semantic conventions' bucket boundaries and
 * attributes (gen_ai_operation_name, gen_ai_provider_name, gen_ai_request_model, gen_ai_response_model,
 * gen_ai_token_type; error_type on a failed call). */
#ifndef LGW_GENAI_METRICS_H
#define LGW_GENAI_METRICS_H

#include <stdint.h>

#include "common/envelope.h"
#include "common/metrics.h"
#include "providers/provider.h"

/* Defines both histograms (buckets, units, OTel names) in m. Start-up. */
void lgw_genai_metrics_declare(struct lgw_metrics *m);

/* Records one provider call of job that ended with res after `us` microseconds: its duration (with
 * error_type, the HTTP status it ended with, unless it succeeded), and, when the provider reported usage,
 * its input and output tokens. provider is the name the provider is served as ("openai", "openai-sim");
 * request_model the catalog model called. m NULL: nothing. Any thread. */
void lgw_genai_metrics_call(struct lgw_metrics *m, const struct lgw_job *job, const char *provider,
                            const char *request_model, const struct lgw_prov_result *res, int64_t us);

#endif
