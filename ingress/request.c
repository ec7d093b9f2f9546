/* request.c - the request object: lifecycle, completion and response headers (see request.h). */
#include "ingress/request.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/assert.h"
#include "common/clock.h"
#include "common/cost.h"
#include "common/errors.h"
#include "common/json_load.h"
#include "common/uuid.h"

struct lgw_req *lgw_req_new(struct lgw_ingress *ing, struct lgw_hconn *conn, size_t max_body)
{
    struct lgw_req *req = lgw_calloc(1, sizeof(*req));
    atomic_init(&req->refs, 1); /* the connection's reference */
    pthread_mutex_init(&req->lock, NULL);
    lgw_buf_init(&req->sse, 0);
    lgw_buf_init(&req->body, max_body);
    req->ing = ing;
    req->conn = conn;
    /* Every answer carries x-request-id, errors found before the body is read included; a job keeps it. */
    lgw_uuid7(req->id);
    req->ds.request_id = req->id;
    req->start_us = lgw_mono_us();
    req->route_label = "other";
    req->dialect = &lgw_dialect_openai;
    req->retry_header = -1;
    req->sse_max = SIZE_MAX; /* the server sets the configured cap and the socket */
    req->fd = -1;
    atomic_init(&req->used_tokens, -1);
    return req;
}


void lgw_req_ref(struct lgw_req *req)
{
    atomic_fetch_add(&req->refs, 1);
}

void lgw_req_unref(struct lgw_req *req)
{
    if (atomic_fetch_sub(&req->refs, 1) != 1)
        return;
    lgw_span_discard(&req->span); /* ended by completed_cb; only a request torn down unfinished still has it */
    lgw_buf_cleanup(&req->body);
    lgw_buf_cleanup(&req->sse);
    lgw_dialect_stream_cleanup(&req->ds);
    pthread_mutex_destroy(&req->lock);
    free(req->resp);
    free(req->extra_headers);
    free(req->tracestate);
    free(req->route_text);
    free(req);
}

void lgw_req_complete(struct lgw_req *req, int status, char *body, size_t len)
{
    pthread_mutex_lock(&req->lock);
    /* Once: a second answer would go to a connection whose response is already queued (or freed). The
     * pending map hands a request to exactly one completer; this holds it to that. */
    LGW_ASSERT(!req->done);
    req->status = status;
    free(req->resp);
    req->resp = body;
    req->resp_len = len;
    req->done = true;
    /* Only a suspended connection is resumed: one that is not may already be gone. */
    if (req->suspended) {
        req->suspended = false;
        lgw_hconn_resume(req->conn);
    }
    pthread_mutex_unlock(&req->lock);
}

static void complete_error(struct lgw_req *req, const struct lgw_answer_error *err)
{
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    req->dialect->error(err, &buf);
    /* The row the answer stands for (a worker's: by its status and code) tells the SDKs whether to retry
     * when the table and their status rule disagree; set before lgw_req_complete publishes the answer. */
    const char *code = err->body ? json_string_value(json_object_get(json_object_get(err->body, "error"), "code"))
                                 : NULL;
    req->retry_header = lgw_err_retry_header(err->rc ? err->rc : lgw_err_find(err->status, code));
    size_t len;
    char *body = lgw_buf_take(&buf, &len);
    lgw_req_complete(req, err->status, body, len);
}

void lgw_req_complete_error(struct lgw_req *req, int rc, const char *message)
{
    lgw_req_complete_error_param(req, rc, message, NULL);
}

void lgw_req_complete_error_param(struct lgw_req *req, int rc, const char *message, const char *param)
{
    struct lgw_answer_error err;
    lgw_answer_error_rc(&err, rc, message);
    err.param = param;
    complete_error(req, &err);
}

void lgw_req_complete_reply(struct lgw_req *req, int status, json_t *body)
{
    if (status != 200) {
        struct lgw_answer_error err;
        lgw_answer_error_reply(&err, status, body);
        complete_error(req, &err);
        return;
    }
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    if (req->dialect->message(body, &buf)) {
        lgw_buf_cleanup(&buf);
        lgw_req_complete_error(req, LGW_ERR(PROVIDER), "The reply could not be encoded.");
        return;
    }
    size_t len;
    char *text = lgw_buf_take(&buf, &len);
    lgw_req_complete(req, status, text, len);
}

