/* kafka.h - one place that configures librdkafka clients the way llmgw needs them.
 *
 * Every client gets: the bootstrap servers, TLS and SASL as configured, Nagle off (librdkafka 2.0.2 leaves it on, which costs ~40 ms
 * per small request), librdkafka's logs routed into our JSON logger, low-latency fetch settings, and last the librdkafka properties
 * the user passes through (kafka_properties), so those win. */
#ifndef LGW_KAFKA_H
#define LGW_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"

/* Returns a new conf (caller owns; rd_kafka_new takes it) with the common settings for client_id, then TLS, SASL
 * and the user's pass-through properties (common/kafka_conf.h), the same for every client of every role.
 * Settings that fail to apply are logged (never a secret) and reported as NULL. */
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
/* The same, with librdkafka's error callback (RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, ...), served like dr_cb by
 * whatever thread polls the producer; error_cb may be NULL (then fatal errors are checked, the rest logged). */
int lgw_kafka_producer_new_err(const struct lgw_config *cfg, const char *client_id, int64_t linger_ms,
                               void (*dr_cb)(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque),
                               void (*error_cb)(rd_kafka_t *rk, int err, const char *reason, void *opaque),
                               void *opaque, rd_kafka_t **out);
/* The same (without error_cb), with every message it sends put on one partition of its topic, the one stick_to
 * hashes to, whatever the message's key (which it keeps): a lingering producer whose keys are all different
 * (cost events, keyed by job id) then sends one batch per linger window, not one per partition its keys hit.
 * The messages of one producer stay in order; while that partition has no leader they wait for one. stick_to
 * NULL: librdkafka's partitioner (by key), as lgw_kafka_producer_new. */
int lgw_kafka_producer_new_sticky(const struct lgw_config *cfg, const char *client_id, int64_t linger_ms,
                                  const char *stick_to,
                                  void (*dr_cb)(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque),
                                  void *opaque, rd_kafka_t **out);

/* An idempotent producer's fatal error (librdkafka 2.0.x raises one when a broker of a cluster dies under it:
 * "out of order sequence number" after NOT_ENOUGH_REPLICAS) fails every later produce on it, for good: a
 * worker would take jobs and answer none, an ingress refuse every request. So the first one logs, and calls the
 * hook, which stops the process (cmd/main.c: as SIGTERM does, then exit status 1) for a fresh one to take over;
 * the jobs it did not finish are not committed and run again elsewhere. Every producer made here checks its
 * errors with lgw_kafka_fatal_check; an owner's own error_cb must call it too.
 * set_fatal_hook: once, at start, before any client exists. fatal_check: from the error callback's thread;
 * returns true when err was the fatal error. fatal_seen: any thread. */
void lgw_kafka_set_fatal_hook(void (*hook)(const char *reason));
bool lgw_kafka_fatal_check(rd_kafka_t *rk, int err);
bool lgw_kafka_fatal_seen(void);

/* Consumer with enable.auto.offset.store=false (callers store offsets when work is really done) and
 * auto-commit of stored offsets when auto_commit is true. The main queue is redirected to the consumer
 * queue, so rd_kafka_consumer_poll serves every callback. rebalance_cb may be NULL.
 * batch_wait_ms 0: a fetch returns as soon as one message is there (jobs, replies: someone waits on them).
 * batch_wait_ms > 0: the broker holds each fetch up to that long unless 1 MiB is there, so a consumer of
 * events nobody waits on (the ledger) costs the broker one fetch per window, not one per message. A wait over
 * LGW_KAFKA_BATCH_WAIT_MAX_MS is cut to it. */
#define LGW_KAFKA_BATCH_WAIT_MAX_MS 10000
int lgw_kafka_consumer_new(const struct lgw_config *cfg, const char *client_id, const char *group_id,
                           bool auto_commit, int batch_wait_ms,
                           void (*rebalance_cb)(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                                rd_kafka_topic_partition_list_t *parts, void *opaque),
                           void *opaque, rd_kafka_t **out);

