/* topic_warm.h - asks the cluster about a topic the first time a client is told it will produce there, in the
 * background, so that the first record does not wait on librdkafka's scan of unknown topics.
 *
 * Why: a producer that names a topic it has no metadata for learns it only at librdkafka's next scan of unknown
 * topics, which runs once a second (librdkafka issue 3202; its answer is to ask for the topic's metadata first).
 * A worker meets a reply topic for the first time whenever an ingress starts (each has its own) and whenever the
 * worker itself starts: measured, the first answer to a new ingress took 0.48 to 0.89 s where the next took
 * 3 ms. Here the question goes out when the job is consumed, and is answered (about a millisecond) while the job
 * runs, before its reply is produced.
 *
 * A hint is a hash lookup under a mutex (the consumer thread's cost per job); the lookup itself runs on this
 * module's thread. Topics are remembered by a 64-bit hash, at most LGW_TOPIC_WARM_KNOWN of them (then all are
 * forgotten and asked about again as they come); a lookup that failed is not remembered, so the next hint asks
 * again. Once learned, a topic needs no second lookup: the lookup's topic handle, like a produced record's, keeps it
 * in the client, and librdkafka refreshes the metadata of the topics it holds (common/kafka.h,
 * lgw_kafka_keep_topics). */
#ifndef LGW_TOPIC_WARM_H
#define LGW_TOPIC_WARM_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "common/metrics.h"

#define LGW_TOPIC_WARM_KNOWN 4096 /* topics remembered: reply topics are one per ingress, a few per batch client */
#define LGW_TOPIC_WARM_QUEUE 64   /* lookups waiting; a hint past it is dropped, and asked again next time */

struct lgw_topic_warm;

/* rk (a producer; borrowed, must outlive it) is the client whose metadata is filled; m counts the lookups
 * (llmgw_kafka_topic_lookups_total{result}). timeout_ms bounds one lookup. *out is owned by the caller
 * (lgw_topic_warm_free). Returns 0 or LGW_ERR(INTERNAL) when the thread cannot start. */
int lgw_topic_warm_new(rd_kafka_t *rk, struct lgw_metrics *m, int timeout_ms, struct lgw_topic_warm **out);
/* The client will produce to topic soon. Never blocks on the network; any thread; tw may be NULL (no-op). */
void lgw_topic_warm_hint(struct lgw_topic_warm *tw, const char *topic);
/* Waits for the lookup in progress (at most its timeout), drops the queued ones, frees; NULL is a no-op. */
void lgw_topic_warm_free(struct lgw_topic_warm *tw);

#endif
