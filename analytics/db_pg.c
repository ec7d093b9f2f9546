/* db_pg.c - the analytics connection to PostgreSQL (libpq): read-only, statement_timeout, text results. */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics/db.h"
#include "common/buf.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/pg.h"

struct conn {
    struct lgw_pg db;
    char options[160]; /* the session's settings, run once connected */
};

/* Runs the session's settings on each new connection. */
static int settings(struct lgw_pg *db, void *arg)
{
    const struct conn *conn = arg;
    return lgw_pg_command(db, "settings", conn->options);
}

/* Connected when first queried and again after the server went away, with the gateway's defaults. */
static const struct lgw_pg_role role = {
    .module = "analytics",
    .application_name = "llmgw-analytics",
    .notice_level = LGW_LOG_INFO,
    .failed_level = LGW_LOG_WARN,
    .on_connect = settings,
};

static void *pg_open(const char *url, int64_t timeout_ms)
{
    struct conn *conn = lgw_calloc(1, sizeof(*conn));
    lgw_pg_init(&conn->db, url, &role, conn);
    /* statement_timeout bounds every query server-side (a client-side cancel would need another thread);
     * read-only because analytics never writes; work_mem so a month's latency sort stays in memory. Set
     * after connecting rather than as connection options, which an `options` in the URL would replace. */
    snprintf(conn->options, sizeof(conn->options),
             "SET statement_timeout = %lld; SET default_transaction_read_only = on; SET work_mem = '64MB'",
             (long long)timeout_ms);
    return conn;
}

static void pg_close(void *c)
{
    struct conn *conn = c;
    if (!conn)
        return;
    lgw_pg_cleanup(&conn->db);
    free(conn);
}

static int pg_query(void *c, const struct lgw_an_sql *sql, size_t max_rows, struct lgw_an_rows *rows)
{
    struct conn *conn = c;
    if (lgw_pg_ensure(&conn->db))
        return LGW_ERR(DB);
    const char *values[LGW_AN_SQL_PARAMS_MAX];
    char nums[LGW_AN_SQL_PARAMS_MAX][24];
    for (int i = 0; i < sql->nparams; i++) {
        if (sql->params[i].is_int) {
            snprintf(nums[i], sizeof(nums[i]), "%lld", (long long)sql->params[i].i);
            values[i] = nums[i];
        } else {
            values[i] = sql->params[i].s;
        }
    }
    PGresult *res = PQexecParams(conn->db.pg, sql->text.ptr, sql->nparams, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        bool timeout = state && strcmp(state, "57014") == 0; /* query_canceled: statement_timeout */
        if (!timeout)
            LGW_ERROR("analytics", "postgresql query: %.*s", (int)strcspn(PQresultErrorMessage(res), "\n"),
                      PQresultErrorMessage(res));
        PQclear(res);
        return timeout ? LGW_ERR(TIMEOUT) : LGW_ERR(DB);
    }
    size_t n = (size_t)PQntuples(res), m = (size_t)PQnfields(res);
    if (n > max_rows) {
        PQclear(res);
        return LGW_ERR(TOO_LARGE);
    }
    rows->nrows = n;
    rows->ncols = m;
    rows->cells = lgw_pg_cells(res, NULL);
    PQclear(res);
    return LGW_OK;
}

const struct lgw_an_backend lgw_an_pg = {.open = pg_open, .close = pg_close, .query = pg_query};