/* Consumer for a reader that assigns its partitions once and only follows them, never pausing one (a
 * compacted topic read into memory, an ingress's reply partition): no group is joined or committed (group_id is
 * only what librdkafka 2.0 requires). Its fetches wait lgw_kafka_follow_wait_ms. */
int lgw_kafka_follower_new(const struct lgw_config *cfg, const char *client_id, const char *group_id, void *opaque,
                           rd_kafka_t **out);

/* fetch.wait.max.ms of such a follower: kafka_follow_wait_ms, since a broker answers a waiting fetch as soon as
 * a record arrives on any partition in it; kafka_fetch_wait_ms on dev's mock cluster, which does not answer
 * early. Only for an assignment that never changes: a partition assigned or resumed later waits for the fetch
 * already in flight, which is why the group consumers (jobs, whose partitions pause) keep the short wait. */
int64_t lgw_kafka_follow_wait_ms(const struct lgw_config *cfg);

/* Creates the topics that do not exist yet: names[i] with partitions[i] partitions, replication[i] replicas
 * (-1: the broker's default), min.insync.replicas min_insync[i] (0: the broker's default) and configs[i] (NULL,
 * or topic settings "name=value" separated by ';'; configs itself may be NULL). Callers go
 * through the topic table (common/topics.h). In dev mode (mock cluster, no admin API) it creates nothing:
 * dev creates its topics on the mock cluster itself. Returns 0 or LGW_ERR(UNAVAILABLE). */
int lgw_kafka_create_topics(rd_kafka_t *rk, const struct lgw_config *cfg, const char *const *names,
                            const int *partitions, const int *replication, const int *min_insync,
                            const char *const *configs, size_t n, int timeout_ms);

/* Commits offsets (NULL: the consumer's stored ones) and waits at most timeout_ms for the answer. A plain
 * synchronous commit waits for the group coordinator however long it is away, which would hold a role's stop
 * (or its poll loop, in a revoke) for as long as the broker is. Returns the commit's error, or
 * RD_KAFKA_RESP_ERR__TIMED_OUT when no answer came in time (the commit may still land). The consumer's
 * thread. */
rd_kafka_resp_err_t lgw_kafka_commit_within(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *offsets,
                                            int timeout_ms);

/* Whether rk's group rebalances with the cooperative protocol (incremental assign and unassign) rather than the
 * eager one (kafka_rebalance, or a partition.assignment.strategy in kafka_properties, decides; eager by default).
 * Read from rk's configuration: librdkafka wants all of a consumer's assignors of one protocol, and its group can
 * only choose one of them, so this is the protocol of every rebalance rk takes part in. Not asked of librdkafka
 * (rd_kafka_rebalance_protocol), whose answer is NULL once the group's handler is terminating, as it can be
 * inside the revoke of a close. Any thread. */
bool lgw_kafka_rebalance_cooperative(rd_kafka_t *rk);

/* Whether rk's group has chosen its assignor, which it does when rk's first JoinGroup answers (before that
 * librdkafka says the protocol is "NONE"). When librdkafka cannot say (its group handler is terminating), true:
 * the callers act on a join, and a join that cannot be ruled out is treated as one. */
bool lgw_kafka_group_joined(rd_kafka_t *rk);

/* Leaving a consumer group at stop, bounded, and destroying the consumer: common/kafka_close.h. */

/* A partition's low and high watermarks, asked of its leader, within timeout_ms in all. Not
 * rd_kafka_query_watermark_offsets: in librdkafka 2.0.2 it waits for the broker's answer however long that
 * takes, whatever its timeout says, so a broker slow to answer holds the caller for as long (24 s in
 * test_kafka_lag's slow broker, from a 250 ms timeout). Returns the first error, RD_KAFKA_RESP_ERR__TIMED_OUT
 * when no answer came in time; *lo and *hi are set only on success. Any thread. */
rd_kafka_resp_err_t lgw_kafka_watermarks_within(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t *lo,
                                                int64_t *hi, int timeout_ms);

/* Makes a rd_kafka_consumer_poll in progress on consumer (another thread's) return at once: a stop that sets a
 * flag is then not held up by the poll's timeout. A poll that starts afterwards returns at once too, once. */
