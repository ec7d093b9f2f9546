/* api_files.c - /v1/files: upload (multipart, purpose "batch"), list, retrieve, delete and content, each scoped
 * to the caller's tenant (another tenant's file is a 404, never a 403: its existence is not told). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/api_int.h"
#include "batch/multipart.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

json_t *lgw_api_file_json(const struct lgw_file_meta *f)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(f->id));
    json_object_set_new(o, "object", json_string("file"));
    json_object_set_new(o, "bytes", json_integer(f->bytes));
    json_object_set_new(o, "created_at", json_integer(f->created_at));
    json_object_set_new(o, "expires_at", f->expires_at ? json_integer(f->expires_at) : json_null());
    /* Stored only after checking it is UTF-8, so json_string never fails here. */
    json_object_set_new(o, "filename", json_string(f->filename));
    json_object_set_new(o, "purpose", json_string(f->purpose));
    json_object_set_new(o, "status", json_string("processed"));
    json_object_set_new(o, "status_details", json_null());
    return o;
}

static void not_found(struct lgw_http_call *call, const char *id)
{
    char msg[160];
    snprintf(msg, sizeof(msg), "No such File object: %.100s", id);
    lgw_api_error(call, LGW_ERR(NOT_FOUND), msg, "id");
}

static void create(struct lgw_api_ctx *ctx, struct lgw_http_call *call)
{
    if (!call->caller.tenant[0]) { /* an admin key names no tenant the file would belong to */
        lgw_api_error(call, LGW_ERR(FORBIDDEN), "An admin key cannot upload files; use a tenant key.", NULL);
        return;
    }
    struct lgw_multipart mp;
    char why[200];
    if (lgw_multipart_parse(call->content_type, call->body, call->body_len, &mp, why, sizeof(why))) {
        lgw_api_error(call, LGW_ERR(INVALID), why, NULL);
        return;
    }
    const struct lgw_multipart_part *purpose = lgw_multipart_find(&mp, "purpose");
    const struct lgw_multipart_part *file = lgw_multipart_find(&mp, "file");
    char msg[256];
    if (!purpose) {
        lgw_api_error(call, LGW_ERR(INVALID), "Missing required parameter: 'purpose'.", "purpose");
        return;
    }
    if (purpose->len != 5 || memcmp(purpose->data, "batch", 5) != 0) {
        snprintf(msg, sizeof(msg), "Invalid purpose '%.*s': llmgw keeps files for the Batch API only; use "
                                   "purpose=batch.", purpose->len > 40 ? 40 : (int)purpose->len, purpose->data);
        lgw_api_error(call, LGW_ERR(INVALID), msg, "purpose");
        return;
    }
    if (!file || !file->has_filename) {
        lgw_api_error(call, LGW_ERR(INVALID), "Missing required parameter: 'file' (a file part with a filename).",
                      "file");
        return;
    }
    if ((int64_t)file->len > ctx->cfg->batch_file_max_bytes) {
        snprintf(msg, sizeof(msg), "File of %zu bytes is larger than the limit of %lld bytes (batch_file_max_bytes).",
                 file->len, (long long)ctx->cfg->batch_file_max_bytes);
        lgw_api_error(call, LGW_ERR(TOO_LARGE), msg, "file");
        return;
    }
    json_t *name = json_string(file->filename); /* NULL: not UTF-8, which no answer could carry */
    if (!name) {
        lgw_api_error(call, LGW_ERR(INVALID), "The file's name is not valid UTF-8.", "file");
        return;
    }
    json_decref(name);
    struct lgw_file_meta f = {0};
    lgw_file_new_id(f.id);
    lgw_strlcpy(f.tenant, call->caller.tenant, sizeof(f.tenant));
    lgw_strlcpy(f.filename, file->filename, sizeof(f.filename));
    lgw_strlcpy(f.purpose, "batch", sizeof(f.purpose));
    f.bytes = (int64_t)file->len;
    f.created_at = lgw_wall_ms() / 1000;
    f.expires_at = f.created_at + ctx->cfg->batch_retention_days * 86400;
    if (lgw_files_insert(ctx->db, &f, file->data, file->len)) {
        lgw_api_error(call, LGW_ERR(DB), "The file could not be stored; try again later.", NULL);
        return;
    }
    LGW_LOG(LGW_LOG_INFO, "batch", call->request_id, f.tenant, "file %s stored (%lld bytes)", f.id,
            (long long)f.bytes);
    lgw_api_json(call, lgw_api_file_json(&f));
}

