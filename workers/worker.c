/* worker.c - the worker role's consume loop and lifecycle (see worker.h): clients, topics, the consumer
 * group and its rebalances, routing each consumed job (dead letter, expired, or the pool), drain, teardown.
 * A job's run is workers/pipeline.c; what it sends and when its offset commits is workers/results.c. */
#include "workers/worker.h"

#include <pthread.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/envelope.h"
#include "common/errors.h"
#include "common/kafka.h"
#include "common/kafka_assign.h"
#include "common/kafka_close.h"
#include "common/kafka_lag.h"
#include "common/log.h"
#include "common/redis.h"
#include "common/topic_warm.h"
#include "common/topics.h"
#include "providers/http_loop.h"
#include "routing/catalog.h"
#include "routing/router.h"
#include "providers/provider.h"
#include "workers/admit.h"
#include "workers/batch_flow.h"
#include "workers/cancel.h"
#include "workers/genai_metrics.h"
#include "workers/handover.h"
#include "workers/offsets.h"
#include "workers/pipeline.h"
#include "workers/pool.h"
#include "workers/results.h"
#include "workers/status.h"
#include "workers/spans.h"

struct lgw_worker {
    const struct lgw_config *cfg;
    struct lgw_metrics *m;
    struct lgw_kafka_lag *lag; /* the jobs topics' consumer lag gauges (their own thread) */
    struct lgw_tracer *tracer; /* NULL: tracing off; borrowed */
    char id[LGW_NAME_MAX];
    char group[128]; /* the consumer group */
    char topic_embeddings[LGW_TOPIC_MAX];
    char topic_batch_chat[LGW_TOPIC_MAX], topic_batch_embeddings[LGW_TOPIC_MAX];
    /* Batch lines' share of the slots and its split between batch partitions (workers/batch_flow.h). */
    struct lgw_batch_flow *flow;
    /* Admission of jobs no ingress admitted: batch lines and unmarked jobs (workers/admit.h). */
    struct lgw_wadmit *admit;
    atomic_bool stopping; /* draining: lines waiting for admission let go (pipeline.h) */
    rd_kafka_t *consumer; /* destroyed last: delivery reports store offsets in it until the producers go */
    struct lgw_offsets *offsets;
    struct lgw_handover *handover; /* revoked partitions held until their jobs end (consumer thread) */
    struct lgw_results *results;
    struct lgw_pipeline pipeline;
    struct lgw_cache *cache; /* the response cache (off unless a TTL turns it on for a request) */
    struct lgw_redis *redis; /* its shared backend; NULL: memory only (no redis_url, or `llmgw dev`) */
    /* Planning threads behind a bounded queue; provider calls then run on the transfer loops. */
    struct lgw_pool *pool;
    struct lgw_http_loop **loops;
    size_t nloops;
    /* Jobs held (queued, planning, or calling providers). At worker_concurrency the consumer pauses its
     * partitions (no rebalance) and resumes below it: back-pressure without a thread per job. */
    atomic_long inflight;
    bool paused; /* consumer thread only */
    struct lgw_cancels *cancels;
    struct lgw_catalog_holder *catalog;
    struct lgw_router *router;
    struct lgw_status *status; /* publishes what the router's breakers say (GET /v1/providers) */
    struct lgw_topic_warm *warm; /* reply topics' metadata asked for as their first job comes (topic_warm.h) */
    pthread_t health;
    bool health_started;
    atomic_bool health_stop;
    atomic_bool kafka_up;
    bool assigned;          /* the group has given this member an assignment (maybe empty); consumer thread */
    bool left;              /* lgw_worker_run has left the group (or decided not to): how is in left_how */
    enum lgw_kafka_close left_how;
    atomic_bool in_group; /* /readyz: an assignment (maybe empty) from the group, not mid-rebalance */
    /* The group refused this member's rebalance protocol: its other members use the other kind (eager or
     * cooperative: their kafka_rebalance differs). It joins once they have left; /readyz says ready meanwhile,
     * so that a rolling deploy that switches protocols and waits for readiness goes on to stop them
     * (docs/ARCHITECTURE.md, "Readiness, limits, shutdown"). */
    atomic_bool protocol_wait;
};

/* The pool's callback: one job on a pool thread, which plans it and hands its calls to a loop. Takes the
 * ticket. */
