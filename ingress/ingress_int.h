/* ingress_int.h - state shared by the ingress's files (ingress.c, replies.c, pending.c). */
#ifndef LGW_INGRESS_INT_H
#define LGW_INGRESS_INT_H

#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "buf.h"
#include "config.h"
#include "envelope.h"
#include "ingress.h"
#include "metrics.h"
#include "pending.h"

enum route_id { ROUTE_CHAT, ROUTE_EMBEDDINGS, ROUTE_MODELS, ROUTE_HEALTHZ, ROUTE_READYZ, ROUTE_METRICS, ROUTE_NONE };

/* One HTTP request from first header callback to completion. Owned by its MHD connection (con_cls) and
 * freed in the completion callback; while pending it is also reachable from the pending map. */
struct lgw_req {
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
    struct lgw_req *pending_next;
};

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
};

/* Sets the answer of req (status + body bytes, which req takes) and resumes its connection.
 * req must have been taken out of the pending map (or never put in). Any thread. */
void lgw_ingress_complete(struct lgw_req *req, int status, char *body, size_t len);
/* Same, with an OpenAI-style error body for rc. */
void lgw_ingress_complete_error(struct lgw_req *req, int rc, const char *message);

/* replies.c: the thread that reads this instance's reply topic, serves produce failures and deadlines. */
int lgw_replies_start(struct lgw_ingress *ing);
void lgw_replies_stop(struct lgw_ingress *ing);
/* Delivery-report callback for the job producer (polled by the reply thread). */
void lgw_replies_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

#endif
