/* ledger_pg.c - PostgreSQL backend of the ledger (libpq, one prepared insert per connection, a batch's inserts
 * sent in pipeline mode). */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "ledger/ledger_db.h"
#include "common/log.h"
#include "common/pg.h"

/* Run in one transaction under an advisory lock: CREATE ... IF NOT EXISTS is not safe against itself, so two
 * ledgers starting together could otherwise fail on a duplicate catalog entry. The lock key is arbitrary
 * but fixed ("llmgw ledger schema"). SET LOCAL hides the "already exists, skipping" notices. */
static const char schema[] =
    "BEGIN;"
    "SET LOCAL client_min_messages = warning;"
    "SELECT pg_advisory_xact_lock(7340209);"
    "CREATE TABLE IF NOT EXISTS cost_events ("
    " event_id TEXT PRIMARY KEY, request_id TEXT NOT NULL, tenant TEXT NOT NULL, user_id TEXT NOT NULL,"
    " provider TEXT NOT NULL, model TEXT NOT NULL, kind TEXT NOT NULL, input_tokens BIGINT,"
    " output_tokens BIGINT, cached_input_tokens BIGINT, cost_nusd BIGINT NOT NULL,"
    " cost_known BOOLEAN NOT NULL, latency_ms BIGINT, status INTEGER, outcome TEXT NOT NULL,"
    " cache_hit BOOLEAN, rerun BOOLEAN NOT NULL, attempt INTEGER, strategy TEXT,"
    " worker TEXT, ts_ms BIGINT NOT NULL, created_at TIMESTAMPTZ DEFAULT now());"
    /* Columns added since the first schema: a ledger created before them gains them here. */
    "ALTER TABLE cost_events ADD COLUMN IF NOT EXISTS route_attempts INTEGER;"
    "ALTER TABLE cost_events ADD COLUMN IF NOT EXISTS route TEXT;"
    /* Per-attempt spend and estimates. Rows from before these columns are their execution's one, final
     * event with reported usage: final and cost_estimated stay NULL there, read as true and false. */
    "ALTER TABLE cost_events ADD COLUMN IF NOT EXISTS final BOOLEAN;"
    "ALTER TABLE cost_events ADD COLUMN IF NOT EXISTS provider_call INTEGER;"
    "ALTER TABLE cost_events ADD COLUMN IF NOT EXISTS cost_estimated BOOLEAN;"
    "ALTER TABLE cost_events ADD COLUMN IF NOT EXISTS cache_write_input_tokens BIGINT;"
    "ALTER TABLE cost_events ADD COLUMN IF NOT EXISTS run_id TEXT;"
    /* A response-cache hit's saved provider spend; NULL in rows from before it (no hit was ever recorded). */
    "ALTER TABLE cost_events ADD COLUMN IF NOT EXISTS saved_nusd BIGINT;"
    /* The tenant key that made the request; NULL in rows from before it (and "" never: keyless is NULL). */
    "ALTER TABLE cost_events ADD COLUMN IF NOT EXISTS key_id TEXT;"
    /* Simulated providers (`llmgw dev --simulate`) and a stream's time to first token; NULL in rows from before
     * them (not simulated: no simulation existed; TTFT not measured). ttft_ms stays NULL for unstreamed answers. */
    "ALTER TABLE cost_events ADD COLUMN IF NOT EXISTS simulated BOOLEAN;"
    "ALTER TABLE cost_events ADD COLUMN IF NOT EXISTS ttft_ms BIGINT;"
    /* The request's trace id (a row leads to its trace); NULL in rows from before it, and for a job that
     * carried no trace context. */
    "ALTER TABLE cost_events ADD COLUMN IF NOT EXISTS trace_id TEXT;"
    "CREATE INDEX IF NOT EXISTS cost_events_request ON cost_events(request_id);"
    "CREATE INDEX IF NOT EXISTS cost_events_tenant_ts ON cost_events(tenant, ts_ms);"
    /* Decimal only at the edge: analytics read dollars here, the table keeps integer nano-dollars. The view
     * is re-created because SELECT * froze the column list of an older one. */
    "DROP VIEW IF EXISTS cost_events_usd;"
    "CREATE VIEW cost_events_usd AS"
    " SELECT *, (cost_nusd::NUMERIC / 1000000000)::NUMERIC(20,9) AS cost_usd FROM cost_events;"
    /* Analytics (docs/ANALYTICS.md): time-range scans and the request list's keyset order (ts_ms DESC,
     * event_id DESC) read this index; per-tenant ranges read cost_events_tenant_ts. */
    "CREATE INDEX IF NOT EXISTS cost_events_ts_event ON cost_events(ts_ms, event_id);"
    /* Views for analysts (psql, BI tools): a request's spend is all its events; NULL final is an old row's
     * only event. Dollars are NUMERIC from integer nano-dollars, never floats. Days are UTC. */
    "CREATE OR REPLACE VIEW analytics_daily_spend AS"
    " SELECT (to_timestamp(ts_ms / 1000) AT TIME ZONE 'UTC')::date AS day, tenant, key_id, model,"
    " COUNT(DISTINCT request_id) AS requests, COALESCE(SUM(input_tokens), 0) AS input_tokens,"
    " COALESCE(SUM(output_tokens), 0) AS output_tokens,"
    " (SUM(cost_nusd)::NUMERIC / 1000000000)::NUMERIC(20,9) AS cost_usd,"
    " (SUM(CASE WHEN cost_estimated THEN cost_nusd ELSE 0 END)::NUMERIC / 1000000000)::NUMERIC(20,9)"
    " AS estimated_cost_usd"
    " FROM cost_events GROUP BY 1, 2, 3, 4;"
    "CREATE OR REPLACE VIEW analytics_top_users AS"
    " SELECT tenant, user_id, COUNT(DISTINCT request_id) AS requests,"
    " COALESCE(SUM(input_tokens), 0) + COALESCE(SUM(output_tokens), 0) AS tokens,"
    " (SUM(cost_nusd)::NUMERIC / 1000000000)::NUMERIC(20,9) AS cost_usd"
    " FROM cost_events WHERE ts_ms >= (EXTRACT(EPOCH FROM now() - INTERVAL '30 days') * 1000)::BIGINT"
    " GROUP BY tenant, user_id ORDER BY cost_usd DESC;"
    "COMMIT;";