static void run_job(void *item, void *opaque)
{
    struct lgw_worker *w = opaque;
    lgw_pipeline_run(&w->pipeline, item);
}

/* A job's run is over (any thread). */
static void job_finished(void *opaque, struct lgw_batch_slot *slot)
{
    struct lgw_worker *w = opaque;
    lgw_batch_flow_done(slot);
    atomic_fetch_sub(&w->inflight, 1);
    lgw_metrics_gauge_add(w->m, "llmgw_jobs_in_flight", NULL, -1);
}

/* Pauses or resumes every assigned partition. Consumer thread. */
static void set_paused(struct lgw_worker *w, bool paused)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(w->consumer, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts) {
        if (paused) {
            rd_kafka_pause_partitions(w->consumer, parts);
        } else {
            lgw_handover_exclude(w->handover, parts); /* revoked ones stay paused until given up */
            rd_kafka_resume_partitions(w->consumer, parts);
        }
        rd_kafka_topic_partition_list_destroy(parts);
    }
    if (!paused) /* the batch partitions held at their share stay paused */
        lgw_batch_flow_reapply(w->flow, w->consumer);
    w->paused = paused;
    lgw_kafka_lag_paused(w->lag, paused);
    lgw_metrics_gauge_set(w->m, "llmgw_worker_paused", NULL, paused ? 1 : 0);
    LGW_LOG(LGW_LOG_DEBUG, "worker", NULL, NULL, "%s consuming: %ld job(s) in flight, limit %lld",
            paused ? "paused" : "resumed", atomic_load(&w->inflight), (long long)w->cfg->worker_concurrency);
}

/* Back-pressure: stop taking jobs at the in-flight limit, take them again below it. Consumer thread. */
static void flow_control(struct lgw_worker *w)
{
    bool full = atomic_load(&w->inflight) >= w->cfg->worker_concurrency;
    if (full != w->paused)
        set_paused(w, full);
    lgw_batch_flow_tick(w->flow, w->consumer, w->paused);
}

static void drop_job(void *item)
{
    lgw_results_ticket_drop(item);
}

/* Takes msg's position into the offset tracker and routes it: DLQ, expired, or the pool. A batch line that
 * may not start now (its partition is at its share) is not taken at all: the flow sought its partition back
 * to it. */
static void handle_message(struct lgw_worker *w, rd_kafka_message_t *msg, const atomic_bool *stop)
{
    const char *topic = rd_kafka_topic_name(msg->rkt);
    bool batch = lgw_batch_flow_is_batch(w->flow, topic);
    struct lgw_batch_slot *slot = NULL;
    if (batch && !(slot = lgw_batch_flow_take(w->flow, w->consumer, topic, msg->partition, msg->offset)))
        return;
    struct lgw_ticket *t = lgw_results_ticket_new(w->results, msg);
    t->batch = batch;
    const void *val;
    size_t len;
    t->admitted = lgw_kafka_header(msg, LGW_KAFKA_ADMITTED_HEADER, &val, &len) == 0;
    lgw_wspans_consume(w->tracer, t, msg, w->group);
    char why[256];
    if (lgw_job_decode(msg->payload, msg->len, &t->job, why, sizeof(why))) {
        lgw_wspans_not_run(t, "dead_letter");
        lgw_results_dead_letter(t, msg, why);
        lgw_batch_flow_done(slot);
        return;
    }
    lgw_strlcpy(t->job.traceparent, t->traceparent, sizeof(t->job.traceparent)); /* for its logs */
    lgw_wspans_job(t);
    bool embeddings = strcmp(t->topic, w->topic_embeddings) == 0 || strcmp(t->topic, w->topic_batch_embeddings) == 0;
    bool kind_ok = embeddings ? t->job.kind == LGW_JOB_EMBEDDINGS : t->job.kind == LGW_JOB_CHAT;
    const char *bad = !kind_ok                    ? "job kind does not match its topic"
                      : batch && !t->job.batch.id[0] ? "a job on a batch topic has no batch part"
                      : !lgw_topic_may_reply_to(w->cfg, t->job.reply_topic)
                          ? "reply_to names one of llmgw's own topics"
                          : NULL;
    if (bad) {
        lgw_wspans_not_run(t, "dead_letter");
        lgw_results_dead_letter(t, msg, bad);
        lgw_batch_flow_done(slot);
        return;
    }
    /* A batch line past its deadline is answered (batch_expired, by the admit stage): its batch waits for
     * every line. An interactive job's client has gone: dropped with its cost event. */
    if (!batch && lgw_wall_ms() > t->job.deadline_ms) {
        lgw_wspans_not_run(t, "expired");
        lgw_results_expired(t);
        return;
    }
    t->batch_slot = slot; /* given back by job_finished when the run ends */
    lgw_topic_warm_hint(w->warm, t->job.reply_topic); /* answered while the job runs, before its reply */
    atomic_fetch_add(&w->inflight, 1);
    lgw_metrics_gauge_add(w->m, "llmgw_jobs_in_flight", NULL, 1);
    if (lgw_pool_push(w->pool, t, stop)) {
        /* Shutting down with a full queue: leave the job for the next owner of the partition. */
        lgw_results_ticket_drop(t);
        job_finished(w, slot);
    }
}

