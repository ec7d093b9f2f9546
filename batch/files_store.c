/* files_store.c - the batch_files table (see files_store.h): one statement per operation, written once for
 * both databases (files_db.h binds $n on either). */
#include "batch/files_store.h"

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/errors.h"
#include "common/random.h"

#define COLS "id, tenant, filename, purpose, bytes, created_at, expires_at"

static const char schema_pg[] =
    "CREATE TABLE IF NOT EXISTS batch_files (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, filename TEXT NOT NULL, "
    "purpose TEXT NOT NULL, bytes BIGINT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, "
    "content BYTEA NOT NULL);"
    "CREATE INDEX IF NOT EXISTS batch_files_tenant ON batch_files (tenant, created_at, id);"
    "CREATE INDEX IF NOT EXISTS batch_files_expires ON batch_files (expires_at);";
static const char schema_sqlite[] =
    "CREATE TABLE IF NOT EXISTS batch_files (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, filename TEXT NOT NULL, "
    "purpose TEXT NOT NULL, bytes INTEGER NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, "
    "content BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS batch_files_tenant ON batch_files (tenant, created_at, id);"
    "CREATE INDEX IF NOT EXISTS batch_files_expires ON batch_files (expires_at);";

void lgw_file_new_id(char *out)
{
    unsigned char b[16];
    lgw_random_bytes(b, sizeof(b));
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "file-", 5);
    for (int i = 0; i < 16; i++) {
        out[5 + 2 * i] = hex[b[i] >> 4];
        out[6 + 2 * i] = hex[b[i] & 15];
    }
    out[LGW_FILE_ID_LEN] = '\0';
}

int lgw_files_migrate(struct lgw_fdb *db)
{
    return lgw_fdb_script(db, lgw_fdb_is_pg(db) ? schema_pg : schema_sqlite);
}

static struct lgw_bst_param text(const char *s)
{
    return (struct lgw_bst_param){.s = s};
}

static struct lgw_bst_param num(int64_t i)
{
    return (struct lgw_bst_param){.is_int = true, .i = i};
}

static int64_t cell_int(const struct lgw_bst_rows *rows, size_t r, size_t c)
{
    const char *s = lgw_bst_cell(rows, r, c);
    long long v = 0;
    if (s)
        lgw_parse_int64(s, strlen(s), &v);
    return v;
}

static void meta_from_row(const struct lgw_bst_rows *rows, size_t r, struct lgw_file_meta *f)
{
    memset(f, 0, sizeof(*f));
    lgw_strlcpy(f->id, lgw_bst_cell(rows, r, 0) ? lgw_bst_cell(rows, r, 0) : "", sizeof(f->id));
    lgw_strlcpy(f->tenant, lgw_bst_cell(rows, r, 1) ? lgw_bst_cell(rows, r, 1) : "", sizeof(f->tenant));
    lgw_strlcpy(f->filename, lgw_bst_cell(rows, r, 2) ? lgw_bst_cell(rows, r, 2) : "", sizeof(f->filename));
    lgw_strlcpy(f->purpose, lgw_bst_cell(rows, r, 3) ? lgw_bst_cell(rows, r, 3) : "", sizeof(f->purpose));
    f->bytes = cell_int(rows, r, 4);
    f->created_at = cell_int(rows, r, 5);
    f->expires_at = cell_int(rows, r, 6);
}

