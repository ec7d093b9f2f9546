/* replies.c - the ingress's reply thread.
 *
 * One thread owns every completion of a suspended request: replies from this instance's reply topic,
 * produce failures (delivery reports, served here because this thread polls the producer), and
 * deadlines. Owning them in one place means no two completions of the same request can race. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingress/replies.h"

#include "common/assert.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/http_error.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/topics.h"
#include "ingress/ingress_int.h"
#include "ingress/spans.h"
#include "ingress/sse.h"

/* How often waiting requests are checked against their deadlines: the granularity of a 504. */
#define SWEEP_INTERVAL_MS 10

static void warn_undecodable(const rd_kafka_message_t *msg, const char *why)
{
    LGW_WARN("ingress", "undecodable reply at %s/%d@%lld: %s", rd_kafka_topic_name(msg->rkt), (int)msg->partition,
             (long long)msg->offset, why);
}

static void handle_reply(struct lgw_ingress *ing, const rd_kafka_message_t *msg)
{
    struct lgw_reply reply;
    char why[256];
    if (lgw_reply_decode_text(msg->payload, msg->len, &reply, why, sizeof(why))) {
        warn_undecodable(msg, why);
        return;
    }
    struct lgw_req *req = lgw_pending_ref(ing->pending, reply.id);
    if (!req) {
        /* Already timed out, or a duplicate from a job that ran twice: the client has its answer. */
        lgw_metrics_add(ing->m, "llmgw_replies_unmatched_total", NULL, 1);
        lgw_reply_cleanup(&reply);
        return;
    }
    LGW_ASSERT(strcmp(req->id, reply.id) == 0); /* the map hands out the request of that id only */
    if (reply.tenant[0] && strcmp(reply.tenant, req->tenant) != 0) {
        /* A reply for this id written for another tenant: a writer's bug or a forged record. Kafka is
         * input, so it is refused (never shown to this client), not asserted; the request goes on waiting
         * for its own reply or its deadline. */
        lgw_metrics_add(ing->m, "llmgw_replies_foreign_tenant_total", NULL, 1);
        LGW_LOG_TP(LGW_LOG_ERROR, "ingress", req->id, req->tenant, req->traceparent,
                   "refused a reply written for another tenant");
        lgw_req_unref(req);
        lgw_reply_cleanup(&reply);
        return;
    }
    /* An answer of 200 goes to the client as the worker wrote it, whole (lgw_req_complete_reply_text) or chunk by
     * chunk when the dialect passes chunks on as text; an error, and a chunk for any other dialect, is read. */
    bool parse = reply.status != 200 || (req->stream && !req->dialect->stream_chunk_text);
    if (parse && lgw_reply_parse_body(&reply, why, sizeof(why))) {
        warn_undecodable(msg, why);
        lgw_req_unref(req);
        lgw_reply_cleanup(&reply);
        return;
    }
    if (reply.final) {
        /* What the answer really used corrects the admission's token reservation (completed_cb); an error
         * answer spent nothing we are told of. */
        int64_t used = reply.usage.input_tokens + reply.usage.output_tokens;
        if (reply.status != 200 || reply.cache_hit) /* a cache hit is a request, and no provider tokens */
            atomic_store(&req->used_tokens, 0);
        else if (used > 0)
            atomic_store(&req->used_tokens, used);
    }
    if (req->stream && !lgw_sse_ends(req, &reply)) {
        lgw_sse_reply(req, &reply);
    } else if (req->stream) {
        /* The reply that ends the answer: out of the map first, then passed on. Once the end is buffered the
         * HTTP thread may write it and the server report the request complete at once; a request still in the map
         * then is a client that left mid-stream (ingress.c sends a cancel), so it must not be in it by then.
         * Not in the map any more: its client already left, and the cancel went out. */
        if (lgw_pending_remove(ing->pending, req)) {
            lgw_req_unref(req); /* the map's reference; ours keeps req alive until the end of this function */
            struct lgw_span *span = lgw_spans_reply_begin(req, msg);
            lgw_sse_reply(req, &reply);
            lgw_span_end(&span);
        }
    } else if (!reply.final) {
        /* A chunk for a request that did not ask to stream: a batch producer's job, not ours to show. */
        lgw_metrics_add(ing->m, "llmgw_replies_unmatched_total", NULL, 1);
    } else if (lgw_pending_remove(ing->pending, req)) {
        lgw_req_unref(req); /* the map's reference; ours keeps req alive until the end of this function */
        struct lgw_span *span = lgw_spans_reply_begin(req, msg);
        lgw_req_take_route(req, &reply, true);
        if (reply.body)
            lgw_req_complete_reply(req, reply.status, reply.body);
        else
            lgw_req_complete_reply_text(req, reply.body_text, reply.body_len);
        lgw_span_end(&span);
    }
    lgw_req_unref(req);
    lgw_reply_cleanup(&reply);
}

