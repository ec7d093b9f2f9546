/* spend.h - the ledger's running spend: per tenant and per key, per UTC day and month, kept in the
 * database table spend_totals in the same transaction as the cost events, and published after the commit
 * on the compacted spend topic (common/spend_record.h, schemas/spend.schema.json) for every ingress to read.
 *
 * Order: a batch's deltas are summed in memory from the events the database really inserted (so a
 * redelivered event, which inserts nothing, never counts twice), added to their rows before the commit, and
 * the totals those rows hold after it are published once the commit succeeded. A crash after the commit and
 * before the publish leaves the topic behind until the next event of that scope and period, or until a
 * ledger starts: lgw_ledger_spend_republish publishes every total of the current day and month.
 *
 * Everything runs on the ledger's thread. */
#ifndef LGW_LEDGER_SPEND_H
#define LGW_LEDGER_SPEND_H

#include <stdint.h>

#include "common/config.h"
#include "common/envelope.h"
#include "common/metrics.h"
#include "ledger/ledger_db.h"

struct lgw_ledger_spend;

/* Makes the spend keeper and its Kafka producer (the spend topic is created by the ledger's
 * lgw_topics_ensure). cfg and m must outlive it. Returns 0 and *out, or the producer's error. */
int lgw_ledger_spend_new(const struct lgw_config *cfg, struct lgw_metrics *m, struct lgw_ledger_spend **out);
/* Forgets the deltas of a batch (before each attempt to write one). */
void lgw_ledger_spend_clear(struct lgw_ledger_spend *s);
/* Adds an inserted event's cost to its tenant's and key's day and month (UTC, from ev->ts_ms). */
void lgw_ledger_spend_add(struct lgw_ledger_spend *s, const struct lgw_cost_event *ev);
/* Adds the batch's deltas to spend_totals inside db's open transaction, in the table's key order (scope, then
 * period: ledgers writing at once lock rows in one order and never deadlock), and notes each new total. Returns
 * 0 or LGW_ERR(DB) (the caller rolls back). */
int lgw_ledger_spend_write(struct lgw_ledger_spend *s, struct lgw_ledger_db *db);
/* After the commit: publishes the noted totals (key "scope|period"), then forgets them. Never blocks; a record
 * librdkafka cannot queue is logged and counted, and the next event of its scope publishes again. */
void lgw_ledger_spend_publish(struct lgw_ledger_spend *s);
/* Publishes every total of now_ms's UTC day and month that db holds (a starting ledger: the back-fill, and
 * whatever a crash kept from being published). Returns 0 or LGW_ERR(DB). */
int lgw_ledger_spend_republish(struct lgw_ledger_spend *s, struct lgw_ledger_db *db, int64_t now_ms);
/* Flushes the producer (up to 2 s) and frees s. NULL is a no-op. */
void lgw_ledger_spend_free(struct lgw_ledger_spend *s);

#endif
