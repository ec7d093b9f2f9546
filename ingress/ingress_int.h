/* ingress_int.h - state shared by the ingress's files (ingress.c, replies.c, pending.c). */
#ifndef LGW_INGRESS_INT_H
#define LGW_INGRESS_INT_H

#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "anthropic_in.h"
#include "buf.h"
#include "config.h"
#include "envelope.h"
#include "ingress.h"
#include "metrics.h"
#include "pending.h"

enum route_id { ROUTE_CHAT, ROUTE_MESSAGES, ROUTE_EMBEDDINGS, ROUTE_MODELS, ROUTE_HEALTHZ, ROUTE_READYZ, ROUTE_METRICS, ROUTE_NONE };

/* One HTTP request from first header callback to completion. Reference-counted: one reference belongs to
 * its MHD connection (dropped in the completion callback), one to the pending map while it is in it (moved
 * to whoever takes it out, who drops it with lgw_req_unref when done). */
struct lgw_req {
    atomic_int refs;
    struct lgw_ingress *ing;
    struct MHD_Connection *conn;
    enum route_id route;
    const char *route_label; /* metrics label: the route, or "other" */
    struct lgw_buf body;
    int early_rc;   /* an error found before the body was complete (answered after it is read) */
    bool suspended; /* waiting for a reply */
    bool done;      /* resp_* are set; the next handler call queues the response */
    char id[LGW_ID_MAX];
    char tenant[LGW_NAME_MAX];
    int64_t start_us;
    int64_t deadline_ms; /* monotonic */
    /* The answer, filled by whoever completes the request. resp is malloc'd, handed to MHD. */
    int status;
    char *resp;
    size_t resp_len;
    char provider[LGW_NAME_MAX];
    char model[LGW_NAME_MAX];
    /* The route the worker took, for the x-llmgw-* headers (empty until a reply says). */
    char strategy[32];
    int route_attempts;
    char route_text[LGW_ROUTE_TEXT_MAX];
    char cost_usd[40]; /* "0.000012345", "unknown", or empty (streams: not known when headers go out) */
    struct lgw_req *pending_next;
    bool in_pending; /* guarded by the id's pending shard lock */

    /* Streaming (stream: true). The reply thread appends SSE bytes; the MHD content reader drains them and
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
    /* POST /v1/messages: the client speaks Anthropic's API; answers and errors are translated to it. */
    bool anthropic;
    struct lgw_anth_stream anth;
};

void lgw_req_unref(struct lgw_req *req);

struct lgw_ready_check {
    bool (*cb)(void *opaque);
    void *opaque;
};

struct lgw_ingress {
    const struct lgw_config *cfg;
    struct lgw_metrics *m;
    struct MHD_Daemon *daemon;
    rd_kafka_t *producer, *replies;
    struct lgw_pending *pending;
    char id[64];
    char topic_chat[LGW_TOPIC_MAX], topic_embeddings[LGW_TOPIC_MAX], topic_replies[LGW_TOPIC_MAX];
    pthread_t reply_thread, health_thread;
    atomic_bool stop_bg;
    atomic_bool kafka_up;
    atomic_bool replies_ready; /* reply consumer positioned at the end of its partition */
    atomic_bool draining;
    struct lgw_ready_check extra_ready[4];
    int nextra_ready;
    struct lgw_catalog_holder *catalog; /* for GET /v1/models; workers route with their own */
};

/* Sets the answer of req (status + body bytes, which req takes) and resumes its connection.
 * req must have been taken out of the pending map (or never put in). Any thread. */
void lgw_ingress_complete(struct lgw_req *req, int status, char *body, size_t len);
/* Same, with an OpenAI-style error body for rc. */
void lgw_ingress_complete_error(struct lgw_req *req, int rc, const char *message);

/* Copies provider, model and route of reply into req for the response headers (with the cost when
 * with_cost: a final reply). Caller holds req's lock or is its only user. */
void lgw_ingress_take_route(struct lgw_req *req, const struct lgw_reply *reply, bool with_cost);
/* Adds x-request-id and the x-llmgw-* route headers of req to resp. */
void lgw_ingress_route_headers(const struct lgw_req *req, struct MHD_Response *resp);

/* sse.c: streamed answers. Called by the reply thread, holding a reference to req. */
/* Passes one reply of a streaming request on: starts the SSE answer at the first chunk, appends chunks in
 * order, ends with [DONE] at the final reply. A failure before the first chunk is answered as JSON. */
void lgw_sse_reply(struct lgw_req *req, const struct lgw_reply *reply);
/* Ends a streaming request with an error: JSON if nothing was streamed yet, else an SSE error event. */
void lgw_sse_fail(struct lgw_req *req, int rc, const char *message);
/* Queues the SSE response (from the access handler, once the stream started). */
enum MHD_Result lgw_sse_queue(struct lgw_req *req);

/* replies.c: the thread that reads this instance's reply topic, serves produce failures and deadlines. */
int lgw_replies_start(struct lgw_ingress *ing);
void lgw_replies_stop(struct lgw_ingress *ing);
/* Delivery-report callback for the job producer (polled by the reply thread). */
void lgw_replies_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

#endif
