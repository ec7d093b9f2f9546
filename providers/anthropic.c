/* anthropic.c - the Anthropic adapter: OpenAI-shaped chat requests translated to /v1/messages and the
 * answers (plain and streamed) translated back, so clients keep speaking OpenAI's API.
 *
 * Request: system/developer messages hoisted to `system`; max_tokens always set (Anthropic requires it);
 * image parts as image blocks; assistant tool_calls as tool_use blocks and tool messages as tool_result
 * blocks in a user turn; tools, tool_choice, stop, temperature, top_p, user mapped. Answer: text blocks
 * joined, tool_use blocks as tool_calls, stop reasons mapped (end_turn/stop_sequence -> stop, max_tokens ->
 * length, tool_use -> tool_calls), usage with prompt_tokens = input + cache writes + cache reads. Streams:
 * message_start, content_block_start/delta, message_delta, message_stop become chat.completion.chunk
 * events; ping and content_block_stop are dropped; an error event ends the stream with an error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/anthropic_map.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/json_load.h"
#include "common/json_write.h"
#include "providers/provider.h"
#include "providers/wire.h"

#define ANTHROPIC_VERSION "2023-06-01"
#define DEFAULT_MAX_TOKENS 4096 /* what LiteLLM sends when the client gives none */

static bool configured(const struct lgw_config *cfg)
{
    return cfg->anthropic_api_key[0] != '\0';
}

/* ---- request: OpenAI -> Anthropic ---- */

static json_t *text_block(const char *text)
{
    return json_pack("{s:s, s:s}", "type", "text", "text", text);
}

/* An OpenAI image_url part as an Anthropic image block: data URIs inline, other URLs by reference. */
static json_t *image_block(json_t *part)
{
    const char *url = json_string_value(json_object_get(json_object_get(part, "image_url"), "url"));
    if (!url)
        return NULL;
    const char *comma = strchr(url, ',');
    if (strncmp(url, "data:", 5) == 0 && comma && strstr(url, ";base64,")) {
        const char *semi = strchr(url, ';');
        return json_pack("{s:s, s:{s:s, s:s#, s:s}}", "type", "image", "source", "type", "base64", "media_type",
                         url + 5, (size_t)(semi - url - 5), "data", comma + 1);
    }
    return json_pack("{s:s, s:{s:s, s:s}}", "type", "image", "source", "type", "url", "url", url);
}

/* Content (string or parts) as a list of Anthropic blocks, appended to blocks. */
static void content_blocks(json_t *content, json_t *blocks)
{
    if (json_is_string(content)) {
        if (json_string_length(content))
            json_array_append_new(blocks, text_block(json_string_value(content)));
        return;
    }
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part) {
        const char *type = json_string_value(json_object_get(part, "type"));
        json_t *block = NULL;
        if (type && strcmp(type, "text") == 0 && json_is_string(json_object_get(part, "text")))
            block = text_block(json_string_value(json_object_get(part, "text")));
        else if (type && strcmp(type, "image_url") == 0)
            block = image_block(part);
        if (block)
            json_array_append_new(blocks, block);
    }
}

/* Appends blocks as a turn of role, merging with the previous turn of the same role (Anthropic wants turns
 * to alternate; consecutive tool results, for one, belong to one user turn). */
static void add_turn(json_t *messages, const char *role, json_t *blocks)
{
    size_t n = json_array_size(messages);
    json_t *last = n ? json_array_get(messages, n - 1) : NULL;
    if (last && strcmp(json_string_value(json_object_get(last, "role")), role) == 0)
        json_array_extend(json_object_get(last, "content"), blocks);
    else if (json_array_size(blocks))
        json_array_append_new(messages, json_pack("{s:s, s:O}", "role", role, "content", blocks));
    json_decref(blocks);
}

static json_t *translate_tools(json_t *tools)
{
    json_t *out = json_array();
    size_t i;
    json_t *tool;
    json_array_foreach(tools, i, tool) {
        json_t *fn = json_object_get(tool, "function");
        if (!json_is_string(json_object_get(fn, "name")))
            continue;
        json_t *params = json_object_get(fn, "parameters");
        json_t *schema = json_is_object(params) ? json_incref(params)
                                                : json_pack("{s:s, s:{}}", "type", "object", "properties");
        json_t *t = json_pack("{s:O, s:o}", "name", json_object_get(fn, "name"), "input_schema", schema);
        if (json_is_string(json_object_get(fn, "description")))
            json_object_set(t, "description", json_object_get(fn, "description"));
        json_array_append_new(out, t);
    }
    return out;
}

