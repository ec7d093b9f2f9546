/* envelope.c - encode/decode of job, reply and cost-event messages (schemas/ *.schema.json). */
#include "common/envelope.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "common/json_load.h"
#include "common/json_out.h"
#include "common/json_scan.h"
#include "common/json_write.h"
#include "common/trace.h"

/* Bodies are validated by the ingress before they are queued; this only bounds what a batch producer
 * writing straight to Kafka can make a worker parse. */
#define ENVELOPE_LOAD_FLAGS (JSON_REJECT_DUPLICATES)

const char *lgw_job_kind_name(enum lgw_job_kind kind)
{
    return kind == LGW_JOB_EMBEDDINGS ? "embeddings" : "chat";
}

static int dump(json_t *obj, struct lgw_buf *out)
{
    return lgw_buf_dump_json(out, obj, JSON_COMPACT);
}

/* Reads a required string field into dst; fills why on failure. */
static int get_str(json_t *root, const char *key, char *dst, size_t dstsz, bool required, char *why, size_t whysz)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (!required) {
            dst[0] = '\0';
            return LGW_OK;
        }
        snprintf(why, whysz, "missing field \"%s\"", key);
        return LGW_ERR(INVALID);
    }
    if (!json_is_string(v)) {
        snprintf(why, whysz, "field \"%s\" must be a string", key);
        return LGW_ERR(INVALID);
    }
    if (json_string_length(v) >= dstsz) {
        snprintf(why, whysz, "field \"%s\" is longer than %zu bytes", key, dstsz - 1);
        return LGW_ERR(INVALID);
    }
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    if (required && dst[0] == '\0') {
        snprintf(why, whysz, "field \"%s\" must not be empty", key);
        return LGW_ERR(INVALID);
    }
    return LGW_OK;
}

static int get_int(json_t *root, const char *key, int64_t *dst, bool required, int64_t min, int64_t max, char *why,
                   size_t whysz)
{
    json_t *v = json_object_get(root, key);
    if (!v) {
        if (!required) {
            *dst = 0;
            return LGW_OK;
        }
        snprintf(why, whysz, "missing field \"%s\"", key);
        return LGW_ERR(INVALID);
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        snprintf(why, whysz, "field \"%s\" must be an integer in [%lld, %lld]", key, (long long)min, (long long)max);
        return LGW_ERR(INVALID);
    }
    *dst = json_integer_value(v);
    return LGW_OK;
}

static int get_bool(json_t *root, const char *key, bool *dst, char *why, size_t whysz)
{
    json_t *v = json_object_get(root, key);
    if (!v) {
        *dst = false;
        return LGW_OK;
    }
    if (!json_is_boolean(v)) {
        snprintf(why, whysz, "field \"%s\" must be a boolean", key);
        return LGW_ERR(INVALID);
    }
    *dst = json_is_true(v);
    return LGW_OK;
}

static json_t *load(const void *data, size_t len, char *why, size_t whysz)
{
    json_error_t jerr;
    json_t *root = lgw_json_loadb(data, len, ENVELOPE_LOAD_FLAGS, &jerr);
    if (!root) {
        /* Position only: jansson's text quotes payload bytes, and payloads (prompts) never reach logs. */
        snprintf(why, whysz, "not JSON (error at byte %d)", jerr.position);
        return NULL;
    }
    if (!json_is_object(root)) {
        snprintf(why, whysz, "not a JSON object");
        json_decref(root);
        return NULL;
    }
    /* The upgrade rule (schemas/README.md): readers accept their own version and the next one, and ignore
     * fields they do not know, so writers can move to v+1 while old readers still run. */
    json_t *v = json_object_get(root, "v");
    if (!json_is_integer(v) || json_integer_value(v) < LGW_ENVELOPE_VERSION ||
        json_integer_value(v) > LGW_ENVELOPE_VERSION + 1) {
        snprintf(why, whysz, "unsupported envelope version (this reader takes \"v\":%d or %d)",
                 LGW_ENVELOPE_VERSION, LGW_ENVELOPE_VERSION + 1);
        json_decref(root);
        return NULL;
    }
    return root;
}

