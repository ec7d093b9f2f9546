/* object.c - OpenAI's Batch object from a batch store row (see object.h). */
#include "batch/object.h"

#include <stdio.h>
#include <string.h>

static json_t *time_or_null(int64_t t)
{
    return t ? json_integer(t) : json_null();
}

json_t *lgw_batch_info_json(const struct lgw_batch_info *info, bool has_output, bool has_errors)
{
    char out_id[96], err_id[96], usd[32];
    bool done = lgw_batch_status_terminal(info->status);
    snprintf(out_id, sizeof(out_id), "file-batch-output-%s", info->id);
    snprintf(err_id, sizeof(err_id), "file-batch-errors-%s", info->id);
    /* Nano-dollars to a decimal string: exact, never a float. */
    snprintf(usd, sizeof(usd), "%lld.%09lld", (long long)(info->cost_nusd / 1000000000),
             (long long)(info->cost_nusd % 1000000000));
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(info->id));
    json_object_set_new(o, "object", json_string("batch"));
    json_object_set_new(o, "endpoint", json_string(info->endpoint));
    json_object_set_new(o, "errors", info->errors ? json_incref(info->errors) : json_null());
    json_object_set_new(o, "input_file_id", info->input_file_id[0] ? json_string(info->input_file_id) : json_null());
    json_object_set_new(o, "completion_window", json_string("24h"));
    json_object_set_new(o, "status", json_string(info->status));
    json_object_set_new(o, "output_file_id", done && has_output ? json_string(out_id) : json_null());
    json_object_set_new(o, "error_file_id", done && has_errors ? json_string(err_id) : json_null());
    json_object_set_new(o, "created_at", json_integer(info->created_at));
    json_object_set_new(o, "in_progress_at", time_or_null(info->in_progress_at));
    json_object_set_new(o, "expires_at", time_or_null(info->expires_at));
    json_object_set_new(o, "finalizing_at", time_or_null(info->finalizing_at));
    json_object_set_new(o, "completed_at", time_or_null(info->completed_at));
    json_object_set_new(o, "failed_at", time_or_null(info->failed_at));
    json_object_set_new(o, "expired_at", time_or_null(info->expired_at));
    json_object_set_new(o, "cancelling_at", time_or_null(info->cancelling_at));
    json_object_set_new(o, "cancelled_at", time_or_null(info->cancelled_at));
    json_object_set_new(o, "request_counts", json_pack("{s:I, s:I, s:I}", "total", (json_int_t)info->total,
                                                       "completed", (json_int_t)info->completed, "failed",
                                                       (json_int_t)info->failed));
    json_object_set_new(o, "metadata", info->metadata ? json_incref(info->metadata) : json_null());
    json_object_set_new(o, "llmgw", json_pack("{s:s, s:s}", "tenant", info->tenant, "cost_usd", usd));
    return o;
}
