/* spans.h - the ingress's part of a request's trace: the HTTP server span (one per request, from its first
 * header to its completion), the producer span of its job, and a short consumer span when the worker's
 * final reply completes it. Spans are no-ops when tracing is off (telemetry/span.h); the traceparent the job
 * carries is set here either way. */
#ifndef LGW_INGRESS_SPANS_H
#define LGW_INGRESS_SPANS_H

#include <librdkafka/rdkafka.h>

#include "ingress/request.h"
#include "telemetry/span.h"

/* Starts req's SERVER span, continuing the client's traceparent header when it sent a valid one, and sets
 * req->span_ctx and req->traceparent (what logs show until the job is produced). HTTP thread, in the first
 * access callback, once the route is matched. */
void lgw_spans_request_begin(struct lgw_req *req, const char *method, const char *url, const char *version);
/* Ends req's SERVER span with the answer's status (none: the client left) and what the worker's reply said
 * (cache, attempts, cost). HTTP thread, when the server reports the request complete. */
void lgw_spans_request_end(struct lgw_req *req);

/* Starts the PRODUCER span of req's job to topic (a child of the server span) and writes the context the
 * job record carries into req->traceparent. The caller ends it (lgw_span_end) once the record is queued, or
 * marks it failed. HTTP thread. */
struct lgw_span *lgw_spans_job_send(struct lgw_req *req, const char *topic);

/* A CONSUMER span for a reply record msg that completes req, under the worker's reply span (the record's
 * traceparent header): the ingress completing the response. The caller ends it after completing req. Reply
 * thread. */
struct lgw_span *lgw_spans_reply_begin(const struct lgw_req *req, const rd_kafka_message_t *msg);

#endif