/* ---- the batch part of a job and a reply ---- */

static void batch_ref_encode(json_t *o, const struct lgw_batch_ref *b)
{
    if (b->id[0])
        json_object_set_new(o, "batch", json_pack("{s:s, s:I, s:s}", "id", b->id, "index", (json_int_t)b->index,
                                                  "custom_id", b->custom_id));
}

static int batch_ref_decode(json_t *root, struct lgw_batch_ref *b, char *why, size_t whysz)
{
    json_t *v = json_object_get(root, "batch");
    if (!v)
        return LGW_OK;
    if (!json_is_object(v)) {
        snprintf(why, whysz, "field \"batch\" must be an object");
        return LGW_ERR(INVALID);
    }
    if (get_str(v, "id", b->id, sizeof(b->id), true, why, whysz) ||
        get_int(v, "index", &b->index, true, 0, INT32_MAX, why, whysz) ||
        get_str(v, "custom_id", b->custom_id, sizeof(b->custom_id), true, why, whysz))
        return LGW_ERR(INVALID);
    return LGW_OK;
}

/* ---- job ---- */

int lgw_job_encode(const struct lgw_job *job, struct lgw_buf *out)
{
    json_t *o = json_object();
    json_object_set_new(o, "v", json_integer(LGW_ENVELOPE_VERSION));
    json_object_set_new(o, "id", json_string(job->id));
    json_object_set_new(o, "kind", json_string(lgw_job_kind_name(job->kind)));
    json_object_set_new(o, "tenant", json_string(job->tenant));
    if (job->key_id[0])
        json_object_set_new(o, "key_id", json_string(job->key_id));
    json_object_set_new(o, "user", json_string(job->user));
    json_object_set_new(o, "created_ms", json_integer(job->created_ms));
    json_object_set_new(o, "deadline_ms", json_integer(job->deadline_ms));
    json_object_set_new(o, "reply_to",
                        json_pack("{s:s, s:i}", "topic", job->reply_topic, "partition", (int)job->reply_partition));
    json_object_set_new(o, "strategy", json_string(job->strategy));
    json_object_set_new(o, "stream", json_boolean(job->stream));
    if (job->batched_chunks)
        json_object_set_new(o, "batched_chunks", json_true());
    json_object_set_new(o, "attempt", json_integer(job->attempt));
    if (job->cache_ttl_s > 0 || job->cache_no_lookup || job->cache_no_store) {
        json_t *c = json_object();
        if (job->cache_ttl_s > 0)
            json_object_set_new(c, "ttl_s", json_integer(job->cache_ttl_s));
        if (job->cache_no_lookup)
            json_object_set_new(c, "no_cache", json_true());
        if (job->cache_no_store)
            json_object_set_new(c, "no_store", json_true());
        json_object_set_new(o, "cache", c);
    }
    batch_ref_encode(o, &job->batch);
    json_object_set(o, "body", job->body ? job->body : json_null());
    int rc = dump(o, out);
    json_decref(o);
    return rc;
}

