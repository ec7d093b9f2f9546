/* ingress.c - the HTTP server: its set-up (httpd/server.h), matching each request against the route table,
 * reading its body under the cap, handing it to its route's handler, and the lifecycle (start, drain, free).
 * What a route does lives in its own file (jobs.c, info.c); see ingress_int.h for the order of the files. */
#include "ingress/ingress.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/http_error.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/redis.h"
#include "common/topics.h"
#include "ingress/admin.h"
#include "ingress/admission.h"
#include "ingress/ingress_int.h"
#include "ingress/jobs.h"
#include "ingress/mount.h"
#include "ingress/providers.h"
#include "ingress/replies.h"
#include "ingress/routes.h"
#include "ingress/spans.h"
#include "ingress/sse.h"
#include "limits/budget.h"
#include "limits/limits.h"
#include "limits/spend.h"
#include "routing/catalog.h"

static const char unauthorized[] = "Incorrect or missing API key. Pass it as 'Authorization: Bearer <key>'.";

/* The first call for a request: match its route, refuse a head above max_header_bytes (once the body is
 * read), and refuse an oversized body from its declared length before reading a byte of it. */
static enum lgw_hres begin(struct lgw_ingress *ing, struct lgw_hconn *conn, const char *url,
                             const char *method, const char *version, void **con_cls)
{
    struct lgw_req *req = lgw_req_new(ing, conn, (size_t)ing->cfg->max_body_bytes);
    req->draining = &ing->draining;
    req->sse_max = (size_t)ing->cfg->stream_buffer_max_bytes;
    req->fd = lgw_hconn_fd(conn);
    *con_cls = req;
    lgw_metrics_gauge_add(ing->m, "llmgw_http_in_flight", NULL, 1);
    const struct lgw_route *same_path;
    const char *arg;
    req->route = lgw_route_find(method, url, &same_path, &arg);
    if (!req->route && !same_path) { /* the table wins; a mount serves only what it leaves */
        req->route = lgw_mounts_find(ing->mounts, method, url, &same_path);
        if (same_path) {
            arg = url + strlen(same_path->path);
            if (strlen(arg) >= sizeof(req->path_arg)) /* no mounted path is that long */
                req->route = NULL;
        }
    }
    if (same_path) {
        req->route_label = same_path->path; /* static: the label outlives the request's path */
        if (same_path->dialect) /* a 405 on /v1/messages is answered as Anthropic answers one */
            req->dialect = same_path->dialect;
    }
    if (arg && strlen(arg) < sizeof(req->path_arg)) /* longer: no such thing, and the handler says so */
        lgw_strlcpy(req->path_arg, arg, sizeof(req->path_arg));
    lgw_spans_request_begin(req, method, url, version);
    if (lgw_hconn_head_bytes(conn) > (size_t)ing->cfg->max_header_bytes) {
        /* Heads up to http_connection_memory reach this point (config.c sizes it above the cap); the server
         * answers larger ones itself (http_error_body, counted there too). */
        lgw_metrics_add(ing->m, "llmgw_http_headers_too_large_total", NULL, 1);
        req->early_rc = LGW_ERR(HEADERS_TOO_LARGE);
        return LGW_HRES_YES;
    }
    if (!req->route) {
        req->early_rc = same_path ? LGW_ERR(METHOD) : LGW_ERR(NOT_FOUND);
        return LGW_HRES_YES;
    }
    if (req->route->body) {
        /* A mount that takes uploads has its own cap; the buffer (empty so far) takes it too. */
        long long cap = req->route->body_max ? (long long)req->route->body_max : (long long)ing->cfg->max_body_bytes;
        req->body.max = (size_t)cap;
        const char *cl = lgw_hconn_header(conn, "Content-Length");
        long long n;
        if (cl && lgw_parse_int64(cl, strlen(cl), &n) == 0 && n > cap) {
            char msg[128];
            snprintf(msg, sizeof(msg), "Request body of %lld bytes is larger than the limit of %lld bytes.", n, cap);
            return lgw_req_answer_error(req, LGW_ERR(TOO_LARGE), msg);
        }
    }
    return LGW_HRES_YES;
}

