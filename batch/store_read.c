/* store_read.c - reading the batch store: a batch, a tenant's list, and the OpenAI Batch output lines
 * rendered from batch_results (see store.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/store.h"
#include "batch/store_int.h"
#include "common/buf.h"
#include "common/errors.h"

/* Lines read per statement while rendering: memory stays bounded by a page of bodies. */
#define RENDER_PAGE 500

#define PI(v) ((struct lgw_bst_param){.is_int = true, .i = (v)})
#define PS(v) ((struct lgw_bst_param){.s = (v)})

#define INFO_COLUMNS                                                                                            \
    "id, tenant, key_id, endpoint, input_file_id, metadata, status, created_at, in_progress_at, finalizing_at," \
    " completed_at, failed_at, expired_at, cancelling_at, cancelled_at, expires_at, total, completed, failed,"   \
    " cost_nusd, errors, created_ms"

void lgw_batch_info_cleanup(struct lgw_batch_info *info)
{
    json_decref(info->metadata);
    json_decref(info->errors);
    info->metadata = info->errors = NULL;
}

bool lgw_batch_status_terminal(const char *status)
{
    return strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0 || strcmp(status, "expired") == 0 ||
           strcmp(status, "cancelled") == 0;
}

static int64_t num(const char *s)
{
    return s ? strtoll(s, NULL, 10) : 0;
}

static void copy(char *out, size_t outsz, const char *s)
{
    lgw_strlcpy(out, s ? s : "", outsz);
}

static json_t *parse(const char *s)
{
    return s ? json_loads(s, 0, NULL) : NULL;
}

static void info_from_row(const struct lgw_bst_rows *rows, size_t r, struct lgw_batch_info *out)
{
    memset(out, 0, sizeof(*out));
    copy(out->id, sizeof(out->id), lgw_bst_cell(rows, r, 0));
    copy(out->tenant, sizeof(out->tenant), lgw_bst_cell(rows, r, 1));
    copy(out->key_id, sizeof(out->key_id), lgw_bst_cell(rows, r, 2));
    copy(out->endpoint, sizeof(out->endpoint), lgw_bst_cell(rows, r, 3));
    copy(out->input_file_id, sizeof(out->input_file_id), lgw_bst_cell(rows, r, 4));
    out->metadata = parse(lgw_bst_cell(rows, r, 5));
    copy(out->status, sizeof(out->status), lgw_bst_cell(rows, r, 6));
    int64_t *times[] = {&out->created_at, &out->in_progress_at, &out->finalizing_at, &out->completed_at,
                        &out->failed_at,  &out->expired_at,     &out->cancelling_at, &out->cancelled_at,
                        &out->expires_at};
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++)
        *times[i] = num(lgw_bst_cell(rows, r, 7 + i));
    out->total = num(lgw_bst_cell(rows, r, 16));
    out->completed = num(lgw_bst_cell(rows, r, 17));
    out->failed = num(lgw_bst_cell(rows, r, 18));
    out->cost_nusd = num(lgw_bst_cell(rows, r, 19));
    out->errors = parse(lgw_bst_cell(rows, r, 20));
    out->created_ms = num(lgw_bst_cell(rows, r, 21));
}

int lgw_batch_store_get(struct lgw_batch_store *st, const char *id, const char *tenant, struct lgw_batch_info *out)
{
    struct lgw_bst_rows rows;
    memset(out, 0, sizeof(*out));
    const struct lgw_bst_param p[] = {PS(id), PS(tenant)};
    int rc = tenant ? lgw_bst_exec(st, "SELECT " INFO_COLUMNS " FROM batches WHERE id = $1 AND tenant = $2", p, 2, &rows,
                                   NULL)
                    : lgw_bst_exec(st, "SELECT " INFO_COLUMNS " FROM batches WHERE id = $1", p, 1, &rows, NULL);
    if (rc)
        return rc;
    if (rows.nrows == 0)
        rc = LGW_ERR(NOT_FOUND);
    else
        info_from_row(&rows, 0, out);
    lgw_bst_rows_cleanup(&rows);
    return rc;
}

int lgw_batch_store_list(struct lgw_batch_store *st, const char *tenant, const char *after, int limit,
                         struct lgw_batch_info *out, size_t *n, bool *has_more)
{
    struct lgw_bst_rows rows;
    char sql[512];
    int rc;
    *n = 0;
    *has_more = false;
    if (limit < 1)
        limit = 1;
    if (limit > 100)
        limit = 100;
    /* The cursor: where `after` stands in the order (created_ms DESC, id DESC). */
    int64_t after_ms = INT64_MAX;
    const char *after_id = "";
    struct lgw_batch_info cursor = {0};
    if (after && after[0]) {
        if ((rc = lgw_batch_store_get(st, after, tenant, &cursor))) {
            lgw_batch_info_cleanup(&cursor);
            return rc;
        }
        after_ms = cursor.created_ms;
        after_id = after;
    }
    /* One more row than asked: its presence is has_more. */
    struct lgw_bst_param p[] = {PI(after_ms), PS(after_id), PI(limit + 1), PS(tenant)};
    snprintf(sql, sizeof(sql),
             "SELECT " INFO_COLUMNS " FROM batches WHERE (created_ms < $1 OR (created_ms = $1 AND id < $2))%s"
             " ORDER BY created_ms DESC, id DESC LIMIT $3",
             tenant ? " AND tenant = $4" : "");
    rc = lgw_bst_exec(st, sql, p, tenant ? 4 : 3, &rows, NULL);
    lgw_batch_info_cleanup(&cursor);
    if (rc)
        return rc;
    for (size_t r = 0; r < rows.nrows && r < (size_t)limit; r++)
        info_from_row(&rows, r, &out[(*n)++]);
    *has_more = rows.nrows > (size_t)limit;
    lgw_bst_rows_cleanup(&rows);
    return LGW_OK;
}

