/* batch_flow.h - how much of a worker batch lines may take, and how that share is split between batch
 * partitions (docs/BATCH.md, "In the workers").
 *
 * Batch lines (<prefix>.batch.jobs.*) may hold at most `slots` = worker_batch_share_pct of
 * worker_concurrency at once; interactive jobs can always use the rest. The batch slots are shared equally
 * between the batch partitions that have work: a partition may hold ceil(slots / busy) lines. Since a
 * submitter keys a tenant's lines over a few partitions (lgw_batch_line_key), a tenant with a large backlog
 * cannot take the slots a second tenant's partitions are owed.
 *
 * Mechanism: a record that may not start now is refused on the consumer thread before anything is made of
 * it; its partition is paused and sought back to that record, so it is fetched again once the partition is
 * resumed (nothing is lost and nothing is committed past it). Only batch partitions are ever paused here;
 * the worker-wide pause at worker_concurrency stays the worker's.
 *
 * Threads: everything but lgw_batch_flow_done runs on the consumer thread (including the rebalance
 * callback, which librdkafka serves from the consumer's poll). lgw_batch_flow_done runs on any thread. */
#ifndef LGW_BATCH_FLOW_H
#define LGW_BATCH_FLOW_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/metrics.h"

struct lgw_batch_flow;
struct lgw_batch_slot;

/* The batch slots of a worker: share_pct percent of concurrency, rounded down, at least 1. Pure. */
int64_t lgw_batch_flow_slots(int64_t concurrency, int64_t share_pct);
/* How many lines one batch partition may hold when busy partitions have work: ceil(slots / busy), and all
 * of the slots when none (busy <= 0) is known to have work. Pure. */
int64_t lgw_batch_flow_cap(int64_t slots, int64_t busy);

/* The flow for the two batch topics (full names). cfg and m must outlive it; *out is owned by the caller
 * (lgw_batch_flow_free). Declares its metrics. */
struct lgw_batch_flow *lgw_batch_flow_new(const struct lgw_config *cfg, struct lgw_metrics *m, const char *topic_chat,
                                          const char *topic_embeddings);
/* NULL is a no-op. Every slot taken must have been given back (the worker frees the flow after its jobs). */
void lgw_batch_flow_free(struct lgw_batch_flow *f);

/* True when topic is one of the batch topics. Any thread. */
bool lgw_batch_flow_is_batch(const struct lgw_batch_flow *f, const char *topic);

/* May the batch record at topic/partition/offset start now? Returns its slot (give it back with
 * lgw_batch_flow_done when the line's run is over), or NULL: the caller drops the record without running or
 * tracking it, because the flow paused the partition and sought it back to this offset (or it is a record
 * fetched before such a seek, which comes again after it). Consumer thread. */
struct lgw_batch_slot *lgw_batch_flow_take(struct lgw_batch_flow *f, rd_kafka_t *rk, const char *topic,
                                           int32_t partition, int64_t offset);
/* A line's run is over: its slot is free again. Any thread; NULL is a no-op. */
void lgw_batch_flow_done(struct lgw_batch_slot *s);

/* Recomputes which batch partitions have work and each one's cap, and pauses or resumes batch partitions
 * to match (only pauses while worker_paused: the worker's own pause is lifted by the worker). Cheap (cached
 * watermarks, no network): call on every turn of the consume loop. Consumer thread. */
void lgw_batch_flow_tick(struct lgw_batch_flow *f, rd_kafka_t *rk, bool worker_paused);
/* The worker resumed every partition after its own pause: pauses again the batch partitions the flow holds.
 * Consumer thread. */
void lgw_batch_flow_reapply(struct lgw_batch_flow *f, rd_kafka_t *rk);
/* The rebalance: batch partitions of parts are assigned to (true) or revoked from (false) this member; their
 * waiting state is forgotten (a revoked partition's in-flight lines still give their slots back). Consumer
 * thread. */
void lgw_batch_flow_assign(struct lgw_batch_flow *f, const rd_kafka_topic_partition_list_t *parts, bool assigned);

/* Batch lines held now. Any thread. */
int64_t lgw_batch_flow_inflight(const struct lgw_batch_flow *f);

#endif
