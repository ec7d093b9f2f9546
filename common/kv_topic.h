/* kv_topic.h - a compacted Kafka topic read into memory: every record from the beginning, then each new one as
 * it arrives, handed to a callback that keeps the latest value per key.
 *
 * State that every instance must share and that changes rarely (tenant administration, running spend)
 * travels this way: the writer produces "key -> whole current value" records, Kafka's log compaction keeps
 * the last one per key, and a reader that starts late replays the topic to the same state as the others.
 * The reader assigns every partition (no consumer group: no rebalance can stall it) and never commits. */
#ifndef LGW_KV_TOPIC_H
#define LGW_KV_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/topics.h"

struct lgw_kv_reader;

/* One record: key (not NUL-terminated; keylen bytes) and value (len bytes; NULL for a tombstone, which
 * deletes the key). Runs on the reader's thread, one record at a time, in the partition's order. */
typedef void (*lgw_kv_record_cb)(void *opaque, const char *key, size_t keylen, const void *value, size_t len);

/* Starts a thread that reads topic (a row of the topic table) from the beginning of every partition and
 * calls cb for each record. name tells the Kafka client apart in logs (e.g. the ingress id). The topic may
 * not exist yet: the reader keeps asking until it does. Returns 0 and *out (lgw_kv_reader_free), or
 * LGW_ERR(CONFIG)/LGW_ERR(UNAVAILABLE)/LGW_ERR(INTERNAL). Start-up thread. */
int lgw_kv_reader_start(const struct lgw_config *cfg, enum lgw_topic topic, const char *name, lgw_kv_record_cb cb,
                        void *opaque, struct lgw_kv_reader **out);
/* True once every record that was in the topic when the reader was positioned has been handed to cb. Any
 * thread. */
bool lgw_kv_reader_caught_up(const struct lgw_kv_reader *r);
/* Records handed to cb so far. Any thread. */
int64_t lgw_kv_reader_records(const struct lgw_kv_reader *r);
/* Stops the thread (waits for a callback in progress) and frees r. NULL is a no-op. */
void lgw_kv_reader_free(struct lgw_kv_reader *r);

#endif
