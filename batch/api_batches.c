/* api_batches.c - /v1/batches: create, list, retrieve and cancel, over the batch role's store (batch/store.h)
 * and the submit library (batch/submit.h); and the virtual output and error files of a batch
 * (file-batch-output-<id>, file-batch-errors-<id>), rendered from the store on every read, never copied. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/api_int.h"
#include "batch/object.h"
#include "batch/store.h"
#include "batch/submit.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/http_error.h"
#include "common/log.h"
#include "common/validate.h"

#define OUTPUT_PREFIX "file-batch-output-"
#define ERRORS_PREFIX "file-batch-errors-"
/* The most batches one list answers, and the default (OpenAI's). */
#define LIST_MAX 100
#define LIST_DEFAULT 20
/* OpenAI's metadata limits: 16 pairs, keys up to 64 characters, values up to 512. */
#define METADATA_PAIRS_MAX 16
#define METADATA_KEY_MAX 64
#define METADATA_VALUE_MAX 512
/* Line errors spelled out in the answer to a refused POST /v1/batches (the rest are counted). */
#define ERRORS_SHOWN 5

struct lgw_batch_store *lgw_api_store(struct lgw_api_ctx *ctx)
{
    if (!ctx->store && lgw_batch_store_open(ctx->cfg->database_url, &ctx->store))
        ctx->store = NULL; /* logged by the store; tried again at the next call */
    return ctx->store;
}

/* The Batch object (batch/object.h, shared with `llmgw batch status --json`): the output file once some
 * line got a 2xx, the error file once some did not. */
json_t *lgw_api_batch_json(const struct lgw_batch_info *b)
{
    return lgw_batch_info_json(b, b->completed > 0, b->failed > 0);
}

static void batch_not_found(struct lgw_http_call *call, const char *id)
{
    char msg[160];
    snprintf(msg, sizeof(msg), "No such Batch object: %.100s", id);
    lgw_api_error(call, LGW_ERR(NOT_FOUND), msg, "id");
}

static void store_down(struct lgw_http_call *call)
{
    lgw_api_error(call, LGW_ERR(UNAVAILABLE), "The batch database cannot be reached; try again later.", NULL);
}

/* The caller's tenant for store reads: NULL for an admin (every tenant). */
static const char *store_scope(const struct lgw_http_call *call)
{
    return call->caller.admin ? NULL : call->caller.tenant;
}

static void retrieve(struct lgw_api_ctx *ctx, struct lgw_http_call *call, const char *id)
{
    struct lgw_batch_store *st = lgw_api_store(ctx);
    if (!st) {
        store_down(call);
        return;
    }
    struct lgw_batch_info b;
    int rc = lgw_batch_store_get(st, id, store_scope(call), &b);
    if (rc == LGW_ERR(NOT_FOUND))
        batch_not_found(call, id);
    else if (rc)
        store_down(call);
    else
        lgw_api_json(call, lgw_api_batch_json(&b));
    lgw_batch_info_cleanup(&b);
}

static void list(struct lgw_api_ctx *ctx, struct lgw_http_call *call)
{
    int64_t limit;
    if (lgw_api_query_int(call, "limit", 1, LIST_MAX, LIST_DEFAULT, &limit))
        return;
    struct lgw_batch_store *st = lgw_api_store(ctx);
    if (!st) {
        store_down(call);
        return;
    }
    const char *after = lgw_http_call_query(call, "after");
    struct lgw_batch_info infos[LIST_MAX];
    size_t n = 0;
    bool more = false;
    int rc = lgw_batch_store_list(st, store_scope(call), after && after[0] ? after : NULL, (int)limit, infos, &n,
                                  &more);
    if (rc == LGW_ERR(NOT_FOUND)) {
        lgw_api_error(call, LGW_ERR(INVALID), "'after' names no batch of yours.", "after");
    } else if (rc) {
        store_down(call);
    } else {
        json_t *data = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(data, lgw_api_batch_json(&infos[i]));
        json_t *o = json_object();
        json_object_set_new(o, "object", json_string("list"));
        json_object_set_new(o, "data", data);
        json_object_set_new(o, "first_id", n ? json_string(infos[0].id) : json_null());
        json_object_set_new(o, "last_id", n ? json_string(infos[n - 1].id) : json_null());
        json_object_set_new(o, "has_more", json_boolean(more));
        lgw_api_json(call, o);
    }
    for (size_t i = 0; i < n; i++)
        lgw_batch_info_cleanup(&infos[i]);
}

