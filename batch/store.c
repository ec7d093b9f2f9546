/* store.c - the batch store's writes: batch records, results, spend per run, the deadlines and retention
 * (see store.h). Every statement is written once for both engines (store_int.h). */
#include "batch/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/store_int.h"
#include "common/assert.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/pg.h"

/* The error codes of lines the workers never ran (docs/BATCH.md); store_read.c renders them without a
 * response. */
#define EXPIRED_MSG "This request could not be executed before the completion window expired."
#define CANCELLED_MSG "This request was not executed because the batch was cancelled."

void lgw_bst_rows_cleanup(struct lgw_bst_rows *rows)
{
    for (size_t i = 0; i < rows->nrows * rows->ncols; i++)
        free(rows->cells[i]);
    free(rows->cells);
    free(rows->lens);
    memset(rows, 0, sizeof(*rows));
}

int lgw_batch_store_open(const char *url, struct lgw_batch_store **out)
{
    const struct lgw_bst_backend *be;
    *out = NULL;
    if (lgw_pg_url(url))
        be = &lgw_bst_pg;
    else if (strncmp(url, "sqlite:", 7) == 0)
        be = &lgw_bst_sqlite;
    else {
        LGW_ERROR("batch", "database_url must start with postgresql:// or sqlite:");
        return LGW_ERR(CONFIG);
    }
    void *conn = NULL;
    int rc = be->open(url, &conn);
    if (rc)
        return rc;
    struct lgw_batch_store *st = lgw_calloc(1, sizeof(*st));
    st->be = be;
    st->conn = conn;
    *out = st;
    return LGW_OK;
}

void lgw_batch_store_close(struct lgw_batch_store *st)
{
    if (!st)
        return;
    st->be->close(st->conn);
    free(st);
}

int lgw_bst_exec(struct lgw_batch_store *st, const char *sql, const struct lgw_bst_param *p, int n,
                 struct lgw_bst_rows *rows, int64_t *changes)
{
    return st->be->exec(st->conn, sql, p, n, rows, changes);
}

#define PI(v) ((struct lgw_bst_param){.is_int = true, .i = (v)})
#define PS(v) ((struct lgw_bst_param){.s = (v)})
/* "" stored as NULL (key_id, input_file_id): one way to say "none". */
#define PSN(v) ((struct lgw_bst_param){.s = ((v) && (v)[0]) ? (v) : NULL})

int lgw_batch_store_begin(struct lgw_batch_store *st) { return lgw_bst_exec(st, "BEGIN", NULL, 0, NULL, NULL); }
int lgw_batch_store_commit(struct lgw_batch_store *st) { return lgw_bst_exec(st, "COMMIT", NULL, 0, NULL, NULL); }
void lgw_batch_store_rollback(struct lgw_batch_store *st) { lgw_bst_exec(st, "ROLLBACK", NULL, 0, NULL, NULL); }

bool lgw_batch_store_ping(struct lgw_batch_store *st)
{
    return lgw_bst_exec(st, "SELECT 1", NULL, 0, NULL, NULL) == 0;
}

/* OpenAI's errors object of a failed submission. Owned by the caller (free). */
static char *errors_text(const char *message)
{
    json_t *e = json_pack("{s:s, s:[{s:s, s:s, s:n, s:n}]}", "object", "list", "data", "code", "submission_failed",
                          "message", message[0] ? message : "The submission failed.", "param", "line");
    char *s = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    return s;
}

void lgw_batch_store_cancel_record(const struct lgw_batch_info *info, int64_t now_ms, struct lgw_batch_record *rec)
{
    memset(rec, 0, sizeof(*rec));
    lgw_strlcpy(rec->id, info->id, sizeof(rec->id));
    lgw_strlcpy(rec->tenant, info->tenant, sizeof(rec->tenant));
    lgw_strlcpy(rec->key_id, info->key_id, sizeof(rec->key_id));
    lgw_strlcpy(rec->endpoint, info->endpoint, sizeof(rec->endpoint));
    lgw_strlcpy(rec->input_file_id, info->input_file_id, sizeof(rec->input_file_id));
    rec->state = LGW_BATCH_CANCELLING;
    rec->created_ms = info->created_ms;
    rec->expires_ms = info->created_ms + LGW_BATCH_WINDOW_MS;
    rec->total = info->total;
    rec->metadata = info->metadata ? json_incref(info->metadata) : NULL;
    rec->ts_ms = now_ms;
}