void lgw_req_complete_reply_text(struct lgw_req *req, const char *text, size_t len)
{
    if (!req->dialect->message_text) {
        json_t *body = lgw_json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
        if (!body) {
            lgw_req_complete_error(req, LGW_ERR(PROVIDER), "The reply could not be encoded.");
            return;
        }
        lgw_req_complete_reply(req, 200, body);
        json_decref(body);
        return;
    }
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    if (req->dialect->message_text(text, len, &buf)) {
        lgw_buf_cleanup(&buf);
        lgw_req_complete_error(req, LGW_ERR(PROVIDER), "The reply could not be encoded.");
        return;
    }
    char *out = lgw_buf_take(&buf, &len);
    lgw_req_complete(req, 200, out, len);
}

void lgw_req_take_route(struct lgw_req *req, const struct lgw_reply *reply, bool with_cost)
{
    lgw_strlcpy(req->provider, reply->provider, sizeof(req->provider));
    lgw_strlcpy(req->model, reply->model, sizeof(req->model));
    req->simulated = reply->simulated;
    lgw_strlcpy(req->strategy, reply->strategy, sizeof(req->strategy));
    free(req->route_text);
    req->route_text = reply->route[0] ? lgw_strdup(reply->route) : NULL;
    req->route_attempts = reply->route_attempts;
    req->retry_after_s = (reply->retry_after_ms + 999) / 1000; /* whole seconds, never shorter than advised */
    lgw_strlcpy(req->cache, lgw_reply_cache_name(reply), sizeof(req->cache));
    if (with_cost && (reply->route_attempts > 0 || reply->cache_hit)) { /* a hit: $0, said so */
        if (!reply->cost_known)
            lgw_strlcpy(req->cost_usd, "unknown", sizeof(req->cost_usd));
        else if (lgw_cost_format_usd(reply->cost_nusd, req->cost_usd, sizeof(req->cost_usd)))
            req->cost_usd[0] = '\0';
        req->cost_estimated = reply->cost_estimated;
    }
}

