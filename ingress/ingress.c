/* ingress.c - libmicrohttpd server, routing, authentication and job production (see ingress.h). */
#include "ingress.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "cancel.h"
#include "clock.h"
#include "errors.h"
#include "http_error.h"
#include "ingress_int.h"
#include "kafka.h"
#include "log.h"
#include "provider.h"
#include "router.h"
#include "validate.h"

/* A user id from the client is recorded in the ledger; cap it like any other input. */
#define MAX_USER_LEN 127

struct route {
    const char *path;
    const char *method;
    enum route_id id;
};

static const struct route routes[] = {
    {"/v1/chat/completions", "POST", ROUTE_CHAT},
    {"/v1/chat", "POST", ROUTE_CHAT},
    {"/v1/messages", "POST", ROUTE_MESSAGES},
    {"/v1/embeddings", "POST", ROUTE_EMBEDDINGS},
    {"/v1/models", "GET", ROUTE_MODELS},
    {"/healthz", "GET", ROUTE_HEALTHZ},
    {"/readyz", "GET", ROUTE_READYZ},
    {"/metrics", "GET", ROUTE_METRICS},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static bool ingress_ready(struct lgw_ingress *ing)
{
    if (!atomic_load(&ing->kafka_up) || !atomic_load(&ing->replies_ready) || atomic_load(&ing->draining))
        return false;
    for (int i = 0; i < ing->nextra_ready; i++)
        if (!ing->extra_ready[i].cb(ing->extra_ready[i].opaque))
            return false;
    return true;
}

void lgw_req_unref(struct lgw_req *req)
{
    if (atomic_fetch_sub(&req->refs, 1) != 1)
        return;
    lgw_buf_cleanup(&req->body);
    lgw_buf_cleanup(&req->sse);
    pthread_mutex_destroy(&req->lock);
    free(req->resp);
    free(req);
}

void lgw_ingress_complete(struct lgw_req *req, int status, char *body, size_t len)
{
    pthread_mutex_lock(&req->lock);
    req->status = status;
    free(req->resp);
    req->resp = body;
    req->resp_len = len;
    req->done = true;
    /* Only a suspended connection is resumed: one that is not may already be gone. */
    if (req->suspended) {
        req->suspended = false;
        MHD_resume_connection(req->conn);
    }
    pthread_mutex_unlock(&req->lock);
}

void lgw_ingress_complete_error(struct lgw_req *req, int rc, const char *message)
{
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    lgw_http_error_body(rc, message, &buf);
    size_t len;
    char *body = lgw_buf_take(&buf, &len);
    if (req->anthropic) {
        json_t *oai = json_loadb(body, len, 0, NULL);
        json_t *anth = lgw_anth_error_from_openai(lgw_err_status(rc), oai);
        free(body);
        body = json_dumps(anth, JSON_COMPACT);
        len = body ? strlen(body) : 0;
        json_decref(anth);
        json_decref(oai);
    }
    lgw_ingress_complete(req, lgw_err_status(rc), body, len);
}

void lgw_ingress_take_route(struct lgw_req *req, const struct lgw_reply *reply, bool with_cost)
{
    lgw_strlcpy(req->provider, reply->provider, sizeof(req->provider));
    lgw_strlcpy(req->model, reply->model, sizeof(req->model));
    lgw_strlcpy(req->strategy, reply->strategy, sizeof(req->strategy));
    lgw_strlcpy(req->route_text, reply->route, sizeof(req->route_text));
    req->route_attempts = reply->route_attempts;
    if (with_cost && reply->route_attempts > 0) {
        if (!reply->cost_known)
            lgw_strlcpy(req->cost_usd, "unknown", sizeof(req->cost_usd));
        else if (lgw_cost_format_usd(reply->cost_nusd, req->cost_usd, sizeof(req->cost_usd)))
            req->cost_usd[0] = '\0';
    }
}

void lgw_ingress_route_headers(const struct lgw_req *req, struct MHD_Response *resp)
{
    if (req->id[0])
        MHD_add_response_header(resp, "x-request-id", req->id);
    if (req->provider[0])
        MHD_add_response_header(resp, "x-llmgw-provider", req->provider);
    if (req->model[0])
        MHD_add_response_header(resp, "x-llmgw-model", req->model);
    if (req->strategy[0])
        MHD_add_response_header(resp, "x-llmgw-strategy", req->strategy);
    if (req->route_text[0]) {
        char n[16];
        snprintf(n, sizeof(n), "%d", req->route_attempts);
        MHD_add_response_header(resp, "x-llmgw-attempts", n);
        snprintf(n, sizeof(n), "%d", req->route_attempts > 0 ? req->route_attempts - 1 : 0);
        MHD_add_response_header(resp, "x-llmgw-fallbacks", n);
        MHD_add_response_header(resp, "x-llmgw-route", req->route_text);
    }
    if (req->cost_usd[0])
        MHD_add_response_header(resp, "x-llmgw-cost-usd", req->cost_usd);
}

static enum MHD_Result queue(struct lgw_req *req, const char *content_type)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(req->resp_len, req->resp ? req->resp : (char *)"", req->resp
                                                                                              ? MHD_RESPMEM_MUST_FREE
                                                                                              : MHD_RESPMEM_PERSISTENT);
    req->resp = NULL; /* MHD owns it now */
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type ? content_type : "application/json");
    lgw_ingress_route_headers(req, resp);
    enum MHD_Result r = MHD_queue_response(req->conn, (unsigned int)req->status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result answer_error(struct lgw_req *req, int rc, const char *message)
{
    lgw_ingress_complete_error(req, rc, message);
    return queue(req, NULL);
}

static enum MHD_Result answer_text(struct lgw_req *req, int status, const char *text, const char *ctype)
{
    lgw_ingress_complete(req, status, lgw_strdup(text), strlen(text));
    return queue(req, ctype);
}

static int authenticate(struct lgw_req *req)
{
    struct lgw_ingress *ing = req->ing;
    if (ing->cfg->nkeys == 0 && ing->cfg->allow_anonymous) {
        lgw_strlcpy(req->tenant, "dev", sizeof(req->tenant));
        return LGW_OK;
    }
    const char *auth = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *api_key = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "x-api-key");
    if (!auth && api_key) {
        /* The Anthropic SDK sends its key as x-api-key; check it the same way. */
        char bearer[LGW_AUTH_KEY_MAX + 16];
        if (strlen(api_key) > LGW_AUTH_KEY_MAX)
            return LGW_ERR(UNAUTHORIZED);
        snprintf(bearer, sizeof(bearer), "Bearer %s", api_key);
        return lgw_auth_check(ing->cfg->keys, ing->cfg->nkeys, bearer, req->tenant, sizeof(req->tenant));
    }
    return lgw_auth_check(ing->cfg->keys, ing->cfg->nkeys, auth, req->tenant, sizeof(req->tenant));
}