static const char insert_sql[] =
    "INSERT INTO cost_events (" LGW_LEDGER_COLUMNS ") SELECT $1, $2, $3, $4, $5, $6, $7, $8::bigint, $9::bigint,"
    " $10::bigint, $11::bigint, $12::boolean, $13::bigint, $14::integer, $15, $16::boolean,"
    " ($17::boolean OR EXISTS (SELECT 1 FROM cost_events WHERE request_id = $2 AND COALESCE(run_id, event_id) <> $28)),"
    " $18::integer, $19, $20, $21::bigint, $22::integer, $23, $24::boolean, $25::integer, $26::boolean, $27::bigint,"
    " $28, $29::bigint, NULLIF($30, ''), $31::boolean, NULLIF($32, '')::bigint, NULLIF($33, '')"
    " ON CONFLICT (event_id) DO NOTHING";

/* Adds to a running spend total and returns the new one (ledger_db.h, lgw_spend_delta). */
static const char spend_add_sql[] =
    "INSERT INTO spend_totals (scope, period, tenant, key_id, spend_nusd, updated_ms)"
    " VALUES ($1, $2, $3, NULLIF($4, ''), $5::bigint, $6::bigint) ON CONFLICT (scope, period) DO UPDATE SET"
    " spend_nusd = LEAST(spend_totals.spend_nusd, 9223372036854775807 - excluded.spend_nusd)"
    " + excluded.spend_nusd, updated_ms = excluded.updated_ms RETURNING spend_nusd";

static int spend_schema(struct lgw_pg *db);

/* Every new connection gets the schema (created or upgraded) and the prepared insert and spend upsert, which
 * live in the session: a reconnect prepares them again. */
static int setup_cb(struct lgw_pg *db, void *arg)
{
    (void)arg;
    if (lgw_pg_command(db, "schema", schema)) {
        /* A failed statement leaves the schema transaction open; the connection is closed anyway. */
        PQclear(PQexec(db->pg, "ROLLBACK"));
        return LGW_ERR(DB);
    }
    if (spend_schema(db))
        return LGW_ERR(DB);
    static const char *const stmts[][2] = {{"lgw_insert", insert_sql}, {"lgw_spend_add", spend_add_sql}};
    for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
        PGresult *res = PQprepare(db->pg, stmts[i][0], stmts[i][1], 0, NULL);
        bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok)
            LGW_ERROR("ledger", "postgresql prepare %s: %s", stmts[i][0], PQresultErrorMessage(res));
        PQclear(res);
        if (!ok)
            return LGW_ERR(DB);
    }
    return LGW_OK;
}

