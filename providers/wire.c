/* wire.c - attempts, retries, stream plumbing and error mapping for provider HTTP calls (see wire.h).
 *
 * A call is a small state machine on its transfer loop: start an attempt -> the transfer's end (settle) ->
 * either a retry, after a backoff timer on the loop, or the end of the call (call->done). Everything after
 * lgw_wire_call runs on the loop's thread, so the call's state needs no lock. */
#include "providers/wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/json_load.h"
#include "common/log.h"
#include "providers/http.h"
#include "providers/http_loop.h"
#include "providers/wire_metrics.h"
#include "providers/wire_span.h"

/* The call's state. Its lifetime: tasks on the loop (the first attempt, retry timers, pause checks) may
 * still be queued when the call ends; the last of {the call's end, those tasks} frees it. */
struct lgw_wire_call {
    struct lgw_prov_call *call; /* NULL once the call ended */
    struct lgw_http_loop *loop;
    int tasks;     /* tasks queued on the loop that point here */
    bool finished; /* call->done ran */
    const struct lgw_wire_ops *ops;
    char *url, *body;
    struct curl_slist *headers;
    int attempt;            /* 0-based */
    struct lgw_wire_stream st; /* this attempt's stream state */
    struct lgw_http_req req;
    struct lgw_http_resp resp;
    struct lgw_http_xfer *xfer; /* the attempt's transfer while it runs */
    bool paused;            /* on_data said "not now" (the client's stream is full) */
    bool aborted;           /* lgw_prov_call_abort ran: the client left, as if call->cancelled were up */
    struct lgw_span *span;  /* the running attempt's CLIENT span (wire_span.h); NULL: none or not recorded */
    int64_t attempt_start_us; /* monotonic start of the running attempt, for its latency metric */
};

/* How often a paused stream looks again whether the client's side has room. */
#define PAUSE_CHECK_MS 2

static void wc_free(struct lgw_wire_call *wc)
{
    lgw_span_discard(&wc->span); /* each attempt ends its own; nothing is left here in a normal end */
    curl_slist_free_all(wc->headers);
    free(wc->url);
    free(wc->body);
    free(wc);
}

static void post_task(struct lgw_wire_call *wc, int64_t delay_ms, lgw_http_task_cb fn)
{
    wc->tasks++;
    lgw_http_loop_post(wc->loop, delay_ms, fn, wc);
}

/* Every task starts here: false when the call is over (and then the last task frees it). */
static bool task_begin(struct lgw_wire_call *wc)
{
    wc->tasks--;
    if (!wc->finished)
        return true;
    if (wc->tasks == 0)
        wc_free(wc);
    return false;
}

static void check_pause(void *opaque);

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
        lgw_prov_result_upstream(st->res, status, json_deep_copy(error_object));
    } else {
        lgw_prov_result_error(st->res, lgw_err_from_status(status), fallback_message);
    }
    return LGW_ERR(PROVIDER);
}

static bool cancelled(const struct lgw_wire_call *wc)
{
    return wc->aborted || (wc->call->cancelled && atomic_load(wc->call->cancelled));
}

static int on_event(void *opaque, const char *event, const char *data, size_t len)
{
    struct lgw_wire_call *wc = opaque;
    if (wc->st.done)
        return LGW_OK;
    return wc->ops->on_event(&wc->st, event, data, len);
}

static int on_data(void *opaque, const char *data, size_t len)
{
    struct lgw_wire_call *wc = opaque;
    if (cancelled(wc))
        return LGW_ERR(UNAVAILABLE); /* the client left: stop reading, which ends the transfer */
    struct lgw_prov_stream *s = wc->st.stream;
    if (s->full && s->full(s)) {
        /* The client's stream has as many chunks in flight as it may hold: read no more from the provider
         * until some are delivered (check_pause looks again). Memory stays bounded per stream. */
        if (!wc->paused) {
            wc->paused = true;
            post_task(wc, PAUSE_CHECK_MS, check_pause);
        }
        return LGW_HTTP_PAUSE;
    }
    return lgw_sse_parser_feed(&wc->st.parser, data, len, on_event, wc);
}