void lgw_kafka_wake(rd_kafka_t *consumer);

/* Makes topics known to rk for its lifetime, as its first produce to each would: librdkafka then keeps their
 * metadata fresh (topic.metadata.refresh.interval.ms) and learns any it lacks at its next scan, in the background.
 * Without this a topic rk has not produced to yet depends on the metadata cache of rk's start, which ages out after
 * metadata.max.age.ms (15 min); the first record after that waited up to a second for librdkafka's scan of unknown
 * topics (measured: an ingress's first embeddings request, 924 ms, with the age shortened to 3 s). Any thread. */
void lgw_kafka_keep_topics(rd_kafka_t *rk, const char *const *topics, size_t n);

/* True when the cluster answered a metadata request within timeout_ms. */
bool lgw_kafka_reachable(rd_kafka_t *rk, int timeout_ms);

/* Background probe: every interval_ms asks the cluster for metadata through rk and stores in *up whether it
 * is reachable (false only after two unanswered probes in a row), until *stop. Readiness checks and fast 503s
 * read *up instead of blocking on the network.
 * Returns 0 or LGW_ERR(INTERNAL); join the thread with pthread_join. */
int lgw_kafka_health_start(rd_kafka_t *rk, atomic_bool *up, const atomic_bool *stop, int interval_ms,
                           pthread_t *thread);

/* One record to produce. Every message llmgw writes (jobs, replies, stream chunks, cost events, dead letters,
 * cancels) goes through lgw_kafka_produce, so every record carries the same headers:
 *   llmgw-id     the key (the request id, or "dlq")
 *   traceparent  the W3C trace context of the request, when known (common/trace.h)
 *   tracestate   its vendor data, when the client sent some (common/trace.h), only next to a traceparent */
struct lgw_kafka_msg {
    const char *topic;
    int32_t partition; /* RD_KAFKA_PARTITION_UA: the partitioner picks by key */
    const char *key;   /* NUL-terminated, required */
    const void *value;
    size_t len;
    const char *traceparent; /* NULL or "": no traceparent header */
    const char *tracestate;  /* NULL or "": no tracestate header (nor without a traceparent) */
    void *opaque;            /* the delivery report's msg->_private */
    /* Adds the LGW_KAFKA_ADMITTED header: the job was admitted by an ingress (allow-list, rate limits and
     * budgets already checked). A marker between trusted producers, not a security boundary: anyone who may
     * write to the job topics may set it (docs/KAFKA.md, "Trust"). */
    bool admitted;
};

/* The header an ingress puts on the jobs it admitted; a worker checks the limits of jobs without it. */
#define LGW_KAFKA_ADMITTED_HEADER "llmgw-admitted"

/* Queues msg on rk (librdkafka copies the bytes). Returns 0, or LGW_ERR(UNAVAILABLE) with librdkafka's
 * reason in *err when err is not NULL (queue full, unknown partition, ...). Never blocks. Any thread. */
int lgw_kafka_produce(rd_kafka_t *rk, const struct lgw_kafka_msg *msg, rd_kafka_resp_err_t *err);

/* Copies the record's traceparent header into out when it holds a valid one (common/trace.h); otherwise
 * out is "". Returns 0 or LGW_ERR(NOT_FOUND). */
int lgw_kafka_traceparent(const rd_kafka_message_t *msg, char *out, size_t outsz);

/* Copies the record's tracestate header into out (LGW_TRACESTATE_SIZE bytes) when the record has a valid
 * traceparent and a valid tracestate (common/trace.h, as written by lgw_kafka_produce); otherwise out is "".
 * Returns 0 or LGW_ERR(NOT_FOUND). */
int lgw_kafka_tracestate(const rd_kafka_message_t *msg, char *out);

/* Finds a header value (not NUL-terminated) on a message; returns 0 or LGW_ERR(NOT_FOUND). */
int lgw_kafka_header(const rd_kafka_message_t *msg, const char *name, const void **val, size_t *len);

#endif
