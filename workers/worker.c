/* worker.c - job consumer, thread pool and result producer (see worker.h). */
#include "worker.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cancel.h"
#include "catalog.h"
#include "clock.h"
#include "cost.h"
#include "dispatch.h"
#include "envelope.h"
#include "errors.h"
#include "kafka.h"
#include "log.h"
#include "offsets.h"
#include "provider.h"
#include "router.h"

/* What a finished message means for its job: the job's offset is done when all its messages are. */
enum msg_role { MSG_REPLY, MSG_COST, MSG_DLQ };

struct ticket;

struct delivery {
    struct ticket *ticket;
    enum msg_role role;
};

/* One consumed message from consume to offset store. Owned by whoever holds it last: the pool thread
 * hands it to the delivery callbacks, and the last delivery frees it. */
struct ticket {
    struct lgw_worker *w;
    atomic_int pending; /* messages not yet acknowledged */
    char topic[LGW_TOPIC_MAX];
    int32_t partition;
    int64_t offset;
    struct delivery d[2];
    struct lgw_job job;
    int64_t received_us;
    atomic_bool abandoned; /* a message could not be delivered: never commit this offset, the job runs again */
};

struct lgw_worker {
    const struct lgw_config *cfg;
    struct lgw_metrics *m;
    rd_kafka_t *consumer, *producer;
    /* Cost events and dead letters: nobody waits on them, so they linger and go in batches (fewer broker
     * requests per job); replies keep the linger-0 producer. */
    rd_kafka_t *cost_producer;
    struct lgw_offsets *offsets;
    char id[LGW_NAME_MAX];
    char topic_cost[LGW_TOPIC_MAX], topic_dlq[LGW_TOPIC_MAX];

    /* Bounded job queue feeding the pool: the consumer thread blocks when it is full (back-pressure). */
    pthread_mutex_t qlock;
    pthread_cond_t qnonempty, qnonfull;
    struct ticket **queue;
    size_t qcap, qhead, qlen;
    bool qclosed;

    pthread_t *threads;
    size_t nthreads;
    pthread_t poller, health;
    struct lgw_cancels *cancels;
    struct lgw_catalog_holder *catalog;
    struct lgw_router *router;
    atomic_bool stop_bg; /* stops the producer poller and the health probe */
    atomic_bool kafka_up;
    atomic_int running; /* jobs between dequeue and produce */
};

static void ticket_free(struct ticket *t)
{
    lgw_job_cleanup(&t->job);
    free(t);
}

/* The job's offset may be committed once every message it produced is acknowledged. */
static void ticket_release(struct ticket *t)
{
    if (atomic_fetch_sub(&t->pending, 1) != 1)
        return;
    struct lgw_worker *w = t->w;
    int64_t commit = atomic_load(&t->abandoned) ? -1 : lgw_offsets_done(w->offsets, t->topic, t->partition, t->offset);
    if (commit >= 0) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, t->topic, t->partition)->offset = commit;
        /* Fails harmlessly for a partition revoked meanwhile: its new owner re-runs from the last commit. */
        rd_kafka_offsets_store(w->consumer, l);
        rd_kafka_topic_partition_list_destroy(l);
    }
    ticket_free(t);
}

static int produce(struct lgw_worker *w, rd_kafka_t *rk, const char *topic, int32_t partition, const char *key,
                   const void *payload, size_t len, struct delivery *d, const char *traceparent)
{
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)payload, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER("llmgw-id", key, -1),
        RD_KAFKA_V_HEADER("traceparent", traceparent ? traceparent : "", traceparent ? -1 : 0),
        RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
    if (err) {
        lgw_metrics_add(w->m, "llmgw_kafka_produce_errors_total", "role=\"worker\"", 1);
        LGW_WARN("worker", "produce to %s: %s", topic, rd_kafka_err2str(err));
        return LGW_ERR(UNAVAILABLE);
    }
    return LGW_OK;
}

/* A cost event must reach Kafka: spend that is not recorded is the one loss we never accept. Retry
 * until it is queued, or until shutdown, when the job's offset stays uncommitted so it runs again. */
