/* results.c - tickets, the result producers and their delivery reports (see results.h). */
#include "workers/results.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/topics.h"
#include "common/uuid.h"

struct lgw_results {
    const struct lgw_config *cfg;
    struct lgw_metrics *m;
    rd_kafka_t *consumer; /* borrowed: its offset store takes finished jobs */
    struct lgw_offsets *offsets;
    /* Replies go out at once (linger 0): a client waits on each. Cost events and dead letters: nobody waits
     * on them, so they linger and go in batches (fewer broker requests per job). */
    rd_kafka_t *producer, *cost_producer;
    char worker_id[LGW_NAME_MAX];
    char topic_cost[LGW_TOPIC_MAX], topic_dlq[LGW_TOPIC_MAX];
    pthread_t poller;
    bool poller_started;
    atomic_bool stop; /* shutdown: no more retries, the poller exits */
};

static void ticket_free(struct lgw_ticket *t)
{
    lgw_span_discard(&t->span); /* a job run takes it; only a ticket dropped unrun still has it */
    lgw_job_cleanup(&t->job);
    free(t);
}

/* One more message of t to wait for, in slot (0: the reply, 1: the cost event or dead letter). Before the
 * produce: its delivery report may run before the produce call returns. */
static struct lgw_delivery *track(struct lgw_ticket *t, int slot, enum lgw_msg_role role)
{
    t->d[slot] = (struct lgw_delivery){t, role};
    atomic_fetch_add(&t->pending, 1);
    return &t->d[slot];
}

/* One message acknowledged (or given up), or the holder letting go. The last release stores the job's
 * offset for commit, unless the ticket was abandoned, and frees the ticket. Any thread. */
static void release(struct lgw_ticket *t)
{
    if (atomic_fetch_sub(&t->pending, 1) != 1)
        return;
    struct lgw_results *r = t->results;
    int64_t commit =
        atomic_load(&t->abandoned) ? -1 : lgw_offsets_done(r->offsets, t->topic, t->partition, t->offset);
    if (commit >= 0) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, t->topic, t->partition)->offset = commit;
        /* Fails harmlessly for a partition revoked meanwhile: its new owner re-runs from the last commit. */
        rd_kafka_offsets_store(r->consumer, l);
        rd_kafka_topic_partition_list_destroy(l);
    }
    ticket_free(t);
}

static int produce(struct lgw_results *r, rd_kafka_t *rk, const struct lgw_kafka_msg *msg)
{
    rd_kafka_resp_err_t err;
    if (lgw_kafka_produce(rk, msg, &err)) {
        lgw_metrics_add(r->m, "llmgw_kafka_produce_errors_total", "role=\"worker\"", 1);
        LGW_WARN("worker", "produce to %s: %s", msg->topic, rd_kafka_err2str(err));
        return LGW_ERR(UNAVAILABLE);
    }
    return LGW_OK;
}

/* A cost event must reach Kafka: spend that is not recorded is the one loss we never accept. Retry
 * until it is queued, or until shutdown, when the job's offset stays uncommitted so it runs again. */