/* Delivery reports of the job producer: a job Kafka did not take is answered 503 at once. */
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    struct lgw_ingress *ing = opaque;
    if (!msg->err || !msg->key || msg->key_len >= LGW_ID_MAX)
        return;
    char id[LGW_ID_MAX];
    memcpy(id, msg->key, msg->key_len);
    id[msg->key_len] = '\0';
    lgw_metrics_add(ing->m, "llmgw_kafka_produce_errors_total", "role=\"ingress\"", 1);
    char tp[LGW_TRACEPARENT_SIZE];
    lgw_kafka_traceparent(msg, tp, sizeof(tp)); /* the record's own: "" when it has none */
    LGW_LOG_TP(LGW_LOG_WARN, "ingress", id, NULL, tp, "job not delivered: %s", rd_kafka_err2str(msg->err));
    struct lgw_req *req = lgw_pending_take(ing->pending, id);
    if (req) {
        lgw_sse_fail(req, LGW_ERR(UNAVAILABLE), "The gateway could not queue the request; try again later.");
        lgw_req_unref(req);
    }
}

/* The broker has been away longer than kafka_outage_grace_ms: the requests still waiting (their job not
 * acknowledged, or its reply unable to reach us) are answered 503 now rather than at their deadline; new ones
 * are refused at admission while it is away. */
static void outage(struct lgw_ingress *ing, int64_t now)
{
    if (atomic_load(&ing->kafka_up)) {
        if (ing->kafka_down_since)
            LGW_INFO("ingress", "message broker back after %lld ms", (long long)(now - ing->kafka_down_since));
        ing->kafka_down_since = 0;
        return;
    }
    if (!ing->kafka_down_since) {
        ing->kafka_down_since = now;
        return;
    }
    if (now - ing->kafka_down_since < ing->cfg->kafka_outage_grace_ms || lgw_pending_count(ing->pending) == 0)
        return;
    struct lgw_req *req = lgw_pending_take_expired(ing->pending, INT64_MAX);
    size_t n = 0;
    while (req) {
        struct lgw_req *next = req->pending_next;
        req->retry_after_s = 1;
        lgw_sse_fail(req, LGW_ERR(UNAVAILABLE),
                     "The gateway lost its message broker while the request waited; retry the request.");
        lgw_req_unref(req);
        req = next;
        n++;
    }
    LGW_WARN("ingress", "message broker away for %lld ms: %zu waiting request(s) answered 503",
             (long long)(now - ing->kafka_down_since), n);
}

void lgw_replies_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct lgw_ingress *ing = opaque;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        if (atomic_exchange(&ing->kafka_up, false))
            LGW_WARN("kafka", "every broker is down (%s): refusing new requests", reason);
    } else if (lgw_kafka_fatal_check(rk, err)) {
        atomic_store(&ing->kafka_up, false); /* refuse at once while the drain the hook began runs */
    }
}

static void sweep(struct lgw_ingress *ing)
{
    struct lgw_req *req = lgw_pending_take_expired(ing->pending, lgw_mono_ms());
    while (req) {
        struct lgw_req *next = req->pending_next;
        LGW_LOG_TP(LGW_LOG_INFO, "ingress", req->id, req->tenant, req->traceparent, "deadline of %lld ms passed",
                   (long long)ing->cfg->request_timeout_ms);
        lgw_sse_fail(req, LGW_ERR(TIMEOUT), "The request was not answered within its deadline.");
        lgw_req_unref(req);
        req = next;
    }
}

/* Positions the reply consumer at the current end of its partition, so replies produced from now on
 * are read and nothing older is replayed. */