static json_t *translate_tool_choice(json_t *choice, json_t *parallel)
{
    json_t *out = NULL;
    if (json_is_string(choice)) {
        const char *c = json_string_value(choice);
        out = json_pack("{s:s}", "type", lgw_anth_tool_choice_type(c));
    } else if (json_is_object(choice)) {
        json_t *name = json_object_get(json_object_get(choice, "function"), "name");
        if (json_is_string(name))
            out = json_pack("{s:s, s:O}", "type", "tool", "name", name);
    }
    if (json_is_false(parallel)) {
        if (!out)
            out = json_pack("{s:s}", "type", "auto");
        json_object_set_new(out, "disable_parallel_tool_use", json_true());
    }
    return out;
}

static char *request_body(const struct lgw_model_info *model, const struct lgw_job *job, bool streamed)
{
    json_t *in = job->body, *system = json_array(), *messages = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(in, "messages"), i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *content = json_object_get(m, "content"), *blocks = json_array();
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            content_blocks(content, system);
            json_decref(blocks);
            continue;
        }
        if (strcmp(role, "tool") == 0) {
            json_t *id = json_object_get(m, "tool_call_id");
            json_t *result = json_array(); /* string content as one text block, parts as theirs */
            content_blocks(content, result);
            json_t *tr = json_pack("{s:s, s:s, s:o}", "type", "tool_result", "tool_use_id",
                                   json_is_string(id) ? json_string_value(id) : "", "content",
                                   json_is_string(content) ? json_string(json_string_value(content)) : result);
            if (json_is_string(content))
                json_decref(result);
            json_array_append_new(blocks, tr);
            add_turn(messages, "user", blocks);
            continue;
        }
        bool assistant = strcmp(role, "assistant") == 0;
        content_blocks(content, blocks);
        lgw_anth_append_tool_use(json_object_get(m, "tool_calls"), blocks);
        add_turn(messages, assistant ? "assistant" : "user", blocks);
    }
    json_t *mt = json_object_get(in, "max_completion_tokens");
    if (!json_is_integer(mt))
        mt = json_object_get(in, "max_tokens");
    json_t *out = json_pack("{s:s, s:I, s:o}", "model", model->upstream ? model->upstream : model->id, "max_tokens",
                            (json_int_t)(json_is_integer(mt) ? json_integer_value(mt) : DEFAULT_MAX_TOKENS),
                            "messages", messages);
    if (json_array_size(system))
        json_object_set(out, "system", system);
    json_decref(system);
    static const char *same[] = {"temperature", "top_p"};
    for (size_t k = 0; k < 2; k++)
        if (json_is_number(json_object_get(in, same[k])))
            json_object_set(out, same[k], json_object_get(in, same[k]));
    json_t *stop = json_object_get(in, "stop");
    if (json_is_string(stop))
        json_object_set_new(out, "stop_sequences", json_pack("[O]", stop));
    else if (json_is_array(stop))
        json_object_set(out, "stop_sequences", stop);
    if (json_is_array(json_object_get(in, "tools")))
        json_object_set_new(out, "tools", translate_tools(json_object_get(in, "tools")));
    json_t *tc = translate_tool_choice(json_object_get(in, "tool_choice"), json_object_get(in, "parallel_tool_calls"));
    if (tc)
        json_object_set_new(out, "tool_choice", tc);
    if (json_is_string(json_object_get(in, "user")))
        json_object_set_new(out, "metadata", json_pack("{s:O}", "user_id", json_object_get(in, "user")));
    if (streamed)
        json_object_set_new(out, "stream", json_true());
    char *text = lgw_json_text(out);
    json_decref(out);
    return text;
}

/* ---- answer: Anthropic -> OpenAI ---- */

/* Sets *field to usage's count called name when it has one (a stream's counts are cumulative, and each is
 * optional in message_delta: an absent or null one keeps what an earlier event said). */
static void take_count(json_t *u, const char *name, int64_t *field)
{
    json_t *v = json_object_get(u, name);
    if (json_is_integer(v))
        *field = json_integer_value(v);
}

/* Anthropic usage into ours (total input = input + cache writes + cache reads), field by field as the SDK's
 * stream accumulator does, and OpenAI's usage object. */
static json_t *read_usage(json_t *u, struct lgw_usage *out)
{
    int64_t writes = out->cache_write_input_tokens, reads = out->cached_input_tokens;
    int64_t in = out->input_tokens - writes - reads; /* the uncached part */
    take_count(u, "input_tokens", &in);
    take_count(u, "cache_creation_input_tokens", &writes);
    take_count(u, "cache_read_input_tokens", &reads);
    out->input_tokens = in + writes + reads;
    out->cached_input_tokens = reads;
    out->cache_write_input_tokens = writes;
    take_count(u, "output_tokens", &out->output_tokens);
    return json_pack("{s:I, s:I, s:I, s:{s:I}}", "prompt_tokens", (json_int_t)out->input_tokens, "completion_tokens",
                     (json_int_t)out->output_tokens, "total_tokens",
                     (json_int_t)(out->input_tokens + out->output_tokens), "prompt_tokens_details", "cached_tokens",
                     (json_int_t)out->cached_input_tokens);
}

