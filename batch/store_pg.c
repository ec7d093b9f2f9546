/* store_pg.c - the batch store on PostgreSQL (libpq): text parameters, text results, reconnect on failure. */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/store_int.h"
#include "common/buf.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/pg.h"

/* One transaction under an advisory lock: CREATE ... IF NOT EXISTS is not safe against itself, so two batch
 * roles (or a role and the CLI) starting together could fail on a duplicate catalog entry. The key is
 * arbitrary but fixed ("llmgw batch schema"); the ledger's is another. */
static const char schema[] = "BEGIN;"
                             "SET LOCAL client_min_messages = warning;"
                             "SELECT pg_advisory_xact_lock(7340217);" LGW_BST_SCHEMA "COMMIT;";

/* Creates the schema on a new connection unless it is there already. */
static int schema_cb(struct lgw_pg *db, void *arg)
{
    (void)arg;
    /* The schema is there already (the last object it creates exists): skip it. CREATE INDEX IF NOT EXISTS
     * takes a SHARE lock even when the index exists, and the CLI opening a store while the batch role writes
     * would deadlock against the role's transaction. */
    PGresult *res = PQexec(db->pg, "SELECT to_regclass('batch_runs_batch') IS NOT NULL");
    bool current = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (current)
        return LGW_OK;
    return lgw_pg_command(db, "schema", schema);
}

/* Connected (and the schema created) at open, and again when a statement finds the connection gone. */
static const struct lgw_pg_role role = {
    .module = "batch",
    .application_name = "llmgw-batch",
    .options = "-c statement_timeout=60000",
    .notice_level = LGW_LOG_INFO,
    .failed_level = LGW_LOG_ERROR,
    .on_connect = schema_cb,
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

int lgw_bst_pg_exec(struct lgw_pg *db, const char *sql, const struct lgw_bst_param *params, int nparams, bool binary,
                    size_t max_rows, struct lgw_bst_rows *rows, int64_t *changes)
{
    if (rows)
        memset(rows, 0, sizeof(*rows));
    if (changes)
        *changes = 0;
    if (nparams > LGW_BST_PARAMS_MAX)
        return LGW_ERR(INTERNAL);
    const char *values[LGW_BST_PARAMS_MAX];
    int lengths[LGW_BST_PARAMS_MAX], formats[LGW_BST_PARAMS_MAX];
    char nums[LGW_BST_PARAMS_MAX][24];
    for (int i = 0; i < nparams; i++) {
        lengths[i] = 0;
        formats[i] = 0;
        if (params[i].is_int) {
            snprintf(nums[i], sizeof(nums[i]), "%lld", (long long)params[i].i);
            values[i] = nums[i];
        } else if (params[i].is_blob) { /* sent as its bytes: no escaping, no NUL termination needed */
            values[i] = params[i].s;
            lengths[i] = (int)params[i].len;
            formats[i] = 1;
        } else {
            values[i] = params[i].s;
        }
    }
    PGresult *res = PQexecParams(db->pg, sql, nparams, NULL, values, lengths, formats, binary ? 1 : 0);
    ExecStatusType s = PQresultStatus(res);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        LGW_ERROR("batch", "postgresql: %.*s", (int)strcspn(PQresultErrorMessage(res), "\n"),
                  PQresultErrorMessage(res));
        PQclear(res);
        lgw_pg_drop_broken(db); /* reconnect at the next statement */
        return LGW_ERR(DB);
    }
    if (changes) {
        const char *t = PQcmdTuples(res);
        long long v = 0;
        if (t && *t && lgw_parse_int64(t, strlen(t), &v) == 0)
            *changes = v;
    }
    if (rows && s == PGRES_TUPLES_OK) {
        size_t n = (size_t)PQntuples(res), m = (size_t)PQnfields(res);
        if (n > max_rows) {
            PQclear(res);
            return LGW_ERR(TOO_LARGE);
        }
        rows->nrows = n;
        rows->ncols = m;
        rows->cells = lgw_pg_cells(res, &rows->lens);
    }
    PQclear(res);
    return LGW_OK;
}

static int pg_exec(void *c, const char *sql, const struct lgw_bst_param *params, int nparams, struct lgw_bst_rows *rows,
                   int64_t *changes)
{
    struct lgw_pg *conn = c;
    if (rows)
        memset(rows, 0, sizeof(*rows));
    /* Outside a transaction a lost connection is reopened here; inside one, the failed statement fails the
     * transaction and the caller starts over (its BEGIN reconnects). */
    if (lgw_pg_ensure(conn))
        return LGW_ERR(DB);
    return lgw_bst_pg_exec(conn, sql, params, nparams, false, SIZE_MAX, rows, changes);
}

const struct lgw_bst_backend lgw_bst_pg = {.open = pg_open, .close = pg_close, .exec = pg_exec};