int lgw_job_decode(const void *data, size_t len, struct lgw_job *job, char *why, size_t whysz)
{
    int rc = LGW_ERR(INVALID);
    int64_t n;
    memset(job, 0, sizeof(*job));
    json_t *root = load(data, len, why, whysz);
    if (!root)
        return LGW_ERR(INVALID);
    char kind[32];
    if (get_str(root, "id", job->id, sizeof(job->id), true, why, whysz) ||
        get_str(root, "kind", kind, sizeof(kind), true, why, whysz) ||
        get_str(root, "tenant", job->tenant, sizeof(job->tenant), true, why, whysz) ||
        get_str(root, "key_id", job->key_id, sizeof(job->key_id), false, why, whysz) ||
        get_str(root, "user", job->user, sizeof(job->user), false, why, whysz) ||
        get_int(root, "created_ms", &job->created_ms, true, 0, INT64_MAX, why, whysz) ||
        get_int(root, "deadline_ms", &job->deadline_ms, true, 0, INT64_MAX, why, whysz) ||
        get_str(root, "strategy", job->strategy, sizeof(job->strategy), false, why, whysz) ||
        get_bool(root, "stream", &job->stream, why, whysz) ||
        get_bool(root, "batched_chunks", &job->batched_chunks, why, whysz) ||
        get_int(root, "attempt", &n, false, 0, 1000, why, whysz))
        goto out;
    job->attempt = (int)n;
    if (strcmp(kind, "chat") == 0)
        job->kind = LGW_JOB_CHAT;
    else if (strcmp(kind, "embeddings") == 0)
        job->kind = LGW_JOB_EMBEDDINGS;
    else {
        snprintf(why, whysz, "field \"kind\" must be \"chat\" or \"embeddings\"");
        goto out;
    }
    json_t *rt = json_object_get(root, "reply_to");
    if (!json_is_object(rt)) {
        snprintf(why, whysz, "missing object \"reply_to\"");
        goto out;
    }
    if (get_str(rt, "topic", job->reply_topic, sizeof(job->reply_topic), true, why, whysz) ||
        get_int(rt, "partition", &n, false, 0, INT32_MAX, why, whysz))
        goto out;
    job->reply_partition = (int32_t)n;
    json_t *cache = json_object_get(root, "cache");
    if (cache && !json_is_object(cache)) {
        snprintf(why, whysz, "field \"cache\" must be an object");
        goto out;
    }
    if (cache && (get_int(cache, "ttl_s", &job->cache_ttl_s, false, 0, INT32_MAX, why, whysz) ||
                  get_bool(cache, "no_cache", &job->cache_no_lookup, why, whysz) ||
                  get_bool(cache, "no_store", &job->cache_no_store, why, whysz)))
        goto out;
    if (batch_ref_decode(root, &job->batch, why, whysz))
        goto out;
    json_t *body = json_object_get(root, "body");
    if (!json_is_object(body)) {
        snprintf(why, whysz, "field \"body\" must be an object");
        goto out;
    }
    job->body = json_incref(body);
    rc = LGW_OK;
out:
    json_decref(root);
    return rc;
}

void lgw_job_cleanup(struct lgw_job *job)
{
    json_decref(job->body);
    job->body = NULL;
}

/* ---- reply ---- */

static int usage_decode(json_t *v, struct lgw_usage *u, char *why, size_t whysz)
{
    memset(u, 0, sizeof(*u));
    if (!v)
        return LGW_OK;
    if (!json_is_object(v)) {
        snprintf(why, whysz, "field \"usage\" must be an object");
        return LGW_ERR(INVALID);
    }
    if (get_int(v, "input_tokens", &u->input_tokens, false, 0, INT64_MAX, why, whysz) ||
        get_int(v, "output_tokens", &u->output_tokens, false, 0, INT64_MAX, why, whysz) ||
        get_int(v, "cached_input_tokens", &u->cached_input_tokens, false, 0, INT64_MAX, why, whysz))
        return LGW_ERR(INVALID);
    return LGW_OK;
}

const char *lgw_reply_cache_name(const struct lgw_reply *reply)
{
    return reply->cache_hit ? "hit" : reply->cache_bypass ? "bypass" : "miss";
}

/* Printed field by field (common/json_out.h), not built as a jansson tree and dumped: a reply goes out for every
 * answer and every stream chunk, and the tree's ~20 allocations and its dump were most of the worker's cost of
 * writing one. The fields, their order and what is left out are as the tree had them; a string json_string
 * refuses (not UTF-8) is left out as the tree left it out. tests/unit/test_reply_write.c holds it to the
 * tree it replaced. */
