/* runner.c - the batch role's loop (see runner.h).
 *
 * Order of durability, as in the ledger: a batch of messages is committed in the database first and its
 * Kafka offsets second. A crash between the two replays messages the store already holds, and every write
 * of the store is idempotent (ON CONFLICT on (batch_id, idx) and run_id; records only move a batch forward).
 * Everything here runs on the thread that calls lgw_batch_runner_run, the rebalance callback included. */
#include "batch/runner.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch/store.h"
#include "common/batch_record.h"
#include "common/clock.h"
#include "common/envelope.h"
#include "common/errors.h"
#include "common/kafka.h"
#include "common/kafka_assign.h"
#include "common/kafka_close.h"
#include "common/kafka_lag.h"
#include "common/log.h"
#include "common/topics.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define IDLE_POLL_MS 100
/* The bound on leaving the group at stop (lgw_kafka_consumer_close_within). */
#define CLOSE_WAIT_MS 5000
/* The bound on looking up where assigned partitions start (both lookups; past it librdkafka looks them up). */
#define OFFSET_LOOKUP_MS 5000
/* The deadlines are seconds apart (expires_at is in seconds): a sweep every few seconds is prompt enough. */
#define SWEEP_EVERY_US (5 * 1000000LL)
/* Retention works in days: once an hour. */
#define PURGE_EVERY_US (3600 * 1000000LL)
/* A revoke gives the database a few quick tries, then leaves the messages to the next owner. */
#define REVOKE_ATTEMPTS 3

/* One consumed message, decoded on arrival (a bad one is logged once, not on every retry). */
struct item {
    int topic; /* 0: batch results, 1: batches */
    int32_t partition;
    int64_t offset;
    bool valid;
    struct lgw_reply reply;      /* topic 0 */
    struct lgw_batch_record rec; /* topic 1 */
};

struct lgw_batch_runner {
    const struct lgw_config *cfg;
    struct lgw_metrics *m;
    struct lgw_kafka_lag *lag;
    char group[128];
    char topics[2][LGW_TOPIC_MAX];
    rd_kafka_t *consumer;
    struct lgw_batch_store *st; /* NULL after a failure, until the next attempt reopens it */
    struct item *items;
    size_t n, alloc;
    int64_t opened_us, last_sweep_us, last_purge_us;
    bool paused, closed;
    bool assigned;                   /* the group has given this member an assignment (maybe empty) */
    enum lgw_kafka_close closed_how; /* how the close ended: how the consumer is destroyed */
    const atomic_bool *stop;
    atomic_bool never_stop;
    atomic_bool db_ok, kafka_up, stop_bg;
    pthread_t health;
    bool health_started;
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void item_cleanup(struct item *it)
{
    if (it->topic == 0)
        lgw_reply_cleanup(&it->reply);
    else
        lgw_batch_record_cleanup(&it->rec);
}

static void drop_items(struct lgw_batch_runner *r, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        item_cleanup(&r->items[i]);
}

static void add_message(struct lgw_batch_runner *r, const rd_kafka_message_t *msg)
{
    if (r->n == r->alloc) {
        r->alloc = r->alloc ? r->alloc * 2 : 64;
        r->items = lgw_realloc(r->items, r->alloc * sizeof(*r->items));
    }
    struct item *it = &r->items[r->n];
    memset(it, 0, sizeof(*it));
    char why[256];
    const char *topic = rd_kafka_topic_name(msg->rkt);
    it->topic = strcmp(topic, r->topics[0]) == 0 ? 0 : 1;
    it->partition = msg->partition;
    it->offset = msg->offset;
    const void *data = msg->payload ? msg->payload : "";
    if (it->topic == 0) {
        it->valid = lgw_reply_decode(data, msg->len, &it->reply, why, sizeof(why)) == 0;
        if (it->valid && (!it->reply.batch.id[0] || it->reply.batch.index < 0)) {
            snprintf(why, sizeof(why), "a reply without its batch part");
            it->valid = false;
        }
    } else if (msg->payload) {
        it->valid = lgw_batch_record_decode(data, msg->len, &it->rec, why, sizeof(why)) == 0;
    } else {
        snprintf(why, sizeof(why), "a tombstone");
    }
    if (!it->valid) {
        /* The reason only: a payload is not ours to print. Skipped; its offset commits with the batch. */
        LGW_WARN("batch", "skipping a message at %s [%d] offset %lld: %s", topic, (int)msg->partition,
                 (long long)msg->offset, why);
        lgw_metrics_add(r->m, "llmgw_batch_invalid_messages_total", NULL, 1);
    }
    if (r->n++ == 0)
        r->opened_us = lgw_mono_us();
}

static void consume(struct lgw_batch_runner *r, rd_kafka_message_t *msg)
{
    if (msg->err) {
        if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            LGW_WARN("batch", "consume: %s", rd_kafka_message_errstr(msg));
    } else
        add_message(r, msg);
    rd_kafka_message_destroy(msg);
}

/* The index of id in the set touched[0..*n), added when missing (a flush touches a few batches: linear is
 * fine). */
static size_t touch(const char **touched, size_t *n, const char *id)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(touched[i], id) == 0)
            return i;
    touched[*n] = id;
    return (*n)++;
}