/* W3C traceparent: propagate a valid one from the client, otherwise start a new trace. */
static void traceparent(struct lgw_req *req, char out[56])
{
    const char *tp = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "traceparent");
    if (tp && strlen(tp) == 55 && tp[2] == '-' && tp[35] == '-' && tp[52] == '-') {
        memcpy(out, tp, 56);
        return;
    }
    char u1[37], u2[37], hex[33];
    lgw_uuid4(u1);
    lgw_uuid4(u2);
    size_t n = 0;
    for (const char *c = u1; *c && n < 32; c++)
        if (*c != '-')
            hex[n++] = *c;
    hex[n] = '\0';
    char span[17];
    n = 0;
    for (const char *c = u2; *c && n < 16; c++)
        if (*c != '-')
            span[n++] = *c;
    span[n] = '\0';
    snprintf(out, 56, "00-%s-%s-01", hex, span);
}

/* The request's deadline: the configured one, or shorter when the client asks with x-llmgw-timeout-ms
 * (never longer: the operator's limit holds). */
/* The request's routing strategy, from the x-llmgw-strategy header or the body's "llmgw": {"strategy"}
 * (the header wins), into out ("" when neither: the worker's default). The "llmgw" object is gateway
 * business and is taken out of the body before any provider sees it. Returns 0 or LGW_ERR(BAD_STRATEGY). */
