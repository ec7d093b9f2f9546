/* ledger.c - cost events from Kafka to the database (see ledger.h).
 *
 * Order of durability: a batch is committed in the database first and its Kafka offsets second. A crash
 * between the two redelivers events the database already holds, and the insert ignores them (ON CONFLICT
 * on event_id); the opposite order could lose events. Everything here runs on the thread that calls
 * lgw_ledger_run, including the rebalance callback (served from rd_kafka_consumer_poll). */
#include "ledger/ledger.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/envelope.h"
#include "common/errors.h"
#include "common/kafka.h"
#include "common/kafka_assign.h"
#include "common/kafka_close.h"
#include "common/kafka_lag.h"
#include "common/log.h"
#include "common/topics.h"
#include "ledger/ledger_db.h"
#include "ledger/spend.h"
#include "telemetry/span.h"

/* Database retry backoff: long enough not to hammer a restarting server, short enough that the ledger
 * catches up within seconds of it coming back. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* The whole group waits for a revoke to finish, so a revoke gives the database only a few quick tries;
 * after that the events are dropped from memory and the next owner reads them again (offsets uncommitted). */
#define REVOKE_ATTEMPTS 3
/* While idle, check the database this often so /readyz notices an outage before the next event does. */
#define IDLE_CHECK_US (5 * 1000000LL)
/* An idle poll wakes this often to see the stop flag. */
#define IDLE_POLL_MS 100
/* The bound on leaving the group at stop (lgw_kafka_consumer_close_within). */
#define CLOSE_WAIT_MS 5000
/* The bound on looking up where assigned partitions start (both lookups; past it librdkafka looks them up). */
#define OFFSET_LOOKUP_MS 5000

/* One consumed message, decoded on arrival so that a bad one is logged and counted once, not on every
 * retry of its batch. The message itself is released at once: only its position is needed to commit. */
struct item {
    int32_t partition;
    int64_t offset;
    bool valid;
    bool inserted; /* a new row in the batch being written (not a redelivery): its cost is counted once committed */
    struct lgw_cost_event ev;
    struct lgw_span *span; /* its CONSUMER span, ended once its batch is committed; NULL: not recorded */
};