/* Connected at open; a broken connection is reopened before the next transaction, so a database restart
 * costs one retry. */
static const struct lgw_pg_role role = {
    .module = "ledger",
    .application_name = "llmgw-ledger",
    .options = "-c statement_timeout=30000",
    .notice_level = LGW_LOG_INFO,
    .failed_level = LGW_LOG_ERROR,
    .name_target = true,
    .on_connect = setup_cb,
};

static void pg_close(void *c)
{
    lgw_pg_free(c);
}

static int pg_open(const char *url, void **out)
{
    struct lgw_pg *conn;
    int rc = lgw_pg_open(url, &role, NULL, &conn);
    *out = conn;
    return rc;
}

static int pg_exec(void *c, const char *sql)
{
    struct lgw_pg *conn = c;
    if (strcmp(sql, "BEGIN") == 0 && lgw_pg_ensure(conn))
        return LGW_ERR(DB);
    if (!conn->pg) /* closed by a failed pipeline (pipeline_failed): the server rolled its transaction back */
        return strcmp(sql, "ROLLBACK") == 0 ? LGW_OK : LGW_ERR(DB);
    return lgw_pg_command(conn, sql, sql);
}

/* An insert's parameters: params point into nums and run_id, which the caller keeps until the insert is sent. */
static void insert_params(const struct lgw_cost_event *ev, char nums[13][24], char run_id[LGW_ID_MAX],
                          const char *params[33])
{
    lgw_ledger_run_id(ev, run_id);
    snprintf(nums[0], 24, "%lld", (long long)ev->usage.input_tokens);
    snprintf(nums[1], 24, "%lld", (long long)ev->usage.output_tokens);
    snprintf(nums[2], 24, "%lld", (long long)ev->usage.cached_input_tokens);
    snprintf(nums[3], 24, "%lld", (long long)ev->cost_nusd);
    snprintf(nums[4], 24, "%lld", (long long)ev->latency_ms);
    snprintf(nums[5], 24, "%d", ev->status);
    snprintf(nums[6], 24, "%d", ev->attempt);
    snprintf(nums[7], 24, "%lld", (long long)ev->ts_ms);
    snprintf(nums[8], 24, "%d", ev->route_attempts);
    snprintf(nums[9], 24, "%d", ev->provider_call);
    snprintf(nums[10], 24, "%lld", (long long)ev->usage.cache_write_input_tokens);
    snprintf(nums[11], 24, "%lld", (long long)ev->saved_nusd);
    if (ev->has_ttft) /* else "": NULL */
        snprintf(nums[12], 24, "%lld", (long long)ev->ttft_ms);
    else
        nums[12][0] = '\0';
    const char *p[33] = {
        ev->event_id, ev->request_id, ev->tenant, ev->user, ev->provider, ev->model, lgw_job_kind_name(ev->kind),
        nums[0], nums[1], nums[2], nums[3], ev->cost_known ? "true" : "false", nums[4], nums[5], ev->outcome,
        ev->cache_hit ? "true" : "false", ev->rerun ? "true" : "false", nums[6], ev->strategy, ev->worker, nums[7],
        nums[8], ev->route, ev->final ? "true" : "false", nums[9], ev->cost_estimated ? "true" : "false", nums[10],
        run_id, nums[11], ev->key_id, ev->simulated ? "true" : "false", nums[12], ev->trace_id,
    };
    memcpy(params, p, sizeof(p));
}

/* Statements sent before their results are read, in libpq's pipeline mode: one network round trip for all of
 * them instead of one each (a batch of 20 events spent 20 round trips, each a wake-up of the server and of this
 * thread). Bounded so that the server's answers (under 100 bytes a statement) always fit in the socket buffers
 * while this side is still writing: a pipeline whose answers fill them would block both sides (libpq, "Pipeline
 * Mode"). */
#define PIPELINE_MAX 256

