/* spend_record.h - running spend per tenant and per key per UTC day and month as it crosses Kafka: the record
 * the ledger publishes on the compacted spend topic (schemas/spend.schema.json) and the period and scope
 * names writer and readers both compute from a time. The ledger writes it (ledger/spend.c); budgets read it
 * (limits/spend.h). */
#ifndef LGW_SPEND_RECORD_H
#define LGW_SPEND_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/envelope.h"

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

#endif