static bool produce_cost(struct lgw_worker *w, const struct ticket *t, const struct lgw_buf *ev, struct delivery *d,
                         const char *traceparent)
{
    while (produce(w, w->cost_producer, w->topic_cost, RD_KAFKA_PARTITION_UA, t->job.id, ev->ptr, ev->len, d,
                   traceparent)) {
        if (atomic_load(&w->stop_bg))
            return false;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return true;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct lgw_worker *w = opaque;
    struct delivery *d = msg->_private;
    if (!d)
        return;
    if (msg->err) {
        lgw_metrics_add(w->m, "llmgw_kafka_produce_errors_total", "role=\"worker\"", 1);
        LGW_LOG(LGW_LOG_WARN, "worker", d->ticket->job.id, NULL, "delivery to %s failed: %s",
                rd_kafka_topic_name(msg->rkt), rd_kafka_err2str(msg->err));
        if ((d->role == MSG_COST || d->role == MSG_DLQ) && !atomic_load(&w->stop_bg)) {
            /* Never drop spend or a dead letter: queue it again with the same bytes. */
            const char *key = d->ticket->job.id[0] ? d->ticket->job.id : "dlq";
            if (produce(w, rk, rd_kafka_topic_name(msg->rkt), RD_KAFKA_PARTITION_UA, key, msg->payload, msg->len, d,
                        NULL) == 0)
                return;
        }
        if (d->role != MSG_REPLY)
            atomic_store(&d->ticket->abandoned, true); /* its offset is never committed, so the job runs again */
    }
    ticket_release(d->ticket);
}

static void *poller_main(void *arg)
{
    struct lgw_worker *w = arg;
    while (!atomic_load(&w->stop_bg)) {
        rd_kafka_poll(w->producer, 25);
        rd_kafka_poll(w->cost_producer, 25);
    }
    return NULL;
}

static void fill_cost_event(struct lgw_worker *w, const struct lgw_job *job, struct lgw_cost_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    lgw_uuid4(ev->event_id);
    lgw_strlcpy(ev->request_id, job->id, sizeof(ev->request_id));
    lgw_strlcpy(ev->tenant, job->tenant, sizeof(ev->tenant));
    lgw_strlcpy(ev->user, job->user, sizeof(ev->user));
    lgw_strlcpy(ev->strategy, job->strategy, sizeof(ev->strategy));
    lgw_strlcpy(ev->worker, w->id, sizeof(ev->worker));
    ev->kind = job->kind;
    ev->attempt = job->attempt;
    ev->cost_known = true;
    ev->ts_ms = lgw_wall_ms();
}

/* A streamed job's chunks go out as non-final replies, in order, as the provider yields them. They are
 * not tracked for the offset: the final reply and the cost event, produced after them on the same
 * partitions by the same producer, are. */
struct stream_ctx {
    struct lgw_prov_stream base;
    struct lgw_worker *w;
    const struct lgw_job *job;
    const char *run_id;
    const char *strategy;
    const struct lgw_dispatch *d; /* the route so far: the first chunk tells the ingress who answers */
    int seq;
    atomic_bool cancelled; /* the client left (cancel.h): stop, which aborts the upstream transfer */
};

static int stream_emit(struct lgw_prov_stream *stream, json_t *chunk)
{
    struct stream_ctx *ctx = (struct stream_ctx *)stream;
    if (atomic_load(&ctx->cancelled))
        return LGW_ERR(UNAVAILABLE);
    struct lgw_reply part;
    struct lgw_buf buf;
    memset(&part, 0, sizeof(part));
    lgw_buf_init(&buf, 0);
    lgw_strlcpy(part.id, ctx->job->id, sizeof(part.id));
    lgw_strlcpy(part.run_id, ctx->run_id, sizeof(part.run_id));
    part.seq = ctx->seq++;
    part.status = 200;
    part.body = chunk;
    if (part.seq == 0 && ctx->d->current) {
        /* The response headers go out with the first chunk: they carry the route up to this call. */
        const struct lgw_model_info *m = ctx->d->current;
        lgw_strlcpy(part.provider, m->provider, sizeof(part.provider));
        lgw_strlcpy(part.model, m->id, sizeof(part.model));
        lgw_strlcpy(part.strategy, ctx->strategy, sizeof(part.strategy));
        part.route_attempts = ctx->d->attempts + 1;
        /* The route so far plus this call; a route too long for the field is cut (it is informational). */
        struct lgw_buf route;
        lgw_buf_init(&route, 0);
        lgw_buf_printf(&route, "%s%s%s/%s=200", ctx->d->route, ctx->d->route[0] ? "," : "", m->provider, m->id);
        lgw_strlcpy(part.route, route.ptr, sizeof(part.route));
        lgw_buf_cleanup(&route);
    }
    int rc = lgw_reply_encode(&part, &buf);
    if (rc == 0)
        rc = produce(ctx->w, ctx->w->producer, ctx->job->reply_topic, ctx->job->reply_partition, ctx->job->id,
                     buf.ptr, buf.len, NULL, NULL);
    lgw_buf_cleanup(&buf);
    if (rc == 0) {
        if (stream->emitted++ == 0)
            stream->first_emit_us = lgw_mono_us();
    }
    return rc;
}

/* The route of a job: its strategy (the request's, else the configured default) and plan. Returns 0, or an
 * LGW_ERR with a message for the client in why. */
static int plan_job(struct lgw_worker *w, const struct lgw_catalog *cat, const struct lgw_job *job,
                    const char *model_name, struct lgw_route_plan *plan, char *why, size_t whysz)
{
    enum lgw_strategy strategy;
    const char *name = job->strategy[0] && strcmp(job->strategy, "default") != 0 ? job->strategy
                                                                                 : w->cfg->route_strategy;
    if (lgw_strategy_parse(name, &strategy)) {
        snprintf(why, whysz, "Unknown routing strategy '%.31s': use cost, latency, capability or round-robin.", name);
        plan->strategy = LGW_STRATEGY_COST;
        return LGW_ERR(BAD_STRATEGY);
    }
    struct lgw_route_needs needs;
    lgw_route_needs_of(job->body, job->kind, job->stream, &needs);
    return lgw_router_plan(w->router, cat, model_name, job->kind, &needs, strategy, plan, why, whysz);
}

/* Runs one job on the calling pool thread and produces its reply and cost event. Takes t. */
static void run_job(struct lgw_worker *w, struct ticket *t)
{
    struct lgw_job *job = &t->job;
    struct lgw_cost_event ev;
    struct lgw_reply reply;
    struct lgw_buf buf;
    struct lgw_dispatch d;
    struct lgw_route_plan plan;
    memset(&d, 0, sizeof(d));
    memset(&reply, 0, sizeof(reply));
    lgw_buf_init(&buf, 0);
    fill_cost_event(w, job, &ev);
    struct lgw_prov_result *res = &d.res;

    /* The job keeps this catalog for its whole run, whatever a reload does meanwhile. */
    struct lgw_catalog *cat = lgw_catalog_current(w->catalog);
    json_t *model = json_object_get(job->body, "model");
    const char *model_name = json_is_string(model) ? json_string_value(model) : "";
    int64_t start_us = lgw_mono_us();
    char why[512];
    int rc = plan_job(w, cat, job, model_name, &plan, why, sizeof(why));
    lgw_strlcpy(ev.strategy, lgw_strategy_name(plan.strategy), sizeof(ev.strategy));
    if (rc) {
        res->status = lgw_err_status(rc);
        res->body = lgw_error_json(rc, why);
        lgw_strlcpy(res->model, model_name, sizeof(res->model));
    } else {
        struct stream_ctx sctx = {.w = w, .job = job, .run_id = ev.event_id, .strategy = ev.strategy, .d = &d};
        sctx.base.emit = stream_emit;
        json_t *so = json_object_get(job->body, "stream_options");
        sctx.base.include_usage = json_is_true(json_object_get(so, "include_usage"));
        bool streamed = job->stream && job->kind == LGW_JOB_CHAT;
        d.stream = streamed ? &sctx.base : NULL;
        d.cancelled = &sctx.cancelled;
        if (streamed && w->cancels)
            lgw_cancels_register(w->cancels, job->id, &sctx.cancelled);
        lgw_dispatch_run(&d, w->router, w->cfg, &plan, job);
        if (streamed && w->cancels)
            lgw_cancels_unregister(w->cancels, &sctx.cancelled);
        reply.seq = sctx.seq;
        if (streamed && res->status == 200 && !res->body)
            res->body = json_pack("{s:s}", "object", "llmgw.stream.end");
        const struct lgw_model_info *info = d.current ? d.current : plan.chain[0];
        lgw_strlcpy(ev.provider, info->provider, sizeof(ev.provider));
        /* The catalog's id, which prices and analytics join on; the provider's exact version is in the body. */
        lgw_strlcpy(res->model, info->id, sizeof(res->model));
        if (d.attempts > 0) {
            ev.cost_known = info->price.known;
            if (lgw_cost_of_usage(&info->price, &res->usage, &ev.cost_nusd)) {
                ev.cost_known = false;
                ev.cost_nusd = 0;
            }
            if (!ev.cost_known) {
                lgw_metrics_add(w->m, "llmgw_cost_unknown_total", NULL, 1);
                LGW_LOG(LGW_LOG_WARN, "worker", job->id, job->tenant,
                        "no price for model %s/%s: cost recorded as unknown", info->provider, info->id);
            }
        }
        if (d.attempts > 1)
            lgw_metrics_add(w->m, "llmgw_route_fallbacks_total", NULL, d.attempts - 1);
        if (plan.last_resort)
            LGW_LOG(LGW_LOG_DEBUG, "worker", job->id, job->tenant, "no provider keys: echo serves %s", model_name);
    }
    lgw_catalog_unref(cat);
    int64_t latency_ms = (lgw_mono_us() - start_us) / 1000;

    ev.usage = res->usage;
    ev.status = res->status;
    ev.latency_ms = latency_ms;
    ev.route_attempts = d.attempts;
    lgw_strlcpy(ev.route, d.route, sizeof(ev.route));
    lgw_strlcpy(ev.model, res->model, sizeof(ev.model));
    lgw_strlcpy(ev.outcome, res->status == 200 ? "ok" : "error", sizeof(ev.outcome));

    lgw_strlcpy(reply.id, job->id, sizeof(reply.id));
    lgw_strlcpy(reply.run_id, ev.event_id, sizeof(reply.run_id));
    reply.final = true;
    reply.status = res->status;
    reply.body = res->body;
    reply.usage = res->usage;
    reply.cost_nusd = ev.cost_nusd;
    reply.cost_known = ev.cost_known;
    reply.latency_ms = latency_ms;
    lgw_strlcpy(reply.provider, ev.provider, sizeof(reply.provider));
    lgw_strlcpy(reply.model, res->model, sizeof(reply.model));
    lgw_strlcpy(reply.strategy, ev.strategy, sizeof(reply.strategy));
    reply.route_attempts = d.attempts;
    lgw_strlcpy(reply.route, d.route, sizeof(reply.route));

    /* Two messages: the ticket is released when both are acknowledged. */
    atomic_store(&t->pending, 2);
    t->d[0] = (struct delivery){t, MSG_REPLY};
    t->d[1] = (struct delivery){t, MSG_COST};
    if (lgw_reply_encode(&reply, &buf) ||
        produce(w, w->producer, job->reply_topic, job->reply_partition, job->id, buf.ptr, buf.len, &t->d[0], NULL))
        ticket_release(t); /* the client will get its 504; the job is still accounted for below */
    lgw_buf_reset(&buf);
    char labels[96];
    snprintf(labels, sizeof(labels), "kind=\"%s\",outcome=\"%s\"", lgw_job_kind_name(job->kind), ev.outcome);
    lgw_metrics_add(w->m, "llmgw_jobs_total", labels, 1);
    lgw_metrics_observe(w->m, "llmgw_job_duration_seconds", NULL, (double)(lgw_mono_us() - t->received_us) / 1e6);
    if (lgw_cost_event_encode(&ev, &buf) || !produce_cost(w, t, &buf, &t->d[1], NULL)) {
        /* Shutting down before the cost event was queued: the offset stays uncommitted and the job
         * runs again elsewhere, as at-least-once promises. */
        atomic_store(&t->abandoned, true);
        ticket_release(t);
    }
    lgw_buf_cleanup(&buf);
    lgw_prov_result_cleanup(res);
}

static struct ticket *dequeue(struct lgw_worker *w)
{
    pthread_mutex_lock(&w->qlock);
    while (w->qlen == 0 && !w->qclosed)
        pthread_cond_wait(&w->qnonempty, &w->qlock);
    struct ticket *t = NULL;
    if (w->qlen > 0) {
        t = w->queue[w->qhead];
        w->qhead = (w->qhead + 1) % w->qcap;
        w->qlen--;
        atomic_fetch_add(&w->running, 1);
        pthread_cond_signal(&w->qnonfull);
    }
    pthread_mutex_unlock(&w->qlock);
    return t;
}

static void *pool_main(void *arg)
{
    struct lgw_worker *w = arg;
    struct ticket *t;
    while ((t = dequeue(w)) != NULL) {
        lgw_metrics_gauge_add(w->m, "llmgw_jobs_in_flight", NULL, 1);
        run_job(w, t);
        lgw_metrics_gauge_add(w->m, "llmgw_jobs_in_flight", NULL, -1);
        atomic_fetch_sub(&w->running, 1);
    }
    return NULL;
}

/* Blocks while the queue is full (bounded wait so shutdown is noticed). */
static bool enqueue(struct lgw_worker *w, struct ticket *t, const atomic_bool *stop)
{
    pthread_mutex_lock(&w->qlock);
    while (w->qlen == w->qcap && !atomic_load(stop)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->qnonfull, &w->qlock, &ts);
    }
    bool ok = w->qlen < w->qcap;
    if (ok) {
        w->queue[(w->qhead + w->qlen) % w->qcap] = t;
        w->qlen++;
        pthread_cond_signal(&w->qnonempty);
    }
    pthread_mutex_unlock(&w->qlock);
    return ok;
}