int lgw_batch_store_apply_record(struct lgw_batch_store *st, const struct lgw_batch_record *rec, int64_t now_ms)
{
    int rc;
    char *meta = rec->metadata ? json_dumps(rec->metadata, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char *errs = NULL;
    int64_t at = (rec->ts_ms ? rec->ts_ms : now_ms) / 1000;
    /* Insert first (validating), then move forward: one rule whatever record comes first, and a record
     * replayed from the compacted topic finds its step done and changes nothing. */
    const struct lgw_bst_param ins[] = {PS(rec->id),  PS(rec->tenant), PSN(rec->key_id), PS(rec->endpoint),
                                        PSN(rec->input_file_id), PS(meta), PI(rec->created_ms / 1000),
                                        PI(rec->expires_ms / 1000), PI(rec->total), PI(rec->created_ms), PI(now_ms)};
    rc = lgw_bst_exec(st,
                      "INSERT INTO batches (id, tenant, key_id, endpoint, input_file_id, metadata, status, created_at,"
                      " expires_at, total, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, 'validating', $7,"
                      " $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING",
                      ins, 11, NULL, NULL);
    if (rc)
        goto out;
    switch (rec->state) {
    case LGW_BATCH_SUBMITTING:
        break;
    case LGW_BATCH_SUBMITTED: {
        const struct lgw_bst_param p[] = {PS(rec->id), PI(at), PI(rec->total), PI(now_ms)};
        rc = lgw_bst_exec(st,
                          "UPDATE batches SET status = 'in_progress', in_progress_at = $2, total = $3, updated_ms = $4"
                          " WHERE id = $1 AND status = 'validating'",
                          p, 4, NULL, NULL);
        break;
    }
    case LGW_BATCH_CANCELLING: {
        const struct lgw_bst_param p[] = {PS(rec->id), PI(at), PI(now_ms)};
        rc = lgw_bst_exec(st,
                          "UPDATE batches SET status = 'cancelling', cancelling_at = $2, updated_ms = $3"
                          " WHERE id = $1 AND status IN ('validating', 'in_progress', 'finalizing')",
                          p, 3, NULL, NULL);
        break;
    }
    case LGW_BATCH_FAILED: {
        errs = errors_text(rec->error);
        const struct lgw_bst_param p[] = {PS(rec->id), PI(at), PS(errs), PI(now_ms)};
        rc = lgw_bst_exec(st,
                          "UPDATE batches SET status = 'failed', failed_at = $2, errors = $3, updated_ms = $4"
                          " WHERE id = $1 AND status IN ('validating', 'in_progress')",
                          p, 4, NULL, NULL);
        break;
    }
    }
    if (rc == 0 && rec->state != LGW_BATCH_SUBMITTING)
        rc = lgw_batch_store_refresh(st, rec->id, now_ms); /* results may have come first */
out:
    free(meta);
    free(errs);
    return rc;
}

/* The error object of a body too large to keep, as a provider's error would read. Owned by the caller. */
static char *too_large_body(int64_t len, int64_t max)
{
    char msg[256];
    snprintf(msg, sizeof(msg),
             "The response (%lld bytes) is larger than this gateway keeps for a batch line (batch_max_result_bytes, "
             "%lld bytes) and was dropped.",
             (long long)len, (long long)max);
    json_t *e = json_pack("{s:{s:s, s:s, s:n, s:s}}", "error", "message", msg, "type", "server_error", "param", "code",
                          "result_too_large");
    char *s = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    return s;
}

int lgw_batch_store_add_result(struct lgw_batch_store *st, const struct lgw_reply *reply, int64_t max_body_bytes,
                               int64_t now_ms, bool *kept, bool *counted, struct lgw_batch_delta *delta)
{
    LGW_ASSERT(reply->batch.id[0] != '\0' && reply->batch.index >= 0);
    LGW_ASSERT(reply->cost_nusd >= 0); /* the decoder refuses negative spend: the batch's cost only grows */
    *kept = *counted = false;
    int status = reply->status;
    char *body = reply->body ? json_dumps(reply->body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (body && (int64_t)strlen(body) > max_body_bytes) {
        int64_t len = (int64_t)strlen(body);
        free(body);
        body = too_large_body(len, max_body_bytes);
        status = 500;
    }
    const char *ecode = NULL, *emsg = NULL;
    json_t *err = NULL;
    if (status < 200 || status > 299) {
        /* The error's code and message, for the expired and cancelled lines' rendering and for reading the
         * table; the body keeps the whole answer. */
        err = body ? json_loads(body, 0, NULL) : NULL;
        json_t *eo = json_object_get(err, "error");
        ecode = json_string_value(json_object_get(eo, "code"));
        emsg = json_string_value(json_object_get(eo, "message"));
    }
    int64_t changes = 0;
    const struct lgw_bst_param p[] = {PS(reply->batch.id), PI(reply->batch.index), PS(reply->batch.custom_id),
                                      PS(reply->id),       PI(status),             PS(body),
                                      PS(ecode),           PS(emsg),               PI(now_ms)};
    /* The first result of a line is kept; only a placeholder of the sweep (no request_id: the line was never
     * answered in time) gives way to a real answer that arrives later. Two statements rather than one upsert,
     * so the caller learns which happened and moves the batch's counts by exactly that (*delta), instead of
     * recounting every row of the batch after each write. */
    int rc = lgw_bst_exec(st,
                          "INSERT INTO batch_results (batch_id, idx, custom_id, request_id, status_code, body, error_code,"
                          " error_message, ts_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                          " ON CONFLICT (batch_id, idx) DO NOTHING",
                          p, 9, NULL, &changes);
    bool ok = status >= 200 && status <= 299;
    if (rc == 0 && changes > 0) {
        delta->results++;
        delta->completed += ok;
        delta->failed += !ok;
    } else if (rc == 0) {
        rc = lgw_bst_exec(st,
                          "UPDATE batch_results SET custom_id = $3, request_id = $4, status_code = $5, body = $6,"
                          " error_code = $7, error_message = $8, ts_ms = $9"
                          " WHERE batch_id = $1 AND idx = $2 AND request_id IS NULL",
                          p, 9, NULL, &changes);
        if (rc == 0 && changes > 0) { /* a placeholder (408 or 409: failed) gives way */
            delta->completed += ok;
            delta->failed += !ok - 1;
        }
    }
    json_decref(err);
    free(body);
    if (rc)
        return rc;
    *kept = changes > 0;
    /* Spend: each execution once, whichever result was kept (a rerun's spend is spend too). */
    const char *run = reply->run_id[0] ? reply->run_id : reply->id;
    const struct lgw_bst_param r[] = {PS(run), PS(reply->batch.id), PI(reply->cost_nusd), PI(now_ms)};
    rc = lgw_bst_exec(st,
                      "INSERT INTO batch_runs (run_id, batch_id, cost_nusd, ts_ms) VALUES ($1, $2, $3, $4)"
                      " ON CONFLICT (run_id) DO NOTHING",
                      r, 4, NULL, &changes);
    if (rc == 0 && changes > 0) {
        *counted = true;
        delta->cost_nusd += reply->cost_nusd;
    }
    return rc;
}

/* The batch's finishing moves, once its counts are current. */
static int finish_if_done(struct lgw_batch_store *st, const char *id, int64_t now_ms)
{
    const struct lgw_bst_param q[] = {PS(id), PI(now_ms / 1000)};
    /* OpenAI's finalizing step (writing the output files) is instant here: the output is rendered from the
     * table on demand, so finalizing_at and completed_at are the same second. */
    int rc = lgw_bst_exec(st,
                          "UPDATE batches SET status = 'completed', finalizing_at = $2, completed_at = $2"
                          " WHERE id = $1 AND status = 'in_progress' AND total > 0 AND results >= total",
                          q, 2, NULL, NULL);
    if (rc == 0)
        rc = lgw_bst_exec(st,
                          "UPDATE batches SET status = 'cancelled', cancelled_at = $2"
                          " WHERE id = $1 AND status = 'cancelling' AND results >= total",
                          q, 2, NULL, NULL);
    return rc;
}

int lgw_batch_store_add_counts(struct lgw_batch_store *st, const char *id, const struct lgw_batch_delta *delta,
                               int64_t now_ms)
{
    const struct lgw_bst_param p[] = {PS(id), PI(delta->results), PI(delta->completed), PI(delta->failed),
                                      PI(delta->cost_nusd), PI(now_ms)};
    int rc = lgw_bst_exec(st,
                          "UPDATE batches SET results = results + $2, completed = completed + $3,"
                          " failed = failed + $4, cost_nusd = cost_nusd + $5, updated_ms = $6 WHERE id = $1",
                          p, 6, NULL, NULL);
    return rc ? rc : finish_if_done(st, id, now_ms);
}

int lgw_batch_store_refresh(struct lgw_batch_store *st, const char *id, int64_t now_ms)
{
    const struct lgw_bst_param p[] = {PS(id), PI(now_ms)};
    int rc = lgw_bst_exec(
        st,
        "UPDATE batches SET"
        " completed = (SELECT count(*) FROM batch_results WHERE batch_id = $1 AND status_code BETWEEN 200 AND 299),"
        " failed = (SELECT count(*) FROM batch_results WHERE batch_id = $1 AND status_code NOT BETWEEN 200 AND 299),"
        " results = (SELECT count(*) FROM batch_results WHERE batch_id = $1),"
        " cost_nusd = (SELECT COALESCE(sum(cost_nusd), 0) FROM batch_runs WHERE batch_id = $1),"
        " updated_ms = $2 WHERE id = $1",
        p, 2, NULL, NULL);
    return rc ? rc : finish_if_done(st, id, now_ms);
}

/* Gives every line of batch id without a result a placeholder result (no request_id) with code and message,
 * then moves the batch to status at now_s and recounts it. In the caller's transaction. */
static int finish_lines(struct lgw_batch_store *st, const char *id, int64_t total, int status_code, const char *code,
                        const char *message, const char *status, int64_t now_ms)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"error\":{\"message\":\"%s\",\"type\":\"invalid_request_error\",\"param\":null,"
                                 "\"code\":\"%s\"}}",
             message, code);
    const struct lgw_bst_param p[] = {PS(id), PI(total), PI(status_code), PS(body), PS(code), PS(message), PI(now_ms)};
    int rc = lgw_bst_exec(st,
                          "WITH RECURSIVE s(i) AS (SELECT CAST(0 AS BIGINT) UNION ALL SELECT i + 1 FROM s WHERE i + 1 < $2)"
                          " INSERT INTO batch_results (batch_id, idx, custom_id, request_id, status_code, body,"
                          " error_code, error_message, ts_ms) SELECT $1, i, NULL, NULL, CAST($3 AS INTEGER), $4, $5, $6, CAST($7 AS BIGINT) FROM s"
                          " WHERE true ON CONFLICT (batch_id, idx) DO NOTHING",
                          p, 7, NULL, NULL);
    if (rc)
        return rc;
    char sql[256];
    snprintf(sql, sizeof(sql), "UPDATE batches SET status = '%s', %s_at = $2 WHERE id = $1", status, status);
    const struct lgw_bst_param q[] = {PS(id), PI(now_ms / 1000)};
    if ((rc = lgw_bst_exec(st, sql, q, 2, NULL, NULL)))
        return rc;
    return lgw_batch_store_refresh(st, id, now_ms);
}

