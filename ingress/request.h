/* request.h - one HTTP request from its first header callback to its completion: the object every ingress
 * file works on. Creation, references, the answer (complete, complete with an error) and the response
 * headers that carry the route a worker took.
 *
 * Ownership: reference-counted. One reference belongs to the connection (dropped when the server reports
 * the request completed), one to the pending map while the request waits there (moved to whoever takes it
 * out, who drops it with lgw_req_unref when done). Completion: exactly one party completes a waiting
 * request (the reply thread, or the HTTP thread before the request was queued); see pending.h. */
#ifndef LGW_REQUEST_H
#define LGW_REQUEST_H

#include "httpd/server.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "common/buf.h"
#include "common/envelope.h"
#include "common/trace.h"
#include "ingress/dialect.h"
#include "limits/budget.h"
#include "limits/limits.h"
#include "telemetry/span.h"

struct lgw_ingress;
struct lgw_route;

struct lgw_req {
    atomic_int refs;
    struct lgw_ingress *ing;
    /* The ingress's draining flag (set by whoever creates the request): every answer queued while it is set
     * says Connection: close, so a keep-alive connection ends after its in-flight answer, not cut under it. */
    const atomic_bool *draining;
    struct lgw_hconn *conn;
    const struct lgw_route *route; /* NULL: no such route (or method), answered from early_rc */
    const char *route_label;       /* metrics label: the route's path, or "other" */
    const struct lgw_dialect *dialect; /* the client's API dialect, from the route (OpenAI by default) */
    char path_arg[LGW_NAME_MAX];       /* what a pattern route's braces matched ("gpt-4o" of /v1/models/{id}) */
    struct lgw_buf body;
    int early_rc;   /* an error found before the body was complete (answered after it is read) */
    bool suspended; /* waiting for a reply */
    bool done;      /* resp_* are set; the next handler call queues the response */
    char id[LGW_ID_MAX]; /* a new UUID per request: x-request-id of every answer, and its job's id */
    char tenant[LGW_NAME_MAX];
    char key_id[LGW_KEY_ID_MAX]; /* the tenant key that authenticated it; "" for keyless dev requests */
    /* The caller may read every tenant and administer them: an admin key (tenant ""), or a keyless call
     * where no tenant or admin key is configured and anonymous calls are allowed (`llmgw dev`: tenant "dev").
     * principal names who asked, for audit records: the admin key's name, else the tenant. */
    bool admin;
    char principal[LGW_TENANT_MAX];
    /* The request's trace: its SERVER span (NULL when not recorded; HTTP thread only: ingress/spans.h), that
     * span's context, and the traceparent its job and cancels carry (and its logs show), with the client's
     * tracestate ("" when none or dropped: common/trace.h), which they carry too. */
    struct lgw_span *span;
    struct lgw_span_ctx span_ctx;
    char traceparent[LGW_TRACEPARENT_SIZE];
    char *tracestate; /* malloc'd when the client sent a valid one, else NULL (few do: no 513 bytes each) */
    int64_t start_us;
    size_t upload_seen; /* body bytes received, kept or not: the body deadline grows with them */
    int64_t deadline_ms; /* monotonic */
    /* The answer, filled by whoever completes the request. resp is malloc'd, handed to the answer. */
    int status;
    char *resp;
    size_t resp_len;
    char content_type[64]; /* the answer's Content-Type when not application/json (a mounted call's CSV) */
    char *extra_headers;   /* a mounted call's own response headers: "name\0value\0" pairs, extra_len bytes */
    size_t extra_len;
    char provider[LGW_NAME_MAX];
    char model[LGW_NAME_MAX];
    bool simulated; /* a simulated provider answered (`llmgw dev --simulate`): x-llmgw-simulated: true */
    /* The route the worker took, for the x-llmgw-* headers (empty until a reply says). */
    char strategy[32];
    int route_attempts;
    char *route_text; /* malloc'd, NULL until a reply names its route (x-llmgw-route) */
    char cache[8]; /* x-llmgw-cache: hit, miss or bypass; empty until a worker's reply says */
    char cost_usd[40]; /* "0.000012345", "unknown", or empty (streams: not known when headers go out) */
    bool cost_estimated; /* cost_usd is partly an estimate (x-llmgw-cost-estimated: true) */
    int retry_header;  /* an error answer's x-should-retry: 1 true, 0 false, -1 none (lgw_err_retry_header) */
    int64_t retry_after_s; /* Retry-After, from a reply that advises one (every breaker open); 0: none */
    /* Rate limits: the hold taken at admission (HTTP thread only: admission, then lgw_req_settle_limits), what the
     * x-ratelimit-* headers say, and the tokens the answer really used (the reply thread sets it from the
     * final reply's usage before completing; -1: unknown, the reservation stands). */
    struct lgw_limits_ticket limit_ticket;
    struct lgw_limits *limits; /* borrowed: the ingress's, set by admission with the hold; NULL: none */
    struct lgw_limits_state limit_state;
    /* Budgets: admission's verdict (HTTP thread), for x-llmgw-budget-warning and a refusal's Retry-After. */
    struct lgw_budget_verdict budget;
    atomic_llong used_tokens;
    struct lgw_req *pending_next;
    bool in_pending; /* guarded by the id's pending shard lock */

