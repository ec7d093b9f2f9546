/* openai_wire.c - calls to any server that speaks OpenAI's API (OpenAI itself, and the OpenAI-compatible
 * adapter): /chat/completions (plain and streamed) and /embeddings, passing the request through unchanged
 * (tools, tool_choice, response_format, n, seed, stop, max_tokens, ...) except for the model name and, when
 * streaming, stream_options.include_usage, which the gateway always asks for so a streamed request costs
 * exactly what the same request unstreamed does. Retries, error mapping and stream parsing live here. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "errors.h"
#include "http.h"
#include "log.h"
#include "provider.h"
#include "openai_wire.h"
#include "sse_parse.h"

/* OpenAI's usage object into ours: cached tokens are part of prompt_tokens. */
static void read_usage(json_t *usage, struct lgw_usage *out)
{
    if (!json_is_object(usage))
        return;
    out->input_tokens = json_integer_value(json_object_get(usage, "prompt_tokens"));
    out->output_tokens = json_integer_value(json_object_get(usage, "completion_tokens"));
    json_t *details = json_object_get(usage, "prompt_tokens_details");
    out->cached_input_tokens = json_integer_value(json_object_get(details, "cached_tokens"));
    if (out->cached_input_tokens > out->input_tokens || out->cached_input_tokens < 0)
        out->cached_input_tokens = 0;
}

struct stream_state {
    struct lgw_prov_stream *stream;
    struct lgw_prov_result *res;
    struct lgw_sse_parser parser;
    int emitted;
    bool done;       /* [DONE] seen */
    bool failed;     /* an error event or an unparsable chunk */
};

static int on_event(void *opaque, const char *event, const char *data, size_t len)
{
    (void)event;
    struct stream_state *st = opaque;
    if (st->done)
        return LGW_OK;
    if (len >= 6 && strncmp(data, "[DONE]", 6) == 0) {
        st->done = true;
        return LGW_OK;
    }
    json_error_t jerr;
    json_t *chunk = json_loadb(data, len, 0, &jerr);
    if (!json_is_object(chunk)) {
        json_decref(chunk);
        st->failed = true;
        lgw_prov_result_error(st->res, 502, "api_error", "bad_gateway", "The provider sent a malformed stream event.");
        return LGW_ERR(PROVIDER);
    }
    if (json_object_get(chunk, "error")) {
        st->failed = true;
        json_decref(st->res->body);
        st->res->body = json_pack("{s:O}", "error", json_object_get(chunk, "error"));
        st->res->status = 502;
        json_decref(chunk);
        return LGW_ERR(PROVIDER);
    }
    json_t *usage = json_object_get(chunk, "usage");
    if (json_is_object(usage))
        read_usage(usage, &st->res->usage);
    json_t *model = json_object_get(chunk, "model");
    if (json_is_string(model))
        lgw_strlcpy(st->res->model, json_string_value(model), sizeof(st->res->model));
    int rc = LGW_OK;
    json_t *choices = json_object_get(chunk, "choices");
    bool usage_only = !json_is_array(choices) || json_array_size(choices) == 0;
    if (!st->stream->include_usage) {
        /* The client did not ask for usage: hide what the gateway asked for on its own behalf. */
        json_object_del(chunk, "usage");
        if (usage_only) {
            json_decref(chunk);
            return LGW_OK;
        }
    }
    rc = st->stream->emit(st->stream, chunk);
    if (rc == 0)
        st->emitted++;
    json_decref(chunk);
    return rc;
}

static int on_data(void *opaque, const char *data, size_t len)
{
    struct stream_state *st = opaque;
    return lgw_sse_parser_feed(&st->parser, data, len, on_event, st);
}

/* Builds the upstream body: the client's request with the provider's model name (and usage asked for). */
static char *upstream_body(const struct lgw_model_info *model, const struct lgw_job *job, bool streamed)
{
    json_t *body = json_deep_copy(job->body);
    json_object_set_new(body, "model", json_string(model->upstream ? model->upstream : model->id));
    if (streamed) {
        json_t *so = json_object_get(body, "stream_options");
        if (!json_is_object(so)) {
            so = json_object();
            json_object_set_new(body, "stream_options", so);
        }
        json_object_set_new(so, "include_usage", json_true());
    } else {
        json_object_del(body, "stream");
        json_object_del(body, "stream_options");
    }
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}

/* Turns an upstream non-2xx answer into the client's error: the provider's own OpenAI-style error body
 * with its status where that status means the same to the client; otherwise a 502. */