static int on_body(const struct lgw_job *job, json_t *msg, struct lgw_prov_result *res)
{
    (void)job;
    json_t *content = json_object_get(msg, "content");
    if (!json_is_array(content)) {
        lgw_prov_result_error(res, LGW_ERR(PROVIDER), "The provider's answer had no content.");
        return LGW_ERR(PROVIDER);
    }
    struct lgw_buf text;
    lgw_buf_init(&text, 0);
    json_t *calls = json_array();
    size_t i;
    json_t *block;
    json_array_foreach(content, i, block) {
        const char *type = json_string_value(json_object_get(block, "type"));
        if (type && strcmp(type, "text") == 0 && json_is_string(json_object_get(block, "text")))
            lgw_buf_puts(&text, json_string_value(json_object_get(block, "text")));
        else if (type && strcmp(type, "tool_use") == 0) {
            char *args = json_dumps(json_object_get(block, "input"), JSON_COMPACT);
            json_array_append_new(calls, json_pack("{s:O, s:s, s:{s:O, s:s}}", "id", json_object_get(block, "id"),
                                                   "type", "function", "function", "name",
                                                   json_object_get(block, "name"), "arguments", args ? args : "{}"));
            free(args);
        }
    }
    json_t *message = json_pack("{s:s, s:n}", "role", "assistant", "refusal");
    json_object_set_new(message, "content", text.len || !json_array_size(calls) ? json_string(text.ptr ? text.ptr : "")
                                                                               : json_null());
    if (json_array_size(calls))
        json_object_set(message, "tool_calls", calls);
    json_decref(calls);
    lgw_buf_cleanup(&text);
    const char *finish = lgw_anth_finish_reason(json_string_value(json_object_get(msg, "stop_reason")));
    json_t *usage = read_usage(json_object_get(msg, "usage"), &res->usage);
    json_decref(res->body);
    res->body = json_pack("{s:O, s:s, s:I, s:O, s:[{s:i, s:o, s:n, s:s}], s:o}", "id", json_object_get(msg, "id"),
                          "object", "chat.completion", "created", (json_int_t)(lgw_wall_ms() / 1000), "model",
                          json_object_get(msg, "model"), "choices", "index", 0, "message", message, "logprobs",
                          "finish_reason", finish ? finish : "stop", "usage", usage);
    if (!res->body) {
        lgw_prov_result_error(res, LGW_ERR(PROVIDER), "The provider's answer was malformed.");
        return LGW_ERR(PROVIDER);
    }
    if (json_is_string(json_object_get(msg, "model")))
        lgw_strlcpy(res->model, json_string_value(json_object_get(msg, "model")), sizeof(res->model));
    return LGW_OK;
}

/* Anthropic's {"type":"error","error":{"type","message"}} as OpenAI's error object: the message, and
 * Anthropic's type as the code (the OpenAI type comes from the table's row for the status). */
static json_t *error_object(json_t *parsed)
{
    json_t *err = json_object_get(parsed, "error");
    if (!json_is_string(json_object_get(err, "message")))
        return NULL;
    json_t *obj = json_pack("{s:O, s:n}", "message", json_object_get(err, "message"), "param");
    json_t *type = json_object_get(err, "type");
    if (json_is_string(type))
        json_object_set(obj, "code", type);
    return obj;
}

/* Stream translation state, per attempt. */
struct proto {
    char id[128], model[128];
    int64_t created;
    int tools;            /* tool calls seen so far: OpenAI's 0-based tool index */
    int block_tool[64];   /* Anthropic block index -> tool index + 1 (0: not a tool block) */
};

static json_t *chunk(struct proto *p, json_t *delta, const char *finish)
{
    return json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:n, s:s?}]}", "id", p->id, "object", "chat.completion.chunk",
                     "created", (json_int_t)p->created, "model", p->model, "choices", "index", 0, "delta", delta,
                     "logprobs", "finish_reason", finish);
}

static int emit(struct lgw_wire_stream *st, json_t *c)
{
    if (st->stream->include_usage)
        json_object_set_new(c, "usage", json_null());
    int rc = lgw_wire_emit(st, c);
    json_decref(c);
    return rc;
}

