/* ledger_sqlite.c - SQLite backend of the ledger (the embedded default of `llmgw dev`). */
#include <malloc.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "ledger/ledger_db.h"
#include "common/log.h"
#include "common/sqlite.h"

/* Same columns as the PostgreSQL table (ledger_pg.c); SQLite has no BOOLEAN or TIMESTAMPTZ, so booleans are
 * INTEGER 0/1 and created_at is ISO text. */
static const char schema[] =
    "CREATE TABLE IF NOT EXISTS cost_events ("
    " event_id TEXT PRIMARY KEY, request_id TEXT NOT NULL, tenant TEXT NOT NULL, user_id TEXT NOT NULL,"
    " provider TEXT NOT NULL, model TEXT NOT NULL, kind TEXT NOT NULL, input_tokens INTEGER,"
    " output_tokens INTEGER, cached_input_tokens INTEGER, cost_nusd INTEGER NOT NULL,"
    " cost_known INTEGER NOT NULL, latency_ms INTEGER, status INTEGER, outcome TEXT NOT NULL,"
    " cache_hit INTEGER, rerun INTEGER NOT NULL, attempt INTEGER, strategy TEXT,"
    " worker TEXT, ts_ms INTEGER NOT NULL, created_at TEXT DEFAULT CURRENT_TIMESTAMP);"
    "CREATE INDEX IF NOT EXISTS cost_events_request ON cost_events(request_id);"
    "CREATE INDEX IF NOT EXISTS cost_events_tenant_ts ON cost_events(tenant, ts_ms);"
    /* Analytics: time ranges and the request list's keyset order (ts_ms DESC, event_id DESC). */
    "CREATE INDEX IF NOT EXISTS cost_events_ts_event ON cost_events(ts_ms, event_id);";

/* rerun: this execution repeats an earlier one of the same request (an event of another run_id exists),
 * checked in the same transaction.
 * "WHERE true": SQLite's documented way to keep an INSERT ... SELECT from reading ON CONFLICT as a join
 * constraint (https://sqlite.org/lang_upsert.html, "Parsing Ambiguity"). */
static const char insert_sql[] =
    "INSERT INTO cost_events (" LGW_LEDGER_COLUMNS ") SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
    " ?13, ?14, ?15, ?16, (?17 OR EXISTS (SELECT 1 FROM cost_events WHERE request_id = ?2"
    " AND COALESCE(run_id, event_id) <> ?28)), ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, NULLIF(?30, ''), ?31, ?32, NULLIF(?33, '')"
    " WHERE true ON CONFLICT (event_id) DO NOTHING";

struct conn {
    sqlite3 *db;
    sqlite3_stmt *insert;
    sqlite3_stmt *spend; /* spend_add_sql */
};

static void sqlite_close(void *c)
{
    struct conn *conn = c;
    if (!conn)
        return;
    sqlite3_finalize(conn->insert);
    sqlite3_finalize(conn->spend);
    sqlite3_close(conn->db);
    free(conn);
}

/* Columns added since the first schema. SQLite has no ADD COLUMN IF NOT EXISTS: a column that is already
 * there is the one error to accept. Returns 0 or non-zero with *err set. */
static int add_columns(sqlite3 *db, char **err)
{
    /* As in ledger_pg.c: rows from before final and cost_estimated keep NULL there (true and false). */
    static const char *const adds[] = {"ALTER TABLE cost_events ADD COLUMN route_attempts INTEGER",
                                       "ALTER TABLE cost_events ADD COLUMN route TEXT",
                                       "ALTER TABLE cost_events ADD COLUMN final INTEGER",
                                       "ALTER TABLE cost_events ADD COLUMN provider_call INTEGER",
                                       "ALTER TABLE cost_events ADD COLUMN cost_estimated INTEGER",
                                       "ALTER TABLE cost_events ADD COLUMN cache_write_input_tokens INTEGER",
                                       "ALTER TABLE cost_events ADD COLUMN run_id TEXT",
                                       "ALTER TABLE cost_events ADD COLUMN saved_nusd INTEGER",
                                       "ALTER TABLE cost_events ADD COLUMN key_id TEXT",
                                       "ALTER TABLE cost_events ADD COLUMN simulated INTEGER",
                                       "ALTER TABLE cost_events ADD COLUMN ttft_ms INTEGER",
                                       "ALTER TABLE cost_events ADD COLUMN trace_id TEXT"};
    for (size_t i = 0; i < sizeof(adds) / sizeof(adds[0]); i++) {
        if (sqlite3_exec(db, adds[i], NULL, NULL, err) == SQLITE_OK)
            continue;
        if (*err && strstr(*err, "duplicate column")) {
            sqlite3_free(*err);
            *err = NULL;
            continue;
        }
        return -1;
    }
    return 0;
}

static int spend_schema(sqlite3 *db, char **err);

