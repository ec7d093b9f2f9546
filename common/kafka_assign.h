/* kafka_assign.h - a consumer's assignment started where its group's committed offsets say, looked up before the
 * assign rather than after it.
 *
 * rd_kafka_assign() with the offsets left "stored" makes librdkafka ask the group coordinator for the committed
 * offsets after the assign. A partition with none (no job was ever committed on it: a new deployment, a partition
 * added, one that never had traffic) is then reset to auto.offset.reset, and librdkafka 2.0.2 takes that reset as
 * an error and waits 100 ms before it asks for the offset (rd_kafka_offset_reset: `err ? 100 : 0`). And however
 * an offset is looked up, the partitions start fetching one by one as their answers come, while the consumer
 * keeps one fetch in flight per broker: the first fetch after the assign held the few partitions started by then,
 * and the broker held it for fetch.wait.max.ms (100 ms) when none of them had a record, so a job on any other
 * partition waited for that fetch to end. A worker's first answer after its start took 72 to 168 ms
 * (docs/PERFORMANCE.md, twenty-ninth and thirtieth passes).
 *
 * So the offsets are looked up first, in two round trips that librdkafka makes anyway: the committed offsets, then
 * the earliest offset of each partition without one. Every partition is then assigned an absolute offset, starts
 * fetching at once, and the first fetch holds them all. */
#ifndef LGW_KAFKA_ASSIGN_H
#define LGW_KAFKA_ASSIGN_H

#include <librdkafka/rdkafka.h>

/* Sets each partition of parts to its committed offset, or where the group committed none to the earliest offset
 * the partition holds (llmgw's consumers start new groups at the earliest offset: common/kafka.c), or to
 * RD_KAFKA_OFFSET_BEGINNING when that lookup failed. A lookup answered "not leader" (a topic made moments before,
 * as at a deployment's very first start) is asked again every 50 ms within the bound. A partition whose committed
 * offset was not read, or all of them when the coordinator does not answer, keeps its offset (stored: librdkafka
 * looks it up itself, as before).
 * Both lookups together take at most timeout_ms. Returns how many partitions were set. The consumer's thread
 * (its rebalance callback). */
int lgw_kafka_committed_starts(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int timeout_ms);

#endif