static int take_strategy(struct lgw_req *req, json_t *body, char *out, size_t outsz)
{
    const char *name = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "x-llmgw-strategy");
    json_t *ext = json_object_get(body, "llmgw");
    json_t *in_body = json_object_get(ext, "strategy");
    if (!name && in_body && !json_is_string(in_body))
        return LGW_ERR(BAD_STRATEGY);
    if (!name)
        name = json_string_value(in_body);
    enum lgw_strategy s;
    int rc = name ? lgw_strategy_parse(name, &s) : LGW_OK;
    if (rc == 0)
        lgw_strlcpy(out, name ? lgw_strategy_name(s) : "", outsz);
    json_object_del(body, "llmgw");
    return rc;
}

static int64_t request_timeout(struct lgw_req *req)
{
    int64_t limit = req->ing->cfg->request_timeout_ms;
    const char *h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "x-llmgw-timeout-ms");
    long long v;
    if (h && lgw_parse_int64(h, strlen(h), &v) == 0 && v > 0 && v < limit)
        return v;
    return limit;
}

/* Validates the body, builds the job, registers the request as pending, produces, and suspends. */
static enum MHD_Result submit(struct lgw_req *req)
{
    struct lgw_ingress *ing = req->ing;
    const struct lgw_config *cfg = ing->cfg;
    char msg[512], param[64];
    json_t *body = NULL;
    struct lgw_buf payload;
    lgw_buf_init(&payload, 0);
    enum MHD_Result r;

    int rc = authenticate(req);
    if (rc) {
        r = answer_error(req, rc, "Incorrect or missing API key. Pass it as 'Authorization: Bearer <key>'.");
        goto out;
    }
    if ((rc = lgw_validate_parse(req->body.ptr ? req->body.ptr : "", req->body.len, (int)cfg->max_json_depth, &body,
                                 msg, sizeof(msg)))) {
        r = answer_error(req, rc, msg);
        goto out;
    }
    if (req->route == ROUTE_MESSAGES) {
        json_t *oai;
        if ((rc = lgw_anth_request_to_openai(body, &oai, msg, sizeof(msg)))) {
            r = answer_error(req, rc, msg);
            goto out;
        }
        json_decref(body);
        body = oai;
    }
    rc = req->route == ROUTE_EMBEDDINGS ? lgw_validate_embeddings(body, msg, sizeof(msg), param, sizeof(param))
                                        : lgw_validate_chat(body, msg, sizeof(msg), param, sizeof(param));
    if (rc) {
        r = answer_error(req, rc, msg);
        goto out;
    }
    json_t *stream = json_object_get(body, "stream");
    req->stream = json_is_true(stream);
    if (req->stream && req->route == ROUTE_EMBEDDINGS) {
        r = answer_error(req, LGW_ERR(UNSUPPORTED), "Streaming is only available for chat completions.");
        goto out;
    }
    if (!ingress_ready(ing)) {
        r = answer_error(req, LGW_ERR(UNAVAILABLE), "The gateway cannot reach its message broker; try again later.");
        goto out;
    }