/* Adds to a running spend total and returns the new one (ledger_db.h, lgw_spend_delta). */
static const char spend_add_sql[] =
    "INSERT INTO spend_totals (scope, period, tenant, key_id, spend_nusd, updated_ms)"
    " VALUES (?1, ?2, ?3, NULLIF(?4, ''), ?5, ?6) ON CONFLICT (scope, period) DO UPDATE SET"
    " spend_nusd = min(spend_totals.spend_nusd, 9223372036854775807 - excluded.spend_nusd)"
    " + excluded.spend_nusd, updated_ms = excluded.updated_ms RETURNING spend_nusd";

/* Free memory at the heap's top that glibc keeps instead of giving it back to the kernel. Every insert builds
 * and drops a temporary table (the INSERT ... SELECT reads cost_events for the rerun check): its page cache is
 * malloc'd and freed in one go. With glibc's default 128 KB threshold a heap whose top happens to
 * sit near it gives those pages back after each insert and faults them in again on the next (measured: 1.9
 * page faults and ~15 us of kernel time per event, in a ledger whose heap layout tracing had shifted; none in
 * the same ledger beside it): whether a ledger pays that depended on the layout, not on its work. A few MB kept
 * mapped is nothing next to the database's own cache. */
#define HEAP_TRIM_THRESHOLD (8 * 1024 * 1024)

static int sqlite_open(const char *url, void **out)
{
    const char *path = url + strlen("sqlite:");
    if (!*path) {
        /* An empty name would be a private temporary database: every event written there is lost. */
        LGW_ERROR("ledger", "database_url \"sqlite:\" needs a file path");
        return LGW_ERR(CONFIG);
    }
#ifdef M_TRIM_THRESHOLD /* glibc's */
    mallopt(M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD); /* process-wide and idempotent: every open sets the same */
#endif
    struct conn *conn = lgw_calloc(1, sizeof(*conn));
    char *err = NULL;
    /* WAL: analytics can read while the ledger writes. synchronous=FULL, not WAL's usual NORMAL: Kafka offsets
     * are committed right after COMMIT returns, so a transaction lost to a power cut would be lost for good. */
    if (lgw_sqlite_open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 5000,
                        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", "ledger", LGW_LOG_ERROR, &conn->db)) {
        free(conn);
        return LGW_ERR(DB);
    }
    if (sqlite3_exec(conn->db, schema, NULL, NULL, &err) != SQLITE_OK || add_columns(conn->db, &err) ||
        spend_schema(conn->db, &err))
        goto fail;
    if (sqlite3_prepare_v2(conn->db, insert_sql, -1, &conn->insert, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(conn->db, spend_add_sql, -1, &conn->spend, NULL) != SQLITE_OK)
        goto fail;
    *out = conn;
    return LGW_OK;
fail:
    LGW_ERROR("ledger", "sqlite %s: %s", path, err ? err : sqlite3_errmsg(conn->db));
    sqlite3_free(err);
    sqlite_close(conn);
    return LGW_ERR(DB);
}

static int sqlite_exec(void *c, const char *sql)
{
    struct conn *conn = c;
    char *err = NULL;
    /* IMMEDIATE takes the write lock up front: a deferred transaction that reads (the rerun check) and then
     * writes fails with SQLITE_BUSY at once, without the busy timeout, when another writer got in between. */
    if (strcmp(sql, "BEGIN") == 0)
        sql = "BEGIN IMMEDIATE";
    if (sqlite3_exec(conn->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        LGW_ERROR("ledger", "sqlite %s: %s", sql, err ? err : "?");
        sqlite3_free(err);
        return LGW_ERR(DB);
    }
    return LGW_OK;
}

static int sqlite_insert(void *c, const struct lgw_cost_event *ev, bool *inserted)
{
    struct conn *conn = c;
    sqlite3_stmt *st = conn->insert;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, ev->event_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ev->request_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, ev->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, ev->user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, ev->provider, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, ev->model, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, lgw_job_kind_name(ev->kind), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, ev->usage.input_tokens);
    sqlite3_bind_int64(st, 9, ev->usage.output_tokens);
    sqlite3_bind_int64(st, 10, ev->usage.cached_input_tokens);
    sqlite3_bind_int64(st, 11, ev->cost_nusd);
    sqlite3_bind_int(st, 12, ev->cost_known);
    sqlite3_bind_int64(st, 13, ev->latency_ms);
    sqlite3_bind_int(st, 14, ev->status);
    sqlite3_bind_text(st, 15, ev->outcome, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 16, ev->cache_hit);
    sqlite3_bind_int(st, 17, ev->rerun);
    sqlite3_bind_int(st, 18, ev->attempt);
    sqlite3_bind_text(st, 19, ev->strategy, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 20, ev->worker, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 21, ev->ts_ms);
    sqlite3_bind_int(st, 22, ev->route_attempts);
    sqlite3_bind_text(st, 23, ev->route, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 24, ev->final);
    sqlite3_bind_int(st, 25, ev->provider_call);
    sqlite3_bind_int(st, 26, ev->cost_estimated);
    sqlite3_bind_int64(st, 27, ev->usage.cache_write_input_tokens);
    char run_id[LGW_ID_MAX];
    lgw_ledger_run_id(ev, run_id);
    sqlite3_bind_text(st, 28, run_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 29, ev->saved_nusd);
    sqlite3_bind_text(st, 30, ev->key_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 31, ev->simulated);
    if (ev->has_ttft)
        sqlite3_bind_int64(st, 32, ev->ttft_ms);
    else
        sqlite3_bind_null(st, 32);
    sqlite3_bind_text(st, 33, ev->trace_id, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    if (r != SQLITE_DONE) {
        LGW_ERROR("ledger", "sqlite insert: %s", sqlite3_errmsg(conn->db));
        return LGW_ERR(DB);
    }
    *inserted = sqlite3_changes(conn->db) == 1;
    return LGW_OK;
}

/* SQLite runs in this process: one statement after another costs no round trip. */
static int sqlite_insert_batch(void *c, const struct lgw_cost_event *const *evs, size_t n, bool *inserted)
{
    for (size_t i = 0; i < n; i++) {
        int rc = sqlite_insert(c, evs[i], &inserted[i]);
        if (rc)
            return rc;
    }
    return LGW_OK;
}

static bool sqlite_ping(void *c)
{
    struct conn *conn = c;
    return conn && sqlite3_exec(conn->db, "SELECT 1", NULL, NULL, NULL) == SQLITE_OK;
}

/* Running spend (ledger_db.h, lgw_spend_delta). The table is made, and back-filled, in the write transaction
 * that finds it missing, so two processes opening the file at once back-fill it once. */
#define SQLITE_DAY "strftime('%%Y-%%m-%%d', ts_ms / 1000, 'unixepoch')"
#define SQLITE_MONTH "strftime('%%Y-%%m', ts_ms / 1000, 'unixepoch')"

static int spend_schema(sqlite3 *db, char **err)
{
    static const char fmt[] = LGW_SPEND_TABLE LGW_SPEND_BACKFILL(SQLITE_DAY, SQLITE_MONTH);
    char sql[sizeof(fmt) + 100];
    long long from = (long long)lgw_ledger_spend_backfill_from(lgw_wall_ms());
    snprintf(sql, sizeof(sql), fmt, from, from, from, from);
    sqlite3_stmt *st = NULL;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, err) != SQLITE_OK)
        return -1;
    int r = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'spend_totals'",
                               -1, &st, NULL);
    bool missing = r == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0;
    sqlite3_finalize(st);
    if (r == SQLITE_OK && (!missing || sqlite3_exec(db, sql, NULL, NULL, err) == SQLITE_OK) &&
        sqlite3_exec(db, "COMMIT", NULL, NULL, err) == SQLITE_OK)
        return 0;
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static int sqlite_spend_add(void *c, const struct lgw_spend_delta *d, int64_t *total)
{
    struct conn *conn = c;
    sqlite3_stmt *st = conn->spend;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, d->scope, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, d->period, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, d->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, d->key_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, d->add_nusd);
    sqlite3_bind_int64(st, 6, d->updated_ms);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        *total = sqlite3_column_int64(st, 0);
    /* RETURNING: the change is complete once the statement is reset */
    if (sqlite3_reset(st) != SQLITE_OK || r != SQLITE_ROW) {
        LGW_ERROR("ledger", "sqlite spend_totals: %s", sqlite3_errmsg(conn->db));
        return LGW_ERR(DB);
    }
    return LGW_OK;
}

