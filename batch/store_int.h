/* store_int.h - inside batch/: the two database backends of the batch store (store_pg.c, store_sqlite.c)
 * behind one statement interface. store.c writes every statement once, with $1..$n parameters and SQL both
 * engines accept (CAST, ON CONFLICT, WITH RECURSIVE); the SQLite backend binds $n by number. The Files API's
 * connection (files_db.h) runs its statements through the same two engine calls (lgw_bst_pg_exec,
 * lgw_bst_sqlite_exec) on a connection of its own. */
#ifndef LGW_BATCH_STORE_INT_H
#define LGW_BATCH_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lgw_pg;
struct sqlite3;

#define LGW_BST_PARAMS_MAX 16

/* One parameter: an integer, a string, bytes (is_blob: len bytes at s), or NULL (s NULL, neither is_int nor
 * is_blob). */
struct lgw_bst_param {
    bool is_int;
    int64_t i;
    const char *s;
    bool is_blob;
    size_t len; /* is_blob only; the caller caps uploads far below 2 GiB */
};

/* Rows of a query: nrows x ncols cells, each a copy of the value (its text, or its bytes when asked for binary
 * values), NUL-terminated after its length lens[i], or NULL for SQL NULL. Owned by the caller
 * (lgw_bst_rows_cleanup). */
struct lgw_bst_rows {
    size_t nrows, ncols;
    char **cells;
    size_t *lens;
};

static inline const char *lgw_bst_cell(const struct lgw_bst_rows *rows, size_t r, size_t c)
{
    return rows->cells[r * rows->ncols + c];
}
void lgw_bst_rows_cleanup(struct lgw_bst_rows *rows);

struct lgw_bst_backend {
    /* Connects and creates or upgrades the schema. Returns 0 or LGW_ERR(DB)/LGW_ERR(CONFIG). */
    int (*open)(const char *url, void **conn);
    void (*close)(void *conn);
    /* Runs sql; rows (NULL: the statement returns none we want) gets its rows; *changes (may be NULL) the
     * rows it inserted, updated or deleted. Returns 0 or LGW_ERR(DB). */
    int (*exec)(void *conn, const char *sql, const struct lgw_bst_param *params, int nparams,
                struct lgw_bst_rows *rows, int64_t *changes);
};

extern const struct lgw_bst_backend lgw_bst_pg;
/* A store: its backend and connection (store.h). */
struct lgw_batch_store {
    const struct lgw_bst_backend *be;
    void *conn;
};
/* st's backend exec (see lgw_bst_backend). */
int lgw_bst_exec(struct lgw_batch_store *st, const char *sql, const struct lgw_bst_param *p, int n,
                 struct lgw_bst_rows *rows, int64_t *changes);

extern const struct lgw_bst_backend lgw_bst_sqlite;

/* The statement call of each engine, on a connection its caller keeps (the store's, the Files API's): runs sql
 * with params ($1..$n, at most LGW_BST_PARAMS_MAX). rows (NULL: the statement returns none we want) gets at
 * most max_rows rows (LGW_ERR(TOO_LARGE) past it; rows then empty); binary: PostgreSQL sends the values' bytes,
 * not their text (a bytea read whole; SQLite hands out a blob's bytes either way). *changes (may be NULL): the
 * rows inserted, updated or deleted. Errors are logged under "batch"; a PostgreSQL connection found broken is
 * closed (the next lgw_pg_ensure reconnects). Returns 0, LGW_ERR(TOO_LARGE) or LGW_ERR(DB). The thread using
 * the connection. */
int lgw_bst_pg_exec(struct lgw_pg *db, const char *sql, const struct lgw_bst_param *params, int nparams, bool binary,
                    size_t max_rows, struct lgw_bst_rows *rows, int64_t *changes);
/* The same on SQLite. "BEGIN" is run as BEGIN IMMEDIATE: a deferred transaction that reads and then writes
 * fails at once with SQLITE_BUSY when another writer got in between; IMMEDIATE takes the write lock up front
 * and waits for it. */
int lgw_bst_sqlite_exec(struct sqlite3 *db, const char *sql, const struct lgw_bst_param *params, int nparams,
                        size_t max_rows, struct lgw_bst_rows *rows, int64_t *changes);

/* The schema, the same tables on both engines (BIGINT and TEXT mean the same to SQLite). Times are seconds
 * since the epoch as OpenAI's Batch objects carry them; NULL where a step has not happened. A column added
 * later goes in an ALTER TABLE ... ADD COLUMN after these, and store_pg.c's "schema is current" probe then
 * names the newest object. */
#define LGW_BST_SCHEMA                                                                                           \
    "CREATE TABLE IF NOT EXISTS batches (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, key_id TEXT,"              \
    " endpoint TEXT NOT NULL, input_file_id TEXT, metadata TEXT, status TEXT NOT NULL,"                         \
    " created_at BIGINT NOT NULL, in_progress_at BIGINT, finalizing_at BIGINT, completed_at BIGINT,"          \
    " failed_at BIGINT, expired_at BIGINT, cancelling_at BIGINT, cancelled_at BIGINT, expires_at BIGINT NOT NULL," \
    " total BIGINT NOT NULL DEFAULT 0, completed BIGINT NOT NULL DEFAULT 0, failed BIGINT NOT NULL DEFAULT 0,"  \
    " results BIGINT NOT NULL DEFAULT 0, cost_nusd BIGINT NOT NULL DEFAULT 0, errors TEXT,"                     \
    " created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL);"                                                 \
    "CREATE INDEX IF NOT EXISTS batches_tenant_created ON batches(tenant, created_ms, id);"                    \
    "CREATE INDEX IF NOT EXISTS batches_status ON batches(status);"                                             \
    "CREATE TABLE IF NOT EXISTS batch_results (batch_id TEXT NOT NULL, idx BIGINT NOT NULL, custom_id TEXT,"   \
    " request_id TEXT, status_code INTEGER NOT NULL, body TEXT, error_code TEXT, error_message TEXT,"          \
    " ts_ms BIGINT NOT NULL, PRIMARY KEY (batch_id, idx));"                                                    \
    "CREATE TABLE IF NOT EXISTS batch_runs (run_id TEXT PRIMARY KEY, batch_id TEXT NOT NULL,"                  \
    " cost_nusd BIGINT NOT NULL, ts_ms BIGINT NOT NULL);"                                                      \
    "CREATE INDEX IF NOT EXISTS batch_runs_batch ON batch_runs(batch_id);"

#endif