/* Slow POST: a body must arrive within http_body_timeout_ms of its head, plus a second per http_body_min_rate
 * bytes received. Checked as bytes arrive (a body that stops arriving meets the idle timeout instead). True: the
 * body is late (counted), to be answered 408; the server closes the connection after the answer, as the rest
 * of the body is never read. */
static bool body_late(struct lgw_ingress *ing, struct lgw_req *req, size_t n)
{
    req->upload_seen += n;
    const struct lgw_config *cfg = ing->cfg;
    int64_t allowed_us = cfg->http_body_timeout_ms * 1000 +
                         (int64_t)(req->upload_seen / (uint64_t)cfg->http_body_min_rate) * 1000000 +
                         (int64_t)(req->upload_seen % (uint64_t)cfg->http_body_min_rate) * 1000000 /
                             cfg->http_body_min_rate;
    if (lgw_mono_us() - req->start_us <= allowed_us)
        return false;
    lgw_metrics_add(ing->m, "llmgw_http_read_timeouts_total", "phase=\"body\"", 1);
    LGW_LOG_TP(LGW_LOG_DEBUG, "ingress", req->id, req->tenant, req->traceparent,
               "request body too slow: %zu bytes in %lld ms; 408, connection closed", req->upload_seen,
               (long long)((lgw_mono_us() - req->start_us) / 1000));
    return true;
}