static int sqlite_spend_add_batch(void *c, const struct lgw_spend_delta *d, size_t n, int64_t *totals)
{
    for (size_t i = 0; i < n; i++) {
        int rc = sqlite_spend_add(c, &d[i], &totals[i]);
        if (rc)
            return rc;
    }
    return LGW_OK;
}

static int sqlite_spend_list(void *c, const char *day, const char *month, lgw_ledger_spend_row_cb cb, void *opaque)
{
    struct conn *conn = c;
    sqlite3_stmt *st = NULL;
    int r = sqlite3_prepare_v2(conn->db,
                               "SELECT scope, period, tenant, COALESCE(key_id, ''), spend_nusd FROM spend_totals"
                               " WHERE period = ?1 OR period = ?2",
                               -1, &st, NULL);
    if (r == SQLITE_OK) {
        sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, month, -1, SQLITE_STATIC);
        while ((r = sqlite3_step(st)) == SQLITE_ROW)
            cb(opaque, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
               (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 3),
               sqlite3_column_int64(st, 4));
    }
    if (r != SQLITE_DONE)
        LGW_ERROR("ledger", "sqlite spend_totals: %s", sqlite3_errmsg(conn->db));
    sqlite3_finalize(st);
    return r == SQLITE_DONE ? LGW_OK : LGW_ERR(DB);
}

const struct lgw_ledger_backend lgw_ledger_sqlite = {
    .open = sqlite_open, .close = sqlite_close, .exec = sqlite_exec, .insert_batch = sqlite_insert_batch,
    .ping = sqlite_ping, .spend_add_batch = sqlite_spend_add_batch, .spend_list = sqlite_spend_list,
};