int lgw_reply_encode(const struct lgw_reply *reply, struct lgw_buf *out)
{
    struct lgw_jout w;
    lgw_jout_begin(&w, out);
    lgw_jout_int(&w, "v", LGW_ENVELOPE_VERSION);
    lgw_jout_str(&w, "id", reply->id);
    if (reply->run_id[0])
        lgw_jout_str(&w, "run_id", reply->run_id);
    if (reply->tenant[0])
        lgw_jout_str(&w, "tenant", reply->tenant);
    lgw_jout_int(&w, "seq", reply->seq);
    lgw_jout_bool(&w, "final", reply->final);
    lgw_jout_int(&w, "status", reply->status);
    lgw_jout_json(&w, "body", reply->body);
    if (reply->more_chunks && json_array_size(reply->more_chunks) > 0)
        lgw_jout_json(&w, "more_chunks", reply->more_chunks);
    lgw_jout_str(&w, "provider", reply->provider);
    lgw_jout_str(&w, "model", reply->model);
    lgw_jout_str(&w, "cache", lgw_reply_cache_name(reply));
    lgw_jout_open(&w, "usage");
    lgw_jout_int(&w, "input_tokens", reply->usage.input_tokens);
    lgw_jout_int(&w, "output_tokens", reply->usage.output_tokens);
    lgw_jout_int(&w, "cached_input_tokens", reply->usage.cached_input_tokens);
    lgw_jout_close(&w);
    lgw_jout_int(&w, "cost", reply->cost_nusd);
    lgw_jout_bool(&w, "cost_known", reply->cost_known);
    if (reply->cost_estimated)
        lgw_jout_bool(&w, "cost_estimated", true);
    lgw_jout_int(&w, "latency_ms", reply->latency_ms);
    if (reply->strategy[0])
        lgw_jout_str(&w, "strategy", reply->strategy);
    lgw_jout_int(&w, "route_attempts", reply->route_attempts);
    lgw_jout_str(&w, "route", reply->route);
    if (reply->retry_after_ms > 0)
        lgw_jout_int(&w, "retry_after_ms", reply->retry_after_ms);
    if (reply->simulated)
        lgw_jout_bool(&w, "simulated", true);
    const struct lgw_batch_ref *b = &reply->batch;
    /* json_pack refused the whole batch object when either string was not UTF-8. */
    if (b->id[0] && lgw_json_utf8_ok(b->id, strlen(b->id)) && lgw_json_utf8_ok(b->custom_id, strlen(b->custom_id))) {
        lgw_jout_open(&w, "batch");
        lgw_jout_str(&w, "id", b->id);
        lgw_jout_int(&w, "index", b->index);
        lgw_jout_str(&w, "custom_id", b->custom_id);
        lgw_jout_close(&w);
    }
    return lgw_jout_end(&w);
}

