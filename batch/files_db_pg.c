/* files_db_pg.c - the Files API's PostgreSQL connection (libpq): parameters bound, bytea in binary. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/files_db.h"
#include "common/buf.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/pg.h"

/* Connected at the first statement and again after a failure (files_db.h). */
static const struct lgw_pg_role role = {
    .module = "batch",
    .application_name = "llmgw-files",
    .notice_level = LGW_LOG_DEBUG,
    .failed_level = LGW_LOG_WARN,
};

static void *pg_open(const char *url)
{
    return lgw_pg_new(url, &role, NULL);
}

static void pg_close(void *c)
{
    lgw_pg_free(c);
}

static int pg_exec(void *c, const char *sql, const struct lgw_fdb_param *params, int nparams, bool binary,
                   size_t max_rows, struct lgw_fdb_rows *rows, int64_t *changed)
{
    struct lgw_pg *conn = c;
    if (lgw_pg_ensure(conn))
        return LGW_ERR(DB);
    const char *values[LGW_FDB_PARAMS_MAX];
    int lengths[LGW_FDB_PARAMS_MAX], formats[LGW_FDB_PARAMS_MAX];
    char nums[LGW_FDB_PARAMS_MAX][24];
    for (int i = 0; i < nparams; i++) {
        lengths[i] = 0;
        formats[i] = 0;
        if (params[i].kind == LGW_FDB_INT) {
            snprintf(nums[i], sizeof(nums[i]), "%lld", (long long)params[i].i);
            values[i] = nums[i];
        } else if (params[i].kind == LGW_FDB_BLOB) {
            values[i] = params[i].ptr;
            lengths[i] = (int)params[i].len; /* the caller caps uploads far below 2 GiB */
            formats[i] = 1;
        } else {
            values[i] = params[i].ptr;
        }
    }
    PGresult *res = PQexecParams(conn->pg, sql, nparams, NULL, values, lengths, formats, binary ? 1 : 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        LGW_ERROR("batch", "postgresql: %.*s", (int)strcspn(PQresultErrorMessage(res), "\n"),
                  PQresultErrorMessage(res));
        PQclear(res);
        lgw_pg_drop_broken(conn); /* reconnect at the next statement */
        return LGW_ERR(DB);
    }
    if (changed) {
        const char *n = PQcmdTuples(res);
        long long v = 0;
        if (n && *n && lgw_parse_int64(n, strlen(n), &v) == 0)
            *changed = v;
    }
    if (rows && st == PGRES_TUPLES_OK) {
        size_t n = (size_t)PQntuples(res), m = (size_t)PQnfields(res);
        if (n > max_rows) {
            PQclear(res);
            return LGW_ERR(TOO_LARGE);
        }
        rows->nrows = n;
        rows->ncols = m;
        rows->cells = lgw_calloc(n * m + 1, sizeof(char *));
        rows->lens = lgw_calloc(n * m + 1, sizeof(size_t));
        for (size_t r = 0; r < n; r++)
            for (size_t k = 0; k < m; k++) {
                if (PQgetisnull(res, (int)r, (int)k))
                    continue;
                size_t len = (size_t)PQgetlength(res, (int)r, (int)k);
                char *v = lgw_malloc(len + 1);
                memcpy(v, PQgetvalue(res, (int)r, (int)k), len);
                v[len] = '\0';
                rows->cells[r * m + k] = v;
                rows->lens[r * m + k] = len;
            }
    }
    PQclear(res);
    return LGW_OK;
}

static int pg_script(void *c, const char *sql)
{
    struct lgw_pg *conn = c;
    if (lgw_pg_ensure(conn))
        return LGW_ERR(DB);
    PGresult *res = PQexec(conn->pg, sql);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? LGW_OK : LGW_ERR(DB);
    if (rc)
        LGW_ERROR("batch", "postgresql schema: %.*s", (int)strcspn(PQresultErrorMessage(res), "\n"),
                  PQresultErrorMessage(res));
    PQclear(res);
    return rc;
}

const struct lgw_fdb_backend lgw_fdb_pg = {.open = pg_open, .close = pg_close, .exec = pg_exec, .script = pg_script};
