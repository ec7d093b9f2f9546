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
    PGconn *pg;
    char *url;
    char options[160]; /* the session's settings, run once connected */
};

static void notice_cb(void *arg, const char *msg)
{
    (void)arg;
    LGW_INFO("analytics", "postgresql notice: %.*s", (int)strcspn(msg, "\n"), msg);
}

static void *pg_open(const char *url, int64_t timeout_ms)
{
    struct conn *conn = lgw_calloc(1, sizeof(*conn));
    conn->url = lgw_strdup(url);
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
    if (conn->pg)
        PQfinish(conn->pg);
    free(conn->url);
    free(conn);
}

/* Connects when not connected, with the gateway's defaults (common/pg.h). */
static int ensure(struct conn *conn)
{
    if (conn->pg && PQstatus(conn->pg) == CONNECTION_OK)
        return LGW_OK;
    if (conn->pg)
        PQfinish(conn->pg);
    conn->pg = lgw_pg_connect(conn->url, "llmgw-analytics", NULL);
    if (!conn->pg) {
        LGW_ERROR("analytics", "postgresql: out of memory");
        abort();
    }
    if (PQstatus(conn->pg) != CONNECTION_OK) {
        /* The message names host and port only: libpq never prints the password. */
        LGW_WARN("analytics", "postgresql: %.*s", (int)strcspn(PQerrorMessage(conn->pg), "\n"),
                 PQerrorMessage(conn->pg));
        PQfinish(conn->pg);
        conn->pg = NULL;
        return LGW_ERR(DB);
    }
    PQsetNoticeProcessor(conn->pg, notice_cb, NULL);
    PGresult *res = PQexec(conn->pg, conn->options);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        LGW_ERROR("analytics", "postgresql settings: %s", PQresultErrorMessage(res));
    PQclear(res);
    if (!ok) {
        PQfinish(conn->pg);
        conn->pg = NULL;
        return LGW_ERR(DB);
    }
    return LGW_OK;
}

static int pg_query(void *c, const struct lgw_an_sql *sql, size_t max_rows, struct lgw_an_rows *rows)
{
    struct conn *conn = c;
    if (ensure(conn))
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
    PGresult *res = PQexecParams(conn->pg, sql->text.ptr, sql->nparams, NULL, values, NULL, NULL, 0);
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
    rows->cells = lgw_calloc(n * m + 1, sizeof(char *));
    for (size_t r = 0; r < n; r++)
        for (size_t k = 0; k < m; k++)
            if (!PQgetisnull(res, (int)r, (int)k))
                rows->cells[r * m + k] = lgw_strdup(PQgetvalue(res, (int)r, (int)k));
    PQclear(res);
    return LGW_OK;
}

const struct lgw_an_backend lgw_an_pg = {.open = pg_open, .close = pg_close, .query = pg_query};
