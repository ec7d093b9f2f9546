/* dialect_anthropic.c - the Anthropic dialect (POST /v1/messages, what the official anthropic SDK sends): its
 * Messages requests become OpenAI-shaped chat jobs, and answers go back as an Anthropic message, as
 * Anthropic's streaming events (message_start, content_block_start/delta/stop, message_delta, message_stop),
 * or as {"type":"error","error":{"type","message"}}, whichever provider served the request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/anthropic_map.h"
#include "common/errors.h"
#include "ingress/dialect.h"

static int bad(char *msg, size_t msgsz, const char *text)
{
    snprintf(msg, msgsz, "%s", text);
    return LGW_ERR(INVALID);
}

/* Text of content that is a string or a list of text blocks. */
static void join_text(json_t *content, struct lgw_buf *out)
{
    if (json_is_string(content)) {
        lgw_buf_puts(out, json_string_value(content));
        return;
    }
    size_t i;
    json_t *b;
    json_array_foreach(content, i, b) {
        if (json_is_string(json_object_get(b, "text")))
            lgw_buf_puts(out, json_string_value(json_object_get(b, "text")));
    }
}

static json_t *image_part(json_t *block)
{
    json_t *src = json_object_get(block, "source");
    const char *type = json_string_value(json_object_get(src, "type"));
    if (type && strcmp(type, "base64") == 0) {
        struct lgw_buf url;
        lgw_buf_init(&url, 0);
        lgw_buf_printf(&url, "data:%s;base64,%s", json_string_value(json_object_get(src, "media_type")) ?: "image/png",
                       json_string_value(json_object_get(src, "data")) ?: "");
        json_t *part = json_pack("{s:s, s:{s:s}}", "type", "image_url", "image_url", "url", url.ptr);
        lgw_buf_cleanup(&url);
        return part;
    }
    if (type && strcmp(type, "url") == 0 && json_is_string(json_object_get(src, "url")))
        return json_pack("{s:s, s:{s:O}}", "type", "image_url", "image_url", "url", json_object_get(src, "url"));
    return NULL;
}

/* One Anthropic turn into OpenAI messages appended to out. */
static int convert_turn(json_t *m, json_t *out, char *msg, size_t msgsz)
{
    const char *role = json_string_value(json_object_get(m, "role"));
    json_t *content = json_object_get(m, "content");
    if (!role || (strcmp(role, "user") && strcmp(role, "assistant")))
        return bad(msg, msgsz, "messages: each role must be \"user\" or \"assistant\"");
    if (json_is_string(content)) {
        json_array_append_new(out, json_pack("{s:s, s:O}", "role", role, "content", content));
        return LGW_OK;
    }
    if (!json_is_array(content))
        return bad(msg, msgsz, "messages: content must be a string or an array of content blocks");
    bool assistant = strcmp(role, "assistant") == 0;
    json_t *parts = json_array(), *calls = json_array();
    struct lgw_buf text;
    lgw_buf_init(&text, 0);
    size_t i;
    json_t *b;
    int rc = LGW_OK;
    json_array_foreach(content, i, b) {
        const char *type = json_string_value(json_object_get(b, "type"));
        if (!type) {
            rc = bad(msg, msgsz, "messages: every content block needs a type");
            break;
        }
        if (strcmp(type, "text") == 0 && json_is_string(json_object_get(b, "text"))) {
            if (assistant)
                lgw_buf_puts(&text, json_string_value(json_object_get(b, "text")));
            else
                json_array_append_new(parts, json_pack("{s:s, s:O}", "type", "text", "text", json_object_get(b, "text")));
        } else if (strcmp(type, "image") == 0 && !assistant) {
            json_t *p = image_part(b);
            if (p)
                json_array_append_new(parts, p);
        } else if (strcmp(type, "tool_use") == 0 && assistant) {
            json_t *input = json_object_get(b, "input");
            char *args = input ? json_dumps(input, JSON_COMPACT) : NULL;
            json_array_append_new(calls, json_pack("{s:O, s:s, s:{s:O, s:s}}", "id", json_object_get(b, "id"), "type",
                                                   "function", "function", "name", json_object_get(b, "name"),
                                                   "arguments", args ? args : "{}"));
            free(args);
        } else if (strcmp(type, "tool_result") == 0 && !assistant) {
            /* OpenAI carries tool results as their own messages, before the rest of the turn. */
            struct lgw_buf r;
            lgw_buf_init(&r, 0);
            join_text(json_object_get(b, "content"), &r);
            json_array_append_new(out, json_pack("{s:s, s:O, s:s}", "role", "tool", "tool_call_id",
                                                 json_object_get(b, "tool_use_id"), "content", r.ptr ? r.ptr : ""));
            lgw_buf_cleanup(&r);
        }
        /* thinking, documents and block types added later are not forwarded */
    }
    if (rc == 0 && assistant) {
        json_t *am = json_pack("{s:s}", "role", "assistant");
        json_object_set_new(am, "content", text.len ? json_string(text.ptr) : json_null());
        if (json_array_size(calls))
            json_object_set(am, "tool_calls", calls);
        json_array_append_new(out, am);
    } else if (rc == 0 && json_array_size(parts)) {
        json_array_append_new(out, json_pack("{s:s, s:O}", "role", "user", "content", parts));
    }
    json_decref(parts);
    json_decref(calls);
    lgw_buf_cleanup(&text);
    return rc;
}

