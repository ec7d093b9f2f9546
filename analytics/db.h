/* db.h - the analytics role's read-only connections to the ledger database (PostgreSQL or SQLite, from
 * database_url), each with a statement timeout, returning rows of text cells.
 *
 * One connection is used by one thread at a time (the pool in analytics.c gives each thread its own). The
 * connection is opened at the first query and reopened after a failure, so analytics starts before the
 * ledger has created its table, and survives a database restart. */
#ifndef LGW_AN_DB_H
#define LGW_AN_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analytics/sql.h"

/* A result: nrows x ncols cells, each a NUL-terminated copy of the value's text, or NULL for SQL NULL.
 * Owned by whoever the query filled it for (lgw_an_rows_cleanup). */
struct lgw_an_rows {
    size_t nrows, ncols;
    char **cells;
};

static inline const char *lgw_an_cell(const struct lgw_an_rows *rows, size_t r, size_t c)
{
    return rows->cells[r * rows->ncols + c];
}
void lgw_an_rows_cleanup(struct lgw_an_rows *rows);

struct lgw_an_db;

/* A connection for url ("postgresql://", "postgres://" or "sqlite:PATH") whose statements stop after
 * timeout_ms (PostgreSQL statement_timeout; SQLite a progress-handler deadline). Connects lazily. Returns 0
 * or LGW_ERR(CONFIG) for another scheme; *out owned by the caller (lgw_an_db_close). */
int lgw_an_db_open(const char *url, int64_t timeout_ms, struct lgw_an_db **out);
void lgw_an_db_close(struct lgw_an_db *db); /* NULL is a no-op */
/* True for PostgreSQL (the SQL dialect to build). Any thread. */
bool lgw_an_db_is_pg(const struct lgw_an_db *db);
/* Runs sql with its parameters into *rows (at most max_rows rows). Returns 0, LGW_ERR(TIMEOUT) when the
 * statement ran past the timeout, LGW_ERR(TOO_LARGE) past max_rows, or LGW_ERR(DB). The thread using db. */
int lgw_an_db_query(struct lgw_an_db *db, const struct lgw_an_sql *sql, size_t max_rows, struct lgw_an_rows *rows);

/* Backends (db_pg.c, db_sqlite.c): the same calls on their own connection type. */
struct lgw_an_backend {
    void *(*open)(const char *url, int64_t timeout_ms);
    void (*close)(void *conn);
    int (*query)(void *conn, const struct lgw_an_sql *sql, size_t max_rows, struct lgw_an_rows *rows);
};
extern const struct lgw_an_backend lgw_an_pg;
extern const struct lgw_an_backend lgw_an_sqlite;

#endif