/* How long a commit (on revoke, at stop) waits for the group coordinator: past it the jobs it would have
 * acknowledged may run again on the next owner, which at-least-once allows; waiting longer would hold the poll
 * loop or the stop for as long as the broker is away. */
#define COMMIT_WAIT_MS 5000

/* One reply topic's metadata lookup: librdkafka's own scan of unknown topics finds it within a second anyway. */
#define TOPIC_LOOKUP_MS 1000

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct lgw_worker *w = opaque;
    bool coop = lgw_kafka_rebalance_cooperative(rk);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        LGW_INFO("worker", "assigned %d partition(s)", parts->cnt);
        w->assigned = true; /* its SyncGroup answered: the consumer can be destroyed (common/kafka_close.h) */
        lgw_kafka_committed_starts(rk, parts, COMMIT_WAIT_MS); /* absolute offsets: all start at once */
        rd_kafka_error_t *error = coop ? rd_kafka_incremental_assign(rk, parts) : NULL;
        rd_kafka_resp_err_t aerr = coop ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_assign(rk, parts);
        if (error || aerr) {
            /* Not in the group's terms: /readyz stays not ready; the group's next rebalance tries again. */
            LGW_ERROR("worker", "assign: %s", error ? rd_kafka_error_string(error) : rd_kafka_err2str(aerr));
            rd_kafka_error_destroy(error);
            return;
        }
        atomic_store(&w->protocol_wait, false);
        atomic_store(&w->in_group, true);
        lgw_batch_flow_assign(w->flow, parts, true);
        /* A pause outlives an unassign in librdkafka 2.0.2: a partition given up paused (handover.h) and
         * assigned again would stay paused. So its state is set either way; at the in-flight limit new
         * partitions wait too. */
        if (w->paused)
            rd_kafka_pause_partitions(rk, parts);
        else
            rd_kafka_resume_partitions(rk, parts);
        return;
    }
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
        LGW_ERROR("worker", "rebalance failed: %s", rd_kafka_err2str(err));
    if (!coop) /* eager: everything goes until the next assignment */
        atomic_store(&w->in_group, false);
    lgw_batch_flow_assign(w->flow, parts, false);
    /* Revoked: this member's in-flight jobs of those partitions may finish (bounded) and their offsets commit
     * before the partitions are given up, so the next owner does not run them again. The consume loop gives
     * them up (handover.h); a stop has drained already, so its close gives them up at once. */
    int64_t until = lgw_mono_ms() + (atomic_load(&w->stopping) ? 0 : w->cfg->shutdown_grace_ms);
    if (lgw_handover_revoke(w->handover, parts, until) != LGW_OK)
        atomic_store(&w->in_group, false); /* librdkafka refused the give-up: not ready until the next assignment */
}