/* A non-2xx answer into the client's error. */
static void upstream_error(const struct lgw_wire_ops *ops, struct lgw_prov_result *res, long status,
                           const struct lgw_buf *body)
{
    json_t *parsed = body->len ? lgw_json_loadb(body->ptr, body->len, 0, NULL) : NULL;
    json_t *err = parsed ? ops->error_object(parsed) : NULL;
    int client_status = lgw_wire_client_status(status);
    if (err) {
        lgw_prov_result_upstream(res, client_status, err);
    } else {
        char msg[128];
        snprintf(msg, sizeof(msg), "The provider answered HTTP %ld without an error body.", status);
        lgw_prov_result_error(res, lgw_err_from_status(client_status), msg);
    }
    json_decref(parsed);
}

/* The end of a stream: done cleanly (200), failed (res holds the error), or cut short (502). */
static void finish_stream(struct lgw_wire_call *wc)
{
    if (wc->st.failed)
        return;
    if (wc->st.done)
        wc->st.res->status = 200;
    else
        lgw_prov_result_error(wc->st.res, LGW_ERR(PROVIDER), "The provider's stream ended before it was complete.");
}

/* Classifies one attempt's outcome into res; returns true when another attempt may help. */
static bool settle(struct lgw_wire_call *wc, int hrc)
{
    struct lgw_prov_result *res = wc->st.res;
    struct lgw_http_resp *resp = &wc->resp;
    bool streamed = wc->st.stream != NULL;
    if (streamed && wc->st.emitted > 0) {
        finish_stream(wc); /* part of the answer reached the client: never retry */
        return false;
    }
    if (hrc == LGW_ERR(TIMEOUT)) {
        lgw_prov_result_error(res, LGW_ERR(TIMEOUT), "The provider did not answer in time.");
        return true;
    }
    if (hrc == LGW_ERR(UNAVAILABLE)) {
        lgw_prov_result_error(res, LGW_ERR(PROVIDER), "The provider could not be reached.");
        return true;
    }
    bool ok = resp->status >= 200 && resp->status < 300;
    if (ok && hrc == LGW_ERR(PROVIDER) && !wc->st.failed) {
        /* A 2xx whose body broke off (the connection closed in the middle): a failed attempt, as a lost
         * connection is, and nothing of it reached the client, so another attempt may help. It is not an
         * HTTP error answer (its status is 200). */
        lgw_prov_result_error(res, LGW_ERR(PROVIDER), streamed ? "The provider's stream ended before it was complete."
                                                               : "The provider's answer was cut short.");
        return true;
    }
    if (ok && (hrc == 0 || (streamed && wc->st.failed))) {
        if (streamed) {
            finish_stream(wc);
            return false;
        }
        json_t *parsed = lgw_json_loadb(resp->body.ptr ? resp->body.ptr : "", resp->body.len, 0, NULL);
        if (!json_is_object(parsed))
            lgw_prov_result_error(res, LGW_ERR(PROVIDER), "The provider's answer was not valid JSON.");
        else if (wc->ops->on_body(wc->call->job, parsed, res) == 0)
            res->status = 200;
        json_decref(parsed);
        return false;
    }
    if (hrc == 0 || hrc == LGW_ERR(PROVIDER)) {
        upstream_error(wc->ops, res, resp->status ? resp->status : 502, &resp->body);
        return lgw_http_retryable(resp);
    }
    lgw_prov_result_error(res, LGW_ERR(PROVIDER), "The provider's answer could not be read.");
    return false;
}

