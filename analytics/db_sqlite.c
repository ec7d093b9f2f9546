/* db_sqlite.c - the analytics connection to SQLite: query_only, a progress-handler deadline, text results. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "analytics/db.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/sqlite.h"

struct conn {
    sqlite3 *db;
    char *path;
    int64_t timeout_ms;
    int64_t deadline_ms; /* monotonic, of the statement running */
};

/* SQLite has no statement timeout: the progress handler runs every few thousand VM steps and a non-zero
 * answer interrupts the statement (SQLITE_INTERRUPT). */
static int progress_cb(void *arg)
{
    const struct conn *conn = arg;
    return lgw_mono_ms() > conn->deadline_ms;
}

static void *sqlite_open_conn(const char *url, int64_t timeout_ms)
{
    struct conn *conn = lgw_calloc(1, sizeof(*conn));
    conn->path = lgw_strdup(url + strlen("sqlite:"));
    conn->timeout_ms = timeout_ms;
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
    /* Never CREATE: the ledger owns the file; query_only: analytics never writes. WAL (set by the ledger)
     * lets these reads run while the ledger writes. */
    if (lgw_sqlite_open(conn->path, SQLITE_OPEN_READWRITE, (int)conn->timeout_ms, "PRAGMA query_only=ON", "analytics",
                        LGW_LOG_WARN, &conn->db))
        return LGW_ERR(DB);
    sqlite3_progress_handler(conn->db, 1000, progress_cb, conn);
    return LGW_OK;
}

static int sqlite_query(void *c, const struct lgw_an_sql *sql, size_t max_rows, struct lgw_an_rows *rows)
{
    struct conn *conn = c;
    if (ensure(conn))
        return LGW_ERR(DB);
    conn->deadline_ms = lgw_mono_ms() + conn->timeout_ms;
    sqlite3_stmt *st = NULL;
    int rc = LGW_OK, r;
    if (sqlite3_prepare_v2(conn->db, sql->text.ptr, (int)sql->text.len, &st, NULL) != SQLITE_OK) {
        LGW_ERROR("analytics", "sqlite prepare: %s", sqlite3_errmsg(conn->db));
        return LGW_ERR(DB);
    }
    for (int i = 0; i < sql->nparams; i++) {
        if (sql->params[i].is_int)
            sqlite3_bind_int64(st, i + 1, sql->params[i].i);
        else
            sqlite3_bind_text(st, i + 1, sql->params[i].s, -1, SQLITE_STATIC);
    }
    size_t m = (size_t)sqlite3_column_count(st), cap = 0;
    rows->ncols = m;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows->nrows == max_rows) {
            rc = LGW_ERR(TOO_LARGE);
            break;
        }
        if (rows->nrows == cap) {
            cap = cap ? cap * 2 : 64;
            rows->cells = lgw_realloc(rows->cells, cap * m * sizeof(char *));
        }
        for (size_t k = 0; k < m; k++) {
            const unsigned char *v = sqlite3_column_text(st, (int)k);
            rows->cells[rows->nrows * m + k] = v ? lgw_strdup((const char *)v) : NULL;
        }
        rows->nrows++;
    }
    if (rc == LGW_OK && r != SQLITE_DONE) {
        rc = r == SQLITE_INTERRUPT ? LGW_ERR(TIMEOUT) : LGW_ERR(DB);
        if (r != SQLITE_INTERRUPT)
            LGW_ERROR("analytics", "sqlite query: %s", sqlite3_errmsg(conn->db));
    }
    sqlite3_finalize(st);
    return rc;
}

const struct lgw_an_backend lgw_an_sqlite = {.open = sqlite_open_conn, .close = sqlite_close_conn,
                                             .query = sqlite_query};