static void send_dlq(struct lgw_worker *w, struct ticket *t, const rd_kafka_message_t *msg, const char *why)
{
    json_t *o = json_pack("{s:i, s:s, s:s, s:i, s:I, s:I, s:s#}", "v", LGW_ENVELOPE_VERSION, "reason", why, "topic",
                          t->topic, "partition", (int)t->partition, "offset", (json_int_t)t->offset, "ts_ms",
                          (json_int_t)lgw_wall_ms(), "payload", msg->payload ? (const char *)msg->payload : "",
                          msg->payload ? msg->len : (size_t)0);
    if (!o) /* payload is not valid UTF-8: keep the reason and position, leave the bytes in the source topic */
        o = json_pack("{s:i, s:s, s:s, s:i, s:I, s:I, s:n}", "v", LGW_ENVELOPE_VERSION, "reason", why, "topic",
                      t->topic, "partition", (int)t->partition, "offset", (json_int_t)t->offset, "ts_ms",
                      (json_int_t)lgw_wall_ms(), "payload");
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    atomic_store(&t->pending, 1);
    t->d[0] = (struct delivery){t, MSG_DLQ};
    lgw_metrics_add(w->m, "llmgw_dlq_total", NULL, 1);
    LGW_WARN("worker", "job at %s/%d@%lld sent to the DLQ: %s", t->topic, (int)t->partition, (long long)t->offset,
             why);
    if (produce(w, w->cost_producer, w->topic_dlq, RD_KAFKA_PARTITION_UA, "dlq", text, strlen(text), &t->d[0],
                NULL)) {
        LGW_ERROR("worker", "could not queue a dead letter; the offset stays uncommitted");
        atomic_store(&t->abandoned, true);
        ticket_release(t);
    }
    free(text);
}