struct lgw_ledger {
    const struct lgw_config *cfg;
    struct lgw_metrics *m;
    struct lgw_kafka_lag *lag; /* the cost topic's consumer lag gauges (their own thread) */
    struct lgw_tracer *tracer; /* NULL: tracing off; borrowed */
    char group[128];
    rd_kafka_t *consumer;
    struct lgw_ledger_db *db; /* NULL after a failure, until the next attempt reopens it */
    char topic[LGW_TOPIC_MAX];
    struct item *batch; /* consumed but not yet in the database; grows past batch_max only while paused */
    size_t n, alloc;
    int64_t opened_us;        /* when the first item of the batch arrived */
    int64_t last_db_check_us; /* last database round trip, for the idle check */
    bool paused;              /* the assignment is paused while the database is down */
    bool assigned;            /* the group has given this member an assignment (maybe empty) */
    bool closed;              /* lgw_kafka_consumer_close_within has run */
    enum lgw_kafka_close closed_how; /* and how it ended: how the consumer is destroyed */
    const atomic_bool *stop;  /* lgw_ledger_run's flag; before that, never_stop */
    atomic_bool never_stop;
    atomic_bool db_ok, kafka_up, stop_bg; /* db_ok and kafka_up are read by the /readyz thread */
    atomic_bool in_group; /* /readyz: an assignment (maybe empty) from the group, not mid-rebalance */
    pthread_t health;
    bool health_started;
    struct lgw_ledger_spend *spend; /* running totals per tenant and key (spend.h): same transaction, then Kafka */
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The event's CONSUMER span, under the cost record's traceparent (the worker's cost PRODUCER span). */
static struct lgw_span *item_span(struct lgw_ledger *l, const rd_kafka_message_t *msg)
{
    char tp[LGW_TRACEPARENT_SIZE], name[LGW_TOPIC_MAX + 16], part[16];
    struct lgw_span_ctx parent;
    if (!l->tracer)
        return NULL;
    bool has = lgw_kafka_traceparent(msg, tp, sizeof(tp)) == 0 && lgw_span_ctx_parse(tp, LGW_TRACEPARENT_LEN, &parent);
    snprintf(name, sizeof(name), "process %s", l->topic);
    struct lgw_span *span = lgw_span_start(l->tracer, name, LGW_SPAN_CONSUMER, has ? &parent : NULL, NULL);
    if (span && has) {
        char ts[LGW_TRACESTATE_SIZE];
        if (lgw_kafka_tracestate(msg, ts) == 0) /* the request's vendor data, on its last span too */
            lgw_span_set_trace_state(span, ts);
    }
    lgw_span_set_static(span, "messaging.system", "kafka");
    lgw_span_set_str(span, "messaging.destination.name", l->topic);
    lgw_span_set_static(span, "messaging.operation.type", "process");
    lgw_span_set_static(span, "messaging.operation.name", "process");
    lgw_span_set_str(span, "messaging.consumer.group.name", l->group);
    snprintf(part, sizeof(part), "%d", (int)msg->partition);
    lgw_span_set_str(span, "messaging.destination.partition.id", part);
    lgw_span_set_int(span, "messaging.kafka.offset", msg->offset);
    lgw_span_set_static(span, "db.system.name", strncmp(l->cfg->database_url, "sqlite:", 7) == 0 ? "sqlite" : "postgresql");
    return span;
}

/* Ends (committed) or discards (never written: the next owner reads them again) the spans of batch[from..to). */
static void end_spans(struct lgw_ledger *l, size_t from, size_t to, bool committed)
{
    for (size_t i = from; i < to; i++) {
        if (committed)
            lgw_span_end(&l->batch[i].span);
        else
            lgw_span_discard(&l->batch[i].span);
    }
}

/* Takes what the ledger needs from a consumed message; the caller still destroys msg. */
static void add_message(struct lgw_ledger *l, const rd_kafka_message_t *msg)
{
    if (l->n == l->alloc) {
        l->alloc = l->alloc ? l->alloc * 2 : 64;
        l->batch = lgw_realloc(l->batch, l->alloc * sizeof(*l->batch));
    }
    struct item *it = &l->batch[l->n];
    char why[256];
    it->partition = msg->partition;
    it->offset = msg->offset;
    it->span = item_span(l, msg);
    /* A NULL payload (a tombstone) decodes as empty input and is rejected like any other bad event. */
    it->valid = lgw_cost_event_decode(msg->payload ? msg->payload : "", msg->len, &it->ev, why, sizeof(why)) == 0;
    if (!it->valid) {
        /* The reason only: the payload is not ours to print. Skipped, but its offset commits with the batch. */
        LGW_WARN("ledger", "skipping undecodable cost event at %s [%d] offset %lld: %s", l->topic,
                 (int)msg->partition, (long long)msg->offset, why);
        lgw_metrics_add(l->m, "llmgw_ledger_invalid_events_total", NULL, 1);
        lgw_span_set_str(it->span, "error.type", "invalid_event");
        lgw_span_set_status(it->span, LGW_SPAN_ERROR, "undecodable cost event");
    } else {
        lgw_span_set_str(it->span, "llmgw.request_id", it->ev.request_id);
        lgw_span_set_str(it->span, "llmgw.tenant", it->ev.tenant);
        lgw_span_set_str(it->span, "llmgw.event_id", it->ev.event_id);
    }
    if (l->n++ == 0)
        l->opened_us = lgw_mono_us();
}

/* Handles whatever rd_kafka_consumer_poll returned and destroys it. */
static void consume(struct lgw_ledger *l, rd_kafka_message_t *msg)
{
    if (msg->err) {
        if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            LGW_WARN("ledger", "consume: %s", rd_kafka_message_errstr(msg));
    } else
        add_message(l, msg);
    rd_kafka_message_destroy(msg);
}

/* One database transaction for the whole batch; rolled back on any failure. Returns 0 or LGW_ERR(DB). */
static int write_batch(struct lgw_ledger *l, int64_t *inserted, int64_t *duplicates)
{
    int rc;
    size_t valid = 0;
    *inserted = *duplicates = 0;
    lgw_ledger_spend_clear(l->spend);
    for (size_t i = 0; i < l->n; i++)
        valid += l->batch[i].valid;
    if (valid == 0)
        return LGW_OK; /* nothing to write: only offsets to commit, which needs no database */
    if (!l->db && (rc = lgw_ledger_db_open(l->cfg->database_url, &l->db)))
        return rc;
    if ((rc = lgw_ledger_db_begin(l->db)))
        return rc;
    /* All inserts at once: with PostgreSQL one round trip for the batch (ledger_db.h). */
    const struct lgw_cost_event **evs = lgw_calloc(valid, sizeof(*evs));
    bool *ins = lgw_calloc(valid, sizeof(*ins));
    for (size_t i = 0, k = 0; i < l->n; i++)
        if (l->batch[i].valid)
            evs[k++] = &l->batch[i].ev;
    if ((rc = lgw_ledger_db_insert_batch(l->db, evs, valid, ins)))
        goto out;
    for (size_t i = 0, k = 0; i < l->n; i++) {
        if (!l->batch[i].valid)
            continue;
        bool new_row = ins[k++];
        l->batch[i].inserted = new_row;
        lgw_span_set_bool(l->batch[i].span, "llmgw.duplicate", !new_row);
        if (new_row) {
            (*inserted)++;
            lgw_ledger_spend_add(l->spend, &l->batch[i].ev); /* only new rows: a redelivery never counts twice */
        } else
            (*duplicates)++;
    }
    if ((rc = lgw_ledger_spend_write(l->spend, l->db)))
        goto out;
    rc = lgw_ledger_db_commit(l->db);
out:
    free(evs);
    free(ins);
    if (rc)
        lgw_ledger_db_rollback(l->db);
    return rc;
}

/* Commits, per partition, the offset after the batch's last message, waiting for the answer (up to
 * CLOSE_WAIT_MS): the caller goes on to forget the batch, and an async commit still in flight at a revoke would
 * race the next owner. Bounded, since librdkafka's synchronous commit waits for a coordinator however long it
 * is away, and with it the loop and any stop; a commit that does not answer in time may still land, and if it
 * does not, the redelivered events are deduplicated on event_id. */
static void commit_offsets(struct lgw_ledger *l)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < l->n; i++) {
        const struct item *it = &l->batch[i];
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(list, l->topic, it->partition);
        if (!p)
            p = rd_kafka_topic_partition_list_add(list, l->topic, it->partition); /* offset starts INVALID */
        if (it->offset + 1 > p->offset)
            p->offset = it->offset + 1;
    }
    rd_kafka_resp_err_t err = lgw_kafka_commit_within(l->consumer, list, CLOSE_WAIT_MS);
    if (err)
        /* The rows are in the database; a redelivery after this is deduplicated on event_id. */
        LGW_WARN("ledger", "offset commit: %s", rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(list);
}

/* llmgw_cost_usd_total for the rows this committed batch added. Counted here, where cost is recorded for
 * good: a redelivered event (a duplicate row) never counts twice, and a rolled-back batch not at all. */
static void count_cost(struct lgw_ledger *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct item *it = &l->batch[i];
        if (!it->valid || !it->inserted || !it->ev.cost_known)
            continue;
        char tenant[2 * LGW_NAME_MAX], model[2 * LGW_NAME_MAX], labels[4 * LGW_NAME_MAX + 32];
        snprintf(labels, sizeof(labels), "tenant=\"%s\",model=\"%s\"",
                 lgw_metrics_escape(it->ev.tenant, tenant, sizeof(tenant)),
                 lgw_metrics_escape(it->ev.model, model, sizeof(model)));
        lgw_metrics_add_f(l->m, "llmgw_cost_usd_total", labels, (double)it->ev.cost_nusd / 1e9);
    }
}