int lgw_batch_store_sweep(struct lgw_batch_store *st, int64_t now_ms, int64_t expiry_grace_s, int64_t cancel_grace_s,
                          int64_t *finished)
{
    struct lgw_bst_rows rows;
    int64_t now_s = now_ms / 1000, done = 0;
    if (finished)
        *finished = 0;
    const struct lgw_bst_param p[] = {PI(now_s - expiry_grace_s), PI(now_s - cancel_grace_s)};
    int rc = lgw_bst_exec(st,
                          "SELECT id, total, status FROM batches WHERE"
                          " (status IN ('validating', 'in_progress', 'finalizing', 'cancelling') AND expires_at <= $1)"
                          " OR (status = 'cancelling' AND cancelling_at <= $2) LIMIT 100",
                          p, 2, &rows, NULL);
    if (rc)
        return rc;
    for (size_t r = 0; r < rows.nrows && rc == 0; r++) {
        const char *id = lgw_bst_cell(&rows, r, 0);
        int64_t total = strtoll(lgw_bst_cell(&rows, r, 1), NULL, 10);
        bool cancelling = strcmp(lgw_bst_cell(&rows, r, 2), "cancelling") == 0;
        if ((rc = lgw_batch_store_begin(st)))
            break;
        /* A cancelled batch past its window too is cancelled: the user asked first. */
        rc = cancelling ? finish_lines(st, id, total, 409, "batch_cancelled", CANCELLED_MSG, "cancelled", now_ms)
                        : finish_lines(st, id, total, 408, "batch_expired", EXPIRED_MSG, "expired", now_ms);
        if (rc == 0)
            rc = lgw_batch_store_commit(st);
        if (rc) {
            lgw_batch_store_rollback(st);
            break;
        }
        LGW_INFO("batch", "batch %s %s by the deadline sweep", id, cancelling ? "cancelled" : "expired");
        done++;
    }
    lgw_bst_rows_cleanup(&rows);
    if (finished)
        *finished = done;
    return rc;
}