static void send_expired(struct lgw_worker *w, struct ticket *t)
{
    struct lgw_cost_event ev;
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    fill_cost_event(w, &t->job, &ev);
    json_t *model = json_object_get(t->job.body, "model");
    lgw_strlcpy(ev.model, json_is_string(model) ? json_string_value(model) : "", sizeof(ev.model));
    ev.status = lgw_err_status(LGW_ERR(EXPIRED));
    lgw_strlcpy(ev.outcome, "expired", sizeof(ev.outcome));
    atomic_store(&t->pending, 1);
    t->d[0] = (struct delivery){t, MSG_COST};
    lgw_metrics_add(w->m, "llmgw_jobs_total",
                    t->job.kind == LGW_JOB_CHAT ? "kind=\"chat\",outcome=\"expired\""
                                                : "kind=\"embeddings\",outcome=\"expired\"",
                    1);
    LGW_LOG(LGW_LOG_INFO, "worker", t->job.id, t->job.tenant, "deadline passed %lld ms ago; dropped",
            (long long)(lgw_wall_ms() - t->job.deadline_ms));
    if (lgw_cost_event_encode(&ev, &buf) || !produce_cost(w, t, &buf, &t->d[0], NULL)) {
        atomic_store(&t->abandoned, true);
        ticket_release(t);
    }
    lgw_buf_cleanup(&buf);
}