static int on_event(struct lgw_wire_stream *st, const char *event, const char *data, size_t len)
{
    struct proto *p = st->proto;
    json_t *ev = lgw_json_loadb(data, len, 0, NULL);
    if (!json_is_object(ev)) {
        json_decref(ev);
        return lgw_wire_fail(st, 502, NULL, "The provider sent a malformed stream event.");
    }
    const char *type = json_string_value(json_object_get(ev, "type"));
    if (!type)
        type = event;
    int rc = LGW_OK;
    if (strcmp(type, "message_start") == 0) {
        json_t *msg = json_object_get(ev, "message");
        lgw_strlcpy(p->id, json_is_string(json_object_get(msg, "id")) ? json_string_value(json_object_get(msg, "id")) : "",
                    sizeof(p->id));
        lgw_strlcpy(p->model,
                    json_is_string(json_object_get(msg, "model")) ? json_string_value(json_object_get(msg, "model")) : "",
                    sizeof(p->model));
        lgw_strlcpy(st->res->model, p->model, sizeof(st->res->model));
        p->created = lgw_wall_ms() / 1000;
        json_decref(read_usage(json_object_get(msg, "usage"), &st->res->usage));
        rc = emit(st, chunk(p, json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL));
    } else if (strcmp(type, "content_block_start") == 0) {
        json_t *block = json_object_get(ev, "content_block");
        int index = (int)json_integer_value(json_object_get(ev, "index"));
        const char *btype = json_string_value(json_object_get(block, "type"));
        if (btype && strcmp(btype, "tool_use") == 0 && index >= 0 && index < 64) {
            p->block_tool[index] = ++p->tools;
            rc = emit(st, chunk(p, json_pack("{s:[{s:i, s:O, s:s, s:{s:O, s:s}}]}", "tool_calls", "index",
                                             p->tools - 1, "id", json_object_get(block, "id"), "type", "function",
                                             "function", "name", json_object_get(block, "name"), "arguments", ""),
                                NULL));
        }
    } else if (strcmp(type, "content_block_delta") == 0) {
        json_t *delta = json_object_get(ev, "delta");
        const char *dtype = json_string_value(json_object_get(delta, "type"));
        int index = (int)json_integer_value(json_object_get(ev, "index"));
        if (dtype && strcmp(dtype, "text_delta") == 0)
            rc = emit(st, chunk(p, json_pack("{s:O}", "content", json_object_get(delta, "text")), NULL));
        else if (dtype && strcmp(dtype, "input_json_delta") == 0 && index >= 0 && index < 64 && p->block_tool[index])
            rc = emit(st, chunk(p, json_pack("{s:[{s:i, s:{s:O}}]}", "tool_calls", "index", p->block_tool[index] - 1,
                                             "function", "arguments", json_object_get(delta, "partial_json")),
                                NULL));
    } else if (strcmp(type, "message_delta") == 0) {
        json_decref(read_usage(json_object_get(ev, "usage"), &st->res->usage));
        const char *finish =
            lgw_anth_finish_reason(json_string_value(json_object_get(json_object_get(ev, "delta"), "stop_reason")));
        rc = emit(st, chunk(p, json_object(), finish ? finish : "stop"));
    } else if (strcmp(type, "message_stop") == 0) {
        st->done = true;
        json_t *none = json_object(); /* no new counts: just OpenAI's usage object for what we have */
        json_t *u = json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", p->id, "object", "chat.completion.chunk",
                              "created", (json_int_t)p->created, "model", p->model, "choices", "usage",
                              read_usage(none, &st->res->usage));
        json_decref(none);
        rc = lgw_wire_emit(st, u); /* the usage chunk: passed on only when the client asked for it */
        json_decref(u);
    } else if (strcmp(type, "error") == 0) {
        json_t *err = error_object(ev);
        const char *etype = json_string_value(json_object_get(json_object_get(ev, "error"), "type"));
        rc = lgw_wire_fail(st, lgw_wire_client_status(lgw_anth_error_status(etype)), err,
                           "The provider reported an error mid-stream.");
        json_decref(err);
    }
    /* ping, content_block_stop and event types added later are dropped */
    json_decref(ev);
    return rc;
}

static const struct lgw_wire_ops anthropic_ops = {
    .on_event = on_event,
    .on_body = on_body,
    .error_object = error_object,
    .proto_size = sizeof(struct proto),
};

static int anthropic_call(const struct lgw_provider *prov, struct lgw_prov_call *call)
{
    (void)prov;
    const struct lgw_config *cfg = call->cfg;
    char url[320], key[600];
    snprintf(url, sizeof(url), "%s/messages", cfg->anthropic_base_url);
    snprintf(key, sizeof(key), "x-api-key: %s", cfg->anthropic_api_key);
    struct curl_slist *headers = curl_slist_append(NULL, key);
    headers = curl_slist_append(headers, "anthropic-version: " ANTHROPIC_VERSION);
    lgw_strlcpy(call->res.model, call->model->id, sizeof(call->res.model));
    char *body = request_body(call->model, call->job, call->stream != NULL);
    return lgw_wire_call(call, url, headers, body, &anthropic_ops);
}

const struct lgw_provider lgw_provider_anthropic = {
    .name = "anthropic",
    .title = "Anthropic",
    .configured = configured,
    .call = anthropic_call,
};
