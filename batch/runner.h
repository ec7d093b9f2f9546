/* runner.h - the batch role (`llmgw batch serve`, and a thread of `llmgw dev`): keeps the batch store
 * (batch/store.h) from Kafka. It consumes <prefix>.batches (each batch's record: created, submitted,
 * cancelling, failed) and <prefix>.batch.results (the workers' answers to batch lines) in the consumer group
 * "<prefix>-batch", writes them in batches of up to ledger_batch_max messages per database transaction, and
 * commits Kafka offsets only after the database commit (a crash in between replays messages the store
 * ignores: first result per line, each run once, records forward-only). It also runs the deadlines (expiry
 * and cancel grace, batch/store.h lgw_batch_store_sweep) and retention (batch_retention_days). */
#ifndef LGW_BATCH_RUNNER_H
#define LGW_BATCH_RUNNER_H

#include <stdatomic.h>
#include <stdbool.h>

#include "common/config.h"
#include "common/metrics.h"

struct lgw_batch_runner;

/* Opens the store (creating its tables), creates the consumer, ensures the batch topics exist and
 * subscribes. cfg and m must outlive the runner. Returns 0 or an LGW_ERR; *out owned by the caller
 * (lgw_batch_runner_free). */
int lgw_batch_runner_new(const struct lgw_config *cfg, struct lgw_metrics *m, struct lgw_batch_runner **out);
/* Runs until *stop, then writes what it holds (for at most shutdown_grace_ms while the database is down) and
 * leaves the group. Returns 0. One thread; the rebalance callback runs on it too. */
int lgw_batch_runner_run(struct lgw_batch_runner *r, const atomic_bool *stop);
/* For /readyz: the last database operation succeeded and Kafka is reachable. Thread-safe. */
bool lgw_batch_runner_ready_cb(void *runner);
/* NULL is a no-op. After lgw_batch_runner_run returned. */
void lgw_batch_runner_free(struct lgw_batch_runner *r);

#endif