/* What the provider may bill for the attempt that just ended (after settle filled res). */
static enum lgw_prov_bill attempt_bill(const struct lgw_wire_call *wc, int hrc)
{
    const struct lgw_http_resp *resp = &wc->resp;
    const struct lgw_prov_result *res = wc->st.res;
    if (!resp->sent)
        return LGW_BILL_NONE; /* it never reached the provider */
    if (resp->status && (resp->status < 200 || resp->status >= 300))
        return LGW_BILL_NONE; /* an error answer: providers do not bill those */
    bool complete = hrc == 0 && (wc->st.stream ? wc->st.done && !wc->st.failed : res->status == 200);
    bool counted = res->usage.input_tokens > 0 || res->usage.output_tokens > 0;
    /* Everything else was sent and worked on: timed out, cut, abandoned by the client, or answered without a
     * usage count. The provider bills it all the same; the caller fills in what usage lacks. */
    return complete && counted ? LGW_BILL_REPORTED : LGW_BILL_ESTIMATED;
}

/* The client left while no transfer ran (before an attempt, or waiting for a retry): the call's answer. A
 * retry wait has already dropped the failed attempt's body, so the error is always set here. */
static void client_left(struct lgw_prov_call *call)
{
    lgw_prov_result_error(&call->res, LGW_ERR(PROVIDER), "The client left before the call.");
}

/* The call is over: res is final; tells the caller (who may free the call), and frees wc unless a task
 * still points here. */
static void call_done(struct lgw_wire_call *wc)
{
    struct lgw_prov_call *call = wc->call;
    LGW_ASSERT(!wc->finished && call); /* a call ends once: its caller may free it from done */
    if (call->stream && call->res.status == 200) {
        json_decref(call->res.body);
        call->res.body = NULL; /* the chunks were the answer */
    }
    call->wire = NULL;
    call->abort = NULL;
    wc->call = NULL;
    wc->finished = true;
    bool last = wc->tasks == 0;
    call->done(call);
    if (last)
        wc_free(wc);
}

/* A paused stream (loop thread): read on once the client's side has room; a client that left ends it. */
static void check_pause(void *opaque)
{
    struct lgw_wire_call *wc = opaque;
    if (!task_begin(wc) || !wc->paused || !wc->xfer)
        return;
    struct lgw_prov_stream *s = wc->st.stream;
    if (cancelled(wc)) {
        lgw_http_loop_abort(wc->loop, wc->xfer, LGW_ERR(UNAVAILABLE));
    } else if (s->full(s)) {
        post_task(wc, PAUSE_CHECK_MS, check_pause);
    } else {
        wc->paused = false;
        lgw_http_loop_unpause(wc->loop, wc->xfer); /* may hand the held bytes to on_data right away */
    }
}

static void start_attempt(void *opaque);
static void wire_abort(struct lgw_prov_call *call);

static void attempt_cleanup(struct lgw_wire_call *wc)
{
    lgw_sse_parser_cleanup(&wc->st.parser);
    free(wc->st.proto);
    wc->st.proto = NULL;
}

/* The transfer's end (loop thread): settle, then retry after a backoff or finish. */
static void attempt_done(void *opaque, int hrc)
{
    struct lgw_wire_call *wc = opaque;
    struct lgw_prov_call *call = wc->call;
    const struct lgw_job *job = call->job;
    struct lgw_prov_result *res = &call->res;
    wc->xfer = NULL;
    attempt_cleanup(wc);
    lgw_wire_span_end(&wc->span, wc->resp.status, hrc, cancelled(wc));
    lgw_wire_metrics_attempt(call->metrics, call->model->provider, wc->resp.status, hrc, cancelled(wc),
                             lgw_mono_us() - wc->attempt_start_us);
    bool retry = settle(wc, hrc) && !cancelled(wc);
    res->requests++;
    res->bill = attempt_bill(wc, hrc);
    int64_t wait = retry ? lgw_http_backoff_ms(wc->attempt, wc->resp.retry_after_ms) : 0;
    lgw_http_resp_cleanup(&wc->resp);
    if (!retry || wc->attempt >= call->cfg->provider_max_retries || lgw_wall_ms() + wait >= job->deadline_ms) {
        /* No more attempts (or the wait would outlast the request): answer with what we have. */
        call_done(wc);
        return;
    }
    char tp[LGW_TRACEPARENT_SIZE];
    LGW_LOG_TP(LGW_LOG_INFO, "provider", job->id, job->tenant, lgw_span_log_tp(call->span, job->traceparent, tp),
               "attempt %d failed (HTTP %d); retrying in %lld ms", wc->attempt + 1, res->status, (long long)wait);
    json_decref(res->body);
    res->body = NULL;
    memset(&res->usage, 0, sizeof(res->usage));
    if (res->bill != LGW_BILL_NONE)
        res->lost_requests++; /* sent and never answered: billed, and its answer is not the one we keep */
    res->bill = LGW_BILL_NONE;
    wc->attempt++;
    post_task(wc, wait, start_attempt);
}

