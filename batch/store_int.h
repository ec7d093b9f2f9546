/* store_int.h - inside batch/: the two database backends of the batch store (store_pg.c, store_sqlite.c)
 * behind one statement interface. store.c writes every statement once, with $1..$n parameters and SQL both
 * engines accept (CAST, ON CONFLICT, WITH RECURSIVE); the SQLite backend binds $n by number. */
#ifndef LGW_BATCH_STORE_INT_H
#define LGW_BATCH_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LGW_BST_PARAMS_MAX 16

/* One parameter: an integer, a string, or NULL (s NULL and not is_int). */
struct lgw_bst_param {
    bool is_int;
    int64_t i;
    const char *s;
};

/* Rows of a query: nrows x ncols cells, each a NUL-terminated copy of the value's text or NULL for SQL NULL.
 * Owned by the caller (lgw_bst_rows_cleanup). */
struct lgw_bst_rows {
    size_t nrows, ncols;
    char **cells;
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