int lgw_files_insert(struct lgw_fdb *db, const struct lgw_file_meta *f, const char *data, size_t len)
{
    struct lgw_bst_param p[] = {text(f->id),         text(f->tenant),    text(f->filename),
                                text(f->purpose),    num((int64_t)len),  num(f->created_at),
                                num(f->expires_at),  {.is_blob = true, .s = data ? data : "", .len = len}};
    return lgw_fdb_exec(db, "INSERT INTO batch_files (" COLS ", content) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        p, 8, false, 0, NULL, NULL);
}

int lgw_files_get(struct lgw_fdb *db, const char *id, const char *tenant, struct lgw_file_meta *f)
{
    struct lgw_bst_param p[] = {text(id), text(tenant)};
    struct lgw_bst_rows rows;
    int rc = lgw_fdb_exec(db, "SELECT " COLS " FROM batch_files WHERE id = $1 AND ($2 = '' OR tenant = $2)", p, 2,
                          false, 1, &rows, NULL);
    if (rc)
        return rc;
    if (rows.nrows == 0)
        rc = LGW_ERR(NOT_FOUND);
    else
        meta_from_row(&rows, 0, f);
    lgw_bst_rows_cleanup(&rows);
    return rc;
}

int lgw_files_content(struct lgw_fdb *db, const char *id, const char *tenant, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    struct lgw_bst_param p[] = {text(id), text(tenant)};
    struct lgw_bst_rows rows;
    /* Binary: the bytea comes back as its bytes rather than PostgreSQL's \x hex text. */
    int rc = lgw_fdb_exec(db, "SELECT content FROM batch_files WHERE id = $1 AND ($2 = '' OR tenant = $2)", p, 2,
                          true, 1, &rows, NULL);
    if (rc)
        return rc;
    if (rows.nrows == 0 || !rows.cells[0]) {
        rc = LGW_ERR(NOT_FOUND);
    } else {
        *data = rows.cells[0]; /* taken from the rows */
        *len = rows.lens[0];
        rows.cells[0] = NULL;
    }
    lgw_bst_rows_cleanup(&rows);
    return rc;
}

int lgw_files_delete(struct lgw_fdb *db, const char *id, const char *tenant)
{
    struct lgw_bst_param p[] = {text(id), text(tenant)};
    int64_t changed = 0;
    int rc = lgw_fdb_exec(db, "DELETE FROM batch_files WHERE id = $1 AND ($2 = '' OR tenant = $2)", p, 2, false, 0,
                          NULL, &changed);
    if (rc == 0 && changed == 0)
        rc = LGW_ERR(NOT_FOUND);
    return rc;
}

int lgw_files_list(struct lgw_fdb *db, const char *tenant, const char *purpose, const char *after, bool asc,
                   int64_t limit, struct lgw_file_meta **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int rc;
    int64_t after_created = 0;
    const char *after_id = "";
    struct lgw_file_meta cursor;
    if (after) { /* the page starts past this file, in the order asked */
        if ((rc = lgw_files_get(db, after, tenant, &cursor)))
            return rc;
        after_created = cursor.created_at;
        after_id = cursor.id;
    }
    /* Spelled out per order: the row comparison must go the way the ORDER BY goes. */
    static const char desc_sql[] =
        "SELECT " COLS " FROM batch_files WHERE ($1 = '' OR tenant = $1) AND ($2 = '' OR purpose = $2) AND "
        "($3 = '' OR created_at < $4 OR (created_at = $4 AND id < $3)) ORDER BY created_at DESC, id DESC LIMIT $5";
    static const char asc_sql[] =
        "SELECT " COLS " FROM batch_files WHERE ($1 = '' OR tenant = $1) AND ($2 = '' OR purpose = $2) AND "
        "($3 = '' OR created_at > $4 OR (created_at = $4 AND id > $3)) ORDER BY created_at ASC, id ASC LIMIT $5";
    struct lgw_bst_param p[] = {text(tenant), text(purpose ? purpose : ""), text(after_id), num(after_created),
                                num(limit + 1)};
    struct lgw_bst_rows rows;
    if ((rc = lgw_fdb_exec(db, asc ? asc_sql : desc_sql, p, 5, false, (size_t)limit + 1, &rows, NULL)))
        return rc;
    if (rows.nrows) {
        *out = lgw_calloc(rows.nrows, sizeof(**out));
        for (size_t r = 0; r < rows.nrows; r++)
            meta_from_row(&rows, r, &(*out)[r]);
    }
    *n = rows.nrows;
    lgw_bst_rows_cleanup(&rows);
    return LGW_OK;
}

int lgw_files_expire(struct lgw_fdb *db, int64_t now_s, int64_t *deleted)
{
    struct lgw_bst_param p[] = {num(now_s)};
    return lgw_fdb_exec(db, "DELETE FROM batch_files WHERE expires_at < $1", p, 1, false, 0, NULL, deleted);
}