/* Reads a reply's fields from its loaded message into reply (zeroed by the caller). */
static int reply_read(json_t *root, struct lgw_reply *reply, char *why, size_t whysz)
{
    int64_t n;
    char cache[8];
    if (get_str(root, "id", reply->id, sizeof(reply->id), true, why, whysz) ||
        get_str(root, "run_id", reply->run_id, sizeof(reply->run_id), false, why, whysz) ||
        get_str(root, "tenant", reply->tenant, sizeof(reply->tenant), false, why, whysz) ||
        get_int(root, "seq", &n, false, 0, INT32_MAX - LGW_REPLY_MORE_CHUNKS_MAX - 1, why, whysz))
        return LGW_ERR(INVALID); /* (the bound leaves a reader room to count past the message's last chunk) */
    reply->seq = (int)n;
    if (get_bool(root, "final", &reply->final, why, whysz) ||
        get_int(root, "status", &n, true, 100, 599, why, whysz))
        return LGW_ERR(INVALID);
    reply->status = (int)n;
    if (get_str(root, "provider", reply->provider, sizeof(reply->provider), false, why, whysz) ||
        get_str(root, "model", reply->model, sizeof(reply->model), false, why, whysz) ||
        get_str(root, "cache", cache, sizeof(cache), false, why, whysz) ||
        usage_decode(json_object_get(root, "usage"), &reply->usage, why, whysz) ||
        get_int(root, "cost", &reply->cost_nusd, false, 0, INT64_MAX, why, whysz) ||
        get_int(root, "latency_ms", &reply->latency_ms, false, 0, INT64_MAX, why, whysz) ||
        get_str(root, "strategy", reply->strategy, sizeof(reply->strategy), false, why, whysz) ||
        get_str(root, "route", reply->route, sizeof(reply->route), false, why, whysz) ||
        get_int(root, "route_attempts", &n, false, 0, 1000, why, whysz))
        return LGW_ERR(INVALID);
    reply->route_attempts = (int)n;
    if (get_int(root, "retry_after_ms", &reply->retry_after_ms, false, 0, 86400000, why, whysz))
        return LGW_ERR(INVALID);
    json_t *known = json_object_get(root, "cost_known");
    reply->cost_known = !known || json_is_true(known);
    reply->cost_estimated = json_is_true(json_object_get(root, "cost_estimated"));
    reply->simulated = json_is_true(json_object_get(root, "simulated"));
    reply->cache_hit = strcmp(cache, "hit") == 0;
    reply->cache_bypass = strcmp(cache, "bypass") == 0;
    if (batch_ref_decode(root, &reply->batch, why, whysz))
        return LGW_ERR(INVALID);
    json_t *body = json_object_get(root, "body");
    if (!json_is_object(body)) {
        snprintf(why, whysz, "field \"body\" must be an object");
        return LGW_ERR(INVALID);
    }
    json_t *more = json_object_get(root, "more_chunks");
    if (more) {
        size_t i;
        json_t *c;
        bool ok = json_is_array(more) && json_array_size(more) <= LGW_REPLY_MORE_CHUNKS_MAX && !reply->final;
        json_array_foreach(ok ? more : NULL, i, c) ok = ok && json_is_object(c);
        if (!ok) {
            snprintf(why, whysz, "field \"more_chunks\" must be an array of at most %d objects, in a chunk",
                     LGW_REPLY_MORE_CHUNKS_MAX);
            return LGW_ERR(INVALID);
        }
        reply->more_chunks = json_incref(more);
    }
    reply->body = json_incref(body);
    return LGW_OK;
}

int lgw_reply_decode(const void *data, size_t len, struct lgw_reply *reply, char *why, size_t whysz)
{
    memset(reply, 0, sizeof(*reply));
    json_t *root = load(data, len, why, whysz);
    if (!root)
        return LGW_ERR(INVALID);
    int rc = reply_read(root, reply, why, whysz);
    json_decref(root);
    return rc;
}

/* A message up to this size is copied on the stack for its envelope's read: replies are about 1 KB. */
#define ENVELOPE_COPY_STACK 4096

int lgw_reply_decode_text(const void *data, size_t len, struct lgw_reply *reply, char *why, size_t whysz)
{
    const char *text = data;
    size_t at = 0, off, blen, start = 0;
    memset(reply, 0, sizeof(*reply));
    if (lgw_json_check(text, len, LGW_JSON_DEPTH_MAX, &at)) {
        snprintf(why, whysz, "not JSON (error at byte %zu)", at);
        return LGW_ERR(INVALID);
    }
    while (start < len && text[start] != '{' && text[start] != '[')
        start++; /* whitespace: the check accepted the text */
    /* With no object body (not an object at all, no body, a body of another type) there is nothing to keep
     * as text: the whole decode says what is wrong, in its own words. */
    if (text[start] != '{' || !lgw_json_member(text, len, "body", &off, &blen) || text[off] != '{')
        return lgw_reply_decode(data, len, reply, why, whysz);
    /* The envelope is read by the same code as lgw_reply_decode, from a copy whose body is {}: jansson builds
     * the envelope and nothing of the answer. A second "body" stays in the copy, and is refused there. */
    char stack[ENVELOPE_COPY_STACK];
    size_t n = len - blen + 2;
    char *copy = n <= sizeof(stack) ? stack : lgw_malloc(n);
    memcpy(copy, text, off);
    memcpy(copy + off, "{}", 2);
    memcpy(copy + off + 2, text + off + blen, len - off - blen);
    json_t *root = load(copy, n, why, whysz);
    int rc = root ? reply_read(root, reply, why, whysz) : LGW_ERR(INVALID);
    json_decref(root);
    if (copy != stack)
        free(copy);
    if (rc) {
        lgw_reply_cleanup(reply);
        return rc;
    }
    json_decref(reply->body); /* the {} */
    reply->body = NULL;
    reply->body_text = text + off;
    reply->body_len = blen;
    return LGW_OK;
}