/* One transaction for every item held. Returns 0 or LGW_ERR(DB). */
static int write_items(struct lgw_batch_runner *r, int64_t *kept, int64_t *dups)
{
    int rc;
    int64_t now = lgw_wall_ms();
    size_t valid = 0, ntouched = 0;
    *kept = *dups = 0;
    for (size_t i = 0; i < r->n; i++)
        valid += r->items[i].valid;
    if (valid == 0)
        return LGW_OK;
    if (!r->st && (rc = lgw_batch_store_open(r->cfg->database_url, &r->st)))
        return rc;
    const char **touched = lgw_calloc(r->n, sizeof(*touched));
    struct lgw_batch_delta *deltas = lgw_calloc(r->n, sizeof(*deltas)); /* per touched batch */
    if ((rc = lgw_batch_store_begin(r->st)))
        goto out;
    for (size_t i = 0; i < r->n && rc == 0; i++) {
        struct item *it = &r->items[i];
        if (!it->valid)
            continue;
        if (it->topic == 1) {
            rc = lgw_batch_store_apply_record(r->st, &it->rec, now);
            deltas[touch(touched, &ntouched, it->rec.id)].recount = true;
            continue;
        }
        if (!it->reply.final)
            continue; /* batch lines are not streamed; a chunk has nothing to keep */
        bool k, counted;
        size_t b = touch(touched, &ntouched, it->reply.batch.id);
        rc = lgw_batch_store_add_result(r->st, &it->reply, r->cfg->batch_max_result_bytes, now, &k, &counted,
                                        &deltas[b]);
        *kept += k;
        *dups += !k;
    }
    /* A batch whose record came in this flush is counted from its rows: applying the record recounted it
     * (results may come before their batch's record), and a delta on top would count this flush's twice. */
    for (size_t i = 0; i < ntouched && rc == 0; i++)
        rc = deltas[i].recount ? lgw_batch_store_refresh(r->st, touched[i], now)
                               : lgw_batch_store_add_counts(r->st, touched[i], &deltas[i], now);
    if (rc == 0)
        rc = lgw_batch_store_commit(r->st);
    if (rc)
        lgw_batch_store_rollback(r->st);
out:
    free(touched);
    free(deltas);
    return rc;
}

