/* store.h - the batch role's tables (docs/BATCH.md): one row per batch (`batches`), the first result of each
 * line (`batch_results`) and the spend of each execution (`batch_runs`), in database_url (PostgreSQL or
 * SQLite; created or upgraded when a store opens). The batch role writes them from Kafka; `llmgw batch` and
 * the /v1/batches API read them here, and render the OpenAI Batch output lines from batch_results.
 *
 * A store is one database connection: one thread at a time uses it (callers that serve many threads keep
 * one per thread, or a pool). A PostgreSQL connection that fails is reopened by the next call. */
#ifndef LGW_BATCH_STORE_H
#define LGW_BATCH_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/batch_record.h"
#include "common/buf.h"
#include "common/envelope.h"

/* OpenAI's Batch statuses, as stored in batches.status. */
#define LGW_BATCH_STATUS_MAX 16

/* A batch as its readers see it: the OpenAI Batch object's fields. */
struct lgw_batch_info {
    char id[LGW_ID_MAX];
    char tenant[LGW_NAME_MAX];
    char key_id[LGW_KEY_ID_MAX];             /* "" when none */
    char endpoint[LGW_BATCH_ENDPOINT_MAX];   /* "/v1/chat/completions" or "/v1/embeddings" */
    char input_file_id[LGW_ID_MAX];          /* "" when submitted from a local file */
    char status[LGW_BATCH_STATUS_MAX];       /* validating, in_progress, finalizing, completed, failed, expired,
                                              * cancelling, cancelled */
    /* Seconds since the epoch; 0 where the step has not happened (null in OpenAI's object). */
    int64_t created_at, in_progress_at, finalizing_at, completed_at, failed_at, expired_at, cancelling_at,
        cancelled_at, expires_at;
    int64_t created_ms; /* the list order */
    int64_t total;      /* requests in the batch */
    int64_t completed;  /* lines answered with a 2xx */
    int64_t failed;     /* lines with any other result (errors, expired, cancelled) */
    int64_t cost_nusd;  /* spend so far: every execution of its lines, reruns included, each counted once */
    json_t *metadata;   /* NULL or an object; owned (lgw_batch_info_cleanup) */
    json_t *errors;     /* NULL or OpenAI's errors object {"object":"list","data":[...]}; owned */
};

void lgw_batch_info_cleanup(struct lgw_batch_info *info);
/* True for completed, failed, expired and cancelled: nothing about the batch changes any more. */
bool lgw_batch_status_terminal(const char *status);

struct lgw_batch_store;

/* Opens url ("postgresql://...", "postgres://..." or "sqlite:PATH") and creates or upgrades the tables.
 * Returns 0, LGW_ERR(CONFIG) for another scheme, or LGW_ERR(DB); *out owned by the caller
 * (lgw_batch_store_close). */
int lgw_batch_store_open(const char *url, struct lgw_batch_store **out);
void lgw_batch_store_close(struct lgw_batch_store *st); /* NULL is a no-op */

/* ---- Reading (the CLI, the HTTP API) ---- */

/* The batch id, when it belongs to tenant (NULL: any tenant, for an admin). A batch of another tenant is
 * LGW_ERR(NOT_FOUND), as one that does not exist: a tenant cannot learn that another's id exists.
 * Returns 0, LGW_ERR(NOT_FOUND) or LGW_ERR(DB); *out is cleaned up by the caller either way. */
int lgw_batch_store_get(struct lgw_batch_store *st, const char *id, const char *tenant, struct lgw_batch_info *out);

/* A tenant's batches (tenant NULL: every tenant's), newest first, after the batch `after` (NULL or "": from
 * the newest; an id not found or not the tenant's: LGW_ERR(NOT_FOUND)), at most limit (1..100) into
 * out[0..*n). *has_more: there are more after the last. Returns 0, LGW_ERR(NOT_FOUND) or LGW_ERR(DB); the
 * caller cleans up out[0..*n) (also after a failure, where *n is 0). */
int lgw_batch_store_list(struct lgw_batch_store *st, const char *tenant, const char *after, int limit,
                         struct lgw_batch_info *out, size_t *n, bool *has_more);

/* Which result lines to render: all of them (`llmgw batch collect`), those answered with a 2xx (OpenAI's
 * output file), or the others (its error file: error statuses, expired and cancelled lines). */
enum lgw_batch_lines { LGW_BATCH_LINES_ALL = 0, LGW_BATCH_LINES_OUTPUT, LGW_BATCH_LINES_ERRORS };

/* Called for each rendered line: its index in the input and the line (OpenAI's Batch output format, one JSON
 * object, without the newline; valid during the call). Return 0 to go on, anything else to stop there. */
typedef int (*lgw_batch_line_cb)(void *opaque, int64_t index, const char *line, size_t len);