int lgw_reply_parse_body(struct lgw_reply *reply, char *why, size_t whysz)
{
    if (reply->body)
        return LGW_OK;
    if (!reply->body_text) {
        snprintf(why, whysz, "no body");
        return LGW_ERR(INVALID);
    }
    json_error_t jerr;
    reply->body = lgw_json_loadb(reply->body_text, reply->body_len, ENVELOPE_LOAD_FLAGS, &jerr);
    if (!reply->body) {
        snprintf(why, whysz, "body not JSON (error at byte %d)", jerr.position);
        return LGW_ERR(INVALID);
    }
    return LGW_OK;
}

void lgw_reply_cleanup(struct lgw_reply *reply)
{
    json_decref(reply->body);
    reply->body = NULL;
    json_decref(reply->more_chunks);
    reply->more_chunks = NULL;
}

/* ---- cost event ---- */

int lgw_cost_event_encode(const struct lgw_cost_event *ev, struct lgw_buf *out)
{
    json_t *o = json_object();
    json_object_set_new(o, "v", json_integer(LGW_ENVELOPE_VERSION));
    json_object_set_new(o, "event_id", json_string(ev->event_id));
    json_object_set_new(o, "request_id", json_string(ev->request_id));
    json_object_set_new(o, "tenant", json_string(ev->tenant));
    if (ev->key_id[0])
        json_object_set_new(o, "key_id", json_string(ev->key_id));
    json_object_set_new(o, "user", json_string(ev->user));
    json_object_set_new(o, "provider", json_string(ev->provider));
    json_object_set_new(o, "model", json_string(ev->model));
    json_object_set_new(o, "kind", json_string(lgw_job_kind_name(ev->kind)));
    json_object_set_new(o, "input_tokens", json_integer(ev->usage.input_tokens));
    json_object_set_new(o, "output_tokens", json_integer(ev->usage.output_tokens));
    json_object_set_new(o, "cached_input_tokens", json_integer(ev->usage.cached_input_tokens));
    json_object_set_new(o, "cost_nusd", json_integer(ev->cost_nusd));
    json_object_set_new(o, "cost_known", json_boolean(ev->cost_known));
    json_object_set_new(o, "latency_ms", json_integer(ev->latency_ms));
    json_object_set_new(o, "status", json_integer(ev->status));
    json_object_set_new(o, "outcome", json_string(ev->outcome));
    json_object_set_new(o, "cache_hit", json_boolean(ev->cache_hit));
    if (ev->saved_nusd)
        json_object_set_new(o, "saved_nusd", json_integer(ev->saved_nusd));
    json_object_set_new(o, "rerun", json_boolean(ev->rerun));
    json_object_set_new(o, "attempt", json_integer(ev->attempt));
    json_object_set_new(o, "strategy", json_string(ev->strategy));
    json_object_set_new(o, "worker", json_string(ev->worker));
    json_object_set_new(o, "ts_ms", json_integer(ev->ts_ms));
    json_object_set_new(o, "route_attempts", json_integer(ev->route_attempts));
    json_object_set_new(o, "route", json_string(ev->route));
    json_object_set_new(o, "final", json_boolean(ev->final));
    json_object_set_new(o, "provider_call", json_integer(ev->provider_call));
    json_object_set_new(o, "cost_estimated", json_boolean(ev->cost_estimated));
    json_object_set_new(o, "cache_write_input_tokens", json_integer(ev->usage.cache_write_input_tokens));
    if (ev->simulated)
        json_object_set_new(o, "simulated", json_true());
    if (ev->has_ttft)
        json_object_set_new(o, "ttft_ms", json_integer(ev->ttft_ms));
    if (ev->trace_id[0])
        json_object_set_new(o, "trace_id", json_string(ev->trace_id));
    int rc = dump(o, out);
    json_decref(o);
    return rc;
}

