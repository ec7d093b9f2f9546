/* kafka_lag.h - llmgw_kafka_consumer_lag{role,topic,partition}: how far a consumer is behind, per partition
 * it owns, as the partition's high watermark minus the consumer's position (the next offset it will
 * fetch). Both come from librdkafka's local state (no broker round trip), refreshed on the consumer's own
 * thread every LGW_KAFKA_LAG_INTERVAL_MS; partitions the consumer no longer owns drop out of the metric.
 * Paused partitions are not fetched, so their cached high watermark stops where the pause found it: while
 * paused, the high watermarks are asked of the broker instead (at most 100 ms per refresh). */
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
/* Removes its series and frees it; NULL is a no-op. */
void lgw_kafka_lag_free(struct lgw_kafka_lag *lag);
/* Refreshes the gauges from rk's assignment when the interval has passed since the last refresh (cheap
 * otherwise: call it on every turn of the consumer loop). The thread that polls rk. */
/* The consumer has paused (true) or resumed (false) its partitions. The thread that polls rk. */
void lgw_kafka_lag_paused(struct lgw_kafka_lag *lag, bool paused);
void lgw_kafka_lag_tick(struct lgw_kafka_lag *lag, rd_kafka_t *rk);

#endif