/* ---- The virtual output and error files ---- */

struct render_arg {
    struct lgw_buf *out;
    int64_t bytes;
    int rc;
};

static int render_cb(void *opaque, int64_t index, const char *line, size_t len)
{
    (void)index;
    struct render_arg *a = opaque;
    a->bytes += (int64_t)len + 1;
    if (a->out && (lgw_buf_append(a->out, line, len) || lgw_buf_append(a->out, "\n", 1))) {
        a->rc = LGW_ERR(TOO_LARGE);
        return 1;
    }
    return 0;
}

bool lgw_api_batch_file(struct lgw_api_ctx *ctx, struct lgw_http_call *call, const char *fid, bool content)
{
    enum lgw_batch_lines which;
    const char *id;
    if (strncmp(fid, OUTPUT_PREFIX, strlen(OUTPUT_PREFIX)) == 0) {
        which = LGW_BATCH_LINES_OUTPUT;
        id = fid + strlen(OUTPUT_PREFIX);
    } else if (strncmp(fid, ERRORS_PREFIX, strlen(ERRORS_PREFIX)) == 0) {
        which = LGW_BATCH_LINES_ERRORS;
        id = fid + strlen(ERRORS_PREFIX);
    } else {
        return false;
    }
    struct lgw_batch_store *st = lgw_api_store(ctx);
    if (!st) {
        store_down(call);
        return true;
    }
    char msg[160];
    snprintf(msg, sizeof(msg), "No such File object: %.100s", fid);
    struct lgw_batch_info b;
    int rc = lgw_batch_store_get(st, id, store_scope(call), &b);
    /* A file exists once its batch is over, as output_file_id / error_file_id say. */
    bool over = rc == 0 && lgw_batch_status_terminal(b.status) &&
                (which == LGW_BATCH_LINES_OUTPUT ? b.completed > 0 : b.failed > 0);
    if (rc && rc != LGW_ERR(NOT_FOUND)) {
        store_down(call);
    } else if (!over) {
        lgw_api_error(call, LGW_ERR(NOT_FOUND), msg, "id");
    } else {
        struct lgw_buf out;
        lgw_buf_init(&out, LGW_API_OUTPUT_FILE_MAX);
        struct render_arg a = {.out = &out};
        rc = lgw_batch_store_render(st, b.id, which, 0, render_cb, &a);
        if (rc) {
            store_down(call);
        } else if (a.rc) {
            snprintf(msg, sizeof(msg), "The file is larger than %d MiB; read it with `llmgw batch collect`.",
                     LGW_API_OUTPUT_FILE_MAX >> 20);
            lgw_api_error(call, LGW_ERR(TOO_LARGE), msg, NULL);
        } else if (content) {
            size_t len;
            char *body = lgw_buf_take(&out, &len);
            lgw_http_call_done(call, 200, "application/octet-stream", body ? body : lgw_calloc(1, 1), len);
        } else {
            struct lgw_file_meta f = {.bytes = a.bytes};
            lgw_strlcpy(f.id, fid, sizeof(f.id));
            snprintf(f.filename, sizeof(f.filename), "%s_%s.jsonl", b.id,
                     which == LGW_BATCH_LINES_OUTPUT ? "output" : "errors");
            lgw_strlcpy(f.purpose, "batch_output", sizeof(f.purpose));
            int64_t done = b.completed_at ? b.completed_at : b.cancelled_at ? b.cancelled_at : b.expired_at;
            f.created_at = done ? done : b.created_at;
            f.expires_at = b.created_at + ctx->cfg->batch_retention_days * 86400; /* purged with its batch */
            lgw_api_json(call, lgw_api_file_json(&f));
        }
        lgw_buf_cleanup(&out);
    }
    lgw_batch_info_cleanup(&b);
    return true;
}