static bool position(struct lgw_ingress *ing)
{
    int64_t lo, hi;
    rd_kafka_resp_err_t err = lgw_kafka_watermarks_within(ing->replies, ing->topic_replies, 0, &lo, &hi, 2000);
    if (err) {
        LGW_WARN("ingress", "reply topic %s: %s", ing->topic_replies, rd_kafka_err2str(err));
        return false;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, ing->topic_replies, 0)->offset = hi;
    err = rd_kafka_assign(ing->replies, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        LGW_WARN("ingress", "assign %s: %s", ing->topic_replies, rd_kafka_err2str(err));
        return false;
    }
    LGW_INFO("ingress", "reading replies from %s at offset %lld", ing->topic_replies, (long long)hi);
    return true;
}

static bool create_topics(struct lgw_ingress *ing)
{
    if (lgw_topics_ensure(ing->producer, ing->cfg, LGW_ROLE_INGRESS, ing->id, 5000) != LGW_OK)
        return false;
    /* The topics it writes rarely (embeddings, cancels) stay known past the metadata cache's age. */
    const char *const produced[] = {ing->topic_chat, ing->topic_embeddings, ing->topic_cancel};
    lgw_kafka_keep_topics(ing->producer, produced, sizeof(produced) / sizeof(produced[0]));
    return true;
}

static void *reply_main(void *arg)
{
    pthread_setname_np(pthread_self(), "in-replies"); /* its CPU apart in top -H, perf and /proc/<pid>/task */
    struct lgw_ingress *ing = arg;
    int64_t next_sweep = 0, next_setup = 0;
    bool topics = false;
    while (!atomic_load(&ing->stop_bg)) {
        int64_t now = lgw_mono_ms();
        if (!atomic_load(&ing->replies_ready) && now >= next_setup) {
            /* Kafka may be down at start: keep trying, without holding up deadlines for long. */
            topics = topics || create_topics(ing);
            if (topics && position(ing))
                atomic_store(&ing->replies_ready, true);
            next_setup = lgw_mono_ms() + 500;
        }
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(ing->replies, SWEEP_INTERVAL_MS / 2);
        if (msg) {
            if (!msg->err)
                handle_reply(ing, msg);
            else if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                LGW_WARN("ingress", "reply consumer: %s", rd_kafka_message_errstr(msg));
            rd_kafka_message_destroy(msg);
        }
        rd_kafka_poll(ing->producer, 0);
        now = lgw_mono_ms();
        if (now >= next_sweep) {
            outage(ing, now);
            sweep(ing);
            next_sweep = now + SWEEP_INTERVAL_MS;
        }
    }
    return NULL;
}

int lgw_replies_start(struct lgw_ingress *ing)
{
    char client_id[128], group[160];
    snprintf(client_id, sizeof(client_id), "llmgw-ingress-%s-replies", ing->id);
    /* librdkafka 2.0.2 wants a group.id even for assign(); it is never joined. A follower: its one partition
     * is assigned once and never paused, so the broker answers its fetch the moment a reply lands, and an idle
     * ingress asks once per kafka_follow_wait_ms rather than ten times a second. */
    snprintf(group, sizeof(group), "%s-ingress-%s", ing->cfg->topic_prefix, ing->id);
    int rc = lgw_kafka_follower_new(ing->cfg, client_id, group, ing, &ing->replies);
    if (rc)
        return rc;
    if (pthread_create(&ing->reply_thread, NULL, reply_main, ing) != 0) {
        rd_kafka_destroy(ing->replies);
        ing->replies = NULL;
        return LGW_ERR(INTERNAL);
    }
    return LGW_OK;
}

void lgw_replies_stop(struct lgw_ingress *ing)
{
    if (!ing->replies)
        return;
    atomic_store(&ing->stop_bg, true);
    pthread_join(ing->reply_thread, NULL);
    rd_kafka_consumer_close(ing->replies);
    rd_kafka_destroy(ing->replies);
    ing->replies = NULL;
}

void lgw_replies_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    dr_cb(rk, msg, opaque);
}

void lgw_replies_fail_all(struct lgw_ingress *ing, int rc, const char *message)
{
    struct lgw_req *req = lgw_pending_take_expired(ing->pending, INT64_MAX);
    while (req) {
        struct lgw_req *next = req->pending_next;
        lgw_sse_fail(req, rc, message);
        lgw_req_unref(req);
        req = next;
    }
}