/* One attempt: write the batch, then commit its offsets and forget it. On failure the connection is
 * closed, so the next attempt reconnects from scratch. Returns 0 or the database error. */
static int try_flush(struct lgw_ledger *l)
{
    int64_t start = lgw_mono_us(), inserted, duplicates;
    int rc = write_batch(l, &inserted, &duplicates);
    l->last_db_check_us = lgw_mono_us();
    if (rc) {
        atomic_store(&l->db_ok, false);
        lgw_metrics_add(l->m, "llmgw_ledger_db_errors_total", NULL, 1);
        lgw_ledger_db_close(l->db);
        l->db = NULL;
        return rc;
    }
    atomic_store(&l->db_ok, true);
    lgw_metrics_observe(l->m, "llmgw_ledger_batch_seconds", NULL, (double)(l->last_db_check_us - start) / 1e6);
    lgw_metrics_add(l->m, "llmgw_ledger_batches_total", NULL, 1);
    lgw_metrics_add(l->m, "llmgw_ledger_events_total", "result=\"inserted\"", inserted);
    lgw_metrics_add(l->m, "llmgw_ledger_events_total", "result=\"duplicate\"", duplicates);
    count_cost(l);
    LGW_DEBUG("ledger", "batch of %zu: %lld inserted, %lld duplicate", l->n, (long long)inserted,
              (long long)duplicates);
    lgw_ledger_spend_publish(l->spend); /* after the commit: a published total is always in the database */
    commit_offsets(l);
    end_spans(l, 0, l->n, true);
    l->n = 0;
    return LGW_OK;
}

