/* topics.c - the topic table (see topics.h). */
#include "common/topics.h"

#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "common/kafka.h"
#include "common/log.h"

/* Why these shapes:
 * - jobs and cost events spread over kafka_partitions, keyed by request id, so one request's messages stay
 *   in order on one partition (the ledger's rerun flag relies on it);
 * - a reply topic has one partition: its ingress reads it with assign() at its end, and all replies of a
 *   job (stream chunks, then the final reply) arrive in order from one producer;
 * - cancel has one partition: every worker reads all of it from its end, and a cancel must never land on a
 *   partition nobody reads (dev once made it with kafka_partitions, and lost three cancels in four);
 * - spend and tenants are compacted, one partition each: every ingress replays the whole topic at start (the
 *   last value per key) and then follows it, and one partition keeps each key's records in write order;
 * - audit is never deleted: it is the record of who changed what;
 * - providers is compacted on one partition too (the ingress replays it at start), but it is rewritten every
 *   few seconds by every worker: short segments and a low dirty ratio let compaction keep up (otherwise the
 *   active segment, a week by default, holds every status ever sent, and an ingress replays all of it), and
 *   "delete" with a day's retention drops the last record of a worker killed without its tombstone (a
 *   worker's default id is hostname-pid, new at every start). Readers ignore records older than three of
 *   their intervals anyway; the ingress creates it too, so its reader finds it before the first worker;
 * - replication and min.insync.replicas are the same for every topic (kafka_replication_factor,
 *   kafka_min_insync_replicas; the broker's defaults unless set): a reply or a cost event is worth as much
 *   as the job it answers, so no topic is allowed fewer copies than another;
 * - batch lines travel on topics of their own, so a worker can give them a bounded share of itself and an
 *   interactive job never queues behind a million lines in one partition (docs/BATCH.md); the ingress
 *   creates them (and the results topic) too, since POST /v1/batches submits from there;
 * - batch results spread over kafka_partitions; a batch's submitter puts every line's reply_to on one
 *   partition chosen from the batch id (lgw_batch_results_partition), so one batch role consumer sees all of
 *   a batch's results, and the record key is the batch id;
 * - batches is compacted on one partition: the last record per batch is its state, and every worker replays
 *   it to know which batches were cancelled. */
static const struct lgw_topic_spec table[LGW_TOPIC__COUNT] = {
    {LGW_TOPIC_JOBS_CHAT, "jobs.chat", 0, -1, 0, LGW_ROLE_INGRESS | LGW_ROLE_WORKER, NULL, "request id",
     "job (schemas/job.schema.json), kind chat"},
    {LGW_TOPIC_JOBS_EMBEDDINGS, "jobs.embeddings", 0, -1, 0, LGW_ROLE_INGRESS | LGW_ROLE_WORKER, NULL, "request id",
     "job (schemas/job.schema.json), kind embeddings"},
    {LGW_TOPIC_REPLIES, "replies", 1, -1, 0, LGW_ROLE_INGRESS, NULL, "request id",
     "reply (schemas/reply.schema.json): stream chunks, then one final reply"},
    {LGW_TOPIC_COST, "cost", 0, -1, 0, LGW_ROLE_WORKER | LGW_ROLE_LEDGER, NULL, "request id",
     "cost event (schemas/cost_event.schema.json)"},
    {LGW_TOPIC_DLQ, "jobs.dlq", 0, -1, 0, LGW_ROLE_WORKER, NULL, "\"dlq\"",
     "dead letter (schemas/dead_letter.schema.json)"},
    {LGW_TOPIC_CANCEL, "cancel", 1, -1, 0, LGW_ROLE_INGRESS | LGW_ROLE_WORKER, NULL, "request id",
     "cancel (schemas/cancel.schema.json): the streaming client left"},
    {LGW_TOPIC_SPEND, "spend", 1, -1, 0, LGW_ROLE_INGRESS | LGW_ROLE_LEDGER | LGW_ROLE_WORKER, "cleanup.policy=compact",
     "scope and period (\"tenant:acme|day:2026-12-02\")",
     "running spend (schemas/spend.schema.json): the ledger's total for one tenant or key and one UTC day or month"},
    {LGW_TOPIC_TENANTS, "tenants", 1, -1, 0, LGW_ROLE_INGRESS | LGW_ROLE_WORKER, "cleanup.policy=compact",
     "\"tenant:<name>\" or \"key:<id>\"",
     "tenant or key settings (schemas/tenant_record.schema.json), the whole current value"},
    {LGW_TOPIC_AUDIT, "audit", 1, -1, 0, LGW_ROLE_INGRESS | LGW_ROLE_LEDGER, "retention.ms=-1", "change id",
     "audit record (schemas/audit.schema.json): one admin change"},
    {LGW_TOPIC_PROVIDERS, "providers", 1, -1, 0, LGW_ROLE_WORKER | LGW_ROLE_INGRESS,
     "cleanup.policy=compact,delete;retention.ms=86400000;segment.ms=600000;min.cleanable.dirty.ratio=0.1",
     "worker id",
     "provider status (schemas/provider_status.schema.json): one worker's breakers, latency and counts per model"},
    {LGW_TOPIC_BATCH_JOBS_CHAT, "batch.jobs.chat", 0, -1, 0, LGW_ROLE_INGRESS | LGW_ROLE_WORKER | LGW_ROLE_BATCH, NULL,
     "\"<tenant>|<index mod 4>\" (lgw_batch_line_key)",
     "job (schemas/job.schema.json) with a \"batch\" part, kind chat"},
    {LGW_TOPIC_BATCH_JOBS_EMBEDDINGS, "batch.jobs.embeddings", 0, -1, 0,
     LGW_ROLE_INGRESS | LGW_ROLE_WORKER | LGW_ROLE_BATCH, NULL, "\"<tenant>|<index mod 4>\" (lgw_batch_line_key)",
     "job (schemas/job.schema.json) with a \"batch\" part, kind embeddings"},
    {LGW_TOPIC_BATCH_RESULTS, "batch.results", 0, -1, 0, LGW_ROLE_INGRESS | LGW_ROLE_WORKER | LGW_ROLE_BATCH, NULL,
     "batch id",
     "reply (schemas/reply.schema.json) to a batch line, with the line's \"batch\" part"},
    {LGW_TOPIC_BATCHES, "batches", 1, -1, 0, LGW_ROLE_INGRESS | LGW_ROLE_WORKER | LGW_ROLE_BATCH,
     "cleanup.policy=compact", "batch id", "batch record (schemas/batch_record.schema.json): the batch's current state"},
};

