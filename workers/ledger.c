/* ledger.c - cost events from Kafka to the database (see ledger.h). */
#include "ledger.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "envelope.h"
#include "errors.h"
#include "kafka.h"
#include "ledger_db.h"
#include "log.h"

struct lgw_ledger {
    const struct lgw_config *cfg;
    struct lgw_metrics *m;
    rd_kafka_t *consumer;
    struct lgw_ledger_db *db;
    rd_kafka_message_t **batch; /* held until their events are committed in the database */
    size_t n, cap;
    const atomic_bool *stop; /* the run loop's stop flag, also seen by a flush retrying inside a rebalance */
    atomic_bool never_stop;
    atomic_bool db_ok, kafka_up, stop_bg;
    pthread_t health;
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void drop_batch(struct lgw_ledger *l)
{
    for (size_t i = 0; i < l->n; i++)
        rd_kafka_message_destroy(l->batch[i]);
    l->n = 0;
}

/* One database transaction for the whole batch. Returns 0 or LGW_ERR(DB). */
static int write_batch(struct lgw_ledger *l, int64_t *inserted, int64_t *duplicates, int64_t *invalid)
{
    *inserted = *duplicates = *invalid = 0;
    int rc = lgw_ledger_db_begin(l->db);
    if (rc)
        return rc;
    for (size_t i = 0; i < l->n; i++) {
        const rd_kafka_message_t *msg = l->batch[i];
        struct lgw_cost_event ev;
        char why[256];
        if (lgw_cost_event_decode(msg->payload, msg->len, &ev, why, sizeof(why))) {
            LGW_WARN("ledger", "skipping undecodable cost event at %s/%d@%lld: %s", rd_kafka_topic_name(msg->rkt),
                     (int)msg->partition, (long long)msg->offset, why);
            (*invalid)++;
            continue;
        }
        bool ins;
        if ((rc = lgw_ledger_db_insert(l->db, &ev, &ins))) {
            lgw_ledger_db_rollback(l->db);
            return rc;
        }
        if (ins)
            (*inserted)++;
        else
            (*duplicates)++;
    }
    if ((rc = lgw_ledger_db_commit(l->db))) {
        lgw_ledger_db_rollback(l->db);
        return rc;
    }
    return LGW_OK;
}

/* Commits, per partition, the offset after the last message of the batch. */
static void commit_offsets(struct lgw_ledger *l)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)l->n);
    for (size_t i = 0; i < l->n; i++) {
        const rd_kafka_message_t *msg = l->batch[i];
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(list, rd_kafka_topic_name(msg->rkt), msg->partition);
        if (!p)
            p = rd_kafka_topic_partition_list_add(list, rd_kafka_topic_name(msg->rkt), msg->partition);
        if (msg->offset + 1 > p->offset)
            p->offset = msg->offset + 1;
    }
    rd_kafka_resp_err_t err = rd_kafka_commit(l->consumer, list, 0);
    if (err)
        /* The rows are in the database; a redelivery after this is deduplicated on event_id. */
        LGW_WARN("ledger", "offset commit: %s", rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(list);
}

/* Writes the batch, retrying with capped backoff while the database is down; then commits offsets.
 * Gives up (offsets uncommitted, so the events come again) only when stopping. */
static void flush(struct lgw_ledger *l)
{
    int backoff = 100;
    while (l->n > 0) {
        int64_t start = lgw_mono_us(), inserted, duplicates, invalid;
        if (write_batch(l, &inserted, &duplicates, &invalid) == 0) {
            atomic_store(&l->db_ok, true);
            commit_offsets(l);
            lgw_metrics_add(l->m, "llmgw_ledger_events_total", "result=\"inserted\"", inserted);
            lgw_metrics_add(l->m, "llmgw_ledger_events_total", "result=\"duplicate\"", duplicates);
            lgw_metrics_add(l->m, "llmgw_ledger_invalid_events_total", NULL, invalid);
            lgw_metrics_add(l->m, "llmgw_ledger_batches_total", NULL, 1);
            lgw_metrics_observe(l->m, "llmgw_ledger_batch_seconds", NULL, (double)(lgw_mono_us() - start) / 1e6);
            LGW_DEBUG("ledger", "batch: %lld inserted, %lld duplicate, %lld invalid", (long long)inserted,
                      (long long)duplicates, (long long)invalid);
            drop_batch(l);
            return;
        }
        atomic_store(&l->db_ok, false);
        lgw_metrics_add(l->m, "llmgw_ledger_db_errors_total", NULL, 1);
        if (atomic_load(l->stop)) {
            LGW_WARN("ledger", "stopping with %zu event(s) not written; they stay in Kafka", l->n);
            drop_batch(l);
            return;
        }
        LGW_WARN("ledger", "database write failed; retrying in %d ms", backoff);
        sleep_ms(backoff);
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct lgw_ledger *l = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        LGW_INFO("ledger", "assigned %d partition(s)", parts->cnt);
        rd_kafka_assign(rk, parts);
        return;
    }
    /* Finish what we hold while we still own the partitions, so the next owner starts after it. */
    flush(l);
    LGW_INFO("ledger", "revoked %d partition(s)", parts->cnt);
    rd_kafka_assign(rk, NULL);
}

