/* audit.h - the ledger keeps the admin audit: every record of the audit topic (who changed which key or
 * tenant, when, before and after; schemas/audit.schema.json) becomes a row of admin_audit, in the ledger's
 * database (PostgreSQL or SQLite), idempotent on the record's id.
 *
 * The audit topic is kept forever and admin changes are rare, so the reader simply reads it from the
 * beginning at every start (common/kv_topic.h) and inserts with ON CONFLICT DO NOTHING: no offsets to
 * commit, and a row lost to a database outage is written at the latest by the next start (while the
 * database is down the reader retries the same record with backoff, so it does not skip ahead). */
#ifndef LGW_LEDGER_AUDIT_H
#define LGW_LEDGER_AUDIT_H

#include <jansson.h>
#include <stdbool.h>

#include "common/config.h"

struct lgw_audit;
struct lgw_audit_db;

/* Opens url (as database_url) and creates admin_audit if missing (so a ledger database from before it gains
 * the table). Returns 0 and *out (lgw_audit_db_close), or LGW_ERR(DB)/LGW_ERR(CONFIG). One thread. */
int lgw_audit_db_open(const char *url, struct lgw_audit_db **out);
void lgw_audit_db_close(struct lgw_audit_db *db); /* NULL is a no-op */
/* Inserts one audit record (validated: id, ts_ms, principal, action, target); *inserted is false when its
 * id was stored already. Returns 0, LGW_ERR(INVALID) for a record without the required fields, or
 * LGW_ERR(DB). */
int lgw_audit_db_insert(struct lgw_audit_db *db, const json_t *rec, bool *inserted);

/* Starts the audit reader of the ledger role (its own thread and database connection). cfg must outlive
 * it. Returns 0 and *out (lgw_audit_stop), or an LGW_ERR. Start-up thread. */
int lgw_audit_start(const struct lgw_config *cfg, struct lgw_audit **out);
/* Rows inserted so far (for tests and logs). Any thread. */
long long lgw_audit_rows(const struct lgw_audit *a);
/* Stops the reader (a record being retried is left for the next start) and closes the database. NULL is a
 * no-op. */
void lgw_audit_stop(struct lgw_audit *a);

#endif
