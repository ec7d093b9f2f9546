/* submit.h - submitting a batch (docs/BATCH.md): an OpenAI Batch input (JSONL, one request per line) is read
 * and every line validated first, then the batch record and one job per line go to Kafka, and the submitter
 * waits until Kafka has every one of them. `llmgw batch submit` and POST /v1/batches both submit here.
 *
 * A line is refused, with its 1-based line number, when it is longer than batch_max_line_bytes, is not a JSON
 * object, lacks a custom_id (a string of 1..255 bytes) or repeats one, has a method other than POST, a url
 * other than /v1/chat/completions or /v1/embeddings or another than the batch's, or a body that fails the
 * validation an interactive request gets (common/validate.h). Blank lines are ignored. */
#ifndef LGW_BATCH_SUBMIT_H
#define LGW_BATCH_SUBMIT_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/batch_record.h"
#include "common/config.h"

/* The most line errors an input keeps (the rest are only counted: lgw_batch_input_error_count). */
#define LGW_BATCH_ERRORS_MAX 1000

/* What is wrong with one line (OpenAI's batch errors.data[] entry). */
struct lgw_batch_line_error {
    int64_t line;       /* 1-based line number; 0: the input as a whole (empty, too large, too many lines) */
    char code[40];      /* invalid_json, line_too_large, missing_custom_id, invalid_custom_id,
                         * duplicate_custom_id, invalid_method, invalid_url, mismatched_url, invalid_body,
                         * too_many_lines, input_too_large, empty_file */
    char param[64];     /* the field at fault ("custom_id", "url", "body.messages", ...); "" when none */
    char message[320];  /* for people: what is wrong and what is expected */
};

/* A parsed and validated input: its valid lines (kept to be sent) and its errors. Opaque; owned by whoever
 * parsed it (lgw_batch_input_free). Read-only after parsing: any thread, one at a time. */
struct lgw_batch_input;

/* Validates every line of data[0..len) (copied: the caller keeps its buffer). endpoint: the batch's
 * ("/v1/chat/completions" or "/v1/embeddings"; every line's url must be it), or NULL to take the first valid
 * line's url. Limits from cfg: batch_max_line_bytes, batch_max_lines, batch_max_input_bytes, max_json_depth.
 * Returns 0 with *out set (look at lgw_batch_input_error_count), or LGW_ERR(INVALID) for an endpoint that is
 * neither. */
int lgw_batch_input_parse(const struct lgw_config *cfg, const char *data, size_t len, const char *endpoint,
                          struct lgw_batch_input **out);
/* The same, reading f to its end (at most batch_max_input_bytes: past that, one error input_too_large and
 * nothing else is read). Returns 0, LGW_ERR(INVALID) as above, or LGW_ERR(INTERNAL) for a read error (errno
 * says which). */
int lgw_batch_input_read(const struct lgw_config *cfg, FILE *f, const char *endpoint, struct lgw_batch_input **out);
void lgw_batch_input_free(struct lgw_batch_input *in); /* NULL is a no-op */

/* Valid lines (what a submission sends and the batch's total). */
int64_t lgw_batch_input_lines(const struct lgw_batch_input *in);
/* The batch's endpoint: the one given, or the first valid line's url; "" when there is no valid line. */
const char *lgw_batch_input_endpoint(const struct lgw_batch_input *in);
/* Bad lines found (all of them, also past LGW_BATCH_ERRORS_MAX). */
int64_t lgw_batch_input_error_count(const struct lgw_batch_input *in);
/* The kept errors, in line order: i in [0, min(count, LGW_BATCH_ERRORS_MAX)). */
size_t lgw_batch_input_errors_kept(const struct lgw_batch_input *in);
const struct lgw_batch_line_error *lgw_batch_input_error(const struct lgw_batch_input *in, size_t i);

/* Who submits, and how. */
struct lgw_batch_submit_opts {
    const char *tenant;        /* required: every line's job is this tenant's */
    const char *key_id;        /* the submitter's tenant key id; NULL or "" when none */
    const char *input_file_id; /* the /v1/files id the input came from; NULL or "" for a local file */
    json_t *metadata;          /* NULL or an object of up to 16 string pairs; borrowed (the record takes a ref) */
    bool skip_invalid;         /* send the valid lines although some are bad (else: nothing is sent) */
    const char *batch_id;      /* NULL: a new id; else this one (lgw_batch_new_id's form) */
};

/* Fills rec (state submitting, a new id or o->batch_id, tenant, key id, endpoint, created now, expires after
 * the completion window, total = the valid lines, metadata) without sending anything: what a caller writes
 * to the batch store (lgw_batch_store_apply_record) to answer before the lines are out. Returns 0,
 * LGW_ERR(INVALID) with why in err when the input has errors (and not o->skip_invalid) or no valid line, or
 * the tenant is missing. rec is cleaned up by the caller (lgw_batch_record_cleanup) either way. */
int lgw_batch_submit_prepare(const struct lgw_batch_input *in, const struct lgw_batch_submit_opts *o,
                             struct lgw_batch_record *rec, char *err, size_t errsz);

/* A producer for lgw_batch_submit_send (idempotent, acks=all; its delivery reports count per submission, so
 * several submissions may share it from several threads). *out owned by the caller: rd_kafka_destroy. */
int lgw_batch_producer_new(const struct lgw_config *cfg, rd_kafka_t **out);

/* Sends a prepared batch on rk (from lgw_batch_producer_new): the record (submitting), one job per valid
 * line (id "<batch id>-<index>", the batch part, deadline = expires, reply_to = the batch results topic and
 * the batch's partition, keyed with lgw_batch_line_key), waits until Kafka acknowledged every one, then the
 * record again as submitted; on any failure the record as failed, with the reason in rec->error and err.
 * Blocks (for a large batch, seconds); any thread. Returns 0, or LGW_ERR(UNAVAILABLE) when Kafka did not take
 * every line. */
int lgw_batch_submit_send(const struct lgw_config *cfg, rd_kafka_t *rk, const struct lgw_batch_input *in,
                          struct lgw_batch_record *rec, char *err, size_t errsz);

/* Writes rec (its state as it is) to <prefix>.batches and waits for the acknowledgement: a cancel (state
 * cancelling) or any other change of a batch's record. Returns 0 or LGW_ERR(UNAVAILABLE) with why in err. */
int lgw_batch_record_send(const struct lgw_config *cfg, rd_kafka_t *rk, const struct lgw_batch_record *rec, char *err,
                          size_t errsz);

#endif
