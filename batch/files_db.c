/* files_db.c - the Files API's connection: the scheme picks the backend (see files_db.h). */
#include "batch/files_db.h"

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/errors.h"
#include "common/pg.h"

struct lgw_fdb {
    const struct lgw_fdb_backend *be;
    void *conn;
};

int lgw_fdb_open(const char *url, struct lgw_fdb **out)
{
    *out = NULL;
    const struct lgw_fdb_backend *be;
    if (lgw_pg_url(url))
        be = &lgw_fdb_pg;
    else if (strncmp(url, "sqlite:", 7) == 0)
        be = &lgw_fdb_sqlite;
    else
        return LGW_ERR(CONFIG);
    struct lgw_fdb *db = lgw_calloc(1, sizeof(*db));
    db->be = be;
    db->conn = be->open(url);
    *out = db;
    return LGW_OK;
}

void lgw_fdb_close(struct lgw_fdb *db)
{
    if (!db)
        return;
    db->be->close(db->conn);
    free(db);
}

bool lgw_fdb_is_pg(const struct lgw_fdb *db)
{
    return db->be == &lgw_fdb_pg;
}

int lgw_fdb_exec(struct lgw_fdb *db, const char *sql, const struct lgw_bst_param *params, int nparams,
                 bool binary, size_t max_rows, struct lgw_bst_rows *rows, int64_t *changed)
{
    if (rows)
        memset(rows, 0, sizeof(*rows));
    if (changed)
        *changed = 0;
    if (nparams > LGW_BST_PARAMS_MAX)
        return LGW_ERR(INTERNAL);
    return db->be->exec(db->conn, sql, params, nparams, binary, max_rows, rows, changed);
}

int lgw_fdb_script(struct lgw_fdb *db, const char *sql)
{
    return db->be->script(db->conn, sql);
}