int lgw_batch_store_purge(struct lgw_batch_store *st, int64_t cutoff_ms, int64_t *deleted)
{
    struct lgw_bst_rows rows;
    int64_t n = 0;
    int rc = LGW_OK;
    if (deleted)
        *deleted = 0;
    const struct lgw_bst_param p[] = {PI(cutoff_ms)};
    if ((rc = lgw_bst_exec(st,
                           "SELECT id FROM batches WHERE created_ms < $1 AND status IN ('completed', 'failed',"
                           " 'expired', 'cancelled') LIMIT 100",
                           p, 1, &rows, NULL)))
        return rc;
    for (size_t r = 0; r < rows.nrows && rc == 0; r++) {
        const struct lgw_bst_param q[] = {PS(lgw_bst_cell(&rows, r, 0))};
        if ((rc = lgw_batch_store_begin(st)))
            break;
        /* Results first: a crash in between leaves a batch row whose results are partly gone, never results
         * without their batch (which nothing would ever delete). One transaction anyway. */
        if ((rc = lgw_bst_exec(st, "DELETE FROM batch_results WHERE batch_id = $1", q, 1, NULL, NULL)) == 0 &&
            (rc = lgw_bst_exec(st, "DELETE FROM batch_runs WHERE batch_id = $1", q, 1, NULL, NULL)) == 0 &&
            (rc = lgw_bst_exec(st, "DELETE FROM batches WHERE id = $1", q, 1, NULL, NULL)) == 0)
            rc = lgw_batch_store_commit(st);
        if (rc)
            lgw_batch_store_rollback(st);
        else
            n++;
    }
    lgw_bst_rows_cleanup(&rows);
    if (deleted)
        *deleted = n;
    return rc;
}
