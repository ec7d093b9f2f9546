/* spans.c - the ingress's spans (see spans.h). Attribute names follow the OpenTelemetry semantic conventions
 * v1.37.0 (HTTP server, messaging with Kafka); llmgw's own are llmgw.*. */
#include "ingress/spans.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kafka.h"
#include "common/trace.h"
#include "ingress/ingress_int.h"

/* server.address and server.port from the Host header ("host", "host:port", "[v6]:port"). */
static void host_attrs(struct lgw_span *span, const char *host)
{
    if (!host || !host[0])
        return;
    const char *colon = strrchr(host, ':');
    const char *bracket = strrchr(host, ']');
    if (colon && (!bracket || colon > bracket)) {
        long long port;
        if (lgw_parse_int64(colon + 1, strlen(colon + 1), &port) == 0 && port > 0 && port < 65536)
            lgw_span_set_int(span, "server.port", port);
        lgw_span_set_strn(span, "server.address", host, (size_t)(colon - host));
    } else {
        lgw_span_set_str(span, "server.address", host);
    }
}

void lgw_spans_request_begin(struct lgw_req *req, const char *method, const char *url, const char *version)
{
    struct lgw_span_ctx parent;
    char tp[LGW_TRACEPARENT_SIZE];
    const char *hdr = lgw_hconn_header(req->conn, "traceparent");
    /* A client's valid trace context is continued; anything else starts a new trace (common/trace.h). */
    bool has = hdr && lgw_traceparent_from_header(hdr, strlen(hdr), tp) &&
               lgw_span_ctx_parse(tp, LGW_TRACEPARENT_LEN, &parent);
    /* Its tracestate only with it (W3C: without a valid traceparent the tracestate means nothing); a malformed
     * one is dropped whole. */
    const char *ts = has ? lgw_hconn_header(req->conn, "tracestate") : NULL;
    char state[LGW_TRACESTATE_SIZE];
    if (ts && lgw_tracestate_from_header(ts, strlen(ts), state) && state[0])
        req->tracestate = lgw_strdup(state);
    struct lgw_span *span = req->span =
        lgw_span_start(req->ing->tracer, method, LGW_SPAN_SERVER, has ? &parent : NULL, &req->span_ctx);
    lgw_span_ctx_format(&req->span_ctx, req->traceparent);
    if (!span)
        return;
    lgw_span_set_trace_state(span, req->tracestate);
    const char *route = strcmp(req->route_label, "other") != 0 ? req->route_label : NULL;
    if (route) {
        char name[LGW_SPAN_NAME_MAX];
        snprintf(name, sizeof(name), "%s %s", method, route);
        lgw_span_set_name(span, name);
        lgw_span_set_str(span, "http.route", route);
    }
    lgw_span_set_str(span, "http.request.method", method);
    lgw_span_set_str(span, "url.path", url); /* the server hands the path without its query */
    lgw_span_set_static(span, "url.scheme", "http");
    if (strncmp(version, "HTTP/", 5) == 0)
        lgw_span_set_str(span, "network.protocol.version", version + 5);
    host_attrs(span, lgw_hconn_header(req->conn, "Host"));
    lgw_span_set_str(span, "user_agent.original",
                     lgw_hconn_header(req->conn, "User-Agent"));
    lgw_span_set_str(span, "llmgw.request_id", req->id);
}

void lgw_spans_request_end(struct lgw_req *req)
{
    struct lgw_span *span = req->span;
    if (!span)
        return;
    if (req->status) {
        lgw_span_set_int(span, "http.response.status_code", req->status);
        if (req->status >= 500) { /* a server span's error is the server's: 5xx only, as the conventions say */
            char s[16];
            snprintf(s, sizeof(s), "%d", req->status);
            lgw_span_set_str(span, "error.type", s);
            lgw_span_set_status(span, LGW_SPAN_ERROR, NULL);
        }
    } else {
        lgw_span_set_static(span, "error.type", "client_closed"); /* the client left before the answer */
    }
    if (req->tenant[0])
        lgw_span_set_str(span, "llmgw.tenant", req->tenant);
    if (req->strategy[0])
        lgw_span_set_str(span, "llmgw.strategy", req->strategy);
    if (req->cache[0])
        lgw_span_set_str(span, "llmgw.cache", req->cache);
    if (req->route_text)
        lgw_span_set_int(span, "llmgw.attempts", req->route_attempts);
    char *end;
    double usd = req->cost_usd[0] ? strtod(req->cost_usd, &end) : 0;
    if (req->cost_usd[0] && *end == '\0')
        lgw_span_set_double(span, "llmgw.cost_usd", usd);
    lgw_span_end(&req->span);
}

/* The messaging attributes every Kafka span of llmgw has (operation: a literal). */
static void kafka_attrs(struct lgw_span *span, const char *topic, const char *operation, const char *key)
{
    lgw_span_set_static(span, "messaging.system", "kafka");
    lgw_span_set_str(span, "messaging.destination.name", topic);
    lgw_span_set_static(span, "messaging.operation.type", operation);
    lgw_span_set_static(span, "messaging.operation.name", operation);
    lgw_span_set_str(span, "messaging.kafka.message.key", key);
}

struct lgw_span *lgw_spans_job_send(struct lgw_req *req, const char *topic)
{
    char name[LGW_TOPIC_MAX + 16] = "";
    if (req->ing->tracer) /* the name only a recorded span shows: not formatted for every job when tracing is off */
        snprintf(name, sizeof(name), "send %s", topic);
    struct lgw_span_ctx ctx;
    struct lgw_span *span = lgw_span_start(req->ing->tracer, name, LGW_SPAN_PRODUCER, &req->span_ctx, &ctx);
    lgw_span_ctx_format(&ctx, req->traceparent); /* the job's context: its consumer continues from this span */
    lgw_span_set_trace_state(span, req->tracestate);
    kafka_attrs(span, topic, "send", req->id);
    return span;
}

struct lgw_span *lgw_spans_reply_begin(const struct lgw_req *req, const rd_kafka_message_t *msg)
{
    struct lgw_ingress *ing = req->ing;
    char tp[LGW_TRACEPARENT_SIZE];
    struct lgw_span_ctx parent;
    if (!ing->tracer || lgw_kafka_traceparent(msg, tp, sizeof(tp)) ||
        !lgw_span_ctx_parse(tp, LGW_TRACEPARENT_LEN, &parent))
        return NULL; /* no trace to continue: the reply says nothing a span could hang from */
    char name[LGW_TOPIC_MAX + 16];
    snprintf(name, sizeof(name), "process %s", ing->topic_replies);
    struct lgw_span *span = lgw_span_start(ing->tracer, name, LGW_SPAN_CONSUMER, &parent, NULL);
    lgw_span_set_trace_state(span, req->tracestate); /* the reply's context is the request's: same vendor data */
    kafka_attrs(span, ing->topic_replies, "process", req->id);
    char part[16];
    snprintf(part, sizeof(part), "%d", (int)msg->partition);
    lgw_span_set_str(span, "messaging.destination.partition.id", part);
    lgw_span_set_int(span, "messaging.kafka.offset", msg->offset);
    lgw_span_set_str(span, "llmgw.request_id", req->id);
    return span;
}
