/* handover.h - partitions revoked from a worker, given up once the jobs it runs from them have ended.
 *
 * A revoked partition's in-flight jobs are let finish before it is given up, and their offsets committed, so its
 * next owner does not run them again (a provider call made twice, a stream answered twice). Those jobs can be
 * long: a stream runs for as long as the model writes. The wait used to block the rebalance callback, and with it
 * the consume loop, so the partitions this worker keeps stalled behind it too. And with the eager protocol every
 * rebalance revokes every partition of every member: a worker that joined or left held every job behind the
 * longest call in flight anywhere in the group (docs/PERFORMANCE.md, thirty-first pass).
 *
 * So the wait is held here instead: the revoked partitions are paused (their jobs not yet taken stay in Kafka
 * for the next owner), the callback returns without giving them up, and the consume loop gives them up
 * (rd_kafka_incremental_unassign, or rd_kafka_assign(NULL) with the eager protocol) once their jobs have ended
 * or the deadline has passed. librdkafka waits for that call before it rejoins the group. That pays with the
 * cooperative protocol (kafka_rebalance, LLMGW_KAFKA_REBALANCE=cooperative), with which a
 * rebalance revokes only the partitions that move: the others go on being consumed meanwhile. With the eager
 * protocol, llmgw's default, every partition is revoked and nothing flows until the group has them all back.
 * (cooperative-sticky balances how many partitions each member has, not each topic's: one worker may get every
 * partition of jobs.chat, so it is not the default; docs/ARCHITECTURE.md.)
 *
 * Consumer thread only (the rebalance callback and the consume loop). */
#ifndef LGW_HANDOVER_H
#define LGW_HANDOVER_H

#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "workers/offsets.h"

struct lgw_handover;

/* consumer and offsets are borrowed. commit_wait_ms bounds the commit before a partition is given up. */
struct lgw_handover *lgw_handover_new(rd_kafka_t *consumer, struct lgw_offsets *offsets, int commit_wait_ms);
void lgw_handover_free(struct lgw_handover *h); /* NULL is a no-op; gives up nothing */

/* The worker's stop has drained and warned about the jobs it left unfinished: giving partitions up from here on
 * says so at info level rather than warning about the same jobs again. */
void lgw_handover_stopped(struct lgw_handover *h);

/* The rebalance callback's revocation: pauses parts and holds them until their in-flight jobs end or until_ms
 * (lgw_mono_ms) passes. A lost assignment (rd_kafka_assignment_lost: the partitions are already someone else's,
 * and a commit for them would fail) is given up at once. Returns 0, or an LGW_ERR when giving up failed. */
int lgw_handover_revoke(struct lgw_handover *h, const rd_kafka_topic_partition_list_t *parts, int64_t until_ms);

/* The consume loop's turn: gives up the held partitions once their jobs have ended or the deadline passed
 * (commits what ended first). With wait, blocks until then. Returns true while partitions are still held. */
bool lgw_handover_step(struct lgw_handover *h, bool wait);

/* Removes the held partitions from parts (a list about to be resumed: they stay paused). */
void lgw_handover_exclude(const struct lgw_handover *h, rd_kafka_topic_partition_list_t *parts);

#endif