static enum lgw_hres access_cb(void *cls, struct lgw_hconn *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    struct lgw_req *req = *con_cls;
    if (!req)
        return begin(cls, conn, url, method, version, con_cls);
    if (req->done) { /* resumed after the reply, the deadline or a failure */
        if (req->stream_started)
            return lgw_sse_queue(req);
        return lgw_req_queue(req, req->content_type[0] ? req->content_type : NULL);
    }
    if (*upload_data_size) {
        if (body_late(cls, req, *upload_data_size))
            return lgw_req_answer_error(req, LGW_ERR(REQUEST_TIMEOUT),
                                        "The request body did not arrive in time; the connection is closed.");
        /* Errors found early are answered once the body is read: answering mid-upload closes the socket under
         * a client that is still sending, and the client may never see the error. */
        if (req->early_rc == 0 && req->route->body)
            req->early_rc = lgw_buf_append(&req->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return LGW_HRES_YES;
    }
    if (req->early_rc)
        return lgw_req_answer_error(req, req->early_rc, NULL);
    if (atomic_load(&((struct lgw_ingress *)cls)->draining)) {
        /* A request on a keep-alive connection after the drain began: said plainly, with a retry hint, and
         * the connection closed after it (lgw_req_route_headers), so the client reconnects to another
         * instance instead of meeting a reset when this one stops. */
        req->retry_after_s = 1;
        return lgw_req_answer_error(req, LGW_ERR(UNAVAILABLE),
                                    "This gateway instance is shutting down; retry the request.");
    }
    if (req->route->auth) {
        char why[256];
        int rc = lgw_admission_identify(req, why, sizeof(why));
        if (rc)
            return lgw_req_answer_error(req, rc, why[0] ? why : unauthorized);
        if (!req->tenant[0] && !req->route->admin)
            return lgw_req_answer_error(req, LGW_ERR(FORBIDDEN),
                                        "An admin key cannot make model requests; use a tenant key.");
    }
    return req->route->handler(req);
}

static void completed_cb(void *cls, struct lgw_hconn *conn, void **con_cls, bool ok)
{
    struct lgw_ingress *ing = cls;
    (void)conn;
    (void)ok;
    struct lgw_req *req = *con_cls;
    if (!req)
        return;
    *con_cls = NULL;
    /* From here the socket may be closed and its number reused: a stream overflow must not shut it down. */
    pthread_mutex_lock(&req->lock);
    req->conn_closed = true;
    bool overflow = req->sse_overflow;
    pthread_mutex_unlock(&req->lock);
    if (overflow) {
        lgw_metrics_add(ing->m, "llmgw_stream_overflows_total", NULL, 1);
        LGW_LOG_TP(LGW_LOG_WARN, "ingress", req->id, req->tenant, req->traceparent,
                   "client stopped reading its stream: %lld bytes waited for it; connection closed",
                   (long long)req->sse_max);
    }
    char labels[160];
    snprintf(labels, sizeof(labels), "route=\"%s\",status=\"%d\"", req->route_label, req->status ? req->status : 499);
    lgw_metrics_add(ing->m, "llmgw_http_requests_total", labels, 1);
    snprintf(labels, sizeof(labels), "route=\"%s\"", req->route_label);
    lgw_metrics_observe(ing->m, "llmgw_http_request_duration_seconds", labels,
                        (double)(lgw_mono_us() - req->start_us) / 1e6);
    lgw_metrics_gauge_add(ing->m, "llmgw_http_in_flight", NULL, -1);
    lgw_spans_request_end(req);
    /* Every request ends here, however (answer, error, client gone, deadline): a hold not settled before its
     * answer went out (a client that left first) ends now. */
    lgw_req_settle_limits(req);
    /* A streaming client that left is still in the map: later chunks for it are dropped as unmatched, and
     * the workers are told, so the provider call stops instead of burning tokens for nobody. A stream that
     * ended is never still in it: the reply thread takes a request out before passing on the reply that ends
     * its answer (replies.c), so this is the only sign needed. */
    if (lgw_pending_remove(ing->pending, req)) {
        if (req->stream && lgw_jobs_cancel(req) == 0)
            LGW_LOG_TP(LGW_LOG_INFO, "ingress", req->id, req->tenant, req->traceparent, "client left mid-stream; cancel sent");
        lgw_req_unref(req);
    }
    lgw_req_unref(req);
}

/* The body of an answer the server gives itself, before any route (a malformed or oversized head): the
 * OpenAI-style error every other answer has. */
static size_t http_error_body(void *cls, int status, char *out, size_t cap, const char **content_type)
{
    struct lgw_ingress *ing = cls;
    int rc = LGW_ERR(INVALID);
    const char *msg = "The request is not valid HTTP/1.1.";
    switch (status) {
    case 408: /* a head past http_header_timeout_ms; counted before the client can see the close */
        lgw_metrics_add(ing->m, "llmgw_http_read_timeouts_total", "phase=\"head\"", 1);
        rc = LGW_ERR(REQUEST_TIMEOUT);
        msg = "The request head did not arrive in time; the connection is closed.";
        break;
    case 414:
        msg = "The request has too many query arguments.";
        break;
    case 431:
        lgw_metrics_add(ing->m, "llmgw_http_headers_too_large_total", NULL, 1);
        rc = LGW_ERR(HEADERS_TOO_LARGE);
        msg = NULL;
        break;
    case 501:
        msg = "Transfer-Encoding other than chunked is not supported.";
        break;
    case 505:
        msg = "Only HTTP/1.0 and HTTP/1.1 are supported.";
        break;
    default:
        break;
    }
    struct lgw_buf b;
    lgw_buf_init(&b, cap);
    size_t n = 0;
    if (lgw_http_error_body(rc, msg, &b) == 0 && b.len <= cap) {
        memcpy(out, b.ptr, b.len);
        n = b.len;
    }
    lgw_buf_cleanup(&b);
    *content_type = "application/json";
    return n;
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
    lgw_metrics_declare(m, "llmgw_replies_foreign_tenant_total", LGW_METRIC_COUNTER,
                        "Replies refused because they were written for another tenant than their request's.");
    lgw_metrics_add(m, "llmgw_replies_foreign_tenant_total", NULL, 0);
    lgw_metrics_declare(m, "llmgw_http_headers_too_large_total", LGW_METRIC_COUNTER,
                        "Requests answered 431 because their head was larger than max_header_bytes.");
    lgw_metrics_add(m, "llmgw_http_headers_too_large_total", NULL, 0);
    lgw_metrics_declare(m, "llmgw_http_read_timeouts_total", LGW_METRIC_COUNTER,
                        "Connections answered 408 and closed because their request head (http_header_timeout_ms) "
                        "or body (http_body_timeout_ms, http_body_min_rate) arrived too slowly, by phase.");
    lgw_metrics_add(m, "llmgw_http_read_timeouts_total", "phase=\"head\"", 0); /* shown as 0, not absent */
    lgw_metrics_add(m, "llmgw_http_read_timeouts_total", "phase=\"body\"", 0);
    lgw_metrics_declare(m, "llmgw_stream_overflows_total", LGW_METRIC_COUNTER,
                        "Streams ended because their client stopped reading and stream_buffer_max_bytes waited for "
                        "it (the provider call is cancelled).");
    lgw_metrics_add(m, "llmgw_stream_overflows_total", NULL, 0);
}

/* Every connection is a file: the soft open-files limit is raised toward max_connections plus room for the
 * process's other files (Kafka, Redis, logs), as far as the hard limit allows. Below that, connections past
 * the limit fail to be accepted (the server logs it), so it is said once at start. */
static void raise_nofile(const struct lgw_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)cfg->max_connections + 1024;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) ? rl.rlim_max : want;
        if (rl.rlim_cur > was && setrlimit(RLIMIT_NOFILE, &rl) == 0)
            LGW_INFO("ingress", "open-files limit raised from %llu to %llu for max_connections %lld",
                     (unsigned long long)was, (unsigned long long)rl.rlim_cur, (long long)cfg->max_connections);
        else
            rl.rlim_cur = was;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
        LGW_WARN("ingress",
                 "open-files limit %llu (hard %llu) is below max_connections %lld + 1024: connections past it "
                 "will be refused; raise nofile or lower max_connections",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, (long long)cfg->max_connections);
}

