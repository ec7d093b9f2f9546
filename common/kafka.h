/* kafka.h - one place that configures librdkafka clients the way llmgw needs them.
 *
 * Every client gets: the bootstrap servers, Nagle off (librdkafka 2.0.2 leaves it on, which costs ~40 ms
 * per small request), librdkafka's logs routed into our JSON logger, and low-latency fetch settings. */
#ifndef LGW_KAFKA_H
#define LGW_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Topic suffixes under cfg->topic_prefix. */
#define LGW_TOPIC_JOBS_CHAT "jobs.chat"
#define LGW_TOPIC_JOBS_EMBEDDINGS "jobs.embeddings"
#define LGW_TOPIC_COST "cost"
#define LGW_TOPIC_DLQ "jobs.dlq"
#define LGW_TOPIC_CANCEL "cancel" /* ingress -> workers: the client of this request left */
#define LGW_TOPIC_REPLIES "replies" /* + "." + ingress id */

/* Returns a new conf (caller owns; rd_kafka_new takes it) with the common settings for client_id.
 * Settings that fail to apply are logged and reported as NULL. */
rd_kafka_conf_t *lgw_kafka_conf_new(const struct lgw_config *cfg, const char *client_id);
/* Sets one property; logs and returns LGW_ERR(CONFIG) on failure. */
int lgw_kafka_set(rd_kafka_conf_t *conf, const char *key, const char *val);

/* Idempotent, acks=all producer with message.timeout.ms from config and the given linger: 0 for the
 * synchronous path (a client waits on every message), more where messages may wait to be batched (cost
 * events). dr_cb runs on whatever thread calls rd_kafka_poll() on the producer. *out is owned by the
 * caller (rd_kafka_destroy after rd_kafka_flush). */
int lgw_kafka_producer_new(const struct lgw_config *cfg, const char *client_id, int64_t linger_ms,
                           void (*dr_cb)(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque),
                           void *opaque, rd_kafka_t **out);

/* Consumer with enable.auto.offset.store=false (callers store offsets when work is really done) and
 * auto-commit of stored offsets when auto_commit is true. The main queue is redirected to the consumer
 * queue, so rd_kafka_consumer_poll serves every callback. rebalance_cb may be NULL. */
int lgw_kafka_consumer_new(const struct lgw_config *cfg, const char *client_id, const char *group_id,
                           bool auto_commit,
                           void (*rebalance_cb)(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                                rd_kafka_topic_partition_list_t *parts, void *opaque),
                           void *opaque, rd_kafka_t **out);

/* Creates the topics "<prefix>.<suffix>" that do not exist yet, with partitions[i] partitions
 * (replication factor 1 on a one-node cluster; see the code). In dev mode (mock cluster, no admin API)
 * it creates nothing: dev creates its topics on the mock cluster itself. Returns 0 or LGW_ERR(UNAVAILABLE). */
int lgw_kafka_ensure_topics(rd_kafka_t *rk, const struct lgw_config *cfg, const char *const *suffixes,
                            const int *partitions, size_t n, int timeout_ms);

/* True when the cluster answered a metadata request within timeout_ms. */
bool lgw_kafka_reachable(rd_kafka_t *rk, int timeout_ms);

/* Background probe: every interval_ms asks the cluster for metadata through rk and stores the answer in
 * *up, until *stop. Readiness checks and fast 503s read *up instead of blocking on the network.
 * Returns 0 or LGW_ERR(INTERNAL); join the thread with pthread_join. */
int lgw_kafka_health_start(rd_kafka_t *rk, atomic_bool *up, const atomic_bool *stop, int interval_ms,
                           pthread_t *thread);

/* Finds a header value (not NUL-terminated) on a message; returns 0 or LGW_ERR(NOT_FOUND). */
int lgw_kafka_header(const rd_kafka_message_t *msg, const char *name, const void **val, size_t *len);

#endif