/* Pauses or resumes fetching for the whole current assignment. */
static void set_paused(struct lgw_ledger *l, bool pause)
{
    if (l->paused == pause)
        return;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(l->consumer, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts) {
        if (pause)
            rd_kafka_pause_partitions(l->consumer, parts);
        else
            rd_kafka_resume_partitions(l->consumer, parts);
    }
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    l->paused = pause;
}

/* Writes the batch, retrying with capped backoff while the database is down; events are never skipped.
 * While it waits it keeps polling with the assignment paused: that serves rebalances and keeps this member
 * in the group (max.poll.interval.ms) without taking events it cannot store. Once *stop is set it gives up
 * after shutdown_grace_ms; the events then stay uncommitted in Kafka and are read again. */
static int flush(struct lgw_ledger *l)
{
    int backoff = BACKOFF_MIN_MS, rc = LGW_OK;
    int64_t give_up_us = 0;
    while (l->n > 0) {
        if ((rc = try_flush(l)) == 0)
            break;
        int64_t now = lgw_mono_us();
        if (atomic_load(l->stop)) {
            if (!give_up_us)
                give_up_us = now + l->cfg->shutdown_grace_ms * 1000;
            if (now >= give_up_us) {
                LGW_WARN("ledger", "stopping with %zu event(s) not written; their offsets stay uncommitted", l->n);
                break;
            }
        }
        LGW_WARN("ledger", "database write of %zu event(s) failed; retrying in %d ms", l->n, backoff);
        set_paused(l, true);
        int64_t until = now + backoff * 1000LL;
        if (give_up_us && until > give_up_us)
            until = give_up_us;
        while ((now = lgw_mono_us()) < until) {
            if (!give_up_us && atomic_load(l->stop))
                break; /* retry at once, so the grace period starts now and not after a long backoff */
            int64_t wait_ms = (until - now) / 1000 + 1;
            if (wait_ms > IDLE_POLL_MS)
                wait_ms = IDLE_POLL_MS;
            rd_kafka_message_t *msg = rd_kafka_consumer_poll(l->consumer, (int)wait_ms);
            if (msg)
                consume(l, msg); /* paused partitions deliver nothing new; keep anything already fetched */
        }
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    set_paused(l, false);
    return rc;
}

/* Called on revoke, while this member still owns the partitions: gives the database a few quick tries,
 * then forgets the revoked partitions' events (never committed, so the next owner reads them again).
 * It cannot poll here (we are inside the poll), so it sleeps between tries. */
static void flush_revoked(struct lgw_ledger *l, const rd_kafka_topic_partition_list_t *parts)
{
    int backoff = BACKOFF_MIN_MS;
    for (int attempt = 1; l->n > 0; attempt++) {
        if (try_flush(l) == 0)
            return;
        if (attempt == REVOKE_ATTEMPTS || atomic_load(l->stop))
            break;
        sleep_ms(backoff);
        backoff *= 4;
    }
    /* Events of partitions we keep (cooperative rebalancing) must stay: dropping them would let a later
     * commit of a higher offset skip them. */
    size_t kept = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (!rd_kafka_topic_partition_list_find(parts, l->topic, l->batch[i].partition))
            l->batch[kept++] = l->batch[i];
        else
            lgw_span_discard(&l->batch[i].span);
    }
    if (kept < l->n)
        LGW_WARN("ledger", "database unavailable during rebalance: %zu event(s) of revoked partitions left to "
                 "their next owner", l->n - kept);
    l->n = kept;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct lgw_ledger *l = opaque;
    /* The cooperative protocol moves only some partitions and needs the incremental calls; the classic
     * (eager) one, librdkafka's default, revokes and assigns everything. */
    bool coop = lgw_kafka_rebalance_cooperative(rk);
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    switch (err) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        LGW_INFO("ledger", "assigned %d partition(s)", parts->cnt);
        l->assigned = true; /* its SyncGroup answered: the consumer can be destroyed (common/kafka_close.h) */
        /* Absolute offsets, looked up before the assign: no 100 ms reset back-off on a partition without a
         * committed offset, no lookup behind the first held fetch (common/kafka_assign.h). */
        lgw_kafka_committed_starts(rk, parts, OFFSET_LOOKUP_MS);
        atomic_store(&l->in_group, true);
        if (coop)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, parts);
        /* While the database is down new partitions wait too, or the batch would grow without bound; set
         * the state explicitly either way, since a pause can outlive an unassign. */
        if (l->paused)
            rd_kafka_pause_partitions(rk, parts);
        else
            rd_kafka_resume_partitions(rk, parts);
        break;
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        /* Finish the batch first: offsets can be committed only while we own the partitions, and the next
         * owner then starts after what we wrote instead of writing it again. */
        flush_revoked(l, parts);
        LGW_INFO("ledger", "revoked %d partition(s)%s", parts->cnt,
                 rd_kafka_assignment_lost(rk) ? " (assignment lost)" : "");
        if (coop) {
            error = rd_kafka_incremental_unassign(rk, parts);
        } else {
            atomic_store(&l->in_group, false); /* eager: everything goes until the next assignment */
            aerr = rd_kafka_assign(rk, NULL);
        }
        break;
    default:
        LGW_ERROR("ledger", "rebalance failed: %s", rd_kafka_err2str(err));
        aerr = rd_kafka_assign(rk, NULL);
        break;
    }
    if (error) {
        LGW_ERROR("ledger", "rebalance: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
    if (aerr)
        LGW_ERROR("ledger", "rebalance: %s", rd_kafka_err2str(aerr));
}

/* While idle, a cheap round trip keeps db_ok (and so /readyz) current and reconnects early. */
static void idle_check(struct lgw_ledger *l)
{
    int64_t now = lgw_mono_us();
    if (now - l->last_db_check_us < IDLE_CHECK_US)
        return;
    bool ok = l->db ? lgw_ledger_db_ping(l->db) : lgw_ledger_db_open(l->cfg->database_url, &l->db) == 0;
    if (!ok) {
        lgw_ledger_db_close(l->db);
        l->db = NULL;
    }
    if (ok != atomic_load(&l->db_ok))
        LGW_LOG(ok ? LGW_LOG_INFO : LGW_LOG_WARN, "ledger", NULL, NULL, "database %s",
                ok ? "reachable" : "unreachable");
    atomic_store(&l->db_ok, ok);
    l->last_db_check_us = lgw_mono_us();
}

/* Leaves the group (revoking, which flushes nothing: callers empty the batch first). Idempotent. */
static void close_consumer(struct lgw_ledger *l)
{
    lgw_kafka_lag_stop(l->lag); /* it reads the consumer */
    if (!l->consumer || l->closed)
        return;
    l->closed = true;
    l->closed_how =
        lgw_kafka_consumer_close_within(l->consumer, CLOSE_WAIT_MS, rebalance_cb, &l->assigned);
}

int lgw_ledger_new(const struct lgw_config *cfg, struct lgw_metrics *m, struct lgw_tracer *tr, struct lgw_ledger **out)
{
    int rc;
    struct lgw_ledger *l = lgw_calloc(1, sizeof(*l));
    l->cfg = cfg;
    l->m = m;
    l->tracer = tr;
    l->stop = &l->never_stop;
    *out = NULL;
    lgw_metrics_declare(m, "llmgw_ledger_events_total", LGW_METRIC_COUNTER,
                        "Cost events written (inserted) or already present (duplicate).");
    lgw_metrics_declare(m, "llmgw_ledger_batches_total", LGW_METRIC_COUNTER, "Batches committed.");
    lgw_metrics_declare(m, "llmgw_ledger_db_errors_total", LGW_METRIC_COUNTER, "Failed database transactions.");
    lgw_metrics_declare(m, "llmgw_ledger_invalid_events_total", LGW_METRIC_COUNTER, "Undecodable cost events skipped.");
    lgw_metrics_declare(m, "llmgw_ledger_batch_seconds", LGW_METRIC_HISTOGRAM, "Time to write one batch.");
    struct lgw_metric_def cost = {
        .name = "llmgw_cost_usd_total",
        .type = LGW_METRIC_COUNTER,
        .help = "USD of the cost events the ledger recorded (each once), by tenant and model. A double: exact to "
                "the nano-dollar up to about 9 million USD per series. Per tenant: private.",
        .otel_name = "llmgw.cost",
        .unit = "USD",
        .is_private = true,
        .is_double = true,
    };
    lgw_metrics_define(m, &cost);
    l->lag = lgw_kafka_lag_new(m, "ledger");

    /* Fail fast on a bad URL, a refused login or a database gone again since the role waited for its server
     * (cmd/roles.c, common/pg_wait.h); later outages are retried. */
    if ((rc = lgw_ledger_db_open(cfg->database_url, &l->db)))
        goto fail;
    atomic_store(&l->db_ok, true);
    l->last_db_check_us = lgw_mono_us();
    if ((rc = lgw_ledger_spend_new(cfg, m, &l->spend)))
        goto fail;
    snprintf(l->group, sizeof(l->group), "%s-ledger", cfg->topic_prefix);
    lgw_topic_name(cfg, LGW_TOPIC_COST, NULL, l->topic, sizeof(l->topic));
    /* Cost events wait for a batch anyway: the broker holds each fetch for the batch window (one fetch per
     * window at any rate, not one per cost event: measured in bench/profile.py). */
    if ((rc = lgw_kafka_consumer_new(cfg, "llmgw-ledger", l->group, false, (int)cfg->ledger_batch_ms, rebalance_cb,
                                     l, &l->consumer)))
        goto fail;
    if ((rc = lgw_topics_ensure(l->consumer, cfg, LGW_ROLE_LEDGER, NULL, 10000)))
        goto fail;
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, l->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(l->consumer, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err) {
        LGW_ERROR("ledger", "subscribe %s: %s", l->topic, rd_kafka_err2str(err));
        rc = LGW_ERR(UNAVAILABLE);
        goto fail;
    }
    if ((rc = lgw_kafka_health_start(l->consumer, &l->kafka_up, &l->stop_bg, 1000, &l->health)))
        goto fail;
    l->health_started = true;
    /* After lgw_topics_ensure made the spend topic: the totals of today and this month, back-filled or left
     * unpublished by a crash, reach the ingresses before any new event. Not fatal: the next events publish. */
    lgw_ledger_spend_republish(l->spend, l->db, lgw_wall_ms());
    LGW_INFO("ledger", "ledger consuming %s as group %s", l->topic, l->group);
    *out = l;
    return LGW_OK;
fail:
    lgw_ledger_free(l);
    return rc;
}

int lgw_ledger_run(struct lgw_ledger *l, const atomic_bool *stop)
{
    size_t batch_max = (size_t)l->cfg->ledger_batch_max;
    int64_t window_us = l->cfg->ledger_batch_ms * 1000;
    l->stop = stop;
    lgw_kafka_lag_start(l->lag, l->consumer);
    while (!atomic_load(stop)) {
        /* Fill: the first event opens the batch window; it closes after ledger_batch_ms or when full. */
        while (l->n < batch_max && !atomic_load(stop)) {
            int wait_ms = IDLE_POLL_MS;
            if (l->n > 0) {
                int64_t left = window_us - (lgw_mono_us() - l->opened_us);
                if (left <= 0)
                    break;
                wait_ms = (int)(left / 1000) + 1;
            } else
                idle_check(l);
            rd_kafka_message_t *msg = rd_kafka_consumer_poll(l->consumer, wait_ms);
            if (msg)
                consume(l, msg);
        }
        flush(l);
    }
    flush(l); /* *stop is set: bounded by shutdown_grace_ms */
    end_spans(l, 0, l->n, false);
    l->n = 0; /* what could not be written stays uncommitted in Kafka */
    close_consumer(l);
    return LGW_OK;
}

bool lgw_ledger_ready_cb(void *ledger)
{
    struct lgw_ledger *l = ledger;
    return atomic_load(&l->db_ok) && atomic_load(&l->kafka_up) && atomic_load(&l->in_group);
}

void lgw_ledger_free(struct lgw_ledger *l)
{
    if (!l)
        return;
    atomic_store(&l->stop_bg, true);
    if (l->health_started)
        pthread_join(l->health, NULL);
    end_spans(l, 0, l->n, false);
    l->n = 0; /* never written, never committed: Kafka delivers them again */
    close_consumer(l);
    lgw_kafka_consumer_destroy(l->consumer, l->closed_how);
    lgw_ledger_db_close(l->db);
    lgw_ledger_spend_free(l->spend);
    lgw_kafka_lag_free(l->lag);
    free(l->batch);
    free(l);
}
