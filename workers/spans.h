/* spans.h - the worker's part of a request's trace: the CONSUMER span of a job (from its record to its cost
 * event; it continues the job record's traceparent), the INTERNAL routing span under it, and the PRODUCER
 * spans of its reply (one per stream, not per chunk) and its cost events. Candidate and attempt spans are
 * dispatch.c's and the wire layer's. Spans are no-ops when tracing is off (telemetry/span.h). */
#ifndef LGW_WORKER_SPANS_H
#define LGW_WORKER_SPANS_H

#include <librdkafka/rdkafka.h>

#include "common/envelope.h"
#include "providers/provider.h"
#include "workers/content.h"
#include "telemetry/span.h"
#include "workers/results.h"

/* Starts t's CONSUMER span for its record msg, consumed by group, under the record's traceparent (or a new
 * trace). Consumer thread, right after lgw_results_ticket_new. */
void lgw_wspans_consume(struct lgw_tracer *tr, struct lgw_ticket *t, const rd_kafka_message_t *msg,
                        const char *group);
/* Adds what the decoded job says (tenant, operation) to t's span. */
void lgw_wspans_job(struct lgw_ticket *t);
/* Ends t's span as a job that was not run: error_type says why ("dead_letter", "expired"). */
void lgw_wspans_not_run(struct lgw_ticket *t, const char *error_type);

/* Starts a PRODUCER span under t's consumer span for what the job sends to topic and puts its context in
 * tp_out (t->reply_tp or t->cost_tp), which the records then carry. Returns the span (the caller ends it). */
struct lgw_span *lgw_wspans_send(struct lgw_tracer *tr, struct lgw_ticket *t, const char *topic, int32_t partition,
                                 char tp_out[LGW_TRACEPARENT_SIZE]);

/* A candidate's span (GenAI inference, CLIENT) under the routing span parent: model m of the plan called for
 * job; with content capture on, job's messages on it (workers/content.h). Its HTTP attempts hang from it
 * (providers/wire.c). Loop thread (dispatch). */
struct lgw_span *lgw_wspans_candidate(const struct lgw_span *parent, const struct lgw_job *job,
                                      const struct lgw_model_info *m);
/* Ends a candidate's span with its call's result: response model, usage, finish reasons (a stream's last one
 * is finish_reason, "" when none came; a whole answer has them in its body), or the error. With content
 * capture on (workers/content.h), the prompt was put on it at the start and the answer is now: a whole
 * answer's from its body, a stream's from stream (its text as gathered; NULL: none). */
void lgw_wspans_candidate_end(struct lgw_span **span, const struct lgw_prov_result *res, const char *finish_reason,
                              const struct lgw_wcontent_stream *stream);

/* gen_ai.provider.name for llmgw's provider name: the conventions' value where they have one. */
const char *lgw_wspans_genai_provider(const char *provider);

#endif
