/* store_sqlite.c - the batch store on SQLite (`llmgw dev`, small installations): statements prepared per call,
 * $n parameters bound by number. */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/store_int.h"
#include "common/buf.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/sqlite.h"

struct conn {
    sqlite3 *db;
};

static void sq_close(void *c)
{
    struct conn *conn = c;
    if (!conn)
        return;
    sqlite3_close(conn->db);
    free(conn);
}

static int sq_open(const char *url, void **out)
{
    const char *path = url + strlen("sqlite:");
    *out = NULL;
    if (!*path) {
        LGW_ERROR("batch", "database_url \"sqlite:\" needs a file path");
        return LGW_ERR(CONFIG);
    }
    struct conn *conn = lgw_calloc(1, sizeof(*conn));
    char *err = NULL;
    /* Other processes (the ledger, the CLI) write the same file: wait for their locks instead of failing.
     * WAL: the CLI reads while the role writes. synchronous=FULL: Kafka offsets follow the COMMIT. */
    if (lgw_sqlite_open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 10000,
                        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", "batch", LGW_LOG_ERROR, &conn->db)) {
        free(conn);
        return LGW_ERR(DB);
    }
    if (sqlite3_exec(conn->db, "BEGIN IMMEDIATE;" LGW_BST_SCHEMA "COMMIT;", NULL, NULL, &err) != SQLITE_OK)
        goto fail;
    *out = conn;
    return LGW_OK;
fail:
    LGW_ERROR("batch", "sqlite %s: %s", path, err ? err : sqlite3_errmsg(conn->db));
    sqlite3_free(err);
    sqlite3_exec(conn->db, "ROLLBACK", NULL, NULL, NULL);
    sq_close(conn);
    return LGW_ERR(DB);
}

int lgw_bst_sqlite_exec(sqlite3 *db, const char *sql, const struct lgw_bst_param *params, int nparams, size_t max_rows,
                        struct lgw_bst_rows *rows, int64_t *changes)
{
    if (rows)
        memset(rows, 0, sizeof(*rows));
    if (changes)
        *changes = 0;
    if (nparams > LGW_BST_PARAMS_MAX)
        return LGW_ERR(INTERNAL);
    sqlite3_stmt *st = NULL;
    int rc = LGW_ERR(DB);
    /* A deferred transaction that reads and then writes fails at once with SQLITE_BUSY when another writer got
     * in between; IMMEDIATE takes the write lock up front and waits for it. */
    if (strcmp(sql, "BEGIN") == 0)
        sql = "BEGIN IMMEDIATE";
    int r = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (r != SQLITE_OK) {
        LGW_ERROR("batch", "sqlite prepare: %s", sqlite3_errmsg(db));
        return LGW_ERR(DB);
    }
    /* "$1" in SQLite is a named parameter numbered by first appearance: look each one up by its name. */
    for (int i = 0; i < nparams; i++) {
        char name[16];
        snprintf(name, sizeof(name), "$%d", i + 1);
        int at = sqlite3_bind_parameter_index(st, name);
        if (at == 0)
            continue; /* a statement need not use every parameter */
        if (params[i].is_int)
            sqlite3_bind_int64(st, at, params[i].i);
        else if (params[i].is_blob)
            sqlite3_bind_blob64(st, at, params[i].s, params[i].len, SQLITE_STATIC);
        else if (params[i].s)
            sqlite3_bind_text(st, at, params[i].s, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, at);
    }
    size_t m = (size_t)sqlite3_column_count(st), cap = 0;
    if (rows)
        rows->ncols = m;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (!rows)
            continue;
        if (rows->nrows == max_rows) {
            rc = LGW_ERR(TOO_LARGE);
            goto out;
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
            /* Text comes back as its bytes too, and a number as its text. */
            const void *v = sqlite3_column_blob(st, (int)k);
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
    if (r != SQLITE_DONE) {
        LGW_ERROR("batch", "sqlite: %s", sqlite3_errmsg(db));
        goto out;
    }
    if (changes)
        *changes = sqlite3_changes(db);
    rc = LGW_OK;
out:
    sqlite3_finalize(st);
    if (rc && rows)
        lgw_bst_rows_cleanup(rows);
    return rc;
}

static int sq_exec(void *c, const char *sql, const struct lgw_bst_param *params, int nparams, struct lgw_bst_rows *rows,
                   int64_t *changes)
{
    struct conn *conn = c;
    return lgw_bst_sqlite_exec(conn->db, sql, params, nparams, SIZE_MAX, rows, changes);
}

const struct lgw_bst_backend lgw_bst_sqlite = {.open = sq_open, .close = sq_close, .exec = sq_exec};