static bool produce_cost(struct lgw_results *r, const struct lgw_ticket *t, const struct lgw_buf *ev,
                         struct lgw_delivery *d)
{
    struct lgw_kafka_msg msg = {.topic = r->topic_cost,
                                .partition = RD_KAFKA_PARTITION_UA,
                                .key = t->job.id,
                                .value = ev->ptr,
                                .len = ev->len,
                                .traceparent = t->cost_tp[0] ? t->cost_tp : t->traceparent,
                                .tracestate = t->tracestate,
                                .opaque = d};
    while (produce(r, r->cost_producer, &msg)) {
        if (atomic_load(&r->stop))
            return false;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return true;
}

/* Runs on the poller thread (and in lgw_results_free's purge). */
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct lgw_results *r = opaque;
    struct lgw_delivery *d = msg->_private;
    if (!d)
        return;
    struct lgw_ticket *t = d->ticket;
    if (d->role == LGW_MSG_CHUNK)
        atomic_fetch_sub(&t->unacked_chunks, 1);
    if (msg->err) {
        lgw_metrics_add(r->m, "llmgw_kafka_produce_errors_total", "role=\"worker\"", 1);
        LGW_LOG_TP(LGW_LOG_WARN, "worker", t->job.id, NULL, t->traceparent, "delivery to %s failed: %s",
                   rd_kafka_topic_name(msg->rkt), rd_kafka_err2str(msg->err));
        if ((d->role == LGW_MSG_COST || d->role == LGW_MSG_DLQ) && !atomic_load(&r->stop)) {
            /* Never drop spend or a dead letter: queue it again with the same bytes and trace context. */
            struct lgw_kafka_msg again = {.topic = rd_kafka_topic_name(msg->rkt),
                                          .partition = RD_KAFKA_PARTITION_UA,
                                          .key = d->role == LGW_MSG_DLQ ? "dlq" : t->job.id,
                                          .value = msg->payload,
                                          .len = msg->len,
                                          .traceparent = d->role == LGW_MSG_COST && t->cost_tp[0] ? t->cost_tp
                                                                                                  : t->traceparent,
                                          .tracestate = t->tracestate,
                                          .opaque = d};
            if (produce(r, rk, &again) == 0)
                return;
        }
        if (d->role == LGW_MSG_REPLY && !atomic_load(&r->stop) && lgw_wall_ms() < t->job.deadline_ms) {
            /* The broker was away longer than the produce timeout: the answer is still worth having until the
             * job's deadline (a batch line's is a day away; an ingress that stopped waiting drops it as
             * unmatched), so queue it again, same bytes, partition and key, rather than lose the work. */
            lgw_metrics_add(r->m, "llmgw_worker_reply_retries_total", NULL, 1);
            struct lgw_kafka_msg again = {.topic = rd_kafka_topic_name(msg->rkt),
                                          .partition = msg->partition,
                                          .key = t->job.batch.id[0] ? t->job.batch.id : t->job.id,
                                          .value = msg->payload,
                                          .len = msg->len,
                                          .traceparent = t->reply_tp[0] ? t->reply_tp : t->traceparent,
                                          .tracestate = t->tracestate,
                                          .opaque = d};
            if (produce(r, rk, &again) == 0)
                return;
        }
        if (d->role == LGW_MSG_COST || d->role == LGW_MSG_DLQ)
            atomic_store(&t->abandoned, true); /* its offset is never committed, so the job runs again */
    }
    release(t);
}

/* Serves both producers' delivery reports until lgw_results_stop. */
static void *poller_main(void *arg)
{
    pthread_setname_np(pthread_self(), "wk-deliveries"); /* its CPU apart in top -H, perf and /proc/<pid>/task */
    struct lgw_results *r = arg;
    while (!atomic_load(&r->stop)) {
        rd_kafka_poll(r->producer, 25);
        rd_kafka_poll(r->cost_producer, 25);
    }
    return NULL;
}

int lgw_results_new(const struct lgw_config *cfg, struct lgw_metrics *m, const char *worker_id,
                    rd_kafka_t *consumer, struct lgw_offsets *offsets, struct lgw_results **out)
{
    int rc;
    struct lgw_results *r = lgw_calloc(1, sizeof(*r));
    *out = NULL;
    r->cfg = cfg;
    r->m = m;
    r->consumer = consumer;
    r->offsets = offsets;
    lgw_strlcpy(r->worker_id, worker_id, sizeof(r->worker_id));
    lgw_topic_name(cfg, LGW_TOPIC_COST, NULL, r->topic_cost, sizeof(r->topic_cost));
    lgw_topic_name(cfg, LGW_TOPIC_DLQ, NULL, r->topic_dlq, sizeof(r->topic_dlq));

    char client_id[LGW_NAME_MAX + 16], cost_client_id[LGW_NAME_MAX + 24];
    snprintf(client_id, sizeof(client_id), "llmgw-worker-%s", worker_id);
    snprintf(cost_client_id, sizeof(cost_client_id), "llmgw-worker-%s-cost", worker_id);
    /* Cost events stick to this worker's partition of the cost topic (kafka_cost_partition "worker"): keyed by
     * job id they would spread over every partition, and a linger window would cost one produce per partition
     * it touched rather than one. */
    const char *stick_to = strcmp(cfg->kafka_cost_partition, "worker") == 0 ? worker_id : NULL;
    if ((rc = lgw_kafka_producer_new(cfg, client_id, 0, dr_cb, r, &r->producer)) ||
        (rc = lgw_kafka_producer_new_sticky(cfg, cost_client_id, cfg->kafka_cost_linger_ms, stick_to, dr_cb, r,
                                            &r->cost_producer)))
        goto fail;
    if (pthread_create(&r->poller, NULL, poller_main, r) != 0) {
        rc = LGW_ERR(INTERNAL);
        goto fail;
    }
    r->poller_started = true;
    *out = r;
    return LGW_OK;
fail:
    if (r->producer)
        rd_kafka_destroy(r->producer);
    if (r->cost_producer)
        rd_kafka_destroy(r->cost_producer);
    free(r);
    return rc;
}