/* An RFC 3339 time ms from now, as Anthropic's *-reset headers say it. */
static void rfc3339_in(int64_t ms, char *out, size_t outsz)
{
    time_t t = (time_t)((lgw_wall_ms() + ms + 999) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* x-ratelimit-* (OpenAI's names and reset format) or anthropic-ratelimit-* on /v1/messages, for the most
 * restrictive limit of each kind that applied; none when no limit applies. A refusal adds Retry-After (whole
 * seconds, rounded up) and retry-after-ms, which the official SDKs read first. */
static void rate_limit_headers(const struct lgw_req *req, struct lgw_hresp *resp)
{
    const struct lgw_limits_state *st = &req->limit_state;
    bool anthropic = req->dialect == &lgw_dialect_anthropic;
    char v[64];
    const struct {
        bool has;
        const char *kind;
        int64_t limit, remaining, reset_ms;
    } rows[] = {{st->has_requests, "requests", st->req_limit, st->req_remaining, st->req_reset_ms},
                {st->has_tokens, "tokens", st->tok_limit, st->tok_remaining, st->tok_reset_ms}};
    for (size_t i = 0; i < 2; i++) {
        if (!rows[i].has)
            continue;
        char name[64];
        snprintf(v, sizeof(v), "%lld", (long long)rows[i].limit);
        snprintf(name, sizeof(name), anthropic ? "anthropic-ratelimit-%s-limit" : "x-ratelimit-limit-%s", rows[i].kind);
        lgw_hresp_header(resp, name, v);
        snprintf(v, sizeof(v), "%lld", (long long)rows[i].remaining);
        snprintf(name, sizeof(name), anthropic ? "anthropic-ratelimit-%s-remaining" : "x-ratelimit-remaining-%s",
                 rows[i].kind);
        lgw_hresp_header(resp, name, v);
        if (anthropic)
            rfc3339_in(rows[i].reset_ms, v, sizeof(v));
        else
            lgw_limits_format_reset(rows[i].reset_ms, v, sizeof(v));
        snprintf(name, sizeof(name), anthropic ? "anthropic-ratelimit-%s-reset" : "x-ratelimit-reset-%s", rows[i].kind);
        lgw_hresp_header(resp, name, v);
    }
    /* A rate limit's wait, or a spent budget's (until its reset): never both, the first refusal answers. */
    int64_t retry_ms = st->retry_after_ms > 0 ? st->retry_after_ms : req->budget.retry_after_ms;
    if (retry_ms > 0) {
        snprintf(v, sizeof(v), "%lld", (long long)((retry_ms + 999) / 1000));
        lgw_hresp_header(resp, "retry-after", v);
        snprintf(v, sizeof(v), "%lld", (long long)retry_ms);
        lgw_hresp_header(resp, "retry-after-ms", v);
    }
    if (req->budget.warning[0])
        lgw_hresp_header(resp, "x-llmgw-budget-warning", req->budget.warning);
}

void lgw_req_route_headers(const struct lgw_req *req, struct lgw_hresp *resp)
{
    lgw_hresp_header(resp, "x-request-id", req->id);
    if (req->draining && atomic_load(req->draining))
        lgw_hresp_header(resp, "Connection", "close");
    if (req->provider[0])
        lgw_hresp_header(resp, "x-llmgw-provider", req->provider);
    if (req->model[0])
        lgw_hresp_header(resp, "x-llmgw-model", req->model);
    if (req->simulated)
        lgw_hresp_header(resp, "x-llmgw-simulated", "true");
    if (req->strategy[0])
        lgw_hresp_header(resp, "x-llmgw-strategy", req->strategy);
    if (req->route_text) {
        char n[16];
        snprintf(n, sizeof(n), "%d", req->route_attempts);
        lgw_hresp_header(resp, "x-llmgw-attempts", n);
        snprintf(n, sizeof(n), "%d", req->route_attempts > 0 ? req->route_attempts - 1 : 0);
        lgw_hresp_header(resp, "x-llmgw-fallbacks", n);
        lgw_hresp_header(resp, "x-llmgw-route", req->route_text);
    }
    if (req->cache[0])
        lgw_hresp_header(resp, "x-llmgw-cache", req->cache);
    if (req->cost_usd[0])
        lgw_hresp_header(resp, "x-llmgw-cost-usd", req->cost_usd);
    if (req->cost_usd[0] && req->cost_estimated)
        lgw_hresp_header(resp, "x-llmgw-cost-estimated", "true");
    if (req->retry_header >= 0)
        lgw_hresp_header(resp, "x-should-retry", req->retry_header ? "true" : "false");
    if (req->retry_after_s > 0) {
        char s[24];
        snprintf(s, sizeof(s), "%lld", (long long)req->retry_after_s);
        lgw_hresp_header(resp, "Retry-After", s);
    }
    rate_limit_headers(req, resp);
    for (size_t off = 0; off < req->extra_len;) {
        const char *name = req->extra_headers + off, *value = name + strlen(name) + 1;
        lgw_hresp_header(resp, name, value);
        off = (size_t)(value + strlen(value) + 1 - req->extra_headers);
    }
}

void lgw_req_settle_limits(struct lgw_req *req)
{
    lgw_limits_finish(req->limits, &req->limit_ticket, atomic_load(&req->used_tokens));
}

enum lgw_hres lgw_req_queue(struct lgw_req *req, const char *content_type)
{
    lgw_req_settle_limits(req);
    struct lgw_hresp *resp = lgw_hresp_buffer(
        req->resp_len, req->resp ? req->resp : (char *)"", req->resp ? LGW_HRESP_FREE : LGW_HRESP_STATIC);
    req->resp = NULL; /* the answer owns it now */
    lgw_hresp_header(resp, "Content-Type", content_type ? content_type : "application/json");
    lgw_req_route_headers(req, resp);
    return lgw_hconn_queue(req->conn, (unsigned int)req->status, resp);
}

enum lgw_hres lgw_req_answer_error(struct lgw_req *req, int rc, const char *message)
{
    return lgw_req_answer_error_param(req, rc, message, NULL);
}

enum lgw_hres lgw_req_answer_error_param(struct lgw_req *req, int rc, const char *message, const char *param)
{
    lgw_req_complete_error_param(req, rc, message, param);
    return lgw_req_queue(req, NULL);
}

enum lgw_hres lgw_req_answer_text(struct lgw_req *req, int status, const char *text, const char *content_type)
{
    lgw_req_complete(req, status, lgw_strdup(text), strlen(text));
    return lgw_req_queue(req, content_type);
}
