/* spend.h - the in-memory view an ingress (or any admitting worker) keeps of the spend topic: running spend
 * per tenant and per key per UTC day and month (the record: common/spend_record.h).
 *
 * The ledger is the only writer: after each database commit it publishes, for every scope and period a
 * batch changed, the total the database now holds. Readers keep the largest total seen per key (a total
 * only grows within its period, so an older record arriving late never lowers it). The budget check
 * (budget.h) reads the view; docs/ARCHITECTURE.md, "Budgets", has the path and the overshoot it allows. */
#ifndef LGW_SPEND_H
#define LGW_SPEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/envelope.h"
#include "common/spend_record.h"

struct lgw_spend;

/* An empty view. Free with lgw_spend_free. Any thread. */
struct lgw_spend *lgw_spend_new(void);
/* Starts reading the spend topic of cfg into s on a thread of its own (common/kv_topic.h); name tells this
 * reader's Kafka client apart (the ingress id). Returns 0 or the reader's error. Start-up thread. */
int lgw_spend_start(struct lgw_spend *s, const struct lgw_config *cfg, const char *name);
/* Takes one record of the topic into the view: the total of its key becomes the larger of the one held and
 * the record's. A record that does not decode, or whose key does not match its value, is logged and ignored.
 * The reader's callback; tests call it directly. Any thread. */
void lgw_spend_apply(struct lgw_spend *s, const char *key, size_t keylen, const void *value, size_t len);
/* The total held for scope and period (0 when none is known). Any thread. */
int64_t lgw_spend_get(struct lgw_spend *s, const char *scope, const char *period);
/* True once the reader has replayed what the topic held when it started (always true without a reader, as
 * in tests that feed the view through lgw_spend_apply). Any thread. */
bool lgw_spend_caught_up(const struct lgw_spend *s);
/* Totals held (for tests and metrics). Any thread. */
size_t lgw_spend_count(struct lgw_spend *s);
/* Drops the totals of periods that ended before the previous UTC day and month of now_ms: nothing checks
 * them again. Called by the view itself once per day; tests call it directly. Any thread. */
void lgw_spend_prune(struct lgw_spend *s, int64_t now_ms);
/* Stops the reader and frees s. NULL is a no-op. */
void lgw_spend_free(struct lgw_spend *s);

#endif
