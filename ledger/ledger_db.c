/* ledger_db.c - dispatch from a database URL to its backend (see ledger_db.h). */
#include "ledger/ledger_db.h"

#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/buf.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/spend_record.h"

struct lgw_ledger_db {
    const struct lgw_ledger_backend *be;
    void *conn;
};

int lgw_ledger_db_open(const char *url, struct lgw_ledger_db **out)
{
    *out = NULL;
    const struct lgw_ledger_backend *be;
    if (lgw_pg_url(url))
        be = &lgw_ledger_pg;
    else if (strncmp(url, "sqlite:", 7) == 0)
        be = &lgw_ledger_sqlite;
    else {
        LGW_ERROR("ledger", "database_url must start with postgresql:// or sqlite:");
        return LGW_ERR(CONFIG);
    }
    void *conn = NULL;
    int rc = be->open(url, &conn);
    if (rc)
        return rc;
    struct lgw_ledger_db *db = lgw_calloc(1, sizeof(*db));
    db->be = be;
    db->conn = conn;
    *out = db;
    return LGW_OK;
}

void lgw_ledger_db_close(struct lgw_ledger_db *db)
{
    if (!db)
        return;
    db->be->close(db->conn);
    free(db);
}

int lgw_ledger_db_begin(struct lgw_ledger_db *db) { return db->be->exec(db->conn, "BEGIN"); }
int lgw_ledger_db_commit(struct lgw_ledger_db *db) { return db->be->exec(db->conn, "COMMIT"); }
void lgw_ledger_db_rollback(struct lgw_ledger_db *db) { db->be->exec(db->conn, "ROLLBACK"); }
bool lgw_ledger_db_ping(struct lgw_ledger_db *db) { return db->be->ping(db->conn); }

void lgw_ledger_run_id(const struct lgw_cost_event *ev, char *out)
{
    size_t n = strcspn(ev->event_id, ".");
    memcpy(out, ev->event_id, n);
    out[n] = '\0';
}

int lgw_ledger_db_insert_batch(struct lgw_ledger_db *db, const struct lgw_cost_event *const *evs, size_t n,
                               bool *inserted)
{
    for (size_t i = 0; i < n; i++) {
        /* The decoder refused negative amounts and counts (schemas/cost_event.schema.json): a negative value
         * here would be a bug on our side of it, and the ledger is the bill. */
        LGW_ASSERT(evs[i]->cost_nusd >= 0 && evs[i]->usage.input_tokens >= 0 && evs[i]->usage.output_tokens >= 0 &&
                   evs[i]->usage.cached_input_tokens >= 0);
        LGW_ASSERT(evs[i]->tenant[0] != '\0'); /* every row belongs to a tenant: analytics filter on it */
    }
    return n ? db->be->insert_batch(db->conn, evs, n, inserted) : LGW_OK;
}

int lgw_ledger_db_insert(struct lgw_ledger_db *db, const struct lgw_cost_event *ev, bool *inserted)
{
    return lgw_ledger_db_insert_batch(db, &ev, 1, inserted);
}

int lgw_ledger_db_spend_add_batch(struct lgw_ledger_db *db, const struct lgw_spend_delta *d, size_t n,
                                  int64_t *totals)
{
    for (size_t i = 0; i < n; i++)
        LGW_ASSERT(d[i].add_nusd >= 0); /* spend only grows: the cost events' amounts are never negative */
    return n ? db->be->spend_add_batch(db->conn, d, n, totals) : LGW_OK;
}

int lgw_ledger_db_spend_add(struct lgw_ledger_db *db, const struct lgw_spend_delta *d, int64_t *total)
{
    return lgw_ledger_db_spend_add_batch(db, d, 1, total);
}

int lgw_ledger_db_spend_list(struct lgw_ledger_db *db, const char *day, const char *month, lgw_ledger_spend_row_cb cb,
                             void *opaque)
{
    return db->be->spend_list(db->conn, day, month, cb, opaque);
}

int64_t lgw_ledger_spend_backfill_from(int64_t now_ms)
{
    /* The month's end minus 32 days is in the previous month; its end is this month's start. */
    return lgw_spend_month_end_ms(lgw_spend_month_end_ms(now_ms) - 32LL * 86400000LL);
}