static void declare_metrics(struct lgw_metrics *m)
{
    lgw_metrics_declare(m, "llmgw_jobs_total", LGW_METRIC_COUNTER, "Jobs finished by kind and outcome.");
    lgw_metrics_declare(m, "llmgw_job_duration_seconds", LGW_METRIC_HISTOGRAM,
                        "Time from consuming a job to producing its result.");
    lgw_metrics_declare(m, "llmgw_jobs_in_flight", LGW_METRIC_GAUGE,
                        "Jobs a worker holds: queued, planning, or waiting for providers.");
    lgw_metrics_declare(m, "llmgw_worker_paused", LGW_METRIC_GAUGE,
                        "1 while the worker has paused its Kafka partitions at its in-flight limit.");
    lgw_metrics_declare(m, "llmgw_dlq_total", LGW_METRIC_COUNTER, "Malformed jobs sent to the dead-letter topic.");
    lgw_metrics_declare(m, "llmgw_worker_reply_retries_total", LGW_METRIC_COUNTER,
                        "Final replies queued again after Kafka failed to deliver them (until the job's deadline).");
    lgw_metrics_add(m, "llmgw_worker_reply_retries_total", NULL, 0);
    lgw_metrics_declare(m, "llmgw_kafka_produce_errors_total", LGW_METRIC_COUNTER, "Kafka produce failures.");
    lgw_metrics_add(m, "llmgw_kafka_produce_errors_total", "role=\"worker\"", 0); /* shown as 0, not absent */
    lgw_metrics_declare(m, "llmgw_cost_unknown_total", LGW_METRIC_COUNTER, "Jobs served by a model with no price.");
    lgw_metrics_declare(m, "llmgw_route_fallbacks_total", LGW_METRIC_COUNTER,
                        "Provider calls made after the first candidate of a request failed.");
    lgw_metrics_add(m, "llmgw_route_fallbacks_total", NULL, 0); /* shown as 0, not absent */
    lgw_genai_metrics_declare(m);
    lgw_provider_metrics_declare(m);
}

/* Each streamed provider call holds a socket: raise the soft open-files limit to the hard one, and say what
 * the worker can hold. */
static void raise_nofile(const struct lgw_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            rl.rlim_cur = was;
    }
    LGW_INFO("worker", "limits: %lld job(s) in flight, %lld transfer loop(s), %lld planning thread(s), "
             "%lld connection(s) per provider host, open files %llu (hard %llu)",
             (long long)cfg->worker_concurrency, (long long)cfg->worker_http_loops, (long long)cfg->worker_plan_threads,
             (long long)cfg->provider_max_host_connections, (unsigned long long)rl.rlim_cur,
             (unsigned long long)rl.rlim_max);
    if (rl.rlim_cur != RLIM_INFINITY && (long long)rl.rlim_cur < cfg->worker_concurrency + 256)
        LGW_WARN("worker", "open-files limit %llu is below worker_concurrency + 256: streamed calls may fail to "
                 "connect; raise `ulimit -n` (docs/CONFIG.md)", (unsigned long long)rl.rlim_cur);
}

static void loops_free(struct lgw_worker *w)
{
    for (size_t i = 0; i < w->nloops; i++)
        lgw_http_loop_free(w->loops[i]);
    free(w->loops);
    w->loops = NULL;
    w->nloops = 0;
}

/* Subscribes the consumer to the job topics, interactive and batch. One consumer in one group for all four:
 * the consume loop already owns back-pressure (the worker-wide pause at worker_concurrency), and the batch
 * share is a per-partition pause of the same consumer (workers/batch_flow.h), so nothing needs a second
 * client, thread or rebalance protocol; a paused batch partition never holds back an interactive one. */