static int request(json_t *in, json_t **out, char *msg, size_t msgsz)
{
    *out = NULL;
    json_t *model = json_object_get(in, "model"), *mt = json_object_get(in, "max_tokens");
    json_t *msgs = json_object_get(in, "messages");
    if (!json_is_string(model) || json_string_length(model) == 0)
        return bad(msg, msgsz, "model: Field required");
    if (!json_is_integer(mt) || json_integer_value(mt) < 1)
        return bad(msg, msgsz, "max_tokens: Field required (a positive integer)");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return bad(msg, msgsz, "messages: at least one message is required");
    json_t *oai = json_pack("{s:O, s:O}", "model", model, "max_tokens", mt), *list = json_array();
    json_object_set_new(oai, "messages", list);
    json_t *system = json_object_get(in, "system");
    if (json_is_string(system) || json_is_array(system)) {
        struct lgw_buf s;
        lgw_buf_init(&s, 0);
        join_text(system, &s);
        if (s.len)
            json_array_append_new(list, json_pack("{s:s, s:s}", "role", "system", "content", s.ptr));
        lgw_buf_cleanup(&s);
    }
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        if (!json_is_object(m) || convert_turn(m, list, msg, msgsz)) {
            if (!json_is_object(m))
                bad(msg, msgsz, "messages: each message must be an object");
            json_decref(oai);
            return LGW_ERR(INVALID);
        }
    }
    static const char *same[] = {"temperature", "top_p", "stream"};
    for (size_t k = 0; k < 3; k++)
        if (json_object_get(in, same[k]))
            json_object_set(oai, same[k], json_object_get(in, same[k]));
    if (json_is_array(json_object_get(in, "stop_sequences")))
        json_object_set(oai, "stop", json_object_get(in, "stop_sequences"));
    json_t *uid = json_object_get(json_object_get(in, "metadata"), "user_id");
    if (json_is_string(uid))
        json_object_set(oai, "user", uid);
    json_t *tools = json_object_get(in, "tools");
    if (json_is_array(tools)) {
        json_t *t = json_array(), *tool;
        json_array_foreach(tools, i, tool) {
            json_t *fn = json_pack("{s:O?}", "name", json_object_get(tool, "name"));
            if (json_object_get(tool, "description"))
                json_object_set(fn, "description", json_object_get(tool, "description"));
            if (json_object_get(tool, "input_schema"))
                json_object_set(fn, "parameters", json_object_get(tool, "input_schema"));
            json_array_append_new(t, json_pack("{s:s, s:o}", "type", "function", "function", fn));
        }
        json_object_set_new(oai, "tools", t);
    }
    json_t *tc = json_object_get(in, "tool_choice");
    const char *tct = json_string_value(json_object_get(tc, "type"));
    if (tct) {
        if (strcmp(tct, "tool") == 0)
            json_object_set_new(oai, "tool_choice", json_pack("{s:s, s:{s:O}}", "type", "function", "function",
                                                              "name", json_object_get(tc, "name")));
        else
            json_object_set_new(oai, "tool_choice", json_string(lgw_anth_openai_tool_choice(tct)));
        if (json_is_true(json_object_get(tc, "disable_parallel_tool_use")))
            json_object_set_new(oai, "parallel_tool_calls", json_false());
    }
    *out = oai;
    return LGW_OK;
}

static json_t *usage_from_openai(int64_t prompt, int64_t completion, int64_t cached)
{
    return json_pack("{s:I, s:I, s:I, s:I}", "input_tokens", (json_int_t)(prompt - cached), "output_tokens",
                     (json_int_t)completion, "cache_read_input_tokens", (json_int_t)cached,
                     "cache_creation_input_tokens", (json_int_t)0);
}