const struct lgw_topic_spec *lgw_topic_spec(enum lgw_topic topic)
{
    return &table[topic < LGW_TOPIC__COUNT ? topic : 0];
}

void lgw_topic_name(const struct lgw_config *cfg, enum lgw_topic topic, const char *instance, char *out,
                    size_t outsz)
{
    const struct lgw_topic_spec *t = lgw_topic_spec(topic);
    if (topic == LGW_TOPIC_REPLIES)
        snprintf(out, outsz, "%s.%s.%s", cfg->topic_prefix, t->suffix, instance ? instance : "");
    else
        snprintf(out, outsz, "%s.%s", cfg->topic_prefix, t->suffix);
}

bool lgw_topic_may_reply_to(const struct lgw_config *cfg, const char *topic)
{
    /* Compared piece by piece, as lgw_topic_name spells them ("<prefix>.<suffix>"): every job is checked, and
     * formatting a dozen names for each cost more than the rest of the check. */
    size_t n = strlen(cfg->topic_prefix);
    if (strncmp(topic, cfg->topic_prefix, n) != 0 || topic[n] != '.')
        return true;
    for (int i = 0; i < LGW_TOPIC__COUNT; i++) {
        if (i == LGW_TOPIC_REPLIES || i == LGW_TOPIC_BATCH_RESULTS)
            continue;
        if (strcmp(topic + n + 1, table[i].suffix) == 0)
            return false;
    }
    return true;
}

int lgw_topic_partitions(const struct lgw_config *cfg, enum lgw_topic topic)
{
    const struct lgw_topic_spec *t = lgw_topic_spec(topic);
    return t->partitions > 0 ? t->partitions : (int)cfg->kafka_partitions;
}

int lgw_topic_replication(const struct lgw_config *cfg, enum lgw_topic topic)
{
    const struct lgw_topic_spec *t = lgw_topic_spec(topic);
    return t->replication_factor > 0 ? t->replication_factor : (int)cfg->kafka_replication_factor;
}

int lgw_topic_min_insync(const struct lgw_config *cfg, enum lgw_topic topic)
{
    const struct lgw_topic_spec *t = lgw_topic_spec(topic);
    return t->min_insync > 0 ? t->min_insync : (int)cfg->kafka_min_insync_replicas;
}

int lgw_topics_ensure(rd_kafka_t *rk, const struct lgw_config *cfg, unsigned role, const char *instance,
                      int timeout_ms)
{
    char names[LGW_TOPIC__COUNT][256];
    const char *pnames[LGW_TOPIC__COUNT];
    int parts[LGW_TOPIC__COUNT], repl[LGW_TOPIC__COUNT], isr[LGW_TOPIC__COUNT];
    const char *conf[LGW_TOPIC__COUNT];
    size_t n = 0;
    for (int i = 0; i < LGW_TOPIC__COUNT; i++) {
        if (!(table[i].creators & role))
            continue;
        lgw_topic_name(cfg, table[i].topic, instance, names[n], sizeof(names[n]));
        pnames[n] = names[n];
        parts[n] = lgw_topic_partitions(cfg, table[i].topic);
        repl[n] = lgw_topic_replication(cfg, table[i].topic);
        isr[n] = lgw_topic_min_insync(cfg, table[i].topic);
        conf[n] = table[i].config;
        n++;
    }
    return n ? lgw_kafka_create_topics(rk, cfg, pnames, parts, repl, isr, conf, n, timeout_ms) : LGW_OK;
}

int lgw_topics_create_mock(rd_kafka_mock_cluster_t *mcluster, const struct lgw_config *cfg, const char *instance)
{
    for (int i = 0; i < LGW_TOPIC__COUNT; i++) {
        char name[256];
        lgw_topic_name(cfg, table[i].topic, instance, name, sizeof(name));
        /* The mock cluster has one broker: one replica, whatever the table asks of a real cluster. */
        if (rd_kafka_mock_topic_create(mcluster, name, lgw_topic_partitions(cfg, table[i].topic), 1)) {
            LGW_ERROR("kafka", "mock cluster: cannot create topic %s", name);
            return LGW_ERR(INTERNAL);
        }
    }
    return LGW_OK;
}