/* Collect hook: the gauge is read from the pending map whenever /metrics is rendered, on either port. */
static void collect_waiting(void *opaque, struct lgw_metrics *m)
{
    struct lgw_ingress *ing = opaque;
    lgw_metrics_gauge_set(m, "llmgw_ingress_waiting_requests", NULL, (int64_t)lgw_pending_count(ing->pending));
}

bool lgw_ingress_ready_cb(void *opaque)
{
    return lgw_admission_ready(opaque);
}

static int start_http(struct lgw_ingress *ing)
{
    const struct lgw_config *cfg = ing->cfg;
    struct in_addr a;
    if (inet_pton(AF_INET, cfg->listen_addr, &a) != 1) {
        LGW_ERROR("ingress", "listen_addr %s is not an IPv4 address", cfg->listen_addr);
        return LGW_ERR(CONFIG);
    }
    raise_nofile(cfg);
    struct lgw_httpd_options o = {
        .addr = cfg->listen_addr,
        .port = (int)cfg->port,
        .threads = (int)cfg->http_threads,
        .backlog = 1024,
        .max_connections = (unsigned)cfg->max_connections,
        .max_connections_per_ip = (unsigned)cfg->max_connections_per_ip,
        /* Above max_header_bytes (config.c), so heads up to the cap reach begin() and get its answer; only
         * larger ones get the server's own 431. */
        .max_head_bytes = (size_t)cfg->http_connection_memory,
        .idle_timeout_ms = cfg->http_idle_timeout_s * 1000,
        .head_timeout_ms = cfg->http_header_timeout_ms,
        .request = access_cb,
        .completed = completed_cb,
        .error_body = http_error_body,
        .cls = ing,
    };
    int rc = lgw_httpd_start(&o, &ing->http);
    if (rc) {
        LGW_ERROR("ingress", "cannot listen on %s:%lld", cfg->listen_addr, (long long)cfg->port);
        return rc;
    }
    return LGW_OK;
}

