/* audit.c - the admin audit in the ledger's database (see audit.h). Its own connection and its own two
 * small backends: the cost ledger's transaction and batching machinery is for a high-volume stream, and
 * this table gets a row per operator action. */
#include "ledger/audit.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/errors.h"
#include "common/kv_topic.h"
#include "common/log.h"
#include "common/pg.h"

/* before/after are the records as JSON (jsonb on PostgreSQL, text on SQLite); ts_ms is when the admin API
 * made the change, created_at when the ledger stored it. */
static const char schema_pg[] =
    "CREATE TABLE IF NOT EXISTS admin_audit ("
    " id TEXT PRIMARY KEY, ts_ms BIGINT NOT NULL, principal TEXT NOT NULL, action TEXT NOT NULL,"
    " target TEXT NOT NULL, before JSONB, after JSONB, request_id TEXT,"
    " created_at TIMESTAMPTZ NOT NULL DEFAULT now());"
    "CREATE INDEX IF NOT EXISTS admin_audit_target_ts ON admin_audit(target, ts_ms);";
static const char schema_sqlite[] =
    "CREATE TABLE IF NOT EXISTS admin_audit ("
    " id TEXT PRIMARY KEY, ts_ms INTEGER NOT NULL, principal TEXT NOT NULL, action TEXT NOT NULL,"
    " target TEXT NOT NULL, before TEXT, after TEXT, request_id TEXT, created_at TEXT DEFAULT CURRENT_TIMESTAMP);"
    "CREATE INDEX IF NOT EXISTS admin_audit_target_ts ON admin_audit(target, ts_ms);";
static const char insert_pg[] =
    "INSERT INTO admin_audit (id, ts_ms, principal, action, target, before, after, request_id)"
    " VALUES ($1, $2::bigint, $3, $4, $5, $6::jsonb, $7::jsonb, NULLIF($8, '')) ON CONFLICT (id) DO NOTHING";
static const char insert_sqlite[] =
    "INSERT INTO admin_audit (id, ts_ms, principal, action, target, before, after, request_id)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULLIF(?8, '')) ON CONFLICT (id) DO NOTHING";

/* Backoff while the database is down: as the cost ledger's. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

struct lgw_audit_db {
    char *url;
    PGconn *pg;  /* one of the two */
    sqlite3 *lite;
};

/* "relation already exists, skipping" and the like: debug lines in the JSON log, never plain stderr. */
static void notice_cb(void *arg, const char *msg)
{
    (void)arg;
    LGW_DEBUG("ledger", "audit: postgresql notice: %.*s", (int)strcspn(msg, "\n"), msg);
}

static int open_pg(struct lgw_audit_db *db)
{
    if (db->pg)
        PQfinish(db->pg);
    db->pg = PQconnectdb(db->url);
    if (!db->pg) {
        LGW_ERROR("ledger", "postgresql: out of memory");
        abort();
    }
    if (PQstatus(db->pg) != CONNECTION_OK) {
        LGW_WARN("ledger", "audit: postgresql: %s", PQerrorMessage(db->pg));
        return LGW_ERR(DB);
    }
    PQsetNoticeProcessor(db->pg, notice_cb, NULL);
    PGresult *res = PQexec(db->pg, schema_pg);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        LGW_WARN("ledger", "audit: postgresql schema: %s", PQresultErrorMessage(res));
    PQclear(res);
    return ok ? LGW_OK : LGW_ERR(DB);
}

int lgw_audit_db_open(const char *url, struct lgw_audit_db **out)
{
    *out = NULL;
    struct lgw_audit_db *db = lgw_calloc(1, sizeof(*db));
    db->url = lgw_strdup(url);
    int rc = LGW_OK;
    if (lgw_pg_url(url)) {
        rc = open_pg(db);
    } else if (strncmp(url, "sqlite:", 7) == 0 && url[7]) {
        char *err = NULL;
        if (sqlite3_open_v2(url + 7, &db->lite, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                            NULL) != SQLITE_OK ||
            sqlite3_busy_timeout(db->lite, 5000) != SQLITE_OK ||
            sqlite3_exec(db->lite, schema_sqlite, NULL, NULL, &err) != SQLITE_OK) {
            LGW_WARN("ledger", "audit: sqlite: %s", err ? err : sqlite3_errmsg(db->lite));
            rc = LGW_ERR(DB);
        }
        sqlite3_free(err);
    } else {
        rc = LGW_ERR(CONFIG);
    }
    if (rc) {
        lgw_audit_db_close(db);
        return rc;
    }
    *out = db;
    return LGW_OK;
}

void lgw_audit_db_close(struct lgw_audit_db *db)
{
    if (!db)
        return;
    if (db->pg)
        PQfinish(db->pg);
    if (db->lite)
        sqlite3_close(db->lite);
    free(db->url);
    free(db);
}