/* A batch of one prepared statement: send(i) sends the i-th, read(i) takes its result, whose status was ok. */
struct pipeline {
    const char *what;    /* for the log */
    ExecStatusType want; /* PGRES_COMMAND_OK, or PGRES_TUPLES_OK for a statement that returns rows */
    int (*send)(PGconn *pg, size_t i, void *ctx);     /* PQsendQueryPrepared's result: 1 sent */
    bool (*read)(PGresult *res, size_t i, void *ctx); /* false: not the result expected */
    void *ctx;
};

/* A pipeline that failed half-way leaves libpq's state unknown: the connection is closed, and the next
 * transaction (lgw_pg_ensure) opens a new one. The transaction it held is rolled back by the server. */
static int pipeline_failed(struct lgw_pg *conn, const struct pipeline *pl, const char *why)
{
    LGW_ERROR("ledger", "postgresql %s: %s", pl->what, why);
    PQfinish(conn->pg);
    conn->pg = NULL;
    return LGW_ERR(DB);
}

/* Statements [from, from + n) of pl, n <= PIPELINE_MAX, in one round trip. */
static int pipeline_part(struct lgw_pg *conn, const struct pipeline *pl, size_t from, size_t n)
{
    if (PQenterPipelineMode(conn->pg) != 1)
        return pipeline_failed(conn, pl, PQerrorMessage(conn->pg));
    for (size_t i = from; i < from + n; i++)
        if (pl->send(conn->pg, i, pl->ctx) != 1)
            return pipeline_failed(conn, pl, PQerrorMessage(conn->pg));
    if (PQpipelineSync(conn->pg) != 1)
        return pipeline_failed(conn, pl, PQerrorMessage(conn->pg));
    /* Each statement's result, then a NULL that ends it; after a failed one, every later statement answers
     * PGRES_PIPELINE_ABORTED. Then the sync point. */
    bool ok = true;
    for (size_t i = from; i < from + n; i++) {
        PGresult *res = PQgetResult(conn->pg);
        if (!res)
            return pipeline_failed(conn, pl, PQerrorMessage(conn->pg));
        if (PQresultStatus(res) == pl->want) {
            if (!pl->read(res, i, pl->ctx)) {
                LGW_ERROR("ledger", "postgresql %s: an unexpected result", pl->what);
                ok = false;
            }
        } else {
            if (ok && PQresultStatus(res) != PGRES_PIPELINE_ABORTED)
                LGW_ERROR("ledger", "postgresql %s: %s", pl->what, PQresultErrorMessage(res));
            ok = false;
        }
        PQclear(res);
        while ((res = PQgetResult(conn->pg))) /* none expected: each statement has one result */
            PQclear(res);
    }
    PGresult *res = PQgetResult(conn->pg);
    bool synced = res && PQresultStatus(res) == PGRES_PIPELINE_SYNC;
    PQclear(res);
    if (!synced || PQexitPipelineMode(conn->pg) != 1)
        return pipeline_failed(conn, pl, synced ? PQerrorMessage(conn->pg) : "the pipeline's sync point is missing");
    return ok ? LGW_OK : LGW_ERR(DB);
}

static int run_pipeline(struct lgw_pg *conn, const struct pipeline *pl, size_t n)
{
    if (!conn->pg) /* a pipeline before this one in the transaction failed and closed it */
        return LGW_ERR(DB);
    for (size_t from = 0; from < n; from += PIPELINE_MAX) {
        int rc = pipeline_part(conn, pl, from, n - from < PIPELINE_MAX ? n - from : PIPELINE_MAX);
        if (rc)
            return rc;
    }
    return LGW_OK;
}

struct insert_batch {
    const struct lgw_cost_event *const *evs;
    bool *inserted;
};

static int insert_send(PGconn *pg, size_t i, void *ctx)
{
    const struct insert_batch *b = ctx;
    char nums[13][24], run_id[LGW_ID_MAX];
    const char *params[33];
    insert_params(b->evs[i], nums, run_id, params);
    return PQsendQueryPrepared(pg, "lgw_insert", 33, params, NULL, NULL, 0);
}

static bool insert_read(PGresult *res, size_t i, void *ctx)
{
    const struct insert_batch *b = ctx;
    b->inserted[i] = strcmp(PQcmdTuples(res), "1") == 0;
    return true;
}

static int pg_insert_batch(void *c, const struct lgw_cost_event *const *evs, size_t n, bool *inserted)
{
    struct insert_batch b = {evs, inserted};
    const struct pipeline pl = {"insert", PGRES_COMMAND_OK, insert_send, insert_read, &b};
    return run_pipeline(c, &pl, n);
}

