/* batch_record.h - a batch as it crosses Kafka: the record on the compacted <prefix>.batches topic (keyed by
 * batch id, schemas/batch_record.schema.json) that whoever submits or cancels a batch writes, the batch role
 * keeps the batch's state from, and every worker replays to skip the lines of cancelled batches. Also the ids
 * and the results partition a batch's writer and readers all compute the same way (docs/BATCH.md). */
#ifndef LGW_BATCH_RECORD_H
#define LGW_BATCH_RECORD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/envelope.h"

/* "batch_" + 32 lowercase hex digits. */
#define LGW_BATCH_ID_LEN 38
/* The completion window OpenAI's Batch API accepts, and so the only one llmgw takes: 24 hours. */
#define LGW_BATCH_WINDOW_MS (24LL * 3600 * 1000)
#define LGW_BATCH_ENDPOINT_MAX 32
#define LGW_BATCH_ERROR_MAX 512

enum lgw_batch_state {
    LGW_BATCH_SUBMITTING = 0, /* the record is out; lines are being sent */
    LGW_BATCH_SUBMITTED,      /* every line is on Kafka (total of them) */
    LGW_BATCH_CANCELLING,     /* someone asked to cancel: lines not yet run are answered "cancelled" */
    LGW_BATCH_FAILED,         /* the submitter gave up before sending every line (error says why) */
};

const char *lgw_batch_state_name(enum lgw_batch_state s);

struct lgw_batch_record {
    char id[LGW_ID_MAX];
    char tenant[LGW_NAME_MAX];
    char key_id[LGW_KEY_ID_MAX]; /* "" when the submitter did not authenticate with a tenant key */
    enum lgw_batch_state state;
    char endpoint[LGW_BATCH_ENDPOINT_MAX]; /* "/v1/chat/completions" or "/v1/embeddings" */
    int64_t created_ms;                    /* wall clock */
    int64_t expires_ms;                    /* created_ms + the completion window: every line's deadline */
    int64_t total;                         /* lines in the batch, known before the first is sent */
    char input_file_id[LGW_ID_MAX];        /* "" when submitted from a local file (`llmgw batch submit`) */
    json_t *metadata;                      /* NULL or an object of up to 16 string pairs; owned */
    char error[LGW_BATCH_ERROR_MAX];       /* why a failed submission failed; "" otherwise */
    int64_t ts_ms;                         /* when this record was written */
};

/* A new batch id into out (size >= LGW_BATCH_ID_LEN + 1). Thread-safe. */
void lgw_batch_new_id(char *out);
/* The partition of the results topic (of nparts) that every line of batch_id is answered on: FNV-1a of the
 * id, so the submitter, the workers and the batch role agree without asking each other. */
int32_t lgw_batch_results_partition(const char *batch_id, int nparts);

/* How many Kafka keys (so, by hash, up to how many partitions of a batch jobs topic) one tenant's lines are
 * spread over. Kafka keeps order only per partition and a worker shares its batch slots between the batch
 * partitions that have work (docs/BATCH.md "In the workers"): with one key per tenant, a tenant's million
 * lines would sit in one partition and go no faster than one partition's share; with every line keyed
 * apart, a big tenant would fill every partition and starve a small one. A few keys per tenant is the
 * middle: a tenant gets at most this many partitions' worth of slots while another tenant has work. */
#define LGW_BATCH_TENANT_SPREAD 4
/* Longest key lgw_batch_line_key writes, with its NUL: the tenant, '|', one digit. */
#define LGW_BATCH_LINE_KEY_MAX (LGW_NAME_MAX + 4)

/* The record key of line `index` of a batch of `tenant` on <prefix>.batch.jobs.*: "<tenant>|<index mod
 * LGW_BATCH_TENANT_SPREAD>", written into out (outsz bytes; truncated to fit, always NUL-terminated). Every
 * submitter keys lines with it, so the partitioner (by key hash) spreads each tenant over a few partitions
 * and tenants over all of them. Pure; any thread. */
void lgw_batch_line_key(const char *tenant, int64_t index, char *out, size_t outsz);

int lgw_batch_record_encode(const struct lgw_batch_record *rec, struct lgw_buf *out);
/* Decodes and validates; LGW_ERR(INVALID) with why on failure. rec->metadata is a new reference; release with
 * lgw_batch_record_cleanup (also after a failed decode). */
int lgw_batch_record_decode(const void *data, size_t len, struct lgw_batch_record *rec, char *why, size_t whysz);
void lgw_batch_record_cleanup(struct lgw_batch_record *rec);

#endif