static void commit_offsets(struct lgw_batch_runner *r)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < r->n; i++) {
        const struct item *it = &r->items[i];
        const char *topic = r->topics[it->topic];
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(list, topic, it->partition);
        if (!p)
            p = rd_kafka_topic_partition_list_add(list, topic, it->partition);
        if (it->offset + 1 > p->offset)
            p->offset = it->offset + 1;
    }
    /* Bounded (lgw_kafka_commit_within), as the ledger's: a coordinator away would hold the loop and a stop. */
    rd_kafka_resp_err_t err = lgw_kafka_commit_within(r->consumer, list, CLOSE_WAIT_MS);
    if (err) /* the rows are in; a replay after this changes nothing */
        LGW_WARN("batch", "offset commit: %s", rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(list);
}

static int try_flush(struct lgw_batch_runner *r)
{
    int64_t kept, dups;
    int rc = write_items(r, &kept, &dups);
    if (rc) {
        atomic_store(&r->db_ok, false);
        lgw_metrics_add(r->m, "llmgw_batch_db_errors_total", NULL, 1);
        lgw_batch_store_close(r->st);
        r->st = NULL;
        return rc;
    }
    atomic_store(&r->db_ok, true);
    lgw_metrics_add(r->m, "llmgw_batch_results_total", "result=\"kept\"", kept);
    lgw_metrics_add(r->m, "llmgw_batch_results_total", "result=\"duplicate\"", dups);
    commit_offsets(r);
    drop_items(r, 0, r->n);
    r->n = 0;
    return LGW_OK;
}

static void set_paused(struct lgw_batch_runner *r, bool pause)
{
    if (r->paused == pause)
        return;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(r->consumer, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts) {
        if (pause)
            rd_kafka_pause_partitions(r->consumer, parts);
        else
            rd_kafka_resume_partitions(r->consumer, parts);
    }
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    r->paused = pause;
}

/* Writes what is held, retrying with capped backoff while the database is down; polls meanwhile with the
 * assignment paused (rebalances are served, the group keeps us). After *stop it gives up after
 * shutdown_grace_ms: the messages stay uncommitted in Kafka. */