static void upstream_error(struct lgw_prov_result *res, long status, const struct lgw_buf *body)
{
    json_t *parsed = body->len ? json_loadb(body->ptr, body->len, 0, NULL) : NULL;
    json_t *err = json_object_get(parsed, "error");
    static const long passthrough[] = {400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504};
    int client_status = 502;
    for (size_t i = 0; i < sizeof(passthrough) / sizeof(passthrough[0]); i++)
        if (status == passthrough[i])
            client_status = (int)status;
    if (status == 529) /* overloaded */
        client_status = 503;
    if (json_is_object(err) && json_is_string(json_object_get(err, "message"))) {
        json_decref(res->body);
        res->body = json_pack("{s:O}", "error", err);
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

int lgw_oai_call(const struct lgw_config *cfg, const char *url, struct curl_slist *headers,
                 const struct lgw_model_info *model, const struct lgw_job *job, struct lgw_prov_stream *stream,
                 struct lgw_prov_result *res)
{
    bool streamed = stream != NULL;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, streamed ? "Accept: text/event-stream" : "Accept: application/json");
    char *body = upstream_body(model, job, streamed);
    lgw_strlcpy(res->model, model->id, sizeof(res->model));
    int rc = LGW_OK;

    for (int attempt = 0;; attempt++) {
        int64_t left = job->deadline_ms - lgw_wall_ms();
        if (left <= 0) {
            lgw_prov_result_error(res, 504, "timeout_error", "gateway_timeout",
                                  "The provider did not answer within the request's deadline.");
            break;
        }
        struct stream_state st = {.stream = stream, .res = res};
        lgw_sse_parser_init(&st.parser, (size_t)cfg->provider_max_response_bytes);
        struct lgw_http_req req = {
            .url = url,
            .headers = headers,
            .body = body,
            .body_len = strlen(body),
            .connect_timeout_ms = (long)(cfg->provider_connect_timeout_ms < left ? cfg->provider_connect_timeout_ms : left),
            .timeout_ms = (long)(cfg->provider_timeout_ms < left ? cfg->provider_timeout_ms : left),
            .max_bytes = (size_t)cfg->provider_max_response_bytes,
            .on_data = streamed ? on_data : NULL,
            .opaque = &st,
        };
        struct lgw_http_resp resp;
        int hrc = lgw_http_post(&req, &resp);
        lgw_sse_parser_cleanup(&st.parser);
        bool retry = false;
        if (streamed && st.emitted > 0) {
            /* Part of the answer reached the client: never retry; end it cleanly or with an error. */
            if (!st.done && !st.failed)
                lgw_prov_result_error(res, 502, "api_error", "bad_gateway",
                                      "The provider's stream ended before it was complete.");
            else if (!st.failed)
                res->status = 200;
        } else if (hrc == LGW_ERR(TIMEOUT) || hrc == LGW_ERR(UNAVAILABLE)) {
            retry = true;
            lgw_prov_result_error(res, hrc == LGW_ERR(TIMEOUT) ? 504 : 502,
                                  hrc == LGW_ERR(TIMEOUT) ? "timeout_error" : "api_error",
                                  hrc == LGW_ERR(TIMEOUT) ? "gateway_timeout" : "bad_gateway",
                                  hrc == LGW_ERR(TIMEOUT) ? "The provider did not answer in time."
                                                          : "The provider could not be reached.");
        } else if (resp.status >= 200 && resp.status < 300 && hrc == 0) {
            if (streamed) {
                if (st.failed)
                    ; /* res already holds the error */
                else if (!st.done)
                    lgw_prov_result_error(res, 502, "api_error", "bad_gateway",
                                          "The provider's stream ended before it was complete.");
                else
                    res->status = 200;
            } else {
                json_t *parsed = json_loadb(resp.body.ptr ? resp.body.ptr : "", resp.body.len, 0, NULL);
                if (!json_is_object(parsed)) {
                    json_decref(parsed);
                    lgw_prov_result_error(res, 502, "api_error", "bad_gateway",
                                          "The provider's answer was not valid JSON.");
                } else {
                    json_decref(res->body);
                    res->body = parsed;
                    res->status = 200;
                    read_usage(json_object_get(parsed, "usage"), &res->usage);
                }
            }
        } else if (hrc == 0 || hrc == LGW_ERR(PROVIDER)) {
            upstream_error(res, resp.status ? resp.status : 502, &resp.body);
            retry = lgw_http_retryable(resp.status);
        } else {
            lgw_prov_result_error(res, 502, "api_error", "bad_gateway", "The provider's answer could not be read.");
        }
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
    }
    if (streamed && res->status == 200) {
        json_decref(res->body);
        res->body = NULL; /* the chunks were the answer */
    }
    free(body);
    curl_slist_free_all(headers);
    return rc;
}
