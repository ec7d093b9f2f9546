/* wire.c - attempts, retries, stream plumbing and error mapping for provider HTTP calls (see wire.h). */
#include "providers/wire.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/errors.h"
#include "providers/http.h"
#include "common/log.h"

int lgw_wire_client_status(long status)
{
    static const long passthrough[] = {400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504};
    for (size_t i = 0; i < sizeof(passthrough) / sizeof(passthrough[0]); i++)
        if (status == passthrough[i])
            return (int)status;
    return status == 529 ? 503 : 502; /* 529: Anthropic's "overloaded" */
}

int lgw_wire_emit(struct lgw_wire_stream *st, json_t *chunk)
{
    json_t *choices = json_object_get(chunk, "choices");
    bool usage_only = !json_is_array(choices) || json_array_size(choices) == 0;
    if (!st->stream->include_usage) {
        /* The client did not ask for usage: hide what the gateway asked for on its own behalf. */
        json_object_del(chunk, "usage");
        if (usage_only)
            return LGW_OK;
    }
    int rc = st->stream->emit(st->stream, chunk);
    if (rc == 0)
        st->emitted++;
    return rc;
}

int lgw_wire_fail(struct lgw_wire_stream *st, int status, json_t *error_object, const char *fallback_message)
{
    st->failed = true;
    if (error_object) {
        json_decref(st->res->body);
        st->res->body = json_pack("{s:O}", "error", error_object);
        st->res->status = status;
    } else {
        lgw_prov_result_error(st->res, status, "api_error", "bad_gateway", fallback_message);
    }
    return LGW_ERR(PROVIDER);
}

struct attempt {
    struct lgw_wire_stream st;
    const struct lgw_wire_ops *ops;
};

static int on_event(void *opaque, const char *event, const char *data, size_t len)
{
    struct attempt *a = opaque;
    if (a->st.done)
        return LGW_OK;
    return a->ops->on_event(&a->st, event, data, len);
}

static int on_data(void *opaque, const char *data, size_t len)
{
    struct attempt *a = opaque;
    return lgw_sse_parser_feed(&a->st.parser, data, len, on_event, a);
}