int lgw_cost_event_decode(const void *data, size_t len, struct lgw_cost_event *ev, char *why, size_t whysz)
{
    int rc = LGW_ERR(INVALID);
    int64_t n;
    char kind[32];
    memset(ev, 0, sizeof(*ev));
    json_t *root = load(data, len, why, whysz);
    if (!root)
        return LGW_ERR(INVALID);
    if (get_str(root, "event_id", ev->event_id, sizeof(ev->event_id), true, why, whysz) ||
        get_str(root, "request_id", ev->request_id, sizeof(ev->request_id), true, why, whysz) ||
        get_str(root, "tenant", ev->tenant, sizeof(ev->tenant), true, why, whysz) ||
        get_str(root, "key_id", ev->key_id, sizeof(ev->key_id), false, why, whysz) ||
        get_str(root, "user", ev->user, sizeof(ev->user), false, why, whysz) ||
        get_str(root, "provider", ev->provider, sizeof(ev->provider), false, why, whysz) ||
        get_str(root, "model", ev->model, sizeof(ev->model), false, why, whysz) ||
        get_str(root, "kind", kind, sizeof(kind), true, why, whysz) ||
        get_int(root, "input_tokens", &ev->usage.input_tokens, true, 0, INT64_MAX, why, whysz) ||
        get_int(root, "output_tokens", &ev->usage.output_tokens, true, 0, INT64_MAX, why, whysz) ||
        get_int(root, "cached_input_tokens", &ev->usage.cached_input_tokens, false, 0, INT64_MAX, why, whysz) ||
        get_int(root, "cost_nusd", &ev->cost_nusd, true, 0, INT64_MAX, why, whysz) ||
        get_bool(root, "cost_known", &ev->cost_known, why, whysz) ||
        get_int(root, "latency_ms", &ev->latency_ms, false, 0, INT64_MAX, why, whysz) ||
        get_int(root, "status", &n, true, 100, 599, why, whysz))
        goto out;
    ev->status = (int)n;
    if (get_str(root, "outcome", ev->outcome, sizeof(ev->outcome), true, why, whysz) ||
        get_bool(root, "cache_hit", &ev->cache_hit, why, whysz) ||
        get_int(root, "saved_nusd", &ev->saved_nusd, false, 0, INT64_MAX, why, whysz) ||
        get_bool(root, "rerun", &ev->rerun, why, whysz) ||
        get_int(root, "attempt", &n, false, 0, 1000, why, whysz))
        goto out;
    ev->attempt = (int)n;
    if (get_str(root, "strategy", ev->strategy, sizeof(ev->strategy), false, why, whysz) ||
        get_str(root, "worker", ev->worker, sizeof(ev->worker), false, why, whysz) ||
        get_int(root, "ts_ms", &ev->ts_ms, true, 0, INT64_MAX, why, whysz) ||
        get_str(root, "route", ev->route, sizeof(ev->route), false, why, whysz) ||
        get_int(root, "route_attempts", &n, false, 0, 1000, why, whysz))
        goto out;
    ev->route_attempts = (int)n;
    /* Fields since the first schema: an event from an older writer is its execution's one, final event. */
    json_t *fin = json_object_get(root, "final");
    if (fin && !json_is_boolean(fin)) {
        snprintf(why, whysz, "field \"final\" must be a boolean");
        goto out;
    }
    ev->final = !fin || json_is_true(fin);
    if (get_int(root, "provider_call", &n, false, 0, 1000, why, whysz))
        goto out;
    ev->provider_call = (int)n;
    if (get_bool(root, "cost_estimated", &ev->cost_estimated, why, whysz) ||
        get_int(root, "cache_write_input_tokens", &ev->usage.cache_write_input_tokens, false, 0, INT64_MAX, why,
                whysz) ||
        get_bool(root, "simulated", &ev->simulated, why, whysz))
        goto out;
    /* ttft_ms: absent (or null) for an answer that was not streamed, and from writers before the field. */
    json_t *ttft = json_object_get(root, "ttft_ms");
    if (ttft && !json_is_null(ttft)) {
        if (get_int(root, "ttft_ms", &ev->ttft_ms, true, 0, INT64_MAX, why, whysz))
            goto out;
        ev->has_ttft = true;
    }
    /* The trace id only links a row to its trace: a malformed one is dropped, never the spend with it. */
    json_t *tid = json_object_get(root, "trace_id");
    if (json_is_string(tid) && lgw_trace_id_valid(json_string_value(tid), json_string_length(tid)))
        lgw_strlcpy(ev->trace_id, json_string_value(tid), sizeof(ev->trace_id));

    if (strcmp(kind, "chat") == 0)
        ev->kind = LGW_JOB_CHAT;
    else if (strcmp(kind, "embeddings") == 0)
        ev->kind = LGW_JOB_EMBEDDINGS;
    else {
        snprintf(why, whysz, "field \"kind\" must be \"chat\" or \"embeddings\"");
        goto out;
    }
    if (strcmp(ev->outcome, "ok") && strcmp(ev->outcome, "error") && strcmp(ev->outcome, "cancelled") &&
        strcmp(ev->outcome, "expired")) {
        snprintf(why, whysz, "field \"outcome\" must be ok, error, cancelled or expired");
        goto out;
    }
    rc = LGW_OK;
out:
    json_decref(root);
    return rc;
}

