/* files_db_sqlite.c - the Files API's SQLite connection: $n placeholders read as ?n, blobs bound as blobs. */
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

static int sqlite_exec(void *c, const char *sql, const struct lgw_fdb_param *params, int nparams, bool binary,
                       size_t max_rows, struct lgw_fdb_rows *rows, int64_t *changed)
{
    (void)binary; /* SQLite hands out a blob's bytes whichever way it is asked */
    struct conn *conn = c;
    if (ensure(conn))
        return LGW_ERR(DB);
    /* "$1" in SQLite is a named parameter numbered by first appearance; "?1" is numbered as written. */
    char *text = lgw_strdup(sql);
    for (char *p = text; *p; p++)
        if (p[0] == '$' && p[1] >= '0' && p[1] <= '9')
            p[0] = '?';
    sqlite3_stmt *st = NULL;
    int rc = LGW_OK, r;
    r = sqlite3_prepare_v2(conn->db, text, -1, &st, NULL);
    free(text);
    if (r != SQLITE_OK) {
        LGW_ERROR("batch", "sqlite prepare: %s", sqlite3_errmsg(conn->db));
        return LGW_ERR(DB);
    }
    for (int i = 0; i < nparams; i++) {
        if (params[i].kind == LGW_FDB_INT)
            sqlite3_bind_int64(st, i + 1, params[i].i);
        else if (params[i].kind == LGW_FDB_BLOB)
            sqlite3_bind_blob64(st, i + 1, params[i].ptr, params[i].len, SQLITE_STATIC);
        else
            sqlite3_bind_text(st, i + 1, params[i].ptr, -1, SQLITE_STATIC);
    }
    size_t m = (size_t)sqlite3_column_count(st), cap = 0;
    if (rows)
        rows->ncols = m;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (!rows)
            continue;
        if (rows->nrows == max_rows) {
            rc = LGW_ERR(TOO_LARGE);
            break;
        }
        if (rows->nrows == cap) {
            cap = cap ? cap * 2 : 16;
            rows->cells = lgw_realloc(rows->cells, cap * m * sizeof(char *) + 1);
            rows->lens = lgw_realloc(rows->lens, cap * m * sizeof(size_t) + 1);
        }
        for (size_t k = 0; k < m; k++) {
            size_t at = rows->nrows * m + k;
            rows->cells[at] = NULL;
            rows->lens[at] = 0;
            if (sqlite3_column_type(st, (int)k) == SQLITE_NULL)
                continue;
            const void *v = sqlite3_column_blob(st, (int)k); /* text comes back as its bytes too */
            size_t len = (size_t)sqlite3_column_bytes(st, (int)k);
            char *copy = lgw_malloc(len + 1);
            if (len)
                memcpy(copy, v, len);
            copy[len] = '\0';
            rows->cells[at] = copy;
            rows->lens[at] = len;
        }
        rows->nrows++;
    }
    if (rc == LGW_OK && r != SQLITE_DONE) {
        LGW_ERROR("batch", "sqlite: %s", sqlite3_errmsg(conn->db));
        rc = LGW_ERR(DB);
    }
    if (rc == LGW_OK && changed)
        *changed = sqlite3_changes(conn->db);
    sqlite3_finalize(st);
    return rc;
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
