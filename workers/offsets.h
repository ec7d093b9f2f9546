/* offsets.h - which consumed offsets may be committed, when jobs finish out of order.
 *
 * A worker runs many jobs of one partition at once and they finish in any order; Kafka's committed
 * offset must never pass a job that is not finished (at-least-once). Per partition this keeps the
 * in-flight offsets in arrival order and, as jobs finish, reports the highest offset below which all
 * are done. Thread-safe (one mutex). */
#ifndef LGW_OFFSETS_H
#define LGW_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

struct lgw_offsets;

struct lgw_offsets *lgw_offsets_new(void);
void lgw_offsets_free(struct lgw_offsets *t); /* NULL is a no-op */

/* Records that offset was consumed and is in flight. Offsets of one partition arrive increasing. */
void lgw_offsets_add(struct lgw_offsets *t, const char *topic, int32_t partition, int64_t offset);
/* Marks offset done. Returns the offset to commit (next to consume) when it moved, else -1. */
int64_t lgw_offsets_done(struct lgw_offsets *t, const char *topic, int32_t partition, int64_t offset);
/* In-flight count for one partition, or for all when topic is NULL. */
size_t lgw_offsets_inflight(struct lgw_offsets *t, const char *topic, int32_t partition);
/* Forgets a partition (after it was revoked). */
void lgw_offsets_drop(struct lgw_offsets *t, const char *topic, int32_t partition);

#endif