    struct lgw_job job;
    memset(&job, 0, sizeof(job));
    lgw_uuid4(req->id);
    lgw_strlcpy(job.id, req->id, sizeof(job.id));
    job.kind = req->route == ROUTE_EMBEDDINGS ? LGW_JOB_EMBEDDINGS : LGW_JOB_CHAT;
    lgw_strlcpy(job.tenant, req->tenant, sizeof(job.tenant));
    const char *user = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "x-llmgw-user");
    json_t *juser = json_object_get(body, "user");
    if (!user && json_is_string(juser))
        user = json_string_value(juser);
    if (user && strlen(user) <= MAX_USER_LEN)
        lgw_strlcpy(job.user, user, sizeof(job.user));
    job.created_ms = lgw_wall_ms();
    int64_t timeout_ms = request_timeout(req);
    job.deadline_ms = job.created_ms + timeout_ms;
    lgw_strlcpy(job.reply_topic, ing->topic_replies, sizeof(job.reply_topic));
    job.reply_partition = 0;
    if ((rc = take_strategy(req, body, job.strategy, sizeof(job.strategy)))) {
        r = answer_error(req, rc, "Unknown routing strategy: use cost, latency, capability or round-robin.");
        goto out;
    }
    job.attempt = 1;
    job.stream = req->stream;
    job.body = body;
    rc = lgw_job_encode(&job, &payload);
    if (rc) {
        r = answer_error(req, rc, NULL);
        goto out;
    }
    char tp[56];
    traceparent(req, tp);
    req->deadline_ms = lgw_mono_ms() + timeout_ms;
    const char *topic = job.kind == LGW_JOB_CHAT ? ing->topic_chat : ing->topic_embeddings;

    /* Insert, produce and suspend under the shard lock: the reply thread takes the request out of the map
     * only after this, so it never resumes a connection that is not suspended yet. */
    lgw_pending_lock(ing->pending, req->id);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        ing->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(req->id, strlen(req->id)),
        RD_KAFKA_V_VALUE(payload.ptr, payload.len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER("llmgw-id", req->id, -1), RD_KAFKA_V_HEADER("traceparent", tp, -1), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        atomic_fetch_add(&req->refs, 1); /* the map's reference */
        lgw_pending_insert_locked(ing->pending, req);
        pthread_mutex_lock(&req->lock);
        req->suspended = true;
        MHD_suspend_connection(req->conn);
        pthread_mutex_unlock(&req->lock);
    }
    lgw_pending_unlock(ing->pending, req->id);
    if (err) {
        lgw_metrics_add(ing->m, "llmgw_kafka_produce_errors_total", "role=\"ingress\"", 1);
        LGW_LOG(LGW_LOG_WARN, "ingress", req->id, req->tenant, "produce: %s", rd_kafka_err2str(err));
        r = answer_error(req, LGW_ERR(UNAVAILABLE), "The gateway could not queue the request; try again later.");
        goto out;
    }
    LGW_LOG(LGW_LOG_DEBUG, "ingress", req->id, req->tenant, "queued %s job", lgw_job_kind_name(job.kind));
    r = MHD_YES;
out:
    json_decref(body);
    lgw_buf_cleanup(&payload);
    return r;
}

static enum MHD_Result serve_get(struct lgw_req *req)
{
    struct lgw_ingress *ing = req->ing;
    switch (req->route) {
    case ROUTE_HEALTHZ:
        return answer_text(req, 200, "{\"status\":\"ok\"}", NULL);
    case ROUTE_READYZ:
        return ingress_ready(ing) ? answer_text(req, 200, "{\"status\":\"ready\"}", NULL)
                                  : answer_text(req, 503, "{\"status\":\"not ready\"}", NULL);
    case ROUTE_METRICS: {
        struct lgw_buf buf;
        lgw_buf_init(&buf, 0);
        lgw_metrics_gauge_set(ing->m, "llmgw_ingress_waiting_requests", NULL, (int64_t)lgw_pending_count(ing->pending));
        lgw_metrics_render(ing->m, &buf);
        size_t len;
        char *text = lgw_buf_take(&buf, &len);
        lgw_ingress_complete(req, 200, text, len);
        return queue(req, "text/plain; version=0.0.4; charset=utf-8");
    }
    case ROUTE_MODELS: {
        int rc = authenticate(req);
        if (rc)
            return answer_error(req, rc, "Incorrect or missing API key. Pass it as 'Authorization: Bearer <key>'.");
        lgw_catalog_holder_refresh(ing->catalog);
        struct lgw_catalog *cat = lgw_catalog_current(ing->catalog);
        json_t *models = lgw_router_models_json(cat, ing->cfg);
        lgw_catalog_unref(cat);
        char *text = json_dumps(models, JSON_COMPACT);
        json_decref(models);
        lgw_ingress_complete(req, 200, text, strlen(text));
        return queue(req, NULL);
    }
    default:
        return answer_error(req, LGW_ERR(NOT_FOUND), NULL);
    }
}