/* ---- cancel ---- */

int lgw_cancel_encode(const struct lgw_cancel *c, struct lgw_buf *out)
{
    json_t *o = json_pack("{s:i, s:s, s:I}", "v", LGW_ENVELOPE_VERSION, "id", c->id, "ts_ms", (json_int_t)c->ts_ms);
    if (!o)
        return LGW_ERR(INVALID);
    int rc = dump(o, out);
    json_decref(o);
    return rc;
}

int lgw_cancel_decode(const void *data, size_t len, struct lgw_cancel *c, char *why, size_t whysz)
{
    memset(c, 0, sizeof(*c));
    json_t *root = load(data, len, why, whysz);
    if (!root)
        return LGW_ERR(INVALID);
    int rc = get_str(root, "id", c->id, sizeof(c->id), true, why, whysz);
    if (rc == 0)
        rc = get_int(root, "ts_ms", &c->ts_ms, false, 0, INT64_MAX, why, whysz);
    json_decref(root);
    return rc;
}

/* ---- dead letter ---- */

int lgw_dead_letter_encode(const struct lgw_dead_letter *dl, struct lgw_buf *out)
{
    json_t *o = json_pack("{s:i, s:s, s:s, s:i, s:I, s:I}", "v", LGW_ENVELOPE_VERSION, "reason", dl->reason, "topic",
                          dl->topic, "partition", (int)dl->partition, "offset", (json_int_t)dl->offset, "ts_ms",
                          (json_int_t)dl->ts_ms);
    if (!o)
        return LGW_ERR(INVALID);
    /* The payload as text when it is UTF-8; otherwise null, and the bytes stay in the source topic. */
    json_t *payload = dl->payload ? json_stringn(dl->payload, dl->payload_len) : json_string("");
    json_object_set_new(o, "payload", payload ? payload : json_null());
    int rc = dump(o, out);
    json_decref(o);
    return rc;
}