static bool pg_ping(void *c)
{
    struct lgw_pg *conn = c;
    if (lgw_pg_ensure(conn))
        return false;
    PGresult *res = PQexec(conn->pg, "SELECT 1");
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    return ok;
}

/* Running spend (ledger_db.h, lgw_spend_delta). The table is made, and back-filled, in the transaction that
 * finds it missing, under the schema's advisory lock: a second ledger starting at the same time waits, then
 * finds it there and leaves it alone, so the back-fill runs once. */
#define PG_DAY "to_char(to_timestamp(ts_ms / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
#define PG_MONTH "to_char(to_timestamp(ts_ms / 1000) AT TIME ZONE 'UTC', 'YYYY-MM')"

static int spend_schema(struct lgw_pg *db)
{
    static const char fmt[] = "BEGIN;"
                              "SET LOCAL client_min_messages = warning;"
                              "SELECT pg_advisory_xact_lock(7340209);"
                              "DO $$ BEGIN IF to_regclass('spend_totals') IS NULL THEN " LGW_SPEND_TABLE
                              LGW_SPEND_BACKFILL(PG_DAY, PG_MONTH) " END IF; END $$;"
                              "COMMIT;";
    char sql[sizeof(fmt) + 100];
    long long from = (long long)lgw_ledger_spend_backfill_from(lgw_wall_ms());
    snprintf(sql, sizeof(sql), fmt, from, from, from, from);
    if (lgw_pg_command(db, "spend_totals", sql)) {
        PQclear(PQexec(db->pg, "ROLLBACK"));
        return LGW_ERR(DB);
    }
    return LGW_OK;
}

struct spend_batch {
    const struct lgw_spend_delta *d;
    int64_t *totals;
};

static int spend_send(PGconn *pg, size_t i, void *ctx)
{
    const struct spend_batch *b = ctx;
    const struct lgw_spend_delta *d = &b->d[i];
    char add[24], at[24];
    snprintf(add, sizeof(add), "%lld", (long long)d->add_nusd);
    snprintf(at, sizeof(at), "%lld", (long long)d->updated_ms);
    const char *params[6] = {d->scope, d->period, d->tenant, d->key_id, add, at};
    return PQsendQueryPrepared(pg, "lgw_spend_add", 6, params, NULL, NULL, 0);
}

static bool spend_read(PGresult *res, size_t i, void *ctx)
{
    const struct spend_batch *b = ctx;
    long long v;
    if (PQntuples(res) != 1 ||
        lgw_parse_int64(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0), &v) != 0)
        return false;
    b->totals[i] = v;
    return true;
}

static int pg_spend_add_batch(void *c, const struct lgw_spend_delta *d, size_t n, int64_t *totals)
{
    struct spend_batch b = {d, totals};
    const struct pipeline pl = {"spend_totals", PGRES_TUPLES_OK, spend_send, spend_read, &b};
    return run_pipeline(c, &pl, n);
}

static int pg_spend_list(void *c, const char *day, const char *month, lgw_ledger_spend_row_cb cb, void *opaque)
{
    struct lgw_pg *conn = c;
    if (lgw_pg_ensure(conn))
        return LGW_ERR(DB);
    const char *params[2] = {day, month};
    PGresult *res = PQexecParams(conn->pg,
                                 "SELECT scope, period, tenant, COALESCE(key_id, ''), spend_nusd FROM spend_totals"
                                 " WHERE period = $1 OR period = $2",
                                 2, NULL, params, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        LGW_ERROR("ledger", "postgresql spend_totals: %s", PQresultErrorMessage(res));
    for (int i = 0; ok && i < PQntuples(res); i++) {
        long long v;
        if (lgw_parse_int64(PQgetvalue(res, i, 4), (size_t)PQgetlength(res, i, 4), &v) == 0)
            cb(opaque, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), v);
    }
    PQclear(res);
    return ok ? LGW_OK : LGW_ERR(DB);
}

const struct lgw_ledger_backend lgw_ledger_pg = {
    .open = pg_open, .close = pg_close, .exec = pg_exec, .insert_batch = pg_insert_batch, .ping = pg_ping,
    .spend_add_batch = pg_spend_add_batch, .spend_list = pg_spend_list,
};