/* One attempt (loop thread): within the deadline, a transfer on the loop. */
static void start_attempt(void *opaque)
{
    struct lgw_wire_call *wc = opaque;
    if (!task_begin(wc))
        return;
    struct lgw_prov_call *call = wc->call;
    const struct lgw_config *cfg = call->cfg;
    call->wire = wc;
    call->abort = wire_abort;
    int64_t left = call->job->deadline_ms - lgw_wall_ms();
    if (left <= 0 || cancelled(wc)) {
        if (left <= 0)
            lgw_prov_result_error(&call->res, LGW_ERR(TIMEOUT),
                                  "The provider did not answer within the request's deadline.");
        else
            client_left(call);
        call_done(wc);
        return;
    }
    wc->st = (struct lgw_wire_stream){.stream = call->stream, .res = &call->res, .job = call->job};
    wc->st.proto = wc->ops->proto_size ? lgw_calloc(1, wc->ops->proto_size) : NULL;
    lgw_sse_parser_init(&wc->st.parser, (size_t)cfg->provider_max_response_bytes);
    wc->req = (struct lgw_http_req){
        .url = wc->url,
        .headers = wc->headers,
        .body = wc->body,
        .body_len = strlen(wc->body),
        .connect_timeout_ms = (long)(cfg->provider_connect_timeout_ms < left ? cfg->provider_connect_timeout_ms : left),
        .timeout_ms = (long)(cfg->provider_timeout_ms < left ? cfg->provider_timeout_ms : left),
        .max_bytes = (size_t)cfg->provider_max_response_bytes,
        .on_data = call->stream ? on_data : NULL,
        .opaque = wc,
    };
    wc->paused = false;
    wc->span = lgw_wire_span_begin(call->span, wc->url, wc->attempt);
    wc->attempt_start_us = lgw_mono_us();
    int rc;
    wc->xfer = lgw_http_loop_start(call->loop, &wc->req, &wc->resp, attempt_done, wc, &rc);
    if (!wc->xfer)
        attempt_done(wc, rc); /* not started (the loop is stopping, or a URL we may not call) */
}

int lgw_wire_call(struct lgw_prov_call *call, const char *url, struct curl_slist *headers, char *body,
                  const struct lgw_wire_ops *ops)
{
    struct lgw_wire_call *wc = lgw_calloc(1, sizeof(*wc));
    wc->call = call;
    wc->loop = call->loop;
    wc->ops = ops;
    wc->url = lgw_strdup(url);
    wc->body = body;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    wc->headers = curl_slist_append(headers, call->stream ? "Accept: text/event-stream" : "Accept: application/json");
    post_task(wc, 0, start_attempt);
    return LGW_OK;
}

/* lgw_prov_call_abort of a call with an attempt under way (call->abort while call->wire is set). */
static void wire_abort(struct lgw_prov_call *call)
{
    struct lgw_wire_call *wc = call->wire;
    if (!wc)
        return;
    /* The call ends now, whether or not the caller also raised call->cancelled: an aborted transfer must not be
     * taken for a lost connection and retried. */
    wc->aborted = true;
    if (wc->xfer) {
        lgw_http_loop_abort(call->loop, wc->xfer, LGW_ERR(UNAVAILABLE)); /* attempt_done runs now */
        return;
    }
    /* Waiting for a retry: the call ends now; the timer already queued frees wc when it fires. */
    client_left(call);
    call_done(wc);
}