    /* Streaming (stream: true). The reply thread appends SSE bytes; the answer's reader drains them and
     * suspends the connection when there are none. lock guards everything below and `suspended`/`done`. */
    pthread_mutex_t lock;
    bool stream;
    bool stream_started;     /* the first chunk arrived: the answer is SSE from then on */
    char run_id[LGW_ID_MAX]; /* the one run of the job whose chunks are passed on */
    int next_seq;
    struct lgw_buf sse;
    size_t sse_off;
    bool sse_done;
    bool reader_suspended;
    /* A client that stops reading: at most sse_max bytes wait for it (stream_buffer_max_bytes). Past that the
     * stream ends (sse_overflow) and the connection's socket (fd, taken while the connection was surely open)
     * is shut down, which makes the server close it even though the client never makes it writable again;
     * conn_closed (set when the request completes) says the fd is no longer this request's to touch.
     * sse_sent: the response's first block (and so its headers) went out to the client (see lgw_sse_read). */
    size_t sse_max;
    bool sse_sent;
    int fd;
    bool sse_overflow;
    bool conn_closed;
    struct lgw_dialect_stream ds;
};

/* A new request for conn with one reference (the connection's) and a fresh id; body capped at max_body.
 * HTTP thread. */
struct lgw_req *lgw_req_new(struct lgw_ingress *ing, struct lgw_hconn *conn, size_t max_body);
/* Takes one more reference. Any thread. */
void lgw_req_ref(struct lgw_req *req);
/* Drops a reference; the last one frees req. Any thread. */
void lgw_req_unref(struct lgw_req *req);

/* Sets the answer of req (status + body bytes, which req takes) and resumes its connection if it is
 * suspended. req must have been taken out of the pending map (or never put in). Any thread. */
void lgw_req_complete(struct lgw_req *req, int status, char *body, size_t len);
/* Same, with the error body of the request's dialect for the gateway's error rc (message NULL: the error
 * table's text). */
void lgw_req_complete_error(struct lgw_req *req, int rc, const char *message);
/* Same, naming the request field at fault (param, read during the call; NULL or "": none), which the OpenAI dialect
 * answers as the error's "param". */
void lgw_req_complete_error_param(struct lgw_req *req, int rc, const char *message, const char *param);
/* Same, for a worker's answer (a 200 body or an error body) in the request's dialect. */
void lgw_req_complete_reply(struct lgw_req *req, int status, json_t *body);
/* Same, for a worker's 200 answer as the JSON text it sent (checked: lgw_reply_decode_text), which a dialect
 * that speaks the answer's shape passes on as it is. */
void lgw_req_complete_reply_text(struct lgw_req *req, const char *text, size_t len);

/* Copies provider, model and route of reply into req for the response headers (with the cost when
 * with_cost: a final reply). Caller holds req's lock or is its only user. */
void lgw_req_take_route(struct lgw_req *req, const struct lgw_reply *reply, bool with_cost);
/* Adds x-request-id (always) and the x-llmgw-* route headers of req to resp. */
void lgw_req_route_headers(const struct lgw_req *req, struct lgw_hresp *resp);

/* Ends req's rate-limit hold (limits/limits.h): frees its in-flight slot and sets its token reservation to
 * what the reply reported (used_tokens). Called before any answer, or a stream's end, reaches the client: a
 * client that sends its next request on seeing one, perhaps to another instance, then meets exact limits.
 * Again when the request completes (ingress.c), for one that ends without an answer; once is all it does.
 * HTTP thread (the connection's). */
void lgw_req_settle_limits(struct lgw_req *req);
/* Queues req's completed answer on its connection (content_type NULL: application/json), its rate-limit hold
 * settled first. HTTP thread, from the access handler. */
enum lgw_hres lgw_req_queue(struct lgw_req *req, const char *content_type);
/* Completes req with an error and queues it at once (HTTP thread, request not queued as a job). */
enum lgw_hres lgw_req_answer_error(struct lgw_req *req, int rc, const char *message);
/* Same, with the request field at fault (see lgw_req_complete_error_param). */
enum lgw_hres lgw_req_answer_error_param(struct lgw_req *req, int rc, const char *message, const char *param);
/* Completes req with a copy of text and queues it at once (HTTP thread). */
enum lgw_hres lgw_req_answer_text(struct lgw_req *req, int status, const char *text, const char *content_type);

#endif