static int subscribe(struct lgw_worker *w)
{
    char chat[LGW_TOPIC_MAX];
    lgw_topic_name(w->cfg, LGW_TOPIC_JOBS_CHAT, NULL, chat, sizeof(chat));
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(4);
    rd_kafka_topic_partition_list_add(sub, chat, RD_KAFKA_PARTITION_UA);
    rd_kafka_topic_partition_list_add(sub, w->topic_embeddings, RD_KAFKA_PARTITION_UA);
    rd_kafka_topic_partition_list_add(sub, w->topic_batch_chat, RD_KAFKA_PARTITION_UA);
    rd_kafka_topic_partition_list_add(sub, w->topic_batch_embeddings, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(w->consumer, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err) {
        LGW_ERROR("worker", "subscribe: %s", rd_kafka_err2str(err));
        return LGW_ERR(UNAVAILABLE);
    }
    return LGW_OK;
}

int lgw_worker_new(const struct lgw_config *cfg, struct lgw_metrics *m, struct lgw_tracer *tr, struct lgw_worker **out)
{
    int rc;
    struct lgw_worker *w = lgw_calloc(1, sizeof(*w));
    w->cfg = cfg;
    w->m = m;
    w->tracer = tr;
    *out = NULL;
    declare_metrics(m);
    w->lag = lgw_kafka_lag_new(m, "worker");
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
        lgw_kafka_lag_free(w->lag);
        free(w);
        return rc;
    }
    lgw_buf_cleanup(&errs);
    w->router = lgw_router_new(cfg, m);
    lgw_topic_name(cfg, LGW_TOPIC_JOBS_EMBEDDINGS, NULL, w->topic_embeddings, sizeof(w->topic_embeddings));
    lgw_topic_name(cfg, LGW_TOPIC_BATCH_JOBS_CHAT, NULL, w->topic_batch_chat, sizeof(w->topic_batch_chat));
    lgw_topic_name(cfg, LGW_TOPIC_BATCH_JOBS_EMBEDDINGS, NULL, w->topic_batch_embeddings,
                   sizeof(w->topic_batch_embeddings));
    w->flow = lgw_batch_flow_new(cfg, m, w->topic_batch_chat, w->topic_batch_embeddings);
    w->offsets = lgw_offsets_new();

    char client_id[LGW_NAME_MAX + 16];
    snprintf(client_id, sizeof(client_id), "llmgw-worker-%s", w->id);
    snprintf(w->group, sizeof(w->group), "%s-workers", cfg->topic_prefix);
    if ((rc = lgw_kafka_consumer_new(cfg, client_id, w->group, true, 0, rebalance_cb, w, &w->consumer)))
        goto fail;
    w->handover = lgw_handover_new(w->consumer, w->offsets, COMMIT_WAIT_MS); /* before any rebalance can come */
    if ((rc = lgw_results_new(cfg, m, w->id, w->consumer, w->offsets, &w->results)) ||
        (rc = lgw_topics_ensure(lgw_results_producer(w->results), cfg, LGW_ROLE_WORKER, NULL, 10000)) ||
        (rc = subscribe(w)) ||
        (rc = lgw_topic_warm_new(lgw_results_producer(w->results), m, TOPIC_LOOKUP_MS, &w->warm)))
        goto fail;
    lgw_results_keep_topics(w->results); /* after lgw_topics_ensure made them */
    if ((rc = lgw_kafka_health_start(lgw_results_producer(w->results), &w->kafka_up, &w->health_stop, 1000,
                                     &w->health)))
        goto fail;
    w->health_started = true;
    if (lgw_cancels_start(cfg, w->id, &w->cancels))
        LGW_WARN("worker", "cancel consumer not started: streams of clients that leave run to their end");
    raise_nofile(cfg);
    struct lgw_http_loop_opts lo = {.max_host_connections = (long)cfg->provider_max_host_connections,
                                    .max_connections = (long)cfg->provider_max_connections,
                                    .max_idle_connections = (long)cfg->worker_concurrency};
    w->loops = lgw_calloc((size_t)cfg->worker_http_loops, sizeof(*w->loops));
    for (; w->nloops < (size_t)cfg->worker_http_loops; w->nloops++)
        if ((rc = lgw_http_loop_new(&lo, &w->loops[w->nloops])))
            goto fail;
    /* The cache's Redis: one connection per thread that runs stages (plan threads look up, loops store).
     * `llmgw dev` keeps the cache in memory. */
    if (cfg->redis_url[0] && !cfg->kafka_mock) {
        struct lgw_redis_options ro = {.url = cfg->redis_url,
                                       .timeout_ms = cfg->redis_timeout_ms,
                                       .connect_timeout_ms = cfg->redis_connect_timeout_ms,
                                       .pool = (int)(cfg->worker_plan_threads + cfg->worker_http_loops),
                                       .metrics = m};
        if ((rc = lgw_redis_new(&ro, &w->redis)))
            goto fail;
    }
    w->cache = lgw_cache_new((size_t)cfg->cache_memory_bytes, (size_t)cfg->cache_max_entry_bytes, w->redis,
                             cfg->topic_prefix, m);
    /* Limits for jobs no ingress admitted share the cache's Redis (the same threads call both). */
    if ((rc = lgw_wadmit_new(cfg, m, w->redis, w->id, &w->admit)))
        goto fail;
    w->pipeline = (struct lgw_pipeline){.cfg = cfg,
                                        .m = m,
                                        .tracer = tr,
                                        .catalog = w->catalog,
                                        .router = w->router,
                                        .cancels = w->cancels,
                                        .results = w->results,
                                        .cache = w->cache,
                                        .admit = w->admit,
                                        .stopping = &w->stopping,
                                        .loops = w->loops,
                                        .nloops = w->nloops,
                                        .finished = job_finished,
                                        .opaque = w};
    if ((rc = lgw_status_start(cfg, w->id, w->catalog, lgw_router_health(w->router), m, &w->status)) ||
        (rc = lgw_pool_new((size_t)cfg->worker_plan_threads, (size_t)cfg->worker_concurrency, run_job, w, &w->pool)))
        goto fail;
    lgw_metrics_gauge_set(m, "llmgw_worker_paused", NULL, 0);
    LGW_INFO("worker", "worker %s started: group %s", w->id, w->group);
    *out = w;
    return LGW_OK;
fail:
    lgw_topic_warm_free(w->warm);
    lgw_status_stop(w->status);
    lgw_cancels_free(w->cancels);
    loops_free(w);
    lgw_wadmit_free(w->admit);
    lgw_cache_free(w->cache);
    lgw_redis_free(w->redis);
    atomic_store(&w->health_stop, true);
    if (w->health_started)
        pthread_join(w->health, NULL);
    enum lgw_kafka_close how = LGW_KAFKA_CLOSE_UNFINISHED;
    atomic_store(&w->stopping, true); /* a revoke in this close gives up at once */
    if (w->consumer)
        how = lgw_kafka_consumer_close_within(w->consumer, COMMIT_WAIT_MS, rebalance_cb, &w->assigned);
    lgw_results_free(w->results); /* nothing was produced: no delivery report touches the consumer */
    lgw_kafka_consumer_destroy(w->consumer, how);
    lgw_handover_free(w->handover);
    lgw_offsets_free(w->offsets);
    lgw_router_free(w->router);
    lgw_catalog_holder_free(w->catalog);
    lgw_kafka_lag_free(w->lag);
    lgw_batch_flow_free(w->flow);
    free(w);
    return rc;
}