/* ingress_int.h cannot include ingress.h (the modules would include each other), so the sizes meet here. */
_Static_assert(sizeof(((struct lgw_ingress *)0)->extra_ready) / sizeof(struct lgw_ready_check) ==
                   LGW_INGRESS_READY_CHECKS_MAX,
               "extra_ready holds LGW_INGRESS_READY_CHECKS_MAX checks");

int lgw_ingress_new(const struct lgw_config *cfg, struct lgw_metrics *m, struct lgw_tracer *tr,
                    const struct lgw_ingress_ready_check *checks, int nchecks, struct lgw_ingress **out)
{
    return lgw_ingress_new_mounted(cfg, m, tr, checks, nchecks, NULL, 0, out);
}

int lgw_ingress_new_mounted(const struct lgw_config *cfg, struct lgw_metrics *m, struct lgw_tracer *tr,
                            const struct lgw_ingress_ready_check *checks, int nchecks,
                            const struct lgw_http_mount *mounts, size_t nmounts, struct lgw_ingress **out)
{
    int rc;
    *out = NULL;
    if (nchecks < 0 || nchecks > LGW_INGRESS_READY_CHECKS_MAX || nmounts > LGW_INGRESS_MOUNTS_MAX)
        return LGW_ERR(INTERNAL);
    struct lgw_ingress *ing = lgw_calloc(1, sizeof(*ing));
    /* Before start_http, like the checks: the HTTP threads read the table without a lock. */
    ing->mounts = lgw_mounts_new(mounts, nmounts);
    ing->cfg = cfg;
    ing->m = m;
    ing->tracer = tr;
    /* Before start_http: the HTTP threads read the checks without a lock. (They were once added after the
     * server started, and a /readyz on an HTTP thread raced with the main thread adding them: ThreadSanitizer
     * in `llmgw dev`, and a /readyz in that window answered 200 without asking the worker or the ledger.) */
    for (int i = 0; i < nchecks; i++)
        ing->extra_ready[i] = (struct lgw_ready_check){checks[i].cb, checks[i].opaque};
    ing->nextra_ready = nchecks;
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
    lgw_topic_name(cfg, LGW_TOPIC_JOBS_CHAT, NULL, ing->topic_chat, sizeof(ing->topic_chat));
    lgw_topic_name(cfg, LGW_TOPIC_JOBS_EMBEDDINGS, NULL, ing->topic_embeddings, sizeof(ing->topic_embeddings));
    lgw_topic_name(cfg, LGW_TOPIC_REPLIES, ing->id, ing->topic_replies, sizeof(ing->topic_replies));
    lgw_topic_name(cfg, LGW_TOPIC_CANCEL, NULL, ing->topic_cancel, sizeof(ing->topic_cancel));
    ing->pending = lgw_pending_new();
    ing->hooked = lgw_metrics_hook_add(m, collect_waiting, ing) == 0;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 65536);
    rc = lgw_catalog_holder_new(cfg, &ing->catalog, &errs);
    if (rc)
        LGW_ERROR("ingress", "the model catalog is invalid:\n%s", errs.ptr ? errs.ptr : "");
    lgw_buf_cleanup(&errs);
    if (rc)
        goto fail;
    /* What the workers say of their providers (GET /v1/providers): its own reader, never waited for. */
    ing->providers = lgw_providers_new();
    if ((rc = lgw_providers_start(ing->providers, cfg, ing->id)))
        goto fail;

    if (cfg->redis_url[0]) {
        /* One connection per HTTP thread (the callers of admission), plus one for completions. */
        struct lgw_redis_options ropt = {.url = cfg->redis_url, .timeout_ms = cfg->redis_timeout_ms,
                                         .connect_timeout_ms = cfg->redis_connect_timeout_ms,
                                         .pool = (int)cfg->http_threads + 1, .metrics = m};
        if ((rc = lgw_redis_new(&ropt, &ing->redis)))
            goto fail;
    }
    lgw_buf_init(&errs, 65536);
    rc = lgw_limits_new(cfg, ing->redis, m, &ing->limits, &errs);
    if (rc)
        LGW_ERROR("ingress", "the rate limits are invalid:\n%s", errs.ptr ? errs.ptr : "");
    lgw_buf_cleanup(&errs);
    if (rc)
        goto fail;
    /* Budgets: the spend topic is read from its beginning on a thread of its own; until it has caught up,
     * a tenant with a budget is answered 503 (budget.h), never admitted blind. */
    ing->spend = lgw_spend_new();
    lgw_buf_init(&errs, 65536);
    rc = lgw_budgets_new(cfg, ing->spend, m, &ing->budgets, &errs);
    if (rc)
        LGW_ERROR("ingress", "the budgets are invalid:\n%s", errs.ptr ? errs.ptr : "");
    lgw_buf_cleanup(&errs);
    if (rc || (rc = lgw_spend_start(ing->spend, cfg, ing->id)))
        goto fail;

    if ((rc = lgw_admin_start(ing)))
        goto fail;
    char client_id[96];
    snprintf(client_id, sizeof(client_id), "llmgw-ingress-%s", ing->id);
    if ((rc = lgw_kafka_producer_new_err(cfg, client_id, 0, lgw_replies_dr_cb, lgw_replies_error_cb, ing,
                                         &ing->producer)))
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