/* Anthropic's message ids are "msg_...": a provider's own (the Anthropic adapter passes it on) is kept; any
 * other ("chatcmpl-<uuid>" from OpenAI or echo) becomes msg_ with its letters and digits after the prefix,
 * so the same answer has the same id streamed or not. NULL or empty: msg_ and the fallback's. New reference. */
static json_t *message_id(json_t *id, const char *fallback)
{
    const char *src = json_string_value(id);
    if (src && strncmp(src, "msg_", 4) == 0)
        return json_incref(id);
    if (!src || !src[0])
        src = fallback ? fallback : "";
    if (strncmp(src, "chatcmpl-", 9) == 0)
        src += 9;
    char out[128] = "msg_";
    size_t n = 4;
    for (; *src && n < sizeof(out) - 1; src++)
        if ((*src >= '0' && *src <= '9') || (*src >= 'a' && *src <= 'z') || (*src >= 'A' && *src <= 'Z'))
            out[n++] = *src;
    out[n] = '\0';
    return json_string(out);
}

static json_t *message_json(json_t *c)
{
    json_t *choice = json_array_get(json_object_get(c, "choices"), 0), *m = json_object_get(choice, "message");
    if (!json_is_object(m))
        return NULL;
    json_t *content = json_array();
    json_t *text = json_object_get(m, "content");
    if (json_is_string(text) && json_string_length(text))
        json_array_append_new(content, json_pack("{s:s, s:O}", "type", "text", "text", text));
    lgw_anth_append_tool_use(json_object_get(m, "tool_calls"), content);
    json_t *u = json_object_get(c, "usage");
    int64_t cached = json_integer_value(json_object_get(json_object_get(u, "prompt_tokens_details"), "cached_tokens"));
    return json_pack("{s:o, s:s, s:s, s:O, s:o, s:s, s:n, s:o}", "id", message_id(json_object_get(c, "id"), NULL),
                     "type", "message",
                     "role", "assistant", "model", json_object_get(c, "model"), "content", content, "stop_reason",
                     lgw_anth_stop_reason(json_string_value(json_object_get(choice, "finish_reason"))), "stop_sequence",
                     "usage",
                     usage_from_openai(json_integer_value(json_object_get(u, "prompt_tokens")),
                                       json_integer_value(json_object_get(u, "completion_tokens")), cached));
}

/* {"type":"error","error":{"type","message"}}: the type from the status, the message kept. */
static json_t *error_json(const struct lgw_answer_error *err)
{
    const char *message = lgw_answer_error_message(err);
    return json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error", "type", lgw_anth_error_type(err->status),
                     "message", message ? message : "error");
}

static void event(struct lgw_buf *out, const char *name, json_t *data)
{
    lgw_sse_record_json(out, name, data, true);
}

static void close_block(struct lgw_dialect_stream *s, struct lgw_buf *out)
{
    if (!s->open)
        return;
    event(out, "content_block_stop", json_pack("{s:s, s:i}", "type", "content_block_stop", "index", s->index));
    s->open = 0;
    s->index++;
}

/* Every Anthropic stream opens with message_start (the SDKs refuse any other event first), from the first
 * chunk's id and model; chunk NULL (a stream that ends before any chunk) gives the request's id and a null
 * model. Its input tokens are what was known before the first chunk (dialect.h): the provider's count when
 * it gave one that early (Anthropic, Gemini, echo), else the gateway's estimate (OpenAI counts only at the
 * end); message_delta at the end always carries the provider's final count. */
static void start_message(struct lgw_dialect_stream *s, json_t *chunk, struct lgw_buf *out)
{
    if (s->started)
        return;
    s->started = true;
    event(out, "message_start",
          json_pack("{s:s, s:{s:o, s:s, s:s, s:O?, s:[], s:n, s:n, s:{s:I, s:I, s:I, s:I}}}", "type",
                    "message_start", "message", "id", message_id(json_object_get(chunk, "id"), s->request_id),
                    "type", "message", "role", "assistant", "model", json_object_get(chunk, "model"), "content",
                    "stop_reason", "stop_sequence", "usage", "input_tokens",
                    (json_int_t)(s->input_tokens - s->cached_input_tokens), "output_tokens", (json_int_t)0,
                    "cache_read_input_tokens", (json_int_t)s->cached_input_tokens, "cache_creation_input_tokens",
                    (json_int_t)0));
}