/* Takes msg's position into the offset tracker and routes it: DLQ, expired, or the pool. */
static void handle_message(struct lgw_worker *w, rd_kafka_message_t *msg, const atomic_bool *stop)
{
    struct ticket *t = lgw_calloc(1, sizeof(*t));
    t->w = w;
    lgw_strlcpy(t->topic, rd_kafka_topic_name(msg->rkt), sizeof(t->topic));
    t->partition = msg->partition;
    t->offset = msg->offset;
    t->received_us = lgw_mono_us();
    lgw_offsets_add(w->offsets, t->topic, t->partition, t->offset);

    char why[256];
    if (lgw_job_decode(msg->payload, msg->len, &t->job, why, sizeof(why))) {
        send_dlq(w, t, msg, why);
        return;
    }
    bool kind_ok = strstr(t->topic, LGW_TOPIC_JOBS_EMBEDDINGS) ? t->job.kind == LGW_JOB_EMBEDDINGS
                                                                : t->job.kind == LGW_JOB_CHAT;
    if (!kind_ok) {
        send_dlq(w, t, msg, "job kind does not match its topic");
        return;
    }
    if (lgw_wall_ms() > t->job.deadline_ms) {
        send_expired(w, t);
        return;
    }
    if (!enqueue(w, t, stop)) {
        /* Shutting down with a full queue: leave the job for the next owner of the partition. */
        ticket_free(t);
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct lgw_worker *w = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        LGW_INFO("worker", "assigned %d partition(s)", parts->cnt);
        rd_kafka_assign(rk, parts);
        return;
    }
    /* Revoked: let this member's in-flight jobs of those partitions finish (bounded), commit what they
     * completed, so the next owner does not run them again. */
    int64_t until = lgw_mono_ms() + w->cfg->shutdown_grace_ms;
    for (int i = 0; i < parts->cnt; i++)
        while (lgw_offsets_inflight(w->offsets, parts->elems[i].topic, parts->elems[i].partition) > 0 &&
               lgw_mono_ms() < until) {
            struct timespec ts = {0, 5 * 1000000L};
            nanosleep(&ts, NULL);
        }
    rd_kafka_resp_err_t cerr = rd_kafka_commit(rk, NULL, 0);
    if (cerr && cerr != RD_KAFKA_RESP_ERR__NO_OFFSET)
        LGW_WARN("worker", "commit on revoke: %s", rd_kafka_err2str(cerr));
    for (int i = 0; i < parts->cnt; i++)
        lgw_offsets_drop(w->offsets, parts->elems[i].topic, parts->elems[i].partition);
    LGW_INFO("worker", "revoked %d partition(s)", parts->cnt);
    rd_kafka_assign(rk, NULL);
}