/* A stop that takes long says where: each step of it is bounded, and one that is not would otherwise leave only
 * a process killed by its supervisor with nothing in its log. Returns now, the next step's start. */
static int64_t stop_step(const char *what, int64_t since)
{
    int64_t now = lgw_mono_ms();
    if (now - since > 2000)
        LGW_WARN("worker", "stopping: %s took %lld ms", what, (long long)(now - since));
    return now;
}

int lgw_worker_run(struct lgw_worker *w, const atomic_bool *stop)
{
    lgw_kafka_lag_start(w->lag, w->consumer);
    while (!atomic_load(stop)) {
        lgw_catalog_holder_refresh(w->catalog); /* SIGHUP: jobs from here on see the new catalog */
        flow_control(w);
        /* Revoked partitions whose jobs ended are given up; a short poll while some are held notices soon. */
        bool holding = lgw_handover_step(w->handover, false);
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(w->consumer, holding ? 10 : 100);
        if (!msg)
            continue;
        if (msg->err == RD_KAFKA_RESP_ERR_INCONSISTENT_GROUP_PROTOCOL) {
            if (!atomic_exchange(&w->protocol_wait, true))
                LGW_WARN("worker", "group %s has members on the other rebalance protocol (their kafka_rebalance "
                         "differs from this worker's): this worker joins once they have left, and reports ready "
                         "meanwhile", w->group);
        } else if (msg->err) {
            if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                LGW_WARN("worker", "consume: %s", rd_kafka_message_errstr(msg));
        } else {
            handle_message(w, msg, stop);
        }
        rd_kafka_message_destroy(msg);
    }
    /* Drain: no new jobs; let queued and running ones finish and their messages be acknowledged. Lines
     * waiting for admission let go at their next turn (uncommitted: the next owner runs them). */
    atomic_store(&w->stopping, true);
    lgw_kafka_lag_stop(w->lag); /* before the consumer closes */
    LGW_INFO("worker", "draining");
    int64_t until = lgw_mono_ms() + w->cfg->shutdown_grace_ms;
    while (lgw_offsets_inflight(w->offsets, NULL, 0) > 0 && lgw_mono_ms() < until && atomic_load(&w->kafka_up)) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    size_t left = lgw_offsets_inflight(w->offsets, NULL, 0);
    if (left)
        LGW_WARN("worker", "%zu job(s) unfinished at shutdown; they will run again elsewhere", left);
    lgw_handover_stopped(w->handover);
    if (!atomic_load(&w->kafka_up)) {
        /* Nothing of what is left can reach the broker, and leaving the group or committing would wait for
         * it (librdkafka's close can block for as long as it is away): the next owner of the partitions runs
         * the unacknowledged jobs again, flagged reruns if they had been billed. */
        LGW_WARN("worker", "the broker is unreachable: stopping without the final commit and group leave");
        w->left_how = lgw_kafka_consumer_abandon(w->consumer, &w->assigned);
        w->left = true;
        return LGW_OK;
    }
    int64_t t = lgw_mono_ms();
    lgw_results_flush(w->results, 5000);
    t = stop_step("flushing replies and cost events", t);
    lgw_handover_step(w->handover, true); /* their jobs ended with the drain, or its grace did */
    t = stop_step("giving up revoked partitions", t);
    rd_kafka_resp_err_t err = lgw_kafka_commit_within(w->consumer, NULL, COMMIT_WAIT_MS);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        LGW_WARN("worker", "final commit: %s", rd_kafka_err2str(err));
    t = stop_step("the final commit", t);
    w->left_how = lgw_kafka_consumer_close_within(w->consumer, COMMIT_WAIT_MS, rebalance_cb, &w->assigned);
    w->left = true;
    stop_step("leaving the consumer group", t);
    return LGW_OK;
}