static struct lgw_req *req_new(struct lgw_ingress *ing, struct MHD_Connection *conn, const char *url,
                               const char *method)
{
    struct lgw_req *req = lgw_calloc(1, sizeof(*req));
    atomic_init(&req->refs, 1); /* the connection's reference */
    pthread_mutex_init(&req->lock, NULL);
    lgw_buf_init(&req->sse, 0);
    req->ing = ing;
    req->conn = conn;
    req->start_us = lgw_mono_us();
    req->route = ROUTE_NONE;
    req->route_label = "other";
    lgw_buf_init(&req->body, (size_t)ing->cfg->max_body_bytes);
    bool path_known = false;
    for (size_t i = 0; i < NROUTES; i++) {
        if (strcmp(url, routes[i].path) != 0)
            continue;
        path_known = true;
        req->route_label = routes[i].path;
        if (strcmp(method, routes[i].method) == 0) {
            req->route = routes[i].id;
            break;
        }
    }
    if (req->route == ROUTE_NONE)
        req->early_rc = path_known ? LGW_ERR(METHOD) : LGW_ERR(NOT_FOUND);
    lgw_metrics_gauge_add(ing->m, "llmgw_http_in_flight", NULL, 1);
    return req;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    (void)version;
    struct lgw_ingress *ing = cls;
    struct lgw_req *req = *con_cls;
    if (!req) {
        req = req_new(ing, conn, url, method);
        *con_cls = req;
        req->anthropic = req->route == ROUTE_MESSAGES;
        if (req->route == ROUTE_CHAT || req->route == ROUTE_MESSAGES || req->route == ROUTE_EMBEDDINGS) {
            /* Refuse an oversized body from its declared length, before reading a byte of it. */
            const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            long long n;
            if (cl && lgw_parse_int64(cl, strlen(cl), &n) == 0 && n > ing->cfg->max_body_bytes) {
                char msg[128];
                snprintf(msg, sizeof(msg), "Request body of %lld bytes is larger than the limit of %lld bytes.", n,
                         (long long)ing->cfg->max_body_bytes);
                return answer_error(req, LGW_ERR(TOO_LARGE), msg);
            }
        }
        return MHD_YES;
    }
    if (req->done) { /* resumed after the reply, the deadline or a failure */
        if (req->stream_started)
            return lgw_sse_queue(req);
        return queue(req, NULL);
    }
    if (*upload_data_size) {
        /* Errors found early are answered once the body is read: answering mid-upload makes MHD close the
         * socket under a client that is still sending, and the client may never see the error. */
        if (req->early_rc == 0 &&
            (req->route == ROUTE_CHAT || req->route == ROUTE_MESSAGES || req->route == ROUTE_EMBEDDINGS))
            req->early_rc = lgw_buf_append(&req->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->early_rc)
        return answer_error(req, req->early_rc, NULL);
    if (req->route == ROUTE_CHAT || req->route == ROUTE_MESSAGES || req->route == ROUTE_EMBEDDINGS)
        return submit(req);
    return serve_get(req);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    struct lgw_ingress *ing = cls;
    struct lgw_req *req = *con_cls;
    if (!req)
        return;
    *con_cls = NULL;
    char labels[160];
    snprintf(labels, sizeof(labels), "route=\"%s\",status=\"%d\"", req->route_label, req->status ? req->status : 499);
    lgw_metrics_add(ing->m, "llmgw_http_requests_total", labels, 1);
    snprintf(labels, sizeof(labels), "route=\"%s\"", req->route_label);
    lgw_metrics_observe(ing->m, "llmgw_http_request_duration_seconds", labels,
                        (double)(lgw_mono_us() - req->start_us) / 1e6);
    lgw_metrics_gauge_add(ing->m, "llmgw_http_in_flight", NULL, -1);
    /* A streaming client that left is still in the map: later chunks for it are dropped as unmatched, and
     * the workers are told, so the provider call stops instead of burning tokens for nobody. */
    if (lgw_pending_remove(ing->pending, req)) {
        if (req->stream && lgw_cancel_publish(ing->producer, ing->cfg, req->id) == 0)
            LGW_LOG(LGW_LOG_INFO, "ingress", req->id, req->tenant, "client left mid-stream; cancel sent");
        lgw_req_unref(req);
    }
    lgw_req_unref(req);
}

/* Small writes (response headers, then each SSE chunk) must leave at once: with Nagle on, the second one
 * waits for the client's delayed ACK, ~40 ms. */
static void connection_cb(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)socket_context;
    if (toe != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int one = 1;
    if (info && setsockopt(info->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
        LGW_DEBUG("ingress", "TCP_NODELAY not set on a client socket");
}

static void declare_metrics(struct lgw_metrics *m)
{
    lgw_metrics_declare(m, "llmgw_http_requests_total", LGW_METRIC_COUNTER, "HTTP requests by route and status.");
    lgw_metrics_declare(m, "llmgw_http_request_duration_seconds", LGW_METRIC_HISTOGRAM,
                        "HTTP request latency from first byte to answer.");
    lgw_metrics_declare(m, "llmgw_http_in_flight", LGW_METRIC_GAUGE, "HTTP requests being served.");
    lgw_metrics_declare(m, "llmgw_ingress_waiting_requests", LGW_METRIC_GAUGE, "Requests waiting for a reply.");
    lgw_metrics_declare(m, "llmgw_kafka_produce_errors_total", LGW_METRIC_COUNTER, "Kafka produce failures.");
    lgw_metrics_add(m, "llmgw_kafka_produce_errors_total", "role=\"ingress\"", 0); /* shown as 0, not absent */
    lgw_metrics_declare(m, "llmgw_replies_unmatched_total", LGW_METRIC_COUNTER,
                        "Replies for requests this ingress no longer waits for (answered or timed out).");
}

static int start_http(struct lgw_ingress *ing)
{
    const struct lgw_config *cfg = ing->cfg;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)cfg->port);
    if (inet_pton(AF_INET, cfg->listen_addr, &sa.sin_addr) != 1) {
        LGW_ERROR("ingress", "listen_addr %s is not an IPv4 address", cfg->listen_addr);
        return LGW_ERR(CONFIG);
    }
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                         MHD_USE_ERROR_LOG;
    ing->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, access_cb, ing, MHD_OPTION_EXTERNAL_LOGGER, lgw_http_mhd_log_cb,
        "http", MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)cfg->http_threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60,
        /* Also the header-size cap: larger headers get an automatic 431. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->http_connection_memory, MHD_OPTION_LISTEN_BACKLOG_SIZE,
        (unsigned int)1024,
        MHD_OPTION_NOTIFY_COMPLETED, completed_cb, ing, MHD_OPTION_NOTIFY_CONNECTION, connection_cb, ing,
        MHD_OPTION_END);
    if (!ing->daemon) {
        LGW_ERROR("ingress", "cannot listen on %s:%lld", cfg->listen_addr, (long long)cfg->port);
        return LGW_ERR(IO);
    }
    return LGW_OK;
}

int lgw_ingress_new(const struct lgw_config *cfg, struct lgw_metrics *m, struct lgw_ingress **out)
{
    int rc;
    struct lgw_ingress *ing = lgw_calloc(1, sizeof(*ing));
    ing->cfg = cfg;
    ing->m = m;
    *out = NULL;
    declare_metrics(m);
    if (cfg->ingress_id[0])
        lgw_strlcpy(ing->id, cfg->ingress_id, sizeof(ing->id));
    else {
        char host[48] = "host";
        gethostname(host, sizeof(host) - 1);
        for (char *c = host; *c; c++) /* topic names allow [a-zA-Z0-9._-] only */
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
                  *c == '.'))
                *c = '_';
        snprintf(ing->id, sizeof(ing->id), "%s-%d", host, (int)getpid());
    }
    lgw_config_topic(cfg, LGW_TOPIC_JOBS_CHAT, ing->topic_chat, sizeof(ing->topic_chat));
    lgw_config_topic(cfg, LGW_TOPIC_JOBS_EMBEDDINGS, ing->topic_embeddings, sizeof(ing->topic_embeddings));
    char suffix[96];
    snprintf(suffix, sizeof(suffix), "%s.%s", LGW_TOPIC_REPLIES, ing->id);
    lgw_config_topic(cfg, suffix, ing->topic_replies, sizeof(ing->topic_replies));
    ing->pending = lgw_pending_new();
    struct lgw_buf errs;
    lgw_buf_init(&errs, 65536);
    rc = lgw_catalog_holder_new(cfg, &ing->catalog, &errs);
    if (rc)
        LGW_ERROR("ingress", "the model catalog is invalid:\n%s", errs.ptr ? errs.ptr : "");
    lgw_buf_cleanup(&errs);
    if (rc)
        goto fail;

    char client_id[96];
    snprintf(client_id, sizeof(client_id), "llmgw-ingress-%s", ing->id);
    if ((rc = lgw_kafka_producer_new(cfg, client_id, 0, lgw_replies_dr_cb, ing, &ing->producer)))
        goto fail;
    if ((rc = lgw_kafka_health_start(ing->producer, &ing->kafka_up, &ing->stop_bg, 1000, &ing->health_thread)))
        goto fail;
    if ((rc = lgw_replies_start(ing)))
        goto fail;
    if ((rc = start_http(ing)))
        goto fail;
    LGW_INFO("ingress", "ingress %s listening on %s:%lld, replies on %s", ing->id, cfg->listen_addr,
             (long long)cfg->port, ing->topic_replies);
    *out = ing;
    return LGW_OK;