/* A non-2xx answer into the client's error. */
static void upstream_error(const struct lgw_wire_ops *ops, struct lgw_prov_result *res, long status,
                           const struct lgw_buf *body)
{
    json_t *parsed = body->len ? json_loadb(body->ptr, body->len, 0, NULL) : NULL;
    json_t *err = parsed ? ops->error_object(parsed) : NULL;
    int client_status = lgw_wire_client_status(status);
    if (err) {
        json_decref(res->body);
        res->body = json_pack("{s:o}", "error", err);
        res->status = client_status;
    } else {
        char msg[128];
        snprintf(msg, sizeof(msg), "The provider answered HTTP %ld without an error body.", status);
        lgw_prov_result_error(res, client_status, client_status == 502 ? "api_error" : "server_error", NULL, msg);
    }
    json_decref(parsed);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The end of a stream: done cleanly (200), failed (res holds the error), or cut short (502). */
static void finish_stream(struct attempt *a)
{
    if (a->st.failed)
        return;
    if (a->st.done)
        a->st.res->status = 200;
    else
        lgw_prov_result_error(a->st.res, 502, "api_error", "bad_gateway",
                              "The provider's stream ended before it was complete.");
}

/* Classifies one attempt's outcome into res; returns true when another attempt may help. */
static bool settle(struct attempt *a, const struct lgw_job *job, int hrc, struct lgw_http_resp *resp)
{
    struct lgw_prov_result *res = a->st.res;
    bool streamed = a->st.stream != NULL;
    if (streamed && a->st.emitted > 0) {
        finish_stream(a); /* part of the answer reached the client: never retry */
        return false;
    }
    if (hrc == LGW_ERR(TIMEOUT)) {
        lgw_prov_result_error(res, 504, "timeout_error", "gateway_timeout", "The provider did not answer in time.");
        return true;
    }
    if (hrc == LGW_ERR(UNAVAILABLE)) {
        lgw_prov_result_error(res, 502, "api_error", "bad_gateway", "The provider could not be reached.");
        return true;
    }
    if (resp->status >= 200 && resp->status < 300 && (hrc == 0 || (streamed && a->st.failed))) {
        if (streamed) {
            finish_stream(a);
            return false;
        }
        json_t *parsed = json_loadb(resp->body.ptr ? resp->body.ptr : "", resp->body.len, 0, NULL);
        if (!json_is_object(parsed))
            lgw_prov_result_error(res, 502, "api_error", "bad_gateway", "The provider's answer was not valid JSON.");
        else if (a->ops->on_body(job, parsed, res) == 0)
            res->status = 200;
        json_decref(parsed);
        return false;
    }
    if (hrc == 0 || hrc == LGW_ERR(PROVIDER)) {
        upstream_error(a->ops, res, resp->status ? resp->status : 502, &resp->body);
        return lgw_http_retryable(resp->status);
    }
    lgw_prov_result_error(res, 502, "api_error", "bad_gateway", "The provider's answer could not be read.");
    return false;
}

int lgw_wire_call(const struct lgw_config *cfg, const char *url, struct curl_slist *headers, const char *body,
                  const struct lgw_job *job, struct lgw_prov_stream *stream, struct lgw_prov_result *res,
                  const struct lgw_wire_ops *ops)
{
    bool streamed = stream != NULL;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, streamed ? "Accept: text/event-stream" : "Accept: application/json");
    for (int attempt = 0;; attempt++) {
        int64_t left = job->deadline_ms - lgw_wall_ms();
        if (left <= 0) {
            lgw_prov_result_error(res, 504, "timeout_error", "gateway_timeout",
                                  "The provider did not answer within the request's deadline.");
            break;
        }
        struct attempt a = {.st = {.stream = stream, .res = res, .job = job}, .ops = ops};
        a.st.proto = ops->proto_size ? lgw_calloc(1, ops->proto_size) : NULL;
        lgw_sse_parser_init(&a.st.parser, (size_t)cfg->provider_max_response_bytes);
        struct lgw_http_req req = {
            .url = url,
            .headers = headers,
            .body = body,
            .body_len = strlen(body),
            .connect_timeout_ms = (long)(cfg->provider_connect_timeout_ms < left ? cfg->provider_connect_timeout_ms
                                                                                 : left),
            .timeout_ms = (long)(cfg->provider_timeout_ms < left ? cfg->provider_timeout_ms : left),
            .max_bytes = (size_t)cfg->provider_max_response_bytes,
            .on_data = streamed ? on_data : NULL,
            .opaque = &a,
        };
        struct lgw_http_resp resp;
        int hrc = lgw_http_post(&req, &resp);
        lgw_sse_parser_cleanup(&a.st.parser);
        free(a.st.proto);
        bool retry = settle(&a, job, hrc, &resp);
        int64_t wait = retry ? lgw_http_backoff_ms(attempt, resp.retry_after_ms) : 0;
        lgw_http_resp_cleanup(&resp);
        if (!retry || attempt >= cfg->provider_max_retries)
            break;
        if (lgw_wall_ms() + wait >= job->deadline_ms)
            break; /* the wait would outlast the request: answer with what we have */
        LGW_LOG(LGW_LOG_INFO, "provider", job->id, job->tenant, "attempt %d failed (HTTP %d); retrying in %lld ms",
                attempt + 1, res->status, (long long)wait);
        sleep_ms(wait);
        json_decref(res->body);
        res->body = NULL;
        memset(&res->usage, 0, sizeof(res->usage));
    }
    if (streamed && res->status == 200) {
        json_decref(res->body);
        res->body = NULL; /* the chunks were the answer */
    }
    curl_slist_free_all(headers);
    return LGW_OK;
}
