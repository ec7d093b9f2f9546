/* http.h - outbound HTTP for provider adapters (libcurl), with the gateway's rules: HTTPS only except to
 * loopback, bounded timeouts and response sizes, Retry-After capture, and the retry backoff policy. One
 * transfer is set up here and run by a transfer loop (providers/http_loop.h); lgw_http_global_init runs once
 * per process first. */
#ifndef LGW_HTTP_H
#define LGW_HTTP_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"

struct lgw_http_req {
    const char *url;
    struct curl_slist *headers;
    const char *body;
    size_t body_len;
    long connect_timeout_ms, timeout_ms;
    size_t max_bytes; /* cap on a buffered response body */
    /* Streaming: called with each piece of a 2xx response body; return 0 to go on, an LGW_ERR to abort, or
     * LGW_HTTP_PAUSE to take none of these bytes now (they come again after lgw_http_loop_unpause).
     * NULL buffers the body in resp->body instead. Error (non-2xx) bodies are always buffered. */
    int (*on_data)(void *opaque, const char *data, size_t len);
    void *opaque;
};

struct lgw_http_resp {
    long status;             /* 0 when no HTTP answer arrived */
    struct lgw_buf body;     /* buffered body (see on_data); cleaned up by lgw_http_resp_cleanup */
    int64_t retry_after_ms;  /* from Retry-After / retry-after-ms, or -1 */
    int should_retry;        /* the provider's x-should-retry: 1 true, 0 false, -1 it did not say */
    bool sent;               /* the whole request reached the provider (it may bill it, answer or not) */
    int data_rc;             /* what on_data returned when it stopped the transfer */
    long new_connections;    /* connections this transfer had to open (0: it reused a kept-alive one) */
};

/* on_data's "not now": the transfer pauses until the loop resumes it. */
#define LGW_HTTP_PAUSE 1

/* One transfer's state, owned by whoever runs it (the transfer loop). */
struct lgw_http_transfer {
    const struct lgw_http_req *req;
    struct lgw_http_resp *resp;
    CURL *curl;
    int rc; /* set by the callbacks when they stop the transfer */
};

/* Call once per process before any other thread uses libcurl. */
int lgw_http_global_init(void);
/* True when url may be called: https://, or http:// to a loopback host (127.0.0.0/8, localhost, [::1]). */
bool lgw_http_url_allowed(const char *url);
/* Empties resp for an answer of at most max_bytes buffered. */
void lgw_http_resp_init(struct lgw_http_resp *resp, size_t max_bytes);
void lgw_http_resp_cleanup(struct lgw_http_resp *resp);
/* Sets curl (a fresh or reset easy handle) up to POST req with the gateway's rules, answering into resp
 * (initialised here), with t as the callbacks' state. Returns 0, or LGW_ERR(CONFIG) for a URL that is not
 * allowed. req and resp must outlive the transfer. */
int lgw_http_transfer_setup(struct lgw_http_transfer *t, CURL *curl, const struct lgw_http_req *req,
                            struct lgw_http_resp *resp);
/* What a finished transfer means: 0 when an HTTP answer came (any status), LGW_ERR(TIMEOUT) when the
 * connect or whole-call timeout hit, LGW_ERR(UNAVAILABLE) when no connection could be made,
 * LGW_ERR(TOO_LARGE) when the body passed max_bytes, or on_data's error. Sets resp->status. */
int lgw_http_transfer_result(struct lgw_http_transfer *t, CURLcode cc);
/* Reads how far the transfer got into t->resp (sent), for a transfer ended early (aborted). */
void lgw_http_transfer_progress(struct lgw_http_transfer *t);
/* Whether an answer is worth another attempt: the provider's x-should-retry when it sent one (as the
 * official SDKs do: OpenAI says false for insufficient_quota), else the error table's retriable flag for
 * the status (lgw_err_retriable of lgw_err_from_status: 408, 409, 429, 5xx, Anthropic's 529). */
bool lgw_http_retryable(const struct lgw_http_resp *resp);
/* Backoff before retry number `attempt` (0-based): the server's Retry-After when it gave one, else full
 * jitter, a uniform random wait in [0, min(cap, base * 2^attempt)). */
int64_t lgw_http_backoff_ms(int attempt, int64_t retry_after_ms);

#endif
