/* ledger_db.h - the ledger's database backends (PostgreSQL, SQLite) behind one small interface.
 *
 * A backend inserts cost events idempotently on event_id, inside a transaction the ledger controls, and
 * computes `rerun` (an event of another execution of the same request exists: another run_id) inside that
 * same transaction. run_id is the execution's id: an event_id up to its first '.' (lgw_ledger_run_id). 
 * One connection, used by one thread. */
#ifndef LGW_LEDGER_DB_H
#define LGW_LEDGER_DB_H

#include <stdbool.h>

#include "common/envelope.h"

struct lgw_ledger_db;

/* Opens url ("postgresql://..." / "postgres://..." or "sqlite:PATH") and creates the schema if missing.
 * Returns 0 or LGW_ERR(DB)/LGW_ERR(CONFIG); *out is owned by the caller (lgw_ledger_db_close). */
int lgw_ledger_db_open(const char *url, struct lgw_ledger_db **out);
void lgw_ledger_db_close(struct lgw_ledger_db *db); /* NULL is a no-op */

int lgw_ledger_db_begin(struct lgw_ledger_db *db);
/* Inserts ev; *inserted is false when event_id was already stored (a redelivery). */
int lgw_ledger_db_insert(struct lgw_ledger_db *db, const struct lgw_cost_event *ev, bool *inserted);
int lgw_ledger_db_commit(struct lgw_ledger_db *db);
void lgw_ledger_db_rollback(struct lgw_ledger_db *db);
/* True when the connection works (reconnects if the backend can). */
bool lgw_ledger_db_ping(struct lgw_ledger_db *db);

/* Backend vtable: ledger_db.c dispatches on the URL scheme. */
struct lgw_ledger_backend {
    int (*open)(const char *url, void **conn);
    void (*close)(void *conn);
    int (*exec)(void *conn, const char *sql); /* BEGIN / COMMIT / ROLLBACK */
    int (*insert)(void *conn, const struct lgw_cost_event *ev, bool *inserted);
    bool (*ping)(void *conn);
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
    "cache_write_input_tokens, run_id, saved_nusd, key_id"

#endif
