/* spend.h - running spend per tenant and per key per UTC day and month: the record the ledger publishes on
 * the compacted spend topic (schemas/spend.schema.json), the period names both sides compute from a time,
 * and the in-memory view an ingress (or any admitting worker) keeps of the topic.
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

struct lgw_spend;

/* "day:2026-12-02" and "month:2026-12", with room to spare. */
#define LGW_SPEND_PERIOD_MAX 24
/* "tenant:<name>" or "key:<id>", the scope of a total. */
#define LGW_SPEND_SCOPE_MAX (LGW_NAME_MAX + 8)
/* The record key: scope "|" period. */
#define LGW_SPEND_KEY_MAX (LGW_SPEND_SCOPE_MAX + LGW_SPEND_PERIOD_MAX + 2)

/* The UTC day ("day:YYYY-MM-DD") and month ("month:YYYY-MM") that ts_ms (Unix milliseconds) falls in. */
void lgw_spend_day(int64_t ts_ms, char out[LGW_SPEND_PERIOD_MAX]);
void lgw_spend_month(int64_t ts_ms, char out[LGW_SPEND_PERIOD_MAX]);
/* The first millisecond after the UTC day (month) that ts_ms falls in: when its budget resets. */
int64_t lgw_spend_day_end_ms(int64_t ts_ms);
int64_t lgw_spend_month_end_ms(int64_t ts_ms);
/* The scope of a tenant ("tenant:acme") or of a key ("key:key_ba7816bf8f01"). */
void lgw_spend_scope_tenant(const char *tenant, char out[LGW_SPEND_SCOPE_MAX]);
void lgw_spend_scope_key(const char *key_id, char out[LGW_SPEND_SCOPE_MAX]);

/* One running total, as the spend topic carries it. key_id is "" for a tenant's scope. */
struct lgw_spend_record {
    char scope[LGW_SPEND_SCOPE_MAX];
    char tenant[LGW_NAME_MAX];
    char key_id[LGW_KEY_ID_MAX];
    char period[LGW_SPEND_PERIOD_MAX];
    int64_t spend_nusd; /* the ledger's total for scope and period, nano-USD */
    int64_t ts_ms;      /* when the ledger read it from its database */
};

/* The record key "scope|period" of rec into out. */
void lgw_spend_record_key(const struct lgw_spend_record *rec, char out[LGW_SPEND_KEY_MAX]);
/* Encodes rec as its JSON value ({"v":1,...}) into out. Returns 0 or LGW_ERR(INTERNAL). */
int lgw_spend_record_encode(const struct lgw_spend_record *rec, struct lgw_buf *out);
/* Decodes a JSON value; refuses a wrong version, a missing or oversized field, a negative total, and a scope
 * or period not of the shapes above. Returns 0 or LGW_ERR(INVALID) with the reason in why. */
int lgw_spend_record_decode(const void *data, size_t len, struct lgw_spend_record *rec, char *why, size_t whysz);

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