static const char *filter(enum lgw_batch_lines which)
{
    switch (which) {
    case LGW_BATCH_LINES_OUTPUT:
        return " AND status_code BETWEEN 200 AND 299";
    case LGW_BATCH_LINES_ERRORS:
        return " AND status_code NOT BETWEEN 200 AND 299";
    case LGW_BATCH_LINES_ALL:
        break;
    }
    return "";
}

int lgw_batch_store_count_lines(struct lgw_batch_store *st, const char *id, enum lgw_batch_lines which, int64_t *count)
{
    struct lgw_bst_rows rows;
    char sql[256];
    const struct lgw_bst_param p[] = {PS(id)};
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM batch_results WHERE batch_id = $1%s", filter(which));
    *count = 0;
    int rc = lgw_bst_exec(st, sql, p, 1, &rows, NULL);
    if (rc)
        return rc;
    if (rows.nrows == 1)
        *count = num(lgw_bst_cell(&rows, 0, 0));
    lgw_bst_rows_cleanup(&rows);
    return LGW_OK;
}

static void put_json_string(struct lgw_buf *b, const char *s)
{
    if (s)
        lgw_buf_json_string(b, s, strlen(s));
    else
        lgw_buf_puts(b, "null");
}

/* One output line from a row (idx, custom_id, request_id, status_code, body, error_code, error_message).
 * The body is spliced in as stored (compact JSON written by lgw_batch_store_add_result). */
static void render_line(struct lgw_buf *b, const char *batch_id, const struct lgw_bst_rows *rows, size_t r)
{
    const char *idx = lgw_bst_cell(rows, r, 0), *code = lgw_bst_cell(rows, r, 5);
    const char *body = lgw_bst_cell(rows, r, 4);
    /* "batch_req_" + the batch id's hex + the index: the same on every rendering, so a resumed collect and the
     * HTTP files agree line by line. */
    const char *hex = strncmp(batch_id, "batch_", 6) == 0 ? batch_id + 6 : batch_id;
    lgw_buf_printf(b, "{\"id\":\"batch_req_%s_%s\",\"custom_id\":", hex, idx ? idx : "0");
    put_json_string(b, lgw_bst_cell(rows, r, 1));
    bool unrun = code && (strcmp(code, "batch_expired") == 0 || strcmp(code, "batch_cancelled") == 0);
    if (unrun) {
        lgw_buf_puts(b, ",\"response\":null,\"error\":{\"code\":");
        put_json_string(b, code);
        lgw_buf_puts(b, ",\"message\":");
        put_json_string(b, lgw_bst_cell(rows, r, 6) ? lgw_bst_cell(rows, r, 6) : "");
        lgw_buf_puts(b, "}}");
        return;
    }
    lgw_buf_printf(b, ",\"response\":{\"status_code\":%s,\"request_id\":", lgw_bst_cell(rows, r, 3));
    put_json_string(b, lgw_bst_cell(rows, r, 2));
    lgw_buf_puts(b, ",\"body\":");
    lgw_buf_puts(b, body ? body : "null");
    lgw_buf_puts(b, "},\"error\":null}");
}

int lgw_batch_store_render(struct lgw_batch_store *st, const char *id, enum lgw_batch_lines which, int64_t from,
                           lgw_batch_line_cb cb, void *opaque)
{
    char sql[512];
    struct lgw_buf line;
    int rc = LGW_OK;
    lgw_buf_init(&line, 0);
    snprintf(sql, sizeof(sql),
             "SELECT idx, custom_id, request_id, status_code, body, error_code, error_message FROM batch_results"
             " WHERE batch_id = $1 AND idx >= $2%s ORDER BY idx LIMIT $3",
             filter(which));
    for (bool more = true; more && rc == 0;) {
        struct lgw_bst_rows rows;
        const struct lgw_bst_param p[] = {PS(id), PI(from), PI(RENDER_PAGE)};
        if ((rc = lgw_bst_exec(st, sql, p, 3, &rows, NULL)))
            break;
        more = rows.nrows == RENDER_PAGE;
        for (size_t r = 0; r < rows.nrows; r++) {
            int64_t idx = num(lgw_bst_cell(&rows, r, 0));
            lgw_buf_reset(&line);
            render_line(&line, id, &rows, r);
            from = idx + 1;
            if (cb(opaque, idx, line.ptr, line.len)) {
                more = false;
                break;
            }
        }
        lgw_bst_rows_cleanup(&rows);
    }
    lgw_buf_cleanup(&line);
    return rc;
}
