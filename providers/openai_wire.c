/* openai_wire.c - calls to any server that speaks OpenAI's API (OpenAI itself, and the OpenAI-compatible
 * adapter): /chat/completions (plain and streamed) and /embeddings, passing the request through unchanged
 * (tools, tool_choice, response_format, n, seed, stop, max_tokens, ...) except for the model name and, when
 * streaming, stream_options.include_usage, which the gateway always asks for so a streamed request costs
 * exactly what the same request unstreamed does. Streamed chunks go to the client as they come, in OpenAI's
 * shape whatever the server: choices always an array, and a usage sent on a finish chunk (Mistral) moved to a
 * usage chunk of its own. Attempts and retries are wire.c's. */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/json_load.h"
#include "common/json_write.h"
#include "providers/openai_wire.h"
#include "providers/wire.h"

/* OpenAI's usage object into ours: cached tokens are part of prompt_tokens. */
static void read_usage(json_t *usage, struct lgw_usage *out)
{
    if (!json_is_object(usage))
        return;
    out->input_tokens = json_integer_value(json_object_get(usage, "prompt_tokens"));
    out->output_tokens = json_integer_value(json_object_get(usage, "completion_tokens"));
    json_t *details = json_object_get(usage, "prompt_tokens_details");
    out->cached_input_tokens = json_integer_value(json_object_get(details, "cached_tokens"));
    if (out->cached_input_tokens > out->input_tokens || out->cached_input_tokens < 0)
        out->cached_input_tokens = 0;
}

/* True when a chunk finishes a choice and carries the usage too (Mistral's final chunk, sent unasked). */
static bool finish_with_usage(json_t *chunk)
{
    if (!json_is_object(json_object_get(chunk, "usage")))
        return false;
    size_t i;
    json_t *choice;
    json_array_foreach(json_object_get(chunk, "choices"), i, choice) {
        if (json_is_string(json_object_get(choice, "finish_reason")))
            return true;
    }
    return false;
}

/* A client that asked for usage gets it as OpenAI sends it, whichever server answers: in a chunk of its own
 * with choices [] after the finish chunk, whose usage is null. */
static int emit_usage_apart(struct lgw_wire_stream *st, json_t *chunk)
{
    json_t *usage_chunk = json_copy(chunk); /* id, object, created, model, ... shared; the usage kept */
    json_object_set_new(usage_chunk, "choices", json_array());
    json_object_set_new(chunk, "usage", json_null());
    int rc = lgw_wire_emit(st, chunk);
    if (rc == 0)
        rc = lgw_wire_emit(st, usage_chunk);
    json_decref(usage_chunk);
    return rc;
}

static int on_event(struct lgw_wire_stream *st, const char *event, const char *data, size_t len)
{
    (void)event;
    if (len >= 6 && strncmp(data, "[DONE]", 6) == 0) {
        st->done = true;
        return LGW_OK;
    }
    json_t *chunk = lgw_json_loadb(data, len, 0, NULL);
    if (!json_is_object(chunk)) {
        json_decref(chunk);
        return lgw_wire_fail(st, 502, NULL, "The provider sent a malformed stream event.");
    }
    json_t *err = json_object_get(chunk, "error");
    if (err) {
        int rc = lgw_wire_fail(st, 502, err, NULL);
        json_decref(chunk);
        return rc;
    }
    /* Every OpenAI chunk has a choices array (the usage chunk's is empty); vLLM's usage chunk may have null or
     * none, which clients indexing choices trip on. */
    if (!json_is_array(json_object_get(chunk, "choices")))
        json_object_set_new(chunk, "choices", json_array());
    json_t *usage = json_object_get(chunk, "usage");
    if (json_is_object(usage))
        read_usage(usage, &st->res->usage);
    json_t *model = json_object_get(chunk, "model");
    if (json_is_string(model))
        lgw_strlcpy(st->res->model, json_string_value(model), sizeof(st->res->model));
    int rc = st->stream->include_usage && finish_with_usage(chunk) ? emit_usage_apart(st, chunk)
                                                                   : lgw_wire_emit(st, chunk);
    json_decref(chunk);
    return rc;
}

