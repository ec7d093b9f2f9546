/* db.c - the analytics connection: dispatch on the URL scheme (see db.h). */
#include "analytics/db.h"

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/errors.h"
#include "common/pg.h"

struct lgw_an_db {
    const struct lgw_an_backend *be;
    void *conn;
};

void lgw_an_rows_cleanup(struct lgw_an_rows *rows)
{
    for (size_t i = 0; i < rows->nrows * rows->ncols; i++)
        free(rows->cells[i]);
    free(rows->cells);
    memset(rows, 0, sizeof(*rows));
}

int lgw_an_db_open(const char *url, int64_t timeout_ms, struct lgw_an_db **out)
{
    const struct lgw_an_backend *be;
    if (lgw_pg_url(url))
        be = &lgw_an_pg;
    else if (strncmp(url, "sqlite:", 7) == 0 && url[7])
        be = &lgw_an_sqlite;
    else
        return LGW_ERR(CONFIG);
    struct lgw_an_db *db = lgw_calloc(1, sizeof(*db));
    db->be = be;
    db->conn = be->open(url, timeout_ms);
    *out = db;
    return LGW_OK;
}

void lgw_an_db_close(struct lgw_an_db *db)
{
    if (!db)
        return;
    db->be->close(db->conn);
    free(db);
}

bool lgw_an_db_is_pg(const struct lgw_an_db *db)
{
    return db->be == &lgw_an_pg;
}

int lgw_an_db_query(struct lgw_an_db *db, const struct lgw_an_sql *sql, size_t max_rows, struct lgw_an_rows *rows)
{
    memset(rows, 0, sizeof(*rows));
    int rc = db->be->query(db->conn, sql, max_rows, rows);
    if (rc)
        lgw_an_rows_cleanup(rows);
    return rc;
}