void lgw_results_flush(struct lgw_results *r, int timeout_ms)
{
    rd_kafka_flush(r->producer, timeout_ms);
    rd_kafka_flush(r->cost_producer, timeout_ms);
}

void lgw_results_stop(struct lgw_results *r)
{
    atomic_store(&r->stop, true);
    if (r->poller_started)
        pthread_join(r->poller, NULL);
    r->poller_started = false;
}

void lgw_results_free(struct lgw_results *r)
{
    if (!r)
        return;
    lgw_results_stop(r);
    /* Deliveries still outstanding own tickets through their opaque; purge runs their callbacks (which
     * touch the consumer's offset store, so the consumer goes after the producers). With stop set they
     * produce nothing again and abandon their tickets. */
    rd_kafka_purge(r->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(r->producer, 0);
    rd_kafka_purge(r->cost_producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(r->cost_producer, 0);
    rd_kafka_destroy(r->producer);
    rd_kafka_destroy(r->cost_producer);
    free(r);
}

void lgw_results_keep_topics(struct lgw_results *r)
{
    const char *const rare[] = {r->topic_cost, r->topic_dlq}; /* both on the cost producer */
    lgw_kafka_keep_topics(r->cost_producer, rare, 2);
}

const char *lgw_results_topic_cost(const struct lgw_results *r)
{
    return r->topic_cost;
}

rd_kafka_t *lgw_results_producer(const struct lgw_results *r)
{
    return r->producer;
}

struct lgw_ticket *lgw_results_ticket_new(struct lgw_results *r, const rd_kafka_message_t *msg)
{
    struct lgw_ticket *t = lgw_calloc(1, sizeof(*t));
    t->results = r;
    t->chunk_d = (struct lgw_delivery){t, LGW_MSG_CHUNK};
    t->spend_d = (struct lgw_delivery){t, LGW_MSG_COST};
    atomic_store(&t->pending, 1); /* the holder's share, let go by whoever sends the job's last message */
    lgw_strlcpy(t->topic, rd_kafka_topic_name(msg->rkt), sizeof(t->topic));
    t->partition = msg->partition;
    t->offset = msg->offset;
    t->received_us = lgw_mono_us();
    lgw_kafka_traceparent(msg, t->traceparent, sizeof(t->traceparent)); /* "" when absent or malformed */
    lgw_kafka_tracestate(msg, t->tracestate);                           /* likewise; only next to a traceparent */
    lgw_offsets_add(r->offsets, t->topic, t->partition, t->offset);
    return t;
}

void lgw_results_ticket_drop(struct lgw_ticket *t)
{
    ticket_free(t);
}

void lgw_results_cost_init(const struct lgw_ticket *t, struct lgw_cost_event *ev)
{
    const struct lgw_results *r = t->results;
    const struct lgw_job *job = &t->job;
    memset(ev, 0, sizeof(*ev));
    lgw_trace_id_of(t->traceparent, ev->trace_id); /* the request's trace, which every record of it shares */
    lgw_uuid7(ev->event_id);
    lgw_strlcpy(ev->request_id, job->id, sizeof(ev->request_id));
    lgw_strlcpy(ev->tenant, job->tenant, sizeof(ev->tenant));
    lgw_strlcpy(ev->key_id, job->key_id, sizeof(ev->key_id));
    lgw_strlcpy(ev->user, job->user, sizeof(ev->user));
    lgw_strlcpy(ev->strategy, job->strategy, sizeof(ev->strategy));
    lgw_strlcpy(ev->worker, r->worker_id, sizeof(ev->worker));
    ev->kind = job->kind;
    ev->attempt = job->attempt;
    ev->cost_known = true;
    ev->final = true;
    ev->ts_ms = lgw_wall_ms();
}

/* A reply of t's job on its reply topic and partition, keyed by the job id (a batch line's by its batch id,
 * docs/BATCH.md); opaque NULL: untracked. */
static int produce_reply(struct lgw_ticket *t, const struct lgw_reply *reply, struct lgw_delivery *d)
{
    struct lgw_results *r = t->results;
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    int rc = lgw_reply_encode(reply, &buf);
    if (rc == 0) {
        struct lgw_kafka_msg msg = {.topic = t->job.reply_topic,
                                    .partition = t->job.reply_partition,
                                    .key = t->job.batch.id[0] ? t->job.batch.id : t->job.id,
                                    .value = buf.ptr,
                                    .len = buf.len,
                                    .traceparent = t->reply_tp[0] ? t->reply_tp : t->traceparent,
                                    .tracestate = t->tracestate,
                                    .opaque = d};
        rc = produce(r, r->producer, &msg);
    }
    lgw_buf_cleanup(&buf);
    return rc;
}

int lgw_results_chunk(struct lgw_ticket *t, const struct lgw_reply *reply)
{
    /* Tracked like any message (the ticket lives until its delivery report), and counted for the bound. */
    atomic_fetch_add(&t->pending, 1);
    atomic_fetch_add(&t->unacked_chunks, 1);
    int rc = produce_reply(t, reply, &t->chunk_d);
    if (rc) {
        atomic_fetch_sub(&t->unacked_chunks, 1);
        release(t);
    }
    return rc;
}

int lgw_results_unacked_chunks(const struct lgw_ticket *t)
{
    return atomic_load(&t->unacked_chunks);
}

int lgw_results_reply(struct lgw_ticket *t, const struct lgw_reply *reply)
{
    struct lgw_delivery *d = track(t, 0, LGW_MSG_REPLY);
    int rc = produce_reply(t, reply, d);
    if (rc)
        release(t); /* the client will get its 504; the job is still accounted for by its cost event */
    return rc;
}

/* One cost event, tracked by d (whose pending share the caller added). */
static void cost_event(struct lgw_ticket *t, const struct lgw_cost_event *ev, struct lgw_delivery *d)
{
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    if (lgw_cost_event_encode(ev, &buf) || !produce_cost(t->results, t, &buf, d)) {
        /* Shutting down before the cost event was queued: the offset stays uncommitted and the job
         * runs again elsewhere, as at-least-once promises. */
        atomic_store(&t->abandoned, true);
        release(t);
    }
    lgw_buf_cleanup(&buf);
}

void lgw_results_cost_more(struct lgw_ticket *t, const struct lgw_cost_event *ev)
{
    atomic_fetch_add(&t->pending, 1);
    cost_event(t, ev, &t->spend_d);
}

void lgw_results_cost(struct lgw_ticket *t, const struct lgw_cost_event *ev)
{
    cost_event(t, ev, track(t, 1, LGW_MSG_COST));
    release(t); /* the holder lets go: from here the delivery reports own t */
}

void lgw_results_expired(struct lgw_ticket *t)
{
    struct lgw_results *r = t->results;
    struct lgw_cost_event ev;
    lgw_results_cost_init(t, &ev);
    json_t *model = json_object_get(t->job.body, "model");
    lgw_strlcpy(ev.model, json_is_string(model) ? json_string_value(model) : "", sizeof(ev.model));
    ev.status = lgw_err_status(LGW_ERR(EXPIRED));
    lgw_strlcpy(ev.outcome, "expired", sizeof(ev.outcome));
    lgw_metrics_add(r->m, "llmgw_jobs_total",
                    t->job.kind == LGW_JOB_CHAT ? "kind=\"chat\",outcome=\"expired\""
                                                : "kind=\"embeddings\",outcome=\"expired\"",
                    1);
    LGW_LOG_TP(LGW_LOG_INFO, "worker", t->job.id, t->job.tenant, t->traceparent, "deadline passed %lld ms ago; dropped",
            (long long)(lgw_wall_ms() - t->job.deadline_ms));
    lgw_results_cost(t, &ev);
}

void lgw_results_dead_letter(struct lgw_ticket *t, const rd_kafka_message_t *msg, const char *why)
{
    struct lgw_results *r = t->results;
    struct lgw_dead_letter dl = {.reason = why,
                                 .topic = t->topic,
                                 .partition = t->partition,
                                 .offset = t->offset,
                                 .ts_ms = lgw_wall_ms(),
                                 .payload = msg->payload,
                                 .payload_len = msg->payload ? msg->len : 0};
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    int rc = lgw_dead_letter_encode(&dl, &buf);
    lgw_metrics_add(r->m, "llmgw_dlq_total", NULL, 1);
    LGW_WARN("worker", "job at %s/%d@%lld sent to the DLQ: %s", t->topic, (int)t->partition, (long long)t->offset,
             why);
    struct lgw_delivery *d = track(t, 1, LGW_MSG_DLQ);
    if (rc == 0) {
        struct lgw_kafka_msg out = {.topic = r->topic_dlq,
                                    .partition = RD_KAFKA_PARTITION_UA,
                                    .key = "dlq",
                                    .value = buf.ptr,
                                    .len = buf.len,
                                    .traceparent = t->traceparent,
                                    .tracestate = t->tracestate,
                                    .opaque = d};
        rc = produce(r, r->cost_producer, &out);
    }
    if (rc) {
        LGW_ERROR("worker", "could not queue a dead letter; the offset stays uncommitted");
        atomic_store(&t->abandoned, true);
        release(t);
    }
    lgw_buf_cleanup(&buf);
    release(t); /* the holder lets go */
}
