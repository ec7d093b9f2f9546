/* ledger.h - the ledger role: a consumer group over <prefix>.cost that writes cost events to the
 * database in batches, idempotent on event_id, and commits Kafka offsets only after the database commit.
 *
 * Events are never skipped because the database is down: the batch is retried with capped backoff and its
 * offsets stay uncommitted until it is in. An undecodable event is logged (never its payload), counted,
 * and skipped. */
#ifndef LGW_LEDGER_H
#define LGW_LEDGER_H

#include <stdatomic.h>
#include <stdbool.h>

#include "common/config.h"
#include "common/metrics.h"

struct lgw_ledger;
struct lgw_tracer;

/* Opens the database (creating the schema), creates the consumer (group "<prefix>-ledger", manual
 * commits), ensures the cost topic exists, subscribes. tr (NULL: tracing off) records a CONSUMER span per
 * cost event, from its record to its database commit, continuing the event's traceparent. cfg, m and tr must
 * outlive the ledger. */
int lgw_ledger_new(const struct lgw_config *cfg, struct lgw_metrics *m, struct lgw_tracer *tr, struct lgw_ledger **out);
/* Runs until *stop; then writes and commits what it holds (for at most shutdown_grace_ms if the database is
 * down) and leaves the group. Returns 0. Call from one thread; the rebalance callback runs on it too. */
int lgw_ledger_run(struct lgw_ledger *l, const atomic_bool *stop);
/* For /readyz: the last database operation succeeded and Kafka is reachable. Thread-safe. */
bool lgw_ledger_ready_cb(void *ledger);
/* Closes the consumer (rd_kafka_consumer_close, if run did not) and the database. NULL is a no-op. Call
 * after lgw_ledger_run returned, from any one thread. */
void lgw_ledger_free(struct lgw_ledger *l);

#endif