/* ---- POST /v1/batches ---- */

static void invalid(struct lgw_http_call *call, const char *msg, const char *param)
{
    lgw_api_error(call, LGW_ERR(INVALID), msg, param);
}

/* 400 naming the first bad lines of the input ("Line 3 is not a JSON object: ... (invalid_json)"), with the
 * first one's code as the error's code. */
static void refuse_lines(struct lgw_http_call *call, const struct lgw_batch_input *in)
{
    struct lgw_buf msg;
    lgw_buf_init(&msg, 0);
    int64_t total = lgw_batch_input_error_count(in);
    size_t kept = lgw_batch_input_errors_kept(in);
    for (size_t i = 0; i < kept && i < ERRORS_SHOWN; i++) {
        const struct lgw_batch_line_error *e = lgw_batch_input_error(in, i);
        /* The submitter's messages name their line ("Line 3: ..."); the code goes after. */
        lgw_buf_printf(&msg, "%s%s (%s)", i ? " " : "", e->message, e->code);
    }
    if (total > ERRORS_SHOWN)
        lgw_buf_printf(&msg, " And %lld more.", (long long)(total - ERRORS_SHOWN));
    lgw_buf_printf(&msg, " The input file has %lld invalid line(s); no batch was created.", (long long)total);
    const struct lgw_batch_line_error *first = kept ? lgw_batch_input_error(in, 0) : NULL;
    json_t *err = json_object();
    json_object_set_new(err, "error", lgw_http_error_object(LGW_ERR(INVALID), msg.ptr, "input_file_id",
                                                            first ? first->code : NULL));
    lgw_buf_cleanup(&msg);
    char *body = json_dumps(err, JSON_COMPACT);
    json_decref(err);
    lgw_http_call_done(call, lgw_err_status(LGW_ERR(INVALID)), NULL, body, strlen(body));
}

/* metadata: null, or an object of up to 16 string pairs within OpenAI's lengths. */
static int check_metadata(json_t *md, char *msg, size_t msgsz)
{
    if (!md || json_is_null(md))
        return 0;
    if (!json_is_object(md) || json_object_size(md) > METADATA_PAIRS_MAX) {
        snprintf(msg, msgsz, "'metadata' must be an object of at most %d string pairs.", METADATA_PAIRS_MAX);
        return LGW_ERR(INVALID);
    }
    const char *k;
    json_t *v;
    json_object_foreach(md, k, v) {
        if (!json_is_string(v) || strlen(k) > METADATA_KEY_MAX || json_string_length(v) > METADATA_VALUE_MAX) {
            snprintf(msg, msgsz, "'metadata' values must be strings (keys up to %d characters, values up to %d).",
                     METADATA_KEY_MAX, METADATA_VALUE_MAX);
            return LGW_ERR(INVALID);
        }
    }
    return 0;
}

