/* files_db_sqlite.c - the Files API's SQLite connection; its statements run through the batch store's
 * lgw_bst_sqlite_exec ($n bound by number, blobs bound as blobs). */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "batch/files_db.h"
#include "common/buf.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/sqlite.h"

/* How long a statement waits for another connection's write lock (the ledger, another pool thread). */
#define BUSY_TIMEOUT_MS 5000

struct conn {
    sqlite3 *db;
    char *path;
};

static void *sqlite_open_conn(const char *url)
{
    struct conn *conn = lgw_calloc(1, sizeof(*conn));
    conn->path = lgw_strdup(url + strlen("sqlite:"));
    return conn;
}

static void sqlite_close_conn(void *c)
{
    struct conn *conn = c;
    if (!conn)
        return;
    sqlite3_close(conn->db);
    free(conn->path);
    free(conn);
}

static int ensure(struct conn *conn)
{
    if (conn->db)
        return LGW_OK;
    /* CREATE: the Files API may start before the ledger made the file. WAL as the ledger sets it: readers go
     * on while one connection writes. */
    return lgw_sqlite_open(conn->path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, BUSY_TIMEOUT_MS,
                           "PRAGMA journal_mode=WAL", "batch", LGW_LOG_WARN, &conn->db);
}

static int sqlite_exec(void *c, const char *sql, const struct lgw_bst_param *params, int nparams, bool binary,
                       size_t max_rows, struct lgw_bst_rows *rows, int64_t *changed)
{
    (void)binary; /* SQLite hands out a blob's bytes whichever way it is asked */
    struct conn *conn = c;
    if (ensure(conn))
        return LGW_ERR(DB);
    return lgw_bst_sqlite_exec(conn->db, sql, params, nparams, max_rows, rows, changed);
}

static int sqlite_script(void *c, const char *sql)
{
    struct conn *conn = c;
    if (ensure(conn))
        return LGW_ERR(DB);
    char *err = NULL;
    if (sqlite3_exec(conn->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        LGW_ERROR("batch", "sqlite schema: %s", err ? err : "?");
        sqlite3_free(err);
        return LGW_ERR(DB);
    }
    return LGW_OK;
}

const struct lgw_fdb_backend lgw_fdb_sqlite = {.open = sqlite_open_conn, .close = sqlite_close_conn,
                                               .exec = sqlite_exec, .script = sqlite_script};