int lgw_ledger_new(const struct lgw_config *cfg, struct lgw_metrics *m, struct lgw_ledger **out)
{
    int rc;
    struct lgw_ledger *l = lgw_calloc(1, sizeof(*l));
    l->cfg = cfg;
    l->m = m;
    l->stop = &l->never_stop;
    l->cap = (size_t)cfg->ledger_batch_max;
    l->batch = lgw_calloc(l->cap, sizeof(*l->batch));
    *out = NULL;
    lgw_metrics_declare(m, "llmgw_ledger_events_total", LGW_METRIC_COUNTER,
                        "Cost events written (inserted) or already present (duplicate).");
    lgw_metrics_declare(m, "llmgw_ledger_batches_total", LGW_METRIC_COUNTER, "Database transactions committed.");
    lgw_metrics_declare(m, "llmgw_ledger_db_errors_total", LGW_METRIC_COUNTER, "Failed database transactions.");
    lgw_metrics_declare(m, "llmgw_ledger_invalid_events_total", LGW_METRIC_COUNTER, "Undecodable cost events skipped.");
    lgw_metrics_declare(m, "llmgw_ledger_batch_seconds", LGW_METRIC_HISTOGRAM, "Time to write one batch.");

    if ((rc = lgw_ledger_db_open(cfg->database_url, &l->db)))
        goto fail;
    atomic_store(&l->db_ok, true);
    char group[128], topic[LGW_TOPIC_MAX];
    snprintf(group, sizeof(group), "%s-ledger", cfg->topic_prefix);
    if ((rc = lgw_kafka_consumer_new(cfg, "llmgw-ledger", group, false, rebalance_cb, l, &l->consumer)))
        goto fail;
    const char *suffixes[] = {LGW_TOPIC_COST};
    int parts[] = {(int)cfg->kafka_partitions};
    if ((rc = lgw_kafka_ensure_topics(l->consumer, cfg, suffixes, parts, 1, 10000)))
        goto fail;
    lgw_config_topic(cfg, LGW_TOPIC_COST, topic, sizeof(topic));
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(l->consumer, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err) {
        LGW_ERROR("ledger", "subscribe %s: %s", topic, rd_kafka_err2str(err));
        rc = LGW_ERR(UNAVAILABLE);
        goto fail;
    }
    if ((rc = lgw_kafka_health_start(l->consumer, &l->kafka_up, &l->stop_bg, 1000, &l->health)))
        goto fail;
    LGW_INFO("ledger", "ledger consuming %s as group %s", topic, group);
    *out = l;
    return LGW_OK;
fail:
    lgw_ledger_free(l);
    return rc;
}

int lgw_ledger_run(struct lgw_ledger *l, const atomic_bool *stop)
{
    l->stop = stop;
    int64_t batch_us = l->cfg->ledger_batch_ms * 1000;
    while (!atomic_load(stop)) {
        /* Fill: the first event opens the batch window; it closes at ledger_batch_ms or when full. */
        int64_t opened = 0;
        while (l->n < l->cap && !atomic_load(stop)) {
            int wait_ms = 100;
            if (l->n > 0) {
                int64_t left = batch_us - (lgw_mono_us() - opened);
                if (left <= 0)
                    break;
                wait_ms = (int)(left / 1000) + 1;
            }
            rd_kafka_message_t *msg = rd_kafka_consumer_poll(l->consumer, wait_ms);
            if (!msg)
                continue;
            if (msg->err) {
                if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    LGW_WARN("ledger", "consume: %s", rd_kafka_message_errstr(msg));
                rd_kafka_message_destroy(msg);
                continue;
            }
            if (l->n == 0)
                opened = lgw_mono_us();
            l->batch[l->n++] = msg;
        }
        flush(l);
    }
    flush(l);
    rd_kafka_consumer_close(l->consumer); /* revokes (flushing, above: nothing is left) and leaves the group */
    drop_batch(l);
    return LGW_OK;
}

bool lgw_ledger_ready_cb(void *ledger)
{
    struct lgw_ledger *l = ledger;
    return atomic_load(&l->db_ok) && atomic_load(&l->kafka_up);
}

void lgw_ledger_free(struct lgw_ledger *l)
{
    if (!l)
        return;
    atomic_store(&l->stop_bg, true);
    if (l->health)
        pthread_join(l->health, NULL);
    drop_batch(l);
    if (l->consumer)
        rd_kafka_destroy(l->consumer);
    lgw_ledger_db_close(l->db);
    free(l->batch);
    free(l);
}
