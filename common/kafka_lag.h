/* kafka_lag.h - llmgw_kafka_consumer_lag{role,topic,partition}: how far a consumer is behind, per partition
 * it owns, as the partition's high watermark minus the consumer's position (the next offset it will
 * fetch). A thread of its own refreshes the gauges every LGW_KAFKA_LAG_INTERVAL_MS, because two of the
 * figures are asked of the broker and the consumer loop must never wait on a gauge:
 *   - the high watermarks: librdkafka's cached ones stop moving for a partition it does not fetch, such
 *     as a paused one (back-pressure, or a batch topic held at its share), which is when a backlog builds;
 *     the cached ones stand in when the broker does not answer;
 *   - for a partition with no position yet (an idle one, nothing handed to the application since the
 *     assignment), the group's committed offset.
 * The position is librdkafka's local state. Partitions the consumer no longer owns drop out of the metric. */
#ifndef LGW_KAFKA_LAG_H
#define LGW_KAFKA_LAG_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/metrics.h"

/* Refresh period: the issue asks for at least every 5 s; 2 s keeps a dashboard's 5 s step fresh. */
#define LGW_KAFKA_LAG_INTERVAL_MS 2000
/* Most partitions one consumer reports (past it, the rest are left out and logged once). */
#define LGW_KAFKA_LAG_MAX_PARTITIONS 1024

struct lgw_kafka_lag;

/* role is the label value ("worker", "ledger"), copied. m must outlive the result. The caller owns it. */
struct lgw_kafka_lag *lgw_kafka_lag_new(struct lgw_metrics *m, const char *role);
/* Starts the refresh thread on consumer rk, which must stay open until lgw_kafka_lag_stop. A thread that
 * cannot start is logged, and the consumer runs on without lag gauges: they are not worth stopping a role
 * for. Once only. */
void lgw_kafka_lag_start(struct lgw_kafka_lag *lag, rd_kafka_t *rk);
/* Stops and joins the refresh thread (before the consumer closes); the gauges stay until lgw_kafka_lag_free.
 * Waits at most for the refresh under way (its broker calls are bounded: see kafka_lag.c). Idempotent; NULL
 * is a no-op. */
void lgw_kafka_lag_stop(struct lgw_kafka_lag *lag);
/* Stops it, removes its series and frees it; NULL is a no-op. */
void lgw_kafka_lag_free(struct lgw_kafka_lag *lag);
/* The consumer has paused (true) or resumed (false) its partitions: a pause refreshes at once, since a
 * backlog is what a pause means, rather than up to LGW_KAFKA_LAG_INTERVAL_MS later. Returns without waiting;
 * any thread. */
void lgw_kafka_lag_paused(struct lgw_kafka_lag *lag, bool paused);

#endif
