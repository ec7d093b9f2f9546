/* files_db_pg.c - the Files API's PostgreSQL connection (libpq); its statements run through the batch
 * store's lgw_bst_pg_exec (parameters bound, bytea in binary). */
#include <libpq-fe.h>
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

static int pg_exec(void *c, const char *sql, const struct lgw_bst_param *params, int nparams, bool binary,
                   size_t max_rows, struct lgw_bst_rows *rows, int64_t *changed)
{
    struct lgw_pg *conn = c;
    if (lgw_pg_ensure(conn))
        return LGW_ERR(DB);
    return lgw_bst_pg_exec(conn, sql, params, nparams, binary, max_rows, rows, changed);
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
