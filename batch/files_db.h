/* files_db.h - the connection the Files API keeps to `database_url` (PostgreSQL or SQLite): statements written
 * once with $1..$n placeholders, parameters bound (text, integer or bytes), rows of cells with their lengths.
 * The table it serves (batch_files) is in files_store.h; this is only the two databases behind one call, and
 * the call and its parameters and rows are the batch store's (store_int.h): only the connection is its own.
 *
 * One connection is used by one thread at a time (the API's pool gives each thread its own). It connects at
 * the first statement and again after a failure, so the gateway starts while the database is down and
 * survives its restart. */
#ifndef LGW_FILES_DB_H
#define LGW_FILES_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch/store_int.h"

struct lgw_fdb;

/* A connection for url ("postgresql://", "postgres://" or "sqlite:PATH"); connects lazily. Returns 0 or
 * LGW_ERR(CONFIG) for another scheme; *out owned by the caller (lgw_fdb_close). Any thread. */
int lgw_fdb_open(const char *url, struct lgw_fdb **out);
void lgw_fdb_close(struct lgw_fdb *db); /* NULL is a no-op */
bool lgw_fdb_is_pg(const struct lgw_fdb *db);
/* Runs sql (one statement; $1..$n) with params (at most LGW_BST_PARAMS_MAX). rows NULL: a statement without
 * results; else its rows (lgw_bst_rows_cleanup), at most max_rows (LGW_ERR(TOO_LARGE) past it). binary: cells
 * are the raw bytes of the values (a bytea column read whole); else text. *changed (may be NULL): rows
 * inserted, updated or deleted. Returns 0 or LGW_ERR(DB). The thread using db. */
int lgw_fdb_exec(struct lgw_fdb *db, const char *sql, const struct lgw_bst_param *params, int nparams,
                 bool binary, size_t max_rows, struct lgw_bst_rows *rows, int64_t *changed);
/* Runs a script of statements without parameters (the schema). Returns 0 or LGW_ERR(DB). */
int lgw_fdb_script(struct lgw_fdb *db, const char *sql);

/* The two databases (files_db_pg.c, files_db_sqlite.c). */
struct lgw_fdb_backend {
    void *(*open)(const char *url);
    void (*close)(void *conn);
    int (*exec)(void *conn, const char *sql, const struct lgw_bst_param *params, int nparams, bool binary,
                size_t max_rows, struct lgw_bst_rows *rows, int64_t *changed);
    int (*script)(void *conn, const char *sql);
};
extern const struct lgw_fdb_backend lgw_fdb_pg;
extern const struct lgw_fdb_backend lgw_fdb_sqlite;

#endif
