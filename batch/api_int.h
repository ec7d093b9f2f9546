/* api_int.h - what the Files and Batch API's files share inside batch/: the context of the pool, the context
 * of one pool thread, and the answers every endpoint gives. api.c owns the pool; api_files.c and
 * api_batches.c serve their endpoints on a pool thread. */
#ifndef LGW_BATCH_API_INT_H
#define LGW_BATCH_API_INT_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "batch/files_db.h"
#include "batch/files_store.h"
#include "common/config.h"
#include "common/http_call.h"
#include "common/metrics.h"

/* What one pool thread serves a call with: its own connection. */
struct lgw_api_ctx {
    const struct lgw_config *cfg;
    struct lgw_metrics *m;
    struct lgw_fdb *db;
    struct lgw_batch_store *store; /* the batch role's tables (batch/store.h); opened at the first use */
    rd_kafka_t *producer;          /* the pool's, shared (batch/submit.h: deliveries counted per submission) */
};

struct lgw_batch_info;
struct lgw_batch_store;

/* The largest output or error file GET /v1/files/{id}/content renders in memory; a larger one is answered 413
 * (`llmgw batch collect` streams any size). */
#define LGW_API_OUTPUT_FILE_MAX (512 * 1024 * 1024)

/* Answers call with an OpenAI-style error of rc (message NULL: the table's; param NULL: null). */
void lgw_api_error(struct lgw_http_call *call, int rc, const char *message, const char *param);
/* Answers call 200 with obj as JSON (takes the reference). */
void lgw_api_json(struct lgw_http_call *call, json_t *obj);
/* The tenant whose rows call may read: "" for an admin (every tenant), else the caller's tenant. */
const char *lgw_api_scope(const struct lgw_http_call *call);
/* Splits rest ("/{id}" or "/{id}<sub_path>", sub_path the one sub-resource of the collection, e.g. "/cancel")
 * into id (NUL-terminated) and *sub ("" or sub_path). Returns true, or answers 404 and returns false for an
 * empty id, one of idsz bytes or more, or another sub-path. */
bool lgw_api_path_id(struct lgw_http_call *call, const char *rest, const char *sub_path, char *id, size_t idsz,
                     const char **sub);
/* The integer query parameter name in [min, max] (absent: def). Returns 0, or answers 400 and returns
 * LGW_ERR(INVALID). */
int lgw_api_query_int(struct lgw_http_call *call, const char *name, int64_t min, int64_t max, int64_t def,
                      int64_t *out);

/* The File object of f, as OpenAI's (id, object "file", bytes, created_at, expires_at, filename, purpose,
 * status "processed", status_details null). New reference. */
json_t *lgw_api_file_json(const struct lgw_file_meta *f);

/* The Batch object of b, as OpenAI's (batch/object.h), with its output and error file ids once it is over.
 * New reference. */
json_t *lgw_api_batch_json(const struct lgw_batch_info *b);
/* ctx's store, opened now if it is not (NULL: the database is down; the next call tries again). */
struct lgw_batch_store *lgw_api_store(struct lgw_api_ctx *ctx);
/* Serves GET of a batch's virtual output or error file fid (its metadata, or content) and returns true; false
 * when fid names no such file (an uploaded one, then). */
bool lgw_api_batch_file(struct lgw_api_ctx *ctx, struct lgw_http_call *call, const char *fid, bool content);

/* The endpoints: rest is the path after "/v1/files" or "/v1/batches" ("", "/{id}", "/{id}/content",
 * "/{id}/cancel"). Each completes call. The pool thread. */
void lgw_api_files_serve(struct lgw_api_ctx *ctx, struct lgw_http_call *call, const char *rest);
void lgw_api_batches_serve(struct lgw_api_ctx *ctx, struct lgw_http_call *call, const char *rest);

#endif