int lgw_audit_db_insert(struct lgw_audit_db *db, const json_t *rec, bool *inserted)
{
    *inserted = false;
    const char *id = json_string_value(json_object_get(rec, "id"));
    const char *principal = json_string_value(json_object_get(rec, "principal"));
    const char *action = json_string_value(json_object_get(rec, "action"));
    const char *target = json_string_value(json_object_get(rec, "target"));
    const char *request_id = json_string_value(json_object_get(rec, "request_id"));
    json_t *ts = json_object_get(rec, "ts_ms");
    if (!id || !id[0] || !principal || !action || !target || !json_is_integer(ts))
        return LGW_ERR(INVALID);
    json_t *b = json_object_get(rec, "before"), *a = json_object_get(rec, "after");
    char *before = b && !json_is_null(b) ? json_dumps(b, JSON_COMPACT) : NULL;
    char *after = a && !json_is_null(a) ? json_dumps(a, JSON_COMPACT) : NULL;
    char tsbuf[24];
    snprintf(tsbuf, sizeof(tsbuf), "%lld", (long long)json_integer_value(ts));
    int rc = LGW_OK;
    if (db->pg) {
        const char *params[8] = {id, tsbuf, principal, action, target, before, after, request_id ? request_id : ""};
        for (int attempt = 0; attempt < 2; attempt++) {
            PGresult *res = PQexecParams(db->pg, insert_pg, 8, NULL, params, NULL, NULL, 0);
            bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
            if (ok)
                *inserted = strcmp(PQcmdTuples(res), "1") == 0;
            else
                LGW_WARN("ledger", "audit: postgresql insert: %s", PQresultErrorMessage(res));
            PQclear(res);
            if (ok) {
                rc = LGW_OK;
                break;
            }
            rc = LGW_ERR(DB);
            /* A broken connection is worth one immediate reconnect; anything else waits for the caller. */
            if (PQstatus(db->pg) == CONNECTION_OK || open_pg(db) != LGW_OK)
                break;
        }
    } else {
        sqlite3_stmt *st = NULL;
        rc = LGW_ERR(DB);
        if (sqlite3_prepare_v2(db->lite, insert_sqlite, -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, (sqlite3_int64)json_integer_value(ts));
            sqlite3_bind_text(st, 3, principal, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, action, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 5, target, -1, SQLITE_STATIC);
            if (before)
                sqlite3_bind_text(st, 6, before, -1, SQLITE_STATIC);
            if (after)
                sqlite3_bind_text(st, 7, after, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 8, request_id ? request_id : "", -1, SQLITE_STATIC);
            if (sqlite3_step(st) == SQLITE_DONE) {
                *inserted = sqlite3_changes(db->lite) == 1;
                rc = LGW_OK;
            }
        }
        if (rc)
            LGW_WARN("ledger", "audit: sqlite insert: %s", sqlite3_errmsg(db->lite));
        sqlite3_finalize(st);
    }
    free(before);
    free(after);
    return rc;
}

struct lgw_audit {
    const struct lgw_config *cfg;
    struct lgw_audit_db *db; /* reader thread only; NULL until (re)opened */
    struct lgw_kv_reader *reader;
    atomic_bool stop;
    atomic_llong rows;
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* One audit record: into the table, retried with backoff while the database fails (the reader does not move
 * on meanwhile, so no record is skipped), until stopped. Reader thread. */
static void record_cb(void *opaque, const char *key, size_t keylen, const void *value, size_t len)
{
    (void)key;
    (void)keylen;
    struct lgw_audit *a = opaque;
    json_error_t jerr;
    json_t *rec = value ? json_loadb(value, len, 0, &jerr) : NULL;
    if (!json_is_object(rec)) {
        LGW_WARN("ledger", "audit: skipping a record that is not a JSON object");
        json_decref(rec);
        return;
    }
    int backoff = BACKOFF_MIN_MS;
    while (!atomic_load(&a->stop)) {
        bool inserted;
        int rc = a->db ? LGW_OK : lgw_audit_db_open(a->cfg->database_url, &a->db);
        if (rc == LGW_OK)
            rc = lgw_audit_db_insert(a->db, rec, &inserted);
        if (rc == LGW_OK) {
            if (inserted)
                atomic_fetch_add(&a->rows, 1);
            break;
        }
        if (rc == LGW_ERR(INVALID) || rc == LGW_ERR(CONFIG)) {
            LGW_WARN("ledger", "audit: skipping a record without id, ts_ms, principal, action or target");
            break;
        }
        lgw_audit_db_close(a->db);
        a->db = NULL;
        sleep_ms(backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    json_decref(rec);
}

int lgw_audit_start(const struct lgw_config *cfg, struct lgw_audit **out)
{
    *out = NULL;
    struct lgw_audit *a = lgw_calloc(1, sizeof(*a));
    a->cfg = cfg;
    /* Opened now so a ledger database from before the table gains it at start; a failure here is retried by
     * the first record. */
    if (lgw_audit_db_open(cfg->database_url, &a->db))
        a->db = NULL;
    int rc = lgw_kv_reader_start(cfg, LGW_TOPIC_AUDIT, "ledger", record_cb, a, &a->reader);
    if (rc) {
        lgw_audit_db_close(a->db);
        free(a);
        return rc;
    }
    LGW_INFO("ledger", "keeping the admin audit in admin_audit");
    *out = a;
    return LGW_OK;
}

long long lgw_audit_rows(const struct lgw_audit *a)
{
    return atomic_load(&a->rows);
}

void lgw_audit_stop(struct lgw_audit *a)
{
    if (!a)
        return;
    atomic_store(&a->stop, true); /* first: a record being retried gives up, so the reader can stop */
    lgw_kv_reader_free(a->reader);
    lgw_audit_db_close(a->db);
    free(a);
}