static void flush(struct lgw_batch_runner *r)
{
    int backoff = BACKOFF_MIN_MS;
    int64_t give_up_us = 0;
    while (r->n > 0) {
        if (try_flush(r) == 0)
            break;
        int64_t now = lgw_mono_us();
        if (atomic_load(r->stop)) {
            if (!give_up_us)
                give_up_us = now + r->cfg->shutdown_grace_ms * 1000;
            if (now >= give_up_us) {
                LGW_WARN("batch", "stopping with %zu message(s) not written; their offsets stay uncommitted", r->n);
                break;
            }
        }
        LGW_WARN("batch", "database write of %zu message(s) failed; retrying in %d ms", r->n, backoff);
        set_paused(r, true);
        int64_t until = now + backoff * 1000LL;
        while ((now = lgw_mono_us()) < until) {
            rd_kafka_message_t *msg = rd_kafka_consumer_poll(r->consumer, IDLE_POLL_MS);
            if (msg)
                consume(r, msg);
        }
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    set_paused(r, false);
}

static void flush_revoked(struct lgw_batch_runner *r, const rd_kafka_topic_partition_list_t *parts)
{
    int backoff = BACKOFF_MIN_MS;
    for (int attempt = 1; r->n > 0; attempt++) {
        if (try_flush(r) == 0)
            return;
        if (attempt == REVOKE_ATTEMPTS)
            break;
        sleep_ms(backoff);
        backoff *= 4;
    }
    /* Keep the messages of partitions we keep: dropping them would let a later commit skip them. */
    size_t kept = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (!rd_kafka_topic_partition_list_find(parts, r->topics[r->items[i].topic], r->items[i].partition))
            r->items[kept++] = r->items[i];
        else
            item_cleanup(&r->items[i]);
    }
    if (kept < r->n)
        LGW_WARN("batch", "database unavailable during rebalance: %zu message(s) left to the next owner", r->n - kept);
    r->n = kept;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct lgw_batch_runner *r = opaque;
    bool coop = lgw_kafka_rebalance_cooperative(rk);
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    switch (err) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        LGW_INFO("batch", "assigned %d partition(s)", parts->cnt);
        r->assigned = true; /* its SyncGroup answered: the consumer can be destroyed (common/kafka_close.h) */
        /* Absolute offsets, looked up before the assign: no 100 ms reset back-off on a partition without a
         * committed offset, no lookup behind the first held fetch (common/kafka_assign.h). */
        lgw_kafka_committed_starts(rk, parts, OFFSET_LOOKUP_MS);
        if (coop)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, parts);
        if (r->paused)
            rd_kafka_pause_partitions(rk, parts);
        else
            rd_kafka_resume_partitions(rk, parts);
        break;
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        flush_revoked(r, parts);
        LGW_INFO("batch", "revoked %d partition(s)", parts->cnt);
        if (coop)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, NULL);
        break;
    default:
        LGW_ERROR("batch", "rebalance failed: %s", rd_kafka_err2str(err));
        aerr = rd_kafka_assign(rk, NULL);
        break;
    }
    if (error) {
        LGW_ERROR("batch", "rebalance: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
    if (aerr)
        LGW_ERROR("batch", "rebalance: %s", rd_kafka_err2str(aerr));
}

/* The deadlines and retention, when due. A failure is retried at the next turn. */
static void housekeeping(struct lgw_batch_runner *r)
{
    int64_t now_us = lgw_mono_us();
    if (now_us - r->last_sweep_us < SWEEP_EVERY_US)
        return;
    r->last_sweep_us = now_us;
    if (!r->st && lgw_batch_store_open(r->cfg->database_url, &r->st)) {
        atomic_store(&r->db_ok, false);
        return;
    }
    int64_t finished = 0, deleted = 0, now = lgw_wall_ms();
    int rc = lgw_batch_store_sweep(r->st, now, r->cfg->batch_expiry_grace_s, r->cfg->batch_cancel_grace_s, &finished);
    lgw_metrics_add(r->m, "llmgw_batch_swept_total", NULL, finished);
    if (rc == 0 && (r->last_purge_us == 0 || now_us - r->last_purge_us >= PURGE_EVERY_US)) {
        rc = lgw_batch_store_purge(r->st, now - r->cfg->batch_retention_days * 86400000LL, &deleted);
        if (rc == 0)
            r->last_purge_us = now_us;
        if (deleted)
            LGW_INFO("batch", "retention: deleted %lld batch(es) older than %lld days", (long long)deleted,
                     (long long)r->cfg->batch_retention_days);
    }
    if (rc) {
        lgw_batch_store_close(r->st);
        r->st = NULL;
    }
    atomic_store(&r->db_ok, rc == 0);
}

static void close_consumer(struct lgw_batch_runner *r)
{
    lgw_kafka_lag_stop(r->lag); /* it reads the consumer */
    if (!r->consumer || r->closed)
        return;
    r->closed = true;
    r->closed_how =
        lgw_kafka_consumer_close_within(r->consumer, CLOSE_WAIT_MS, rebalance_cb, &r->assigned);
}

int lgw_batch_runner_new(const struct lgw_config *cfg, struct lgw_metrics *m, struct lgw_batch_runner **out)
{
    int rc;
    struct lgw_batch_runner *r = lgw_calloc(1, sizeof(*r));
    r->cfg = cfg;
    r->m = m;
    r->stop = &r->never_stop;
    *out = NULL;
    lgw_metrics_declare(m, "llmgw_batch_results_total", LGW_METRIC_COUNTER,
                        "Batch line results stored (kept: the line's first) or not (duplicate: a redelivery or rerun).");
    lgw_metrics_declare(m, "llmgw_batch_db_errors_total", LGW_METRIC_COUNTER, "Failed batch store transactions.");
    lgw_metrics_declare(m, "llmgw_batch_invalid_messages_total", LGW_METRIC_COUNTER,
                        "Undecodable batch records and results skipped.");
    lgw_metrics_declare(m, "llmgw_batch_swept_total", LGW_METRIC_COUNTER,
                        "Batches finished by the deadline sweep (expired, or cancelled after the grace).");
    r->lag = lgw_kafka_lag_new(m, "batch");
    /* Fail fast on a bad URL, a refused login or a database gone again since the role waited for its server
     * (cmd/roles.c, common/pg_wait.h); later outages are retried. */
    if ((rc = lgw_batch_store_open(cfg->database_url, &r->st)))
        goto fail;
    atomic_store(&r->db_ok, true);
    snprintf(r->group, sizeof(r->group), "%s-batch", cfg->topic_prefix);
    lgw_topic_name(cfg, LGW_TOPIC_BATCH_RESULTS, NULL, r->topics[0], sizeof(r->topics[0]));
    lgw_topic_name(cfg, LGW_TOPIC_BATCHES, NULL, r->topics[1], sizeof(r->topics[1]));
    /* A new group starts at the earliest offsets (common/kafka.c): the batches topic from its beginning. */
    if ((rc = lgw_kafka_consumer_new(cfg, "llmgw-batch", r->group, false, 0, rebalance_cb, r, &r->consumer)))
        goto fail;
    if ((rc = lgw_topics_ensure(r->consumer, cfg, LGW_ROLE_BATCH, NULL, 10000)))
        goto fail;
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(sub, r->topics[0], RD_KAFKA_PARTITION_UA);
    rd_kafka_topic_partition_list_add(sub, r->topics[1], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(r->consumer, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err) {
        LGW_ERROR("batch", "subscribe: %s", rd_kafka_err2str(err));
        rc = LGW_ERR(UNAVAILABLE);
        goto fail;
    }
    if ((rc = lgw_kafka_health_start(r->consumer, &r->kafka_up, &r->stop_bg, 1000, &r->health)))
        goto fail;
    r->health_started = true;
    LGW_INFO("batch", "batch role consuming %s and %s as group %s", r->topics[0], r->topics[1], r->group);
    *out = r;
    return LGW_OK;
fail:
    lgw_batch_runner_free(r);
    return rc;
}

int lgw_batch_runner_run(struct lgw_batch_runner *r, const atomic_bool *stop)
{
    size_t batch_max = (size_t)r->cfg->ledger_batch_max;
    int64_t window_us = r->cfg->ledger_batch_ms * 1000;
    r->stop = stop;
    lgw_kafka_lag_start(r->lag, r->consumer);
    while (!atomic_load(stop)) {
        while (r->n < batch_max && !atomic_load(stop)) {
            int wait_ms = IDLE_POLL_MS;
            if (r->n > 0) {
                int64_t left = window_us - (lgw_mono_us() - r->opened_us);
                if (left <= 0)
                    break;
                wait_ms = (int)(left / 1000) + 1;
            } else
                housekeeping(r);
            rd_kafka_message_t *msg = rd_kafka_consumer_poll(r->consumer, wait_ms);
            if (msg)
                consume(r, msg);
        }
        flush(r);
    }
    flush(r);
    drop_items(r, 0, r->n);
    r->n = 0;
    close_consumer(r);
    return LGW_OK;
}

bool lgw_batch_runner_ready_cb(void *runner)
{
    struct lgw_batch_runner *r = runner;
    return atomic_load(&r->db_ok) && atomic_load(&r->kafka_up);
}

void lgw_batch_runner_free(struct lgw_batch_runner *r)
{
    if (!r)
        return;
    atomic_store(&r->stop_bg, true);
    if (r->health_started)
        pthread_join(r->health, NULL);
    drop_items(r, 0, r->n);
    r->n = 0;
    close_consumer(r);
    lgw_kafka_consumer_destroy(r->consumer, r->closed_how);
    lgw_batch_store_close(r->st);
    lgw_kafka_lag_free(r->lag);
    free(r->items);
    free(r);
}
