/* topics.h - the one table of llmgw's Kafka topics: name, partitions, replication, min.insync.replicas,
 * which roles create each, and what travels on it. Every role creates its topics from this table, `llmgw
 * dev` creates every topic on its mock cluster from it, and readers take a topic's partition count from
 * it, so a writer and a reader can never disagree about a topic's shape.
 *
 * Names are "<topic_prefix>.<suffix>"; the reply topic adds ".<ingress id>". */
#ifndef LGW_TOPICS_H
#define LGW_TOPICS_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"

enum lgw_topic {
    LGW_TOPIC_JOBS_CHAT,
    LGW_TOPIC_JOBS_EMBEDDINGS,
    LGW_TOPIC_REPLIES, /* one per ingress instance */
    LGW_TOPIC_COST,
    LGW_TOPIC_DLQ,
    LGW_TOPIC_CANCEL,
    LGW_TOPIC_SPEND,   /* compacted: running spend per tenant and key per UTC day and month */
    LGW_TOPIC_TENANTS, /* compacted: tenant and key settings changed through the admin API */
    LGW_TOPIC_AUDIT,   /* every admin change (who, what, when), kept forever */
    LGW_TOPIC_PROVIDERS, /* compacted: each worker's view of its providers (breakers, latency, counts) */
    LGW_TOPIC_BATCH_JOBS_CHAT,       /* batch lines: jobs like the interactive ones, on topics of their own */
    LGW_TOPIC_BATCH_JOBS_EMBEDDINGS,
    LGW_TOPIC_BATCH_RESULTS,         /* the workers' replies to batch lines, the partition chosen by batch id */
    LGW_TOPIC_BATCHES,               /* compacted: each batch's record (created, submitted, cancelling) */
    LGW_TOPIC__COUNT
};

/* Roles, as the creators column's bits. */
#define LGW_ROLE_INGRESS 1u
#define LGW_ROLE_WORKER 2u
#define LGW_ROLE_LEDGER 4u
#define LGW_ROLE_BATCH 8u

struct lgw_topic_spec {
    enum lgw_topic topic;
    const char *suffix;
    int partitions;         /* 0: the configured kafka_partitions */
    int replication_factor; /* -1: kafka_replication_factor (itself -1: the broker's default) */
    int min_insync;         /* min.insync.replicas; 0: kafka_min_insync_replicas (itself 0: the broker's) */
    unsigned creators;      /* LGW_ROLE_* bits: the roles that create it at start */
    const char *config;     /* NULL, or topic settings "name=value;name=value" (log compaction, retention) */
    const char *key;        /* what the record key is */
    const char *payload;    /* the message and its schema under schemas/ */
};

/* The row of topic. Static data; any thread. */
const struct lgw_topic_spec *lgw_topic_spec(enum lgw_topic topic);
/* The topic's full name into out; instance is the ingress id for LGW_TOPIC_REPLIES (ignored otherwise). */
void lgw_topic_name(const struct lgw_config *cfg, enum lgw_topic topic, const char *instance, char *out,
                    size_t outsz);
/* Whether a job may name topic as its reply_to: any topic but llmgw's own, except the ones replies go to (an
 * ingress's reply topic, the batch results). A job pointing its answer at the cost, spend, tenant or job topics
 * would have a worker write records their readers must not take as theirs. Any thread. */
bool lgw_topic_may_reply_to(const struct lgw_config *cfg, const char *topic);
/* The topic's partition count under cfg. */
int lgw_topic_partitions(const struct lgw_config *cfg, enum lgw_topic topic);
/* The replication factor the topic is created with under cfg: its row's, else kafka_replication_factor
 * (-1: the broker's default). */
int lgw_topic_replication(const struct lgw_config *cfg, enum lgw_topic topic);
/* Its min.insync.replicas under cfg: its row's, else kafka_min_insync_replicas (0: the broker's default). */
int lgw_topic_min_insync(const struct lgw_config *cfg, enum lgw_topic topic);
/* Creates (if missing) every topic whose creators include role; instance names this ingress's reply topic.
 * Through rk's admin API; a no-op on the dev mock cluster. Returns 0 or LGW_ERR(UNAVAILABLE/CONFIG). */
int lgw_topics_ensure(rd_kafka_t *rk, const struct lgw_config *cfg, unsigned role, const char *instance,
                      int timeout_ms);
/* Creates every topic of the table on librdkafka's mock cluster (`llmgw dev`), the reply topic for
 * instance. Returns 0 or LGW_ERR(INTERNAL). */
int lgw_topics_create_mock(rd_kafka_mock_cluster_t *mcluster, const struct lgw_config *cfg, const char *instance);

#endif