static void stream_chunk(struct lgw_dialect_stream *s, json_t *chunk, struct lgw_buf *out)
{
    start_message(s, chunk, out);
    json_t *choice = json_array_get(json_object_get(chunk, "choices"), 0);
    json_t *delta = json_object_get(choice, "delta");
    json_t *text = json_object_get(delta, "content");
    if (json_is_string(text) && json_string_length(text)) {
        if (s->open != 1) {
            close_block(s, out);
            event(out, "content_block_start", json_pack("{s:s, s:i, s:{s:s, s:s}}", "type", "content_block_start",
                                                        "index", s->index, "content_block", "type", "text", "text", ""));
            s->open = 1;
        }
        event(out, "content_block_delta", json_pack("{s:s, s:i, s:{s:s, s:O}}", "type", "content_block_delta", "index",
                                                    s->index, "delta", "type", "text_delta", "text", text));
    }
    size_t i;
    json_t *call;
    json_array_foreach(json_object_get(delta, "tool_calls"), i, call) {
        int ti = (int)json_integer_value(json_object_get(call, "index"));
        json_t *fn = json_object_get(call, "function");
        if (json_is_string(json_object_get(call, "id"))) {
            close_block(s, out);
            event(out, "content_block_start",
                  json_pack("{s:s, s:i, s:{s:s, s:O, s:O?, s:{}}}", "type", "content_block_start", "index", s->index,
                            "content_block", "type", "tool_use", "id", json_object_get(call, "id"), "name",
                            json_object_get(fn, "name"), "input"));
            s->open = 2;
            if (ti >= 0 && ti < 16)
                s->tool_block[ti] = s->index + 1;
        }
        json_t *args = json_object_get(fn, "arguments");
        if (s->open == 2 && json_is_string(args) && json_string_length(args))
            event(out, "content_block_delta",
                  json_pack("{s:s, s:i, s:{s:s, s:O}}", "type", "content_block_delta", "index", s->index, "delta",
                            "type", "input_json_delta", "partial_json", args));
    }
    const char *finish = json_string_value(json_object_get(choice, "finish_reason"));
    if (finish)
        snprintf(s->stop_reason, sizeof(s->stop_reason), "%s", lgw_anth_stop_reason(finish));
}

static void stream_end(struct lgw_dialect_stream *s, const struct lgw_reply *final, struct lgw_buf *out)
{
    const struct lgw_usage *usage = &final->usage;
    start_message(s, NULL, out); /* the provider's stream ended properly with nothing for the client */
    close_block(s, out);
    /* The answer's cost rides on message_delta, as it does on OpenAI's last chunk (lgw_stream_cost_object). */
    event(out, "message_delta",
          json_pack("{s:s, s:{s:s, s:n}, s:{s:I, s:I, s:I}, s:o}", "type", "message_delta", "delta", "stop_reason",
                    s->stop_reason[0] ? s->stop_reason : "end_turn", "stop_sequence", "usage", "output_tokens",
                    (json_int_t)usage->output_tokens, "input_tokens",
                    (json_int_t)(usage->input_tokens - usage->cached_input_tokens), "cache_read_input_tokens",
                    (json_int_t)usage->cached_input_tokens, "llmgw", lgw_stream_cost_object(final)));
    event(out, "message_stop", json_pack("{s:s}", "type", "message_stop"));
}

/* An error inside a stream is an `error` event whose type says what went wrong, as Anthropic's own are
 * ("overloaded_error" mid-stream is the common one): the 200 went out already, so the type is all a client
 * (the SDK raises it as an APIStatusError) can go on. */
static void stream_error(struct lgw_dialect_stream *s, const struct lgw_answer_error *err, struct lgw_buf *out)
{
    (void)s;
    event(out, "error", error_json(err));
}

static int message(json_t *answer, struct lgw_buf *out)
{
    json_t *m = message_json(answer);
    char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    if (!text)
        return LGW_ERR(PROVIDER);
    int rc = lgw_buf_puts(out, text);
    free(text);
    return rc;
}

static void error(const struct lgw_answer_error *err, struct lgw_buf *out)
{
    json_t *e = error_json(err);
    char *text = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    lgw_buf_puts(out, text ? text : "{\"type\":\"error\"}");
    free(text);
}

const struct lgw_dialect lgw_dialect_anthropic = {
    .name = "anthropic",
    .request = request,
    .message = message,
    .error = error,
    .stream_chunk = stream_chunk,
    .stream_end = stream_end,
    .stream_error = stream_error,
};