static void list(struct lgw_api_ctx *ctx, struct lgw_http_call *call)
{
    int64_t limit;
    if (lgw_api_query_int(call, "limit", 1, LGW_FILES_LIST_MAX, LGW_FILES_LIST_MAX, &limit))
        return;
    const char *order = lgw_http_call_query(call, "order");
    if (order && strcmp(order, "asc") != 0 && strcmp(order, "desc") != 0) {
        lgw_api_error(call, LGW_ERR(INVALID), "'order' must be 'asc' or 'desc'.", "order");
        return;
    }
    const char *after = lgw_http_call_query(call, "after");
    const char *purpose = lgw_http_call_query(call, "purpose");
    struct lgw_file_meta *files;
    size_t n;
    int rc = lgw_files_list(ctx->db, lgw_api_scope(call), purpose && purpose[0] ? purpose : NULL,
                            after && after[0] ? after : NULL, order && strcmp(order, "asc") == 0, limit, &files, &n);
    if (rc == LGW_ERR(NOT_FOUND)) {
        lgw_api_error(call, LGW_ERR(INVALID), "'after' names no file of yours.", "after");
        return;
    }
    if (rc) {
        lgw_api_error(call, LGW_ERR(DB), "The files could not be read; try again later.", NULL);
        return;
    }
    bool more = n > (size_t)limit;
    if (more)
        n = (size_t)limit;
    json_t *data = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(data, lgw_api_file_json(&files[i]));
    json_t *o = json_object();
    json_object_set_new(o, "object", json_string("list"));
    json_object_set_new(o, "data", data);
    json_object_set_new(o, "first_id", n ? json_string(files[0].id) : json_null());
    json_object_set_new(o, "last_id", n ? json_string(files[n - 1].id) : json_null());
    json_object_set_new(o, "has_more", json_boolean(more));
    free(files);
    lgw_api_json(call, o);
}

void lgw_api_files_serve(struct lgw_api_ctx *ctx, struct lgw_http_call *call, const char *rest)
{
    const char *method = call->method;
    if (rest[0] == '\0' || strcmp(rest, "/") == 0) {
        if (strcmp(method, "POST") == 0)
            create(ctx, call);
        else if (strcmp(method, "GET") == 0)
            list(ctx, call);
        else
            lgw_api_error(call, LGW_ERR(METHOD), NULL, NULL);
        return;
    }
    /* "/{id}" or "/{id}/content" */
    const char *sub;
    char fid[LGW_ID_MAX + 32];
    if (!lgw_api_path_id(call, rest, "/content", fid, sizeof(fid), &sub))
        return;
    const char *scope = lgw_api_scope(call);
    int rc;
    if (strcmp(method, "GET") == 0 && lgw_api_batch_file(ctx, call, fid, sub[0] != '\0'))
        return; /* a batch's output or error file */
    if (strcmp(method, "POST") == 0) {
        lgw_api_error(call, LGW_ERR(METHOD), NULL, NULL);
    } else if (strcmp(method, "DELETE") == 0) {
        if (sub[0]) {
            lgw_api_error(call, LGW_ERR(METHOD), NULL, NULL);
            return;
        }
        rc = lgw_files_delete(ctx->db, fid, scope);
        if (rc == LGW_ERR(NOT_FOUND)) {
            not_found(call, fid);
            return;
        }
        if (rc) {
            lgw_api_error(call, LGW_ERR(DB), "The file could not be deleted; try again later.", NULL);
            return;
        }
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string(fid));
        json_object_set_new(o, "object", json_string("file"));
        json_object_set_new(o, "deleted", json_true());
        lgw_api_json(call, o);
    } else if (sub[0]) { /* GET content */
        char *data;
        size_t len;
        rc = lgw_files_content(ctx->db, fid, scope, &data, &len);
        if (rc == LGW_ERR(NOT_FOUND)) {
            not_found(call, fid);
            return;
        }
        if (rc) {
            lgw_api_error(call, LGW_ERR(DB), "The file could not be read; try again later.", NULL);
            return;
        }
        lgw_http_call_done(call, 200, "application/octet-stream", data, len);
    } else { /* GET metadata */
        struct lgw_file_meta f;
        rc = lgw_files_get(ctx->db, fid, scope, &f);
        if (rc == LGW_ERR(NOT_FOUND)) {
            not_found(call, fid);
            return;
        }
        if (rc) {
            lgw_api_error(call, LGW_ERR(DB), "The file could not be read; try again later.", NULL);
            return;
        }
        lgw_api_json(call, lgw_api_file_json(&f));
    }
}
