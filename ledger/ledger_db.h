/* ledger_db.h - the ledger's database backends (PostgreSQL, SQLite) behind one small interface.
 *
 * A backend inserts cost events idempotently on event_id, inside a transaction the ledger controls, and
 * computes `rerun` (an event of another execution of the same request exists: another run_id) inside that
 * same transaction. run_id is the execution's id: an event_id up to its first '.' (lgw_ledger_run_id). 
 * One connection, used by one thread. */
#ifndef LGW_LEDGER_DB_H
#define LGW_LEDGER_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/envelope.h"

struct lgw_ledger_db;

/* Opens url ("postgresql://..." / "postgres://..." or "sqlite:PATH") and creates the schema if missing.
 * Returns 0 or LGW_ERR(DB)/LGW_ERR(CONFIG); *out is owned by the caller (lgw_ledger_db_close). */
int lgw_ledger_db_open(const char *url, struct lgw_ledger_db **out);
void lgw_ledger_db_close(struct lgw_ledger_db *db); /* NULL is a no-op */

int lgw_ledger_db_begin(struct lgw_ledger_db *db);
/* Inserts ev; *inserted is false when event_id was already stored (a redelivery). */
int lgw_ledger_db_insert(struct lgw_ledger_db *db, const struct lgw_cost_event *ev, bool *inserted);
/* Inserts evs[0..n) in order, as n calls of lgw_ledger_db_insert would (each event's rerun check sees the ones
 * before it), with inserted[i] for evs[i]; PostgreSQL sends them in one network round trip per 256 events. On
 * failure the transaction must be rolled back: which events were written is not said. */
int lgw_ledger_db_insert_batch(struct lgw_ledger_db *db, const struct lgw_cost_event *const *evs, size_t n,
                               bool *inserted);
int lgw_ledger_db_commit(struct lgw_ledger_db *db);
void lgw_ledger_db_rollback(struct lgw_ledger_db *db);
/* True when the connection works (reconnects if the backend can). */
bool lgw_ledger_db_ping(struct lgw_ledger_db *db);

/* Running spend per tenant and key per UTC day and month, in the table spend_totals (PRIMARY KEY scope,
 * period). Each backend creates it when it opens the database, and a ledger that had no such table back-fills
 * it from cost_events of the current UTC month (so this day and month are right from the first batch).
 * Older periods are not back-filled: budgets look at the current ones only; history is cost_events. */
struct lgw_spend_delta {
    const char *scope;  /* "tenant:acme" or "key:key_..." */
    const char *period; /* "day:YYYY-MM-DD" or "month:YYYY-MM" */
    const char *tenant;
    const char *key_id; /* "" for a tenant's scope (stored as NULL) */
    int64_t add_nusd;   /* >= 0 */
    int64_t updated_ms; /* the ledger's wall clock */
};
/* Adds d to its total inside the open transaction (saturating at the int64 maximum) and returns the new
 * total in *total: the row is locked until the commit, so it is what the commit leaves, whatever other
 * ledgers do. Returns 0 or LGW_ERR(DB). */
int lgw_ledger_db_spend_add(struct lgw_ledger_db *db, const struct lgw_spend_delta *d, int64_t *total);
/* The same for d[0..n), totals[i] for d[i]; PostgreSQL sends them in one round trip per 256. */
int lgw_ledger_db_spend_add_batch(struct lgw_ledger_db *db, const struct lgw_spend_delta *d, size_t n,
                                  int64_t *totals);
/* One row of spend_totals (key_id "" for a tenant's). */
typedef void (*lgw_ledger_spend_row_cb)(void *opaque, const char *scope, const char *period, const char *tenant,
                                        const char *key_id, int64_t spend_nusd);
/* Calls cb for every total of the periods day and month. Returns 0 or LGW_ERR(DB). */
int lgw_ledger_db_spend_list(struct lgw_ledger_db *db, const char *day, const char *month, lgw_ledger_spend_row_cb cb,
                             void *opaque);
