/* batch_record.c - the batches topic's record, batch ids and the results partition (see batch_record.h). */
#include "common/batch_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/json_write.h"
#include "common/random.h"

static const char *const state_names[] = {"submitting", "submitted", "cancelling", "failed"};

const char *lgw_batch_state_name(enum lgw_batch_state s)
{
    return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "submitting";
}

void lgw_batch_new_id(char *out)
{
    unsigned char b[16];
    lgw_random_bytes(b, sizeof(b));
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "batch_", 6);
    for (int i = 0; i < 16; i++) {
        out[6 + 2 * i] = hex[b[i] >> 4];
        out[7 + 2 * i] = hex[b[i] & 15];
    }
    out[LGW_BATCH_ID_LEN] = '\0';
}

int32_t lgw_batch_results_partition(const char *batch_id, int nparts)
{
    if (nparts <= 1)
        return 0;
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)batch_id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return (int32_t)(h % (uint32_t)nparts);
}

void lgw_batch_line_key(const char *tenant, int64_t index, char *out, size_t outsz)
{
    if (outsz == 0)
        return;
    /* A negative index (never sent by a valid submitter) still lands in 0..SPREAD-1. */
    int64_t slot = index % LGW_BATCH_TENANT_SPREAD;
    if (slot < 0)
        slot += LGW_BATCH_TENANT_SPREAD;
    snprintf(out, outsz, "%s|%d", tenant ? tenant : "", (int)slot);
}

int lgw_batch_record_encode(const struct lgw_batch_record *rec, struct lgw_buf *out)
{
    json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "v", 1, "id", rec->id, "tenant",
                          rec->tenant, "state", lgw_batch_state_name(rec->state), "endpoint", rec->endpoint,
                          "created_ms", (json_int_t)rec->created_ms, "expires_ms", (json_int_t)rec->expires_ms,
                          "total", (json_int_t)rec->total, "ts_ms", (json_int_t)rec->ts_ms);
    if (!o)
        return LGW_ERR(INTERNAL);
    if (rec->key_id[0])
        json_object_set_new(o, "key_id", json_string(rec->key_id));
    if (rec->input_file_id[0])
        json_object_set_new(o, "input_file_id", json_string(rec->input_file_id));
    if (rec->metadata)
        json_object_set(o, "metadata", rec->metadata);
    if (rec->error[0])
        json_object_set_new(o, "error", json_string(rec->error));
    return lgw_buf_append_json(out, o, JSON_COMPACT);
}

static int str_field(json_t *root, const char *key, char *dst, size_t dstsz, bool required, char *why,
                     size_t whysz)
{
    json_t *v = json_object_get(root, key);
    if (!v) {
        dst[0] = '\0';
        if (!required)
            return LGW_OK;
        snprintf(why, whysz, "missing field \"%s\"", key);
        return LGW_ERR(INVALID);
    }
    if (!json_is_string(v) || json_string_length(v) >= dstsz || (required && json_string_length(v) == 0)) {
        snprintf(why, whysz, "field \"%s\" must be a string of 1 to %zu bytes", key, dstsz - 1);
        return LGW_ERR(INVALID);
    }
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return LGW_OK;
}

static int int_field(json_t *root, const char *key, int64_t *dst, char *why, size_t whysz)
{
    json_t *v = json_object_get(root, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        snprintf(why, whysz, "field \"%s\" must be a non-negative integer", key);
        return LGW_ERR(INVALID);
    }
    *dst = (int64_t)json_integer_value(v);
    return LGW_OK;
}

/* Up to 16 pairs of strings, keys up to 64 and values up to 512 characters: OpenAI's metadata limits. */
static int metadata_ok(json_t *m, char *why, size_t whysz)
{
    if (!json_is_object(m) || json_object_size(m) > 16) {
        snprintf(why, whysz, "field \"metadata\" must be an object of at most 16 pairs");
        return 0;
    }
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v)
    {
        if (strlen(k) > 64 || !json_is_string(v) || json_string_length(v) > 512) {
            snprintf(why, whysz, "field \"metadata\" must map keys of up to 64 to strings of up to 512 characters");
            return 0;
        }
    }
    return 1;
}

int lgw_batch_record_decode(const void *data, size_t len, struct lgw_batch_record *rec, char *why, size_t whysz)
{
    memset(rec, 0, sizeof(*rec));
    json_error_t jerr;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(root)) {
        snprintf(why, whysz, "not a JSON object");
        json_decref(root);
        return LGW_ERR(INVALID);
    }
    int rc = LGW_ERR(INVALID);
    json_t *v = json_object_get(root, "v");
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 2) {
        snprintf(why, whysz, "field \"v\" must be 1 or 2");
        goto out;
    }
    char state[16];
    if (str_field(root, "id", rec->id, sizeof(rec->id), true, why, whysz) ||
        str_field(root, "tenant", rec->tenant, sizeof(rec->tenant), true, why, whysz) ||
        str_field(root, "key_id", rec->key_id, sizeof(rec->key_id), false, why, whysz) ||
        str_field(root, "state", state, sizeof(state), true, why, whysz) ||
        str_field(root, "endpoint", rec->endpoint, sizeof(rec->endpoint), true, why, whysz) ||
        str_field(root, "input_file_id", rec->input_file_id, sizeof(rec->input_file_id), false, why, whysz) ||
        str_field(root, "error", rec->error, sizeof(rec->error), false, why, whysz) ||
        int_field(root, "created_ms", &rec->created_ms, why, whysz) ||
        int_field(root, "expires_ms", &rec->expires_ms, why, whysz) ||
        int_field(root, "total", &rec->total, why, whysz) || int_field(root, "ts_ms", &rec->ts_ms, why, whysz))
        goto out;
    size_t i;
    for (i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
        if (strcmp(state, state_names[i]) == 0)
            break;
    if (i == sizeof(state_names) / sizeof(state_names[0])) {
        snprintf(why, whysz, "field \"state\" must be submitting, submitted, cancelling or failed");
        goto out;
    }
    rec->state = (enum lgw_batch_state)i;
    if (strcmp(rec->endpoint, "/v1/chat/completions") != 0 && strcmp(rec->endpoint, "/v1/embeddings") != 0) {
        snprintf(why, whysz, "field \"endpoint\" must be /v1/chat/completions or /v1/embeddings");
        goto out;
    }
    json_t *m = json_object_get(root, "metadata");
    if (m && !json_is_null(m)) {
        if (!metadata_ok(m, why, whysz))
            goto out;
        rec->metadata = json_incref(m);
    }
    rc = LGW_OK;
out:
    json_decref(root);
    return rc;
}

void lgw_batch_record_cleanup(struct lgw_batch_record *rec)
{
    json_decref(rec->metadata);
    rec->metadata = NULL;
}