static void declare_metrics(struct lgw_metrics *m)
{
    lgw_metrics_declare(m, "llmgw_jobs_total", LGW_METRIC_COUNTER, "Jobs finished by kind and outcome.");
    lgw_metrics_declare(m, "llmgw_job_duration_seconds", LGW_METRIC_HISTOGRAM,
                        "Time from consuming a job to producing its result.");
    lgw_metrics_declare(m, "llmgw_jobs_in_flight", LGW_METRIC_GAUGE, "Jobs running on the worker pool.");
    lgw_metrics_declare(m, "llmgw_dlq_total", LGW_METRIC_COUNTER, "Malformed jobs sent to the dead-letter topic.");
    lgw_metrics_declare(m, "llmgw_kafka_produce_errors_total", LGW_METRIC_COUNTER, "Kafka produce failures.");
    lgw_metrics_add(m, "llmgw_kafka_produce_errors_total", "role=\"worker\"", 0); /* shown as 0, not absent */
    lgw_metrics_declare(m, "llmgw_cost_unknown_total", LGW_METRIC_COUNTER, "Jobs served by a model with no price.");
    lgw_metrics_declare(m, "llmgw_route_fallbacks_total", LGW_METRIC_COUNTER,
                        "Provider calls made after the first candidate of a request failed.");
}