/* Renders the stored results of batch id (the caller checked its tenant with lgw_batch_store_get), in index
 * order from index `from`, through cb. Lines that have no result yet are skipped (the callback sees the gap
 * in the indexes). Each line is
 *   {"id":"batch_req_...","custom_id":"...","response":{"status_code":200,"request_id":"...","body":{...}},
 *    "error":null}
 * or, for an expired or cancelled line,
 *   {"id":"batch_req_...","custom_id":"...","response":null,"error":{"code":"batch_expired","message":"..."}}
 * The line id is the same on every rendering. Reads in pages, so memory stays bounded by a page. Returns 0
 * (also when cb stopped it) or LGW_ERR(DB). */
int lgw_batch_store_render(struct lgw_batch_store *st, const char *id, enum lgw_batch_lines which, int64_t from,
                           lgw_batch_line_cb cb, void *opaque);
/* How many lines lgw_batch_store_render would render for which (the file's line count). 0 or LGW_ERR(DB). */
int lgw_batch_store_count_lines(struct lgw_batch_store *st, const char *id, enum lgw_batch_lines which,
                                int64_t *count);

/* ---- Writing (the batch role; the submitter's first row) ---- */

/* Applies a batch record (from <prefix>.batches, or written by a submitter so that a GET right after the
 * submission finds the batch): inserts the row when missing, else moves its status forward only
 * (submitting -> validating, submitted -> in_progress, cancelling -> cancelling, failed -> failed; a finished
 * batch never changes). Idempotent: a replayed record changes nothing. now_ms: the wall clock. Returns 0 or
 * LGW_ERR(DB). */
int lgw_batch_store_apply_record(struct lgw_batch_store *st, const struct lgw_batch_record *rec, int64_t now_ms);
/* The record that cancels info's batch (the HTTP API and the CLI send it): the whole record as its submitter
 * wrote it, state cancelling, stamped now_ms (the wall clock). Whole, because the topic is compacted: a
 * batch's latest record is all a worker replaying it sees. *rec is overwritten; it holds a reference to
 * info's metadata, the caller's to drop (lgw_batch_record_cleanup). */
void lgw_batch_store_cancel_record(const struct lgw_batch_info *info, int64_t now_ms, struct lgw_batch_record *rec);

/* Transactions of the batch role (one per batch of consumed messages). */
int lgw_batch_store_begin(struct lgw_batch_store *st);
int lgw_batch_store_commit(struct lgw_batch_store *st);
void lgw_batch_store_rollback(struct lgw_batch_store *st);

/* Stores a final reply to a batch line (reply->batch.id set): its result, unless the line has one already
 * (the first result is kept; *kept says whether this one was), and its execution's spend under its run_id,
 * unless that run was counted already (*counted). A body longer than max_body_bytes is replaced by a
 * result_too_large error. Returns 0 or LGW_ERR(DB). */
/* What results and runs added to a batch's counts (lgw_batch_store_add_result adds to it; a placeholder replaced
 * by a real answer moves one line from failed to completed or keeps it failed). */
struct lgw_batch_delta {
    int64_t results, completed, failed, cost_nusd;
    bool recount; /* the caller's own mark: count this batch from its rows instead */
};

int lgw_batch_store_add_result(struct lgw_batch_store *st, const struct lgw_reply *reply, int64_t max_body_bytes,
                               int64_t now_ms, bool *kept, bool *counted, struct lgw_batch_delta *delta);

/* Adds delta to batch id's counts and finishes it when it is done (as lgw_batch_store_refresh), without reading
 * its rows: the runner's path, so a batch's bookkeeping costs the same at its millionth line as at its first.
 * A batch whose row does not exist yet is left alone (its record's arrival recounts it). Returns 0 or
 * LGW_ERR(DB). */
int lgw_batch_store_add_counts(struct lgw_batch_store *st, const char *id, const struct lgw_batch_delta *delta,
                               int64_t now_ms);

/* Recounts batch id from its results and runs (completed, failed, cost) and finishes it when it is done:
 * in_progress with every line answered -> completed; cancelling with every line answered -> cancelled.
 * Returns 0 or LGW_ERR(DB). */
int lgw_batch_store_refresh(struct lgw_batch_store *st, const char *id, int64_t now_ms);

/* The deadlines, run now and then by the batch role: batches past expires_at + expiry_grace_s get a
 * batch_expired result for every line still without one and become expired; batches cancelling for longer
 * than cancel_grace_s get batch_cancelled results for the rest and become cancelled. *finished (may be NULL)
 * counts the batches it finished. Returns 0 or LGW_ERR(DB). */
int lgw_batch_store_sweep(struct lgw_batch_store *st, int64_t now_ms, int64_t expiry_grace_s,
                          int64_t cancel_grace_s, int64_t *finished);

/* Deletes finished batches created before cutoff_ms, with their results and runs. *deleted (may be NULL):
 * batches deleted. Returns 0 or LGW_ERR(DB). */
int lgw_batch_store_purge(struct lgw_batch_store *st, int64_t cutoff_ms, int64_t *deleted);

/* True when the connection works (a PostgreSQL one is reopened when it does not). */
bool lgw_batch_store_ping(struct lgw_batch_store *st);

#endif
