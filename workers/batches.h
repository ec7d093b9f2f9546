/* batches.h - what a worker knows of batches: which are being cancelled, from the compacted
 * <prefix>.batches topic (common/batch_record.h), replayed from its beginning and followed. A line of a
 * batch whose latest record is `cancelling` is answered batch_cancelled without a provider call.
 *
 * Only cancelling batches are kept (one id each), so memory follows the batches being cancelled, not all
 * batches. The gauge llmgw_batch_cancelling counts them, so an operator (or a test) sees that a cancel has
 * reached a worker. Threads: the reader's thread applies records; any thread asks. */
#ifndef LGW_WORKER_BATCHES_H
#define LGW_WORKER_BATCHES_H

#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"
#include "common/metrics.h"

struct lgw_wbatches;

/* Starts reading <prefix>.batches (name tells the Kafka client apart: the worker id). m (may be NULL) gets the
 * gauge and must outlive the view. *out is owned by the caller (lgw_wbatches_free). Returns 0 or the reader's
 * error. Start-up thread. */
int lgw_wbatches_start(const struct lgw_config *cfg, struct lgw_metrics *m, const char *name,
                       struct lgw_wbatches **out);
/* An empty view with no reader (tests feed it with lgw_wbatches_apply); m as above. */
struct lgw_wbatches *lgw_wbatches_new(struct lgw_metrics *m);
/* One record of the topic (value NULL: a tombstone). The reader's callback; tests call it directly. */
void lgw_wbatches_apply(struct lgw_wbatches *b, const char *key, size_t keylen, const void *value, size_t len);
/* True when batch_id's latest record says cancelling. Any thread. */
bool lgw_wbatches_cancelling(struct lgw_wbatches *b, const char *batch_id);
/* True once the records that were on the topic at start have been read (always, without a reader). */
bool lgw_wbatches_caught_up(const struct lgw_wbatches *b);
void lgw_wbatches_free(struct lgw_wbatches *b); /* NULL is a no-op; stops the reader first */

#endif