fail:
    lgw_ingress_free(ing);
    return rc;
}

void lgw_ingress_add_ready_check(struct lgw_ingress *ing, bool (*cb)(void *opaque), void *opaque)
{
    if (ing->nextra_ready < (int)(sizeof(ing->extra_ready) / sizeof(ing->extra_ready[0])))
        ing->extra_ready[ing->nextra_ready++] = (struct lgw_ready_check){cb, opaque};
}

void lgw_ingress_drain(struct lgw_ingress *ing)
{
    if (!ing->daemon || atomic_exchange(&ing->draining, true))
        return;
    /* Stop accepting; connections already open keep being served. */
    MHD_socket fd = MHD_quiesce_daemon(ing->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    int64_t until = lgw_mono_ms() + ing->cfg->shutdown_grace_ms;
    size_t waiting;
    while ((waiting = lgw_pending_count(ing->pending)) > 0 && lgw_mono_ms() < until) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    LGW_INFO("ingress", "drained; %zu request(s) still waiting are answered 503", waiting);
    /* The reply thread stops here; it owns completions, so nothing else resumes connections after it. */
    lgw_replies_stop(ing);
    struct lgw_req *req = lgw_pending_take_expired(ing->pending, INT64_MAX);
    while (req) {
        struct lgw_req *next = req->pending_next;
        lgw_sse_fail(req, LGW_ERR(UNAVAILABLE), "The gateway is shutting down; retry the request.");
        lgw_req_unref(req);
        req = next;
    }
    /* Give the HTTP threads a moment to write the answers just resumed before the daemon stops. */
    struct timespec ts = {0, 200 * 1000000L};
    nanosleep(&ts, NULL);
    MHD_stop_daemon(ing->daemon);
    ing->daemon = NULL;
}

void lgw_ingress_free(struct lgw_ingress *ing)
{
    if (!ing)
        return;
    if (ing->daemon)
        lgw_ingress_drain(ing);
    lgw_replies_stop(ing);
    atomic_store(&ing->stop_bg, true);
    if (ing->health_thread)
        pthread_join(ing->health_thread, NULL);
    if (ing->producer) {
        rd_kafka_flush(ing->producer, 2000);
        rd_kafka_destroy(ing->producer);
    }
    lgw_pending_free(ing->pending);
    lgw_catalog_holder_free(ing->catalog);
    free(ing);
}