int lgw_worker_new(const struct lgw_config *cfg, struct lgw_metrics *m, struct lgw_worker **out)
{
    int rc;
    struct lgw_worker *w = lgw_calloc(1, sizeof(*w));
    w->cfg = cfg;
    w->m = m;
    *out = NULL;
    declare_metrics(m);
    if (cfg->worker_id[0])
        lgw_strlcpy(w->id, cfg->worker_id, sizeof(w->id));
    else {
        char host[64] = "host";
        gethostname(host, sizeof(host) - 1);
        snprintf(w->id, sizeof(w->id), "%.63s-%d", host, (int)getpid());
    }
    struct lgw_buf errs;
    lgw_buf_init(&errs, 65536);
    rc = lgw_catalog_holder_new(cfg, &w->catalog, &errs);
    if (rc) {
        LGW_ERROR("worker", "the model catalog is invalid:\n%s", errs.ptr ? errs.ptr : "");
        lgw_buf_cleanup(&errs);
        free(w);
        return rc;
    }
    lgw_buf_cleanup(&errs);
    w->router = lgw_router_new(cfg, m);
    lgw_config_topic(cfg, LGW_TOPIC_COST, w->topic_cost, sizeof(w->topic_cost));
    lgw_config_topic(cfg, LGW_TOPIC_DLQ, w->topic_dlq, sizeof(w->topic_dlq));
    w->offsets = lgw_offsets_new();
    pthread_mutex_init(&w->qlock, NULL);
    pthread_cond_init(&w->qnonempty, NULL);
    pthread_cond_init(&w->qnonfull, NULL);
    w->nthreads = (size_t)cfg->worker_concurrency;
    w->qcap = w->nthreads; /* a job waits in the queue at most as long as one job runs */
    w->queue = lgw_calloc(w->qcap, sizeof(*w->queue));

    char client_id[LGW_NAME_MAX + 16], group[128];
    snprintf(client_id, sizeof(client_id), "llmgw-worker-%s", w->id);
    snprintf(group, sizeof(group), "%s-workers", cfg->topic_prefix);
    char cost_client_id[LGW_NAME_MAX + 24];
    snprintf(cost_client_id, sizeof(cost_client_id), "llmgw-worker-%s-cost", w->id);
    if ((rc = lgw_kafka_producer_new(cfg, client_id, 0, dr_cb, w, &w->producer)) ||
        (rc = lgw_kafka_producer_new(cfg, cost_client_id, cfg->kafka_cost_linger_ms, dr_cb, w, &w->cost_producer)) ||
        (rc = lgw_kafka_consumer_new(cfg, client_id, group, true, rebalance_cb, w, &w->consumer)))
        goto fail;
    const char *suffixes[] = {LGW_TOPIC_JOBS_CHAT, LGW_TOPIC_JOBS_EMBEDDINGS, LGW_TOPIC_COST, LGW_TOPIC_DLQ};
    int parts[] = {(int)cfg->kafka_partitions, (int)cfg->kafka_partitions, (int)cfg->kafka_partitions,
                   (int)cfg->kafka_partitions};
    if ((rc = lgw_kafka_ensure_topics(w->producer, cfg, suffixes, parts, 4, 10000)))
        goto fail;

    char chat[LGW_TOPIC_MAX], emb[LGW_TOPIC_MAX];
    lgw_config_topic(cfg, LGW_TOPIC_JOBS_CHAT, chat, sizeof(chat));
    lgw_config_topic(cfg, LGW_TOPIC_JOBS_EMBEDDINGS, emb, sizeof(emb));
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(sub, chat, RD_KAFKA_PARTITION_UA);
    rd_kafka_topic_partition_list_add(sub, emb, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(w->consumer, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err) {
        LGW_ERROR("worker", "subscribe: %s", rd_kafka_err2str(err));
        rc = LGW_ERR(UNAVAILABLE);
        goto fail;
    }
    if ((rc = lgw_kafka_health_start(w->producer, &w->kafka_up, &w->stop_bg, 1000, &w->health)))
        goto fail;
    if (lgw_cancels_start(cfg, w->id, &w->cancels))
        LGW_WARN("worker", "cancel consumer not started: streams of clients that leave run to their end");
    if (pthread_create(&w->poller, NULL, poller_main, w) != 0) {
        rc = LGW_ERR(INTERNAL);
        goto fail;
    }
    w->threads = lgw_calloc(w->nthreads, sizeof(*w->threads));
    for (size_t i = 0; i < w->nthreads; i++)
        if (pthread_create(&w->threads[i], NULL, pool_main, w) != 0) {
            LGW_ERROR("worker", "could not start pool thread %zu", i);
            abort(); /* half a pool cannot be torn down cleanly; this only happens when the OS is out of threads */
        }
    LGW_INFO("worker", "worker %s started: %zu job threads, group %s", w->id, w->nthreads, group);
    *out = w;
    return LGW_OK;
fail:
    atomic_store(&w->stop_bg, true);
    if (w->health)
        pthread_join(w->health, NULL);
    if (w->poller)
        pthread_join(w->poller, NULL);
    if (w->consumer) {
        rd_kafka_consumer_close(w->consumer);
        rd_kafka_destroy(w->consumer);
    }
    if (w->producer)
        rd_kafka_destroy(w->producer);
    if (w->cost_producer)
        rd_kafka_destroy(w->cost_producer);
    lgw_offsets_free(w->offsets);
    lgw_router_free(w->router);
    lgw_catalog_holder_free(w->catalog);
    free(w->queue);
    free(w);
    return rc;
}

int lgw_worker_run(struct lgw_worker *w, const atomic_bool *stop)
{
    while (!atomic_load(stop)) {
        lgw_catalog_holder_refresh(w->catalog); /* SIGHUP: jobs from here on see the new catalog */
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(w->consumer, 100);
        if (!msg)
            continue;
        if (msg->err) {
            if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                LGW_WARN("worker", "consume: %s", rd_kafka_message_errstr(msg));
        } else {
            handle_message(w, msg, stop);
        }
        rd_kafka_message_destroy(msg);
    }
    /* Drain: no new jobs; let queued and running ones finish and their messages be acknowledged. */
    LGW_INFO("worker", "draining");
    int64_t until = lgw_mono_ms() + w->cfg->shutdown_grace_ms;
    while (lgw_offsets_inflight(w->offsets, NULL, 0) > 0 && lgw_mono_ms() < until) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    size_t left = lgw_offsets_inflight(w->offsets, NULL, 0);
    if (left)
        LGW_WARN("worker", "%zu job(s) unfinished at shutdown; they will run again elsewhere", left);
    rd_kafka_flush(w->producer, 5000);
    rd_kafka_flush(w->cost_producer, 5000);
    rd_kafka_resp_err_t err = rd_kafka_commit(w->consumer, NULL, 0);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        LGW_WARN("worker", "final commit: %s", rd_kafka_err2str(err));
    rd_kafka_consumer_close(w->consumer);
    return LGW_OK;
}

bool lgw_worker_ready_cb(void *worker)
{
    struct lgw_worker *w = worker;
    return atomic_load(&w->kafka_up);
}

void lgw_worker_free(struct lgw_worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->qlock);
    w->qclosed = true;
    pthread_cond_broadcast(&w->qnonempty);
    pthread_mutex_unlock(&w->qlock);
    for (size_t i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    /* Jobs still queued (never started) are dropped: their offsets were not committed. */
    for (size_t i = 0; i < w->qlen; i++)
        ticket_free(w->queue[(w->qhead + i) % w->qcap]);
    lgw_cancels_stop(w->cancels);
    rd_kafka_flush(w->producer, 2000);
    rd_kafka_flush(w->cost_producer, 2000);
    atomic_store(&w->stop_bg, true);
    pthread_join(w->poller, NULL);
    pthread_join(w->health, NULL);
    /* Deliveries still outstanding own tickets through their opaque; purge runs their callbacks (which
     * touch the consumer's offset store, so the consumer goes last). */
    rd_kafka_purge(w->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(w->producer, 0);
    rd_kafka_purge(w->cost_producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(w->cost_producer, 0);
    rd_kafka_destroy(w->producer);
    rd_kafka_destroy(w->cost_producer);
    rd_kafka_destroy(w->consumer);
    lgw_offsets_free(w->offsets);
    lgw_router_free(w->router);
    lgw_catalog_holder_free(w->catalog);
    free(w->threads);
    free(w->queue);
    pthread_mutex_destroy(&w->qlock);
    pthread_cond_destroy(&w->qnonempty);
    pthread_cond_destroy(&w->qnonfull);
    free(w);
}