bool lgw_worker_ready_cb(void *worker)
{
    struct lgw_worker *w = worker;
    /* Can serve: the cluster answers, and the group has given this member its share of the job partitions
     * (possibly none, when there are more workers than partitions): not before its first assignment, nor
     * between an eager revocation and the next assignment. Or it waits for members on the other rebalance
     * protocol to leave (protocol_wait). */
    return atomic_load(&w->kafka_up) && (atomic_load(&w->in_group) || atomic_load(&w->protocol_wait));
}

void lgw_worker_free(struct lgw_worker *w)
{
    if (!w)
        return;
    /* The pool threads run what is still queued, then exit; anything left (none, once they drained) is
     * dropped uncommitted. */
    int64_t t = lgw_mono_ms();
    lgw_pool_close(w->pool);
    lgw_pool_join(w->pool);
    lgw_pool_free(w->pool, drop_job);
    t = stop_step("the planning threads", t);
    /* No cancel may be posted to a loop that is gone: the cancel consumer stops first. Then the loops end what
     * still runs (each such job unregisters its stream and still sends its reply and cost event, through the
     * producers, which are still here); then the registry goes. */
    lgw_cancels_stop(w->cancels);
    t = stop_step("the cancel reader", t);
    atomic_store(&w->stopping, true); /* queued waits of the loops, run at once as they stop, let go */
    loops_free(w);
    t = stop_step("the transfer loops", t);
    lgw_cancels_free(w->cancels);
    lgw_wadmit_free(w->admit); /* no job runs any more */
    t = stop_step("the spend, tenant and batch readers", t);
    /* Every call is over: the last status it would publish says nothing more; withdraw it instead. */
    lgw_status_stop(w->status);
    t = stop_step("withdrawing the provider status", t);
    lgw_cache_free(w->cache); /* no job runs any more: the pool and the loops are gone */
    lgw_redis_free(w->redis);
    lgw_results_flush(w->results, 2000);
    lgw_results_stop(w->results);
    t = stop_step("the last replies and cost events", t);
    atomic_store(&w->health_stop, true);
    pthread_join(w->health, NULL);
    t = stop_step("the health probe", t);
    lgw_topic_warm_free(w->warm); /* uses the reply producer: before it goes */
    t = stop_step("the topic lookups", t);
    /* Deliveries still outstanding own tickets; purging them runs their callbacks, which store offsets in the
     * consumer: the producers go first, the consumer last. */
    lgw_results_free(w->results);
    if (!w->left) { /* never run (another role failed to start): a revoke in this close gives up at once */
        atomic_store(&w->stopping, true);
        w->left_how = lgw_kafka_consumer_close_within(w->consumer, COMMIT_WAIT_MS, rebalance_cb, &w->assigned);
    }
    lgw_kafka_consumer_destroy(w->consumer, w->left_how);
    stop_step("closing the Kafka clients", t);
    lgw_handover_free(w->handover);
    lgw_offsets_free(w->offsets);
    lgw_router_free(w->router);
    lgw_catalog_holder_free(w->catalog);
    lgw_kafka_lag_free(w->lag);
    lgw_batch_flow_free(w->flow);
    free(w);
}