static int on_body(const struct lgw_job *job, json_t *parsed, struct lgw_prov_result *res)
{
    (void)job;
    json_decref(res->body);
    res->body = json_incref(parsed);
    read_usage(json_object_get(parsed, "usage"), &res->usage);
    return LGW_OK;
}

static json_t *error_object(json_t *parsed)
{
    json_t *err = json_object_get(parsed, "error");
    if (json_is_object(err) && json_is_string(json_object_get(err, "message")))
        return json_incref(err);
    /* Mistral and vLLM put the error at the top level: {"object":"error","message","type","param","code"}, and a
     * Mistral validation error has an object for a message; Mistral's gateway and FastAPI servers answer
     * {"detail": ...}. What is not a string is kept as its JSON text: which field was wrong must not be lost. */
    json_t *msg = json_object_get(parsed, "message");
    if (!msg || json_is_null(msg))
        msg = json_object_get(parsed, "detail");
    if (!msg || json_is_null(msg))
        return NULL;
    char *text = json_is_string(msg) ? NULL : json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);
    /* type and code when they are strings; what is missing comes from the table's row for the status */
    json_t *obj = json_pack("{s:s, s:n}", "message", text ? text : json_string_value(msg), "param");
    free(text);
    if (!obj)
        return NULL; /* not UTF-8: the table's message will do */
    json_t *type = json_object_get(parsed, "type"), *code = json_object_get(parsed, "code");
    if (json_is_string(type))
        json_object_set(obj, "type", type);
    if (json_is_string(code) || json_is_null(code))
        json_object_set(obj, "code", code);
    return obj;
}

static const struct lgw_wire_ops openai_ops = {
    .on_event = on_event,
    .on_body = on_body,
    .error_object = error_object,
};

/* Renames key to to (when present and to is not already set). */
static void rename_key(json_t *body, const char *key, const char *to)
{
    json_t *v = json_object_get(body, key);
    if (!v)
        return;
    if (!json_object_get(body, to))
        json_object_set(body, to, v);
    json_object_del(body, key);
}

/* The client's request with the provider's model name (and, streaming, usage asked for). */
static char *upstream_body(const struct lgw_model_info *model, const struct lgw_job *job, bool streamed,
                           unsigned dialect)
{
    json_t *body = json_deep_copy(job->body);
    json_object_set_new(body, "model", json_string(model->upstream ? model->upstream : model->id));
    if (dialect & LGW_OAI_MISTRAL) {
        /* Mistral's names for the same things (as Portkey maps them). No stream_options: Mistral puts usage on a
         * stream's final chunk unasked (docs.mistral.ai, release note 2024-01-16). */
        rename_key(body, "max_completion_tokens", "max_tokens");
        rename_key(body, "seed", "random_seed");
        json_t *tc = json_object_get(body, "tool_choice");
        if (json_is_string(tc) && strcmp(json_string_value(tc), "required") == 0)
            json_object_set_new(body, "tool_choice", json_string("any"));
        json_object_del(body, "stream_options");
        if (!streamed)
            json_object_del(body, "stream");
    } else if (streamed) {
        json_t *so = json_object_get(body, "stream_options");
        if (!json_is_object(so)) {
            so = json_object();
            json_object_set_new(body, "stream_options", so);
        }
        json_object_set_new(so, "include_usage", json_true());
    } else {
        json_object_del(body, "stream");
        json_object_del(body, "stream_options");
    }
    char *text = lgw_json_text(body);
    json_decref(body);
    return text;
}

int lgw_oai_call(struct lgw_prov_call *call, const char *url, struct curl_slist *headers, unsigned dialect)
{
    lgw_strlcpy(call->res.model, call->model->id, sizeof(call->res.model));
    char *body = upstream_body(call->model, call->job, call->stream != NULL, dialect);
    return lgw_wire_call(call, url, headers, body, &openai_ops);
}