/* Where the back-fill of spend_totals starts: the first millisecond of now_ms's UTC month. */
int64_t lgw_ledger_spend_backfill_from(int64_t now_ms);

/* Backend vtable: ledger_db.c dispatches on the URL scheme. */
struct lgw_ledger_backend {
    int (*open)(const char *url, void **conn);
    void (*close)(void *conn);
    int (*exec)(void *conn, const char *sql); /* BEGIN / COMMIT / ROLLBACK */
    int (*insert_batch)(void *conn, const struct lgw_cost_event *const *evs, size_t n, bool *inserted);
    bool (*ping)(void *conn);
    /* Running spend (ledger/spend.c): */
    int (*spend_add_batch)(void *conn, const struct lgw_spend_delta *d, size_t n, int64_t *totals);
    int (*spend_list)(void *conn, const char *day, const char *month, lgw_ledger_spend_row_cb cb, void *opaque);
};

/* The execution an event belongs to: its event_id up to the first '.' (a non-final event is
 * "<run id>.<provider call>"), into out (LGW_ID_MAX bytes). */
void lgw_ledger_run_id(const struct lgw_cost_event *ev, char *out);

extern const struct lgw_ledger_backend lgw_ledger_pg;
extern const struct lgw_ledger_backend lgw_ledger_sqlite;

/* The schema's column list, shared by both backends so they stay the same table. */
#define LGW_LEDGER_COLUMNS                                                                                 \
    "event_id, request_id, tenant, user_id, provider, model, kind, input_tokens, output_tokens, "        \
    "cached_input_tokens, cost_nusd, cost_known, latency_ms, status, outcome, cache_hit, rerun, attempt, " \
    "strategy, worker, ts_ms, route_attempts, route, final, provider_call, cost_estimated, "             \
    "cache_write_input_tokens, run_id, saved_nusd, key_id, simulated, ttft_ms, trace_id"

/* The running spend table and its back-fill (see lgw_spend_delta), shared by both backends. DAY and MONTH
 * are each engine's expression of an event's UTC "YYYY-MM-DD" and "YYYY-MM" from ts_ms; the result is a
 * printf format taking the back-fill's start (ms) four times. */
#define LGW_SPEND_TABLE                                                                                      \
    "CREATE TABLE spend_totals (scope TEXT NOT NULL, period TEXT NOT NULL, tenant TEXT NOT NULL, key_id TEXT," \
    " spend_nusd BIGINT NOT NULL, updated_ms BIGINT NOT NULL, PRIMARY KEY (scope, period));"                  \
    "CREATE INDEX spend_totals_period ON spend_totals(period);"
#define LGW_SPEND_BACKFILL(DAY, MONTH)                                                                       \
    "INSERT INTO spend_totals (scope, period, tenant, key_id, spend_nusd, updated_ms)"                       \
    " SELECT 'tenant:' || tenant, 'day:' || " DAY ", tenant, NULL, sum(cost_nusd), max(ts_ms)"                \
    " FROM cost_events WHERE ts_ms >= %lld GROUP BY 1, 2, 3"                                                  \
    " UNION ALL SELECT 'tenant:' || tenant, 'month:' || " MONTH ", tenant, NULL, sum(cost_nusd), max(ts_ms)"  \
    " FROM cost_events WHERE ts_ms >= %lld GROUP BY 1, 2, 3"                                                  \
    " UNION ALL SELECT 'key:' || key_id, 'day:' || " DAY ", min(tenant), key_id, sum(cost_nusd), max(ts_ms)"  \
    " FROM cost_events WHERE ts_ms >= %lld AND key_id IS NOT NULL GROUP BY 1, 2, 4"                           \
    " UNION ALL SELECT 'key:' || key_id, 'month:' || " MONTH ", min(tenant), key_id, sum(cost_nusd),"         \
    " max(ts_ms) FROM cost_events WHERE ts_ms >= %lld AND key_id IS NOT NULL GROUP BY 1, 2, 4;"

#endif
