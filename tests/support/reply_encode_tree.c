/* reply_encode_tree.c - the jansson-tree reply encoder, as a reference (reply_encode_tree.h). */
#include "tests/support/reply_encode_tree.h"

#include <jansson.h>

#include "common/errors.h"

/* jansson's own dump into the buffer, as lgw_buf_dump_json did before the twenty-sixth pass (it now hands compact
 * dumps to common/json_write.c). */
static int to_buf(const char *data, size_t len, void *opaque)
{
    return lgw_buf_append(opaque, data, len) ? -1 : 0;
}

int lgw_test_reply_encode_tree(const struct lgw_reply *reply, struct lgw_buf *out)
{
    json_t *o = json_object();
    json_object_set_new(o, "v", json_integer(LGW_ENVELOPE_VERSION));
    json_object_set_new(o, "id", json_string(reply->id));
    if (reply->run_id[0])
        json_object_set_new(o, "run_id", json_string(reply->run_id));
    if (reply->tenant[0])
        json_object_set_new(o, "tenant", json_string(reply->tenant));
    json_object_set_new(o, "seq", json_integer(reply->seq));
    json_object_set_new(o, "final", json_boolean(reply->final));
    json_object_set_new(o, "status", json_integer(reply->status));
    json_object_set(o, "body", reply->body ? reply->body : json_null());
    if (reply->more_chunks && json_array_size(reply->more_chunks) > 0)
        json_object_set(o, "more_chunks", reply->more_chunks);
    json_object_set_new(o, "provider", json_string(reply->provider));
    json_object_set_new(o, "model", json_string(reply->model));
    json_object_set_new(o, "cache", json_string(lgw_reply_cache_name(reply)));
    json_object_set_new(o, "usage",
                        json_pack("{s:I, s:I, s:I}", "input_tokens", (json_int_t)reply->usage.input_tokens,
                                  "output_tokens", (json_int_t)reply->usage.output_tokens, "cached_input_tokens",
                                  (json_int_t)reply->usage.cached_input_tokens));
    json_object_set_new(o, "cost", json_integer(reply->cost_nusd));
    json_object_set_new(o, "cost_known", json_boolean(reply->cost_known));
    if (reply->cost_estimated)
        json_object_set_new(o, "cost_estimated", json_true());
    json_object_set_new(o, "latency_ms", json_integer(reply->latency_ms));
    if (reply->strategy[0])
        json_object_set_new(o, "strategy", json_string(reply->strategy));
    json_object_set_new(o, "route_attempts", json_integer(reply->route_attempts));
    json_object_set_new(o, "route", json_string(reply->route));
    if (reply->retry_after_ms > 0)
        json_object_set_new(o, "retry_after_ms", json_integer(reply->retry_after_ms));
    if (reply->simulated)
        json_object_set_new(o, "simulated", json_true());
    const struct lgw_batch_ref *b = &reply->batch;
    if (b->id[0])
        json_object_set_new(o, "batch", json_pack("{s:s, s:I, s:s}", "id", b->id, "index", (json_int_t)b->index,
                                                  "custom_id", b->custom_id));
    size_t before = out->len;
    int rc = json_dump_callback(o, to_buf, out, JSON_COMPACT) == 0 ? 0 : LGW_ERR(TOO_LARGE);
    if (rc)
        lgw_buf_truncate(out, before);
    json_decref(o);
    return rc;
}