/* How long a drain keeps serving open connections (each answer closes its connection) after its last waiting
 * request was answered. */
#define DRAIN_LINGER_MS 500

void lgw_ingress_drain(struct lgw_ingress *ing)
{
    if (!ing->http || atomic_exchange(&ing->draining, true))
        return;
    /* Stop accepting (new connections fail at once instead of queueing in the backlog); connections already
     * open keep being served. */
    lgw_httpd_quiesce(ing->http);
    int64_t until = lgw_mono_ms() + ing->cfg->shutdown_grace_ms;
    size_t waiting;
    while ((waiting = lgw_pending_count(ing->pending)) > 0 && lgw_mono_ms() < until) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    LGW_INFO("ingress", "drained; %zu request(s) still waiting are answered 503", waiting);
    /* The reply thread stops here; it owns completions, so nothing else resumes connections after it. */
    lgw_replies_stop(ing);
    lgw_replies_fail_all(ing, LGW_ERR(UNAVAILABLE), "The gateway is shutting down; retry the request.");
    /* Let the HTTP threads write the answers just resumed, each with Connection: close, and let clients that
     * send on a keep-alive connection meanwhile get their 503 "shutting down" (and close) instead of a reset:
     * until every connection is closed, for at most DRAIN_LINGER_MS. A connection still idle after it is
     * closed by lgw_httpd_stop; clients see it closed before they reuse it. */
    int64_t linger_until = lgw_mono_ms() + DRAIN_LINGER_MS;
    do {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    } while (lgw_httpd_open_connections(ing->http) > 0 && lgw_mono_ms() < linger_until);
    lgw_httpd_stop(ing->http);
    ing->http = NULL;
}

void lgw_ingress_free(struct lgw_ingress *ing)
{
    if (!ing)
        return;
    if (ing->http)
        lgw_ingress_drain(ing);
    if (ing->hooked)
        lgw_metrics_hook_remove(ing->m, collect_waiting, ing); /* before the pending map it reads goes */
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
    lgw_providers_free(ing->providers); /* the HTTP threads that read it are gone */
    lgw_admin_stop(ing); /* its reader pushes into the limiter */
    lgw_limits_free(ing->limits);
    lgw_budgets_free(ing->budgets);
    lgw_spend_free(ing->spend);
    lgw_redis_free(ing->redis);
    lgw_mounts_free(ing->mounts);
    free(ing);
}