static void create(struct lgw_api_ctx *ctx, struct lgw_http_call *call)
{
    if (!call->caller.tenant[0]) { /* an admin key names no tenant to run and bill the batch as */
        lgw_api_error(call, LGW_ERR(FORBIDDEN), "An admin key cannot create batches; use a tenant key.", NULL);
        return;
    }
    char msg[320];
    json_t *body = NULL;
    int rc = lgw_validate_parse(call->body, call->body_len, (int)ctx->cfg->max_json_depth, &body, msg, sizeof(msg));
    if (rc) {
        lgw_api_error(call, rc, msg, NULL);
        return;
    }
    struct lgw_batch_input *in = NULL;
    struct lgw_batch_record rec;
    memset(&rec, 0, sizeof(rec));
    struct lgw_batch_info b = {0};
    char *data = NULL;
    size_t len = 0;
    json_t *fid = json_object_get(body, "input_file_id"), *ep = json_object_get(body, "endpoint");
    json_t *win = json_object_get(body, "completion_window"), *md = json_object_get(body, "metadata");
    if (!json_is_object(body)) {
        invalid(call, "The request body must be a JSON object.", NULL);
        goto out;
    }
    if (!json_is_string(fid) || !json_string_length(fid)) {
        invalid(call, "Missing required parameter: 'input_file_id'.", "input_file_id");
        goto out;
    }
    if (!json_is_string(ep)) {
        invalid(call, "Missing required parameter: 'endpoint'.", "endpoint");
        goto out;
    }
    const char *endpoint = json_string_value(ep);
    if (strcmp(endpoint, "/v1/chat/completions") != 0 && strcmp(endpoint, "/v1/embeddings") != 0) {
        snprintf(msg, sizeof(msg), "Invalid endpoint '%.60s': llmgw runs batches of /v1/chat/completions or "
                                   "/v1/embeddings.", endpoint);
        invalid(call, msg, "endpoint");
        goto out;
    }
    if (!json_is_string(win) || strcmp(json_string_value(win), "24h") != 0) {
        invalid(call, "Invalid completion_window: the only window is '24h'.", "completion_window");
        goto out;
    }
    if (check_metadata(md, msg, sizeof(msg))) {
        invalid(call, msg, "metadata");
        goto out;
    }
    rc = lgw_files_content(ctx->db, json_string_value(fid), call->caller.tenant, &data, &len);
    if (rc == LGW_ERR(NOT_FOUND)) {
        snprintf(msg, sizeof(msg), "No such File object: %.100s", json_string_value(fid));
        lgw_api_error(call, LGW_ERR(NOT_FOUND), msg, "input_file_id");
        goto out;
    }
    if (rc) {
        lgw_api_error(call, LGW_ERR(UNAVAILABLE), "The files database cannot be reached; try again later.", NULL);
        goto out;
    }
    if ((rc = lgw_batch_input_parse(ctx->cfg, data, len, endpoint, &in))) {
        invalid(call, "Invalid endpoint.", "endpoint");
        goto out;
    }
    free(data); /* the input keeps its own copy of the lines */
    data = NULL;
    if (lgw_batch_input_error_count(in) > 0) {
        refuse_lines(call, in);
        goto out;
    }
    struct lgw_batch_submit_opts o = {.tenant = call->caller.tenant, .key_id = call->caller.key_id,
                                      .input_file_id = json_string_value(fid),
                                      .metadata = json_is_object(md) ? md : NULL};
    if ((rc = lgw_batch_submit_prepare(in, &o, &rec, msg, sizeof(msg)))) {
        invalid(call, msg, "input_file_id");
        goto out;
    }
    struct lgw_batch_store *st = lgw_api_store(ctx);
    /* The row first (validating), so the batch is listed while its lines go out and a GET finds it at once;
     * the batch role applies the same records from Kafka, idempotently. */
    if (!st || lgw_batch_store_apply_record(st, &rec, lgw_wall_ms())) {
        store_down(call);
        goto out;
    }
    rc = lgw_batch_submit_send(ctx->cfg, ctx->producer, in, &rec, msg, sizeof(msg));
    rec.ts_ms = lgw_wall_ms();
    if (lgw_batch_store_apply_record(st, &rec, rec.ts_ms)) /* submitted (in_progress), or failed */
        LGW_LOG(LGW_LOG_WARN, "batch", call->request_id, rec.tenant, "batch %s: the row stays behind Kafka until "
                "the batch role applies the record", rec.id);
    if (rc) {
        LGW_LOG(LGW_LOG_WARN, "batch", call->request_id, rec.tenant, "batch %s not submitted: %s", rec.id, msg);
        char why[480];
        snprintf(why, sizeof(why), "Batch %s could not be submitted (%s); it is marked failed. Try again.", rec.id,
                 msg);
        lgw_api_error(call, LGW_ERR(UNAVAILABLE), why, NULL);
        goto out;
    }
    LGW_LOG(LGW_LOG_INFO, "batch", call->request_id, rec.tenant, "batch %s submitted: %lld line(s) from %s",
            rec.id, (long long)rec.total, rec.input_file_id);
    if (lgw_batch_store_get(st, rec.id, rec.tenant, &b)) {
        store_down(call);
        goto out;
    }
    lgw_api_json(call, lgw_api_batch_json(&b));
out:
    lgw_batch_info_cleanup(&b);
    lgw_batch_record_cleanup(&rec);
    lgw_batch_input_free(in);
    free(data);
    json_decref(body);
}

