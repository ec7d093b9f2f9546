/* spans.c - the worker's job spans (see spans.h). Attribute names follow the OpenTelemetry semantic
 * conventions v1.37.0 (messaging with Kafka, GenAI); llmgw's own are llmgw.*. */
#include "workers/spans.h"

#include <stdio.h>
#include <string.h>

#include "common/kafka.h"
#include "workers/content.h"

/* operation: a literal. */
static void kafka_attrs(struct lgw_span *span, const char *topic, const char *operation, const char *key,
                        int32_t partition)
{
    lgw_span_set_static(span, "messaging.system", "kafka");
    lgw_span_set_str(span, "messaging.destination.name", topic);
    lgw_span_set_static(span, "messaging.operation.type", operation);
    lgw_span_set_static(span, "messaging.operation.name", operation);
    if (key && key[0])
        lgw_span_set_str(span, "messaging.kafka.message.key", key);
    if (partition >= 0) {
        char p[16];
        snprintf(p, sizeof(p), "%d", (int)partition);
        lgw_span_set_str(span, "messaging.destination.partition.id", p);
    }
}

void lgw_wspans_consume(struct lgw_tracer *tr, struct lgw_ticket *t, const rd_kafka_message_t *msg,
                        const char *group)
{
    struct lgw_span_ctx parent;
    bool has = t->traceparent[0] && lgw_span_ctx_parse(t->traceparent, strlen(t->traceparent), &parent);
    char name[LGW_TOPIC_MAX + 16] = "";
    if (tr) /* the name only a recorded span shows: not formatted for every job when tracing is off */
        snprintf(name, sizeof(name), "process %s", t->topic);
    t->span = lgw_span_start(tr, name, LGW_SPAN_CONSUMER, has ? &parent : NULL, &t->span_ctx);
    if (!t->span)
        return;
    lgw_span_set_trace_state(t->span, t->tracestate); /* its children (route, candidates, attempts) inherit it */
    char key[LGW_ID_MAX] = "";
    if (msg->key && msg->key_len < sizeof(key)) {
        memcpy(key, msg->key, msg->key_len);
        key[msg->key_len] = '\0';
    }
    kafka_attrs(t->span, t->topic, "process", key, t->partition);
    lgw_span_set_int(t->span, "messaging.kafka.offset", t->offset);
    lgw_span_set_str(t->span, "messaging.consumer.group.name", group);
}

void lgw_wspans_job(struct lgw_ticket *t)
{
    lgw_span_set_str(t->span, "llmgw.request_id", t->job.id);
    lgw_span_set_str(t->span, "llmgw.tenant", t->job.tenant);
    lgw_span_set_static(t->span, "gen_ai.operation.name", t->job.kind == LGW_JOB_EMBEDDINGS ? "embeddings" : "chat");
}

void lgw_wspans_not_run(struct lgw_ticket *t, const char *error_type)
{
    lgw_span_set_str(t->span, "error.type", error_type);
    lgw_span_set_status(t->span, LGW_SPAN_ERROR, error_type);
    lgw_span_end(&t->span);
}

struct lgw_span *lgw_wspans_send(struct lgw_tracer *tr, struct lgw_ticket *t, const char *topic, int32_t partition,
                                 char tp_out[LGW_TRACEPARENT_SIZE])
{
    if (!tr) {
        tp_out[0] = '\0'; /* tracing off: the job's records carry its own traceparent, as they always did */
        return NULL;
    }
    char name[LGW_TOPIC_MAX + 16];
    snprintf(name, sizeof(name), "send %s", topic);
    struct lgw_span_ctx ctx;
    struct lgw_span *span = lgw_span_start(tr, name, LGW_SPAN_PRODUCER, &t->span_ctx, &ctx);
    lgw_span_ctx_format(&ctx, tp_out);
    lgw_span_set_trace_state(span, t->tracestate);
    kafka_attrs(span, topic, "send", t->job.id, partition);
    return span;
}

const char *lgw_wspans_genai_provider(const char *provider)
{
    static const struct {
        const char *llmgw, *semconv;
    } map[] = {{"gemini", "gcp.gemini"}, {"mistral", "mistral_ai"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(provider, map[i].llmgw) == 0)
            return map[i].semconv;
    return provider; /* openai, anthropic as the conventions spell them; compat and echo are llmgw's own */
}

struct lgw_span *lgw_wspans_candidate(const struct lgw_span *parent, const struct lgw_job *job,
                                      const struct lgw_model_info *m)
{
    if (!parent)
        return NULL;
    const char *op = job->kind == LGW_JOB_EMBEDDINGS ? "embeddings" : "chat";
    const char *model = m->upstream ? m->upstream : m->id; /* what the provider is asked for */
    char name[LGW_SPAN_NAME_MAX];
    snprintf(name, sizeof(name), "%s %s", op, model); /* the conventions' "{operation} {model}" */
    struct lgw_span *span = lgw_span_child(parent, name, LGW_SPAN_CLIENT);
    lgw_span_set_static(span, "gen_ai.operation.name", op);
    lgw_span_set_str(span, "gen_ai.provider.name", lgw_wspans_genai_provider(m->provider));
    lgw_span_set_str(span, "gen_ai.request.model", model);
    lgw_span_set_str(span, "llmgw.provider", m->provider);
    lgw_span_set_str(span, "llmgw.model", m->id);
    json_t *max = json_object_get(job->body, "max_completion_tokens");
    if (!json_is_integer(max))
        max = json_object_get(job->body, "max_tokens");
    if (json_is_integer(max))
        lgw_span_set_int(span, "gen_ai.request.max_tokens", json_integer_value(max));
    lgw_wcontent_input(span, job); /* only when the operator captures content */
    return span;
}

void lgw_wspans_candidate_end(struct lgw_span **span, const struct lgw_prov_result *res, const char *finish_reason,
                              const struct lgw_wcontent_stream *stream)
{
    if (!*span)
        return;
    struct lgw_span *s = *span;
    json_t *body_model = json_object_get(res->body, "model");
    const char *model = json_is_string(body_model) ? json_string_value(body_model) : res->model;
    if (model[0])
        lgw_span_set_str(s, "gen_ai.response.model", model);
    if (res->status == 200) {
        lgw_span_set_int(s, "gen_ai.usage.input_tokens", res->usage.input_tokens);
        lgw_span_set_int(s, "gen_ai.usage.output_tokens", res->usage.output_tokens);
        /* The finish reasons: each choice's, from a whole answer; a stream's last one otherwise. */
        const char *reasons[16];
        size_t n = 0, i;
        json_t *choice;
        json_array_foreach(json_object_get(res->body, "choices"), i, choice) {
            json_t *fr = json_object_get(choice, "finish_reason");
            if (json_is_string(fr) && n < sizeof(reasons) / sizeof(reasons[0]))
                reasons[n++] = json_string_value(fr);
        }
        if (n == 0 && finish_reason[0])
            reasons[n++] = finish_reason;
        if (n)
            lgw_span_set_strs(s, "gen_ai.response.finish_reasons", reasons, n);
        lgw_wcontent_output(s, res->body, stream, finish_reason); /* only when the operator captures content */
    } else {
        char st[16];
        snprintf(st, sizeof(st), "%d", res->status);
        lgw_span_set_str(s, "error.type", st);
        json_t *msg = json_object_get(json_object_get(res->body, "error"), "code");
        lgw_span_set_status(s, LGW_SPAN_ERROR, json_is_string(msg) ? json_string_value(msg) : NULL);
    }
    lgw_span_set_int(s, "llmgw.provider_requests", res->requests);
    lgw_span_end(span);
}