/* ---- POST /v1/batches/{id}/cancel ---- */

static void cancel(struct lgw_api_ctx *ctx, struct lgw_http_call *call, const char *id)
{
    struct lgw_batch_store *st = lgw_api_store(ctx);
    if (!st) {
        store_down(call);
        return;
    }
    struct lgw_batch_info b;
    struct lgw_batch_record rec;
    memset(&rec, 0, sizeof(rec));
    char msg[320];
    int rc = lgw_batch_store_get(st, id, store_scope(call), &b);
    if (rc == LGW_ERR(NOT_FOUND)) {
        batch_not_found(call, id);
        goto out;
    }
    if (rc) {
        store_down(call);
        goto out;
    }
    if (strcmp(b.status, "cancelling") == 0 || strcmp(b.status, "cancelled") == 0) {
        lgw_api_json(call, lgw_api_batch_json(&b)); /* asked twice: the same answer */
        goto out;
    }
    if (lgw_batch_status_terminal(b.status)) {
        snprintf(msg, sizeof(msg), "Cannot cancel a batch with status '%s'.", b.status);
        lgw_api_error(call, LGW_ERR(INVALID), msg, NULL);
        goto out;
    }
    if (strcmp(b.status, "validating") == 0) {
        /* Its lines are still going out, and the submitter's last record (submitted) would overwrite a cancel
         * on the compacted topic. */
        lgw_api_error(call, LGW_ERR(CONFLICT), "The batch is still being submitted; cancel it once it is "
                                               "in_progress.", NULL);
        goto out;
    }
    /* The batch's record as its submitter wrote it, now cancelling: the workers answer its lines not yet run
     * with batch_cancelled, and the batch role finishes it. */
    lgw_batch_store_cancel_record(&b, lgw_wall_ms(), &rec);
    if ((rc = lgw_batch_record_send(ctx->cfg, ctx->producer, &rec, msg, sizeof(msg)))) {
        LGW_LOG(LGW_LOG_WARN, "batch", call->request_id, b.tenant, "cancel of %s not sent: %s", b.id, msg);
        lgw_api_error(call, LGW_ERR(UNAVAILABLE), "The cancel could not be sent; try again.", NULL);
        goto out;
    }
    LGW_LOG(LGW_LOG_INFO, "batch", call->request_id, b.tenant, "batch %s cancelling", b.id);
    lgw_batch_store_apply_record(st, &rec, rec.ts_ms); /* at once for a GET; the batch role applies it too */
    lgw_batch_info_cleanup(&b);
    if (lgw_batch_store_get(st, id, store_scope(call), &b))
        store_down(call);
    else
        lgw_api_json(call, lgw_api_batch_json(&b));
out:
    lgw_batch_record_cleanup(&rec);
    lgw_batch_info_cleanup(&b);
}

void lgw_api_batches_serve(struct lgw_api_ctx *ctx, struct lgw_http_call *call, const char *rest)
{
    const char *method = call->method;
    if (rest[0] == '\0' || strcmp(rest, "/") == 0) {
        if (strcmp(method, "GET") == 0)
            list(ctx, call);
        else if (strcmp(method, "POST") == 0)
            create(ctx, call);
        else
            lgw_api_error(call, LGW_ERR(METHOD), NULL, NULL);
        return;
    }
    const char *sub;
    char bid[LGW_ID_MAX];
    if (!lgw_api_path_id(call, rest, "/cancel", bid, sizeof(bid), &sub))
        return;
    if (!sub[0] && strcmp(method, "GET") == 0)
        retrieve(ctx, call, bid);
    else if (sub[0] && strcmp(method, "POST") == 0)
        cancel(ctx, call, bid);
    else
        lgw_api_error(call, LGW_ERR(METHOD), NULL, NULL);
}
