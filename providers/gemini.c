/* gemini.c - the Gemini adapter (Google AI Studio API): OpenAI chat requests translated to
 * models/{model}:generateContent (streamed: :streamGenerateContent?alt=sse) and answers back; embeddings
 * through :batchEmbedContents.
 *
 * Request: system/developer messages to systemInstruction, assistant to role "model", image data URIs to
 * inlineData, tool_calls to functionCall parts and tool messages to functionResponse parts (Gemini calls
 * have no ids: ours are synthesized as call_<n> and tool results are matched back by the function name),
 * tools to functionDeclarations, tool_choice to toolConfig, max_tokens/stop/temperature/top_p/n to
 * generationConfig. Answer: text parts joined, functionCall parts as tool_calls, finishReason mapped (a prompt
 * blocked before any candidate as content_filter), usageMetadata to usage (cachedContentTokenCount as cached
 * input). A Gemini stream sends whole responses
 * per event and no [DONE]: the event with a finishReason ends it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/json_load.h"
#include "common/json_write.h"
#include "providers/provider.h"
#include "providers/wire.h"

static bool configured(const struct lgw_config *cfg)
{
    return cfg->gemini_api_key[0] != '\0';
}

/* ---- request ---- */

/* The MIME type of an image URL, from its extension (query and fragment aside): Gemini's fileData takes a
 * real type, not a media range (image/ and a star); JPEG, the common case, when the URL does not say (as Portkey does). */
static const char *image_mime(const char *url)
{
    static const struct {
        const char *ext, *mime;
    } types[] = {{".png", "image/png"},   {".jpg", "image/jpeg"},  {".jpeg", "image/jpeg"}, {".webp", "image/webp"},
                 {".gif", "image/gif"},   {".heic", "image/heic"}, {".heif", "image/heif"}};
    size_t end = strcspn(url, "?#");
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        size_t n = strlen(types[i].ext);
        if (end >= n && strncasecmp(url + end - n, types[i].ext, n) == 0)
            return types[i].mime;
    }
    return "image/jpeg";
}

static void add_parts(json_t *content, json_t *parts)
{
    if (json_is_string(content)) {
        if (json_string_length(content))
            json_array_append_new(parts, json_pack("{s:O}", "text", content));
        return;
    }
    size_t i;
    json_t *p;
    json_array_foreach(content, i, p) {
        const char *type = json_string_value(json_object_get(p, "type"));
        if (type && strcmp(type, "text") == 0 && json_is_string(json_object_get(p, "text"))) {
            json_array_append_new(parts, json_pack("{s:O}", "text", json_object_get(p, "text")));
        } else if (type && strcmp(type, "image_url") == 0) {
            const char *url = json_string_value(json_object_get(json_object_get(p, "image_url"), "url"));
            const char *comma = url ? strchr(url, ',') : NULL, *semi = url ? strchr(url, ';') : NULL;
            if (url && strncmp(url, "data:", 5) == 0 && comma && semi && semi < comma)
                json_array_append_new(parts, json_pack("{s:{s:s#, s:s}}", "inlineData", "mimeType", url + 5,
                                                       (size_t)(semi - url - 5), "data", comma + 1));
            else if (url)
                json_array_append_new(parts, json_pack("{s:{s:s, s:s}}", "fileData", "mimeType", image_mime(url),
                                                       "fileUri", url));
        }
    }
}

/* JSON mode: OpenAI's response_format as Gemini's generationConfig. json_object asks for JSON
 * (responseMimeType); json_schema also passes the schema as responseJsonSchema, the field that takes JSON
 * Schema as sent (responseSchema takes an OpenAPI subset and refuses keywords such as additionalProperties,
 * which strict OpenAI schemas require). Anything else (text, absent) leaves the config alone. */
static void add_response_format(json_t *rf, json_t *gen)
{
    const char *type = json_string_value(json_object_get(rf, "type"));
    if (!type || (strcmp(type, "json_object") != 0 && strcmp(type, "json_schema") != 0))
        return;
    json_object_set_new(gen, "responseMimeType", json_string("application/json"));
    json_t *schema = json_object_get(json_object_get(rf, "json_schema"), "schema");
    if (strcmp(type, "json_schema") == 0 && json_is_object(schema))
        json_object_set(gen, "responseJsonSchema", schema);
}

static void add_turn(json_t *contents, const char *role, json_t *parts)
{
    size_t n = json_array_size(contents);
    json_t *last = n ? json_array_get(contents, n - 1) : NULL;
    if (last && strcmp(json_string_value(json_object_get(last, "role")), role) == 0)
        json_array_extend(json_object_get(last, "parts"), parts);
    else if (json_array_size(parts))
        json_array_append_new(contents, json_pack("{s:s, s:O}", "role", role, "parts", parts));
    json_decref(parts);
}

/* A tool message's content as one string: OpenAI allows a string or text parts, joined here as LiteLLM does
 * (the result must not be lost). The caller frees it. */
static char *tool_result_text(json_t *content)
{
    if (json_is_string(content))
        return lgw_strdup(json_string_value(content));
    struct lgw_buf text;
    lgw_buf_init(&text, 0);
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part) {
        if (json_is_string(json_object_get(part, "text")))
            lgw_buf_puts(&text, json_string_value(json_object_get(part, "text")));
    }
    char *out = lgw_buf_take(&text, NULL);
    return out ? out : lgw_strdup("");
}

/* The function name of an earlier tool call, by its id: Gemini matches results by name. */
static const char *call_name(json_t *messages, const char *id)
{
    size_t i, j;
    json_t *m, *call;
    json_array_foreach(messages, i, m) {
        json_array_foreach(json_object_get(m, "tool_calls"), j, call) {
            if (id && json_is_string(json_object_get(call, "id")) &&
                strcmp(json_string_value(json_object_get(call, "id")), id) == 0)
                return json_string_value(json_object_get(json_object_get(call, "function"), "name"));
        }
    }
    return NULL;
}

static char *chat_body(const struct lgw_job *job)
{
    json_t *in = job->body, *msgs = json_object_get(in, "messages");
    json_t *contents = json_array(), *system = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *content = json_object_get(m, "content"), *parts = json_array();
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            add_parts(content, system);
            json_decref(parts);
            continue;
        }
        if (strcmp(role, "tool") == 0) {
            const char *name = call_name(msgs, json_string_value(json_object_get(m, "tool_call_id")));
            char *result = tool_result_text(content);
            json_array_append_new(parts, json_pack("{s:{s:s, s:{s:s}}}", "functionResponse", "name", name ? name : "",
                                                   "response", "content", result));
            free(result);
            add_turn(contents, "user", parts);
            continue;
        }
        add_parts(content, parts);
        size_t j;
        json_t *call;
        json_array_foreach(json_object_get(m, "tool_calls"), j, call) {
            json_t *fn = json_object_get(call, "function");
            const char *args = json_string_value(json_object_get(fn, "arguments"));
            json_t *obj = args ? json_loads(args, 0, NULL) : NULL;
            if (!json_is_object(obj)) {
                json_decref(obj);
                obj = json_object();
            }
            json_array_append_new(parts, json_pack("{s:{s:O?, s:o}}", "functionCall", "name",
                                                   json_object_get(fn, "name"), "args", obj));
        }
        add_turn(contents, strcmp(role, "assistant") == 0 ? "model" : "user", parts);
    }
    json_t *out = json_pack("{s:o}", "contents", contents);
    if (json_array_size(system))
        json_object_set_new(out, "systemInstruction", json_pack("{s:O}", "parts", system));
    json_decref(system);
    json_t *gen = json_object();
    json_t *mt = json_object_get(in, "max_completion_tokens");
    if (!json_is_integer(mt))
        mt = json_object_get(in, "max_tokens");
    if (json_is_integer(mt))
        json_object_set(gen, "maxOutputTokens", mt);
    if (json_is_number(json_object_get(in, "temperature")))
        json_object_set(gen, "temperature", json_object_get(in, "temperature"));
    if (json_is_number(json_object_get(in, "top_p")))
        json_object_set(gen, "topP", json_object_get(in, "top_p"));
    if (json_is_integer(json_object_get(in, "n")))
        json_object_set(gen, "candidateCount", json_object_get(in, "n"));
    json_t *stop = json_object_get(in, "stop");
    if (json_is_string(stop))
        json_object_set_new(gen, "stopSequences", json_pack("[O]", stop));
    else if (json_is_array(stop))
        json_object_set(gen, "stopSequences", stop);
    add_response_format(json_object_get(in, "response_format"), gen);
    if (json_object_size(gen))
        json_object_set(out, "generationConfig", gen);
    json_decref(gen);
    json_t *tools = json_object_get(in, "tools");
    if (json_array_size(tools)) {
        json_t *decls = json_array(), *tool;
        json_array_foreach(tools, i, tool) {
            json_t *fn = json_object_get(tool, "function");
            json_t *d = json_pack("{s:O?}", "name", json_object_get(fn, "name"));
            if (json_object_get(fn, "description"))
                json_object_set(d, "description", json_object_get(fn, "description"));
            if (json_object_get(fn, "parameters"))
                json_object_set(d, "parameters", json_object_get(fn, "parameters"));
            json_array_append_new(decls, d);
        }
        json_object_set_new(out, "tools", json_pack("[{s:o}]", "functionDeclarations", decls));
    }
    json_t *tc = json_object_get(in, "tool_choice");
    if (json_is_string(tc) || json_is_object(tc)) {
        const char *mode = json_is_object(tc) ? "ANY"
                         : strcmp(json_string_value(tc), "none") == 0 ? "NONE"
                         : strcmp(json_string_value(tc), "required") == 0 ? "ANY" : "AUTO";
        json_t *fcc = json_pack("{s:s}", "mode", mode);
        json_t *name = json_object_get(json_object_get(tc, "function"), "name");
        if (json_is_string(name))
            json_object_set_new(fcc, "allowedFunctionNames", json_pack("[O]", name));
        json_object_set_new(out, "toolConfig", json_pack("{s:o}", "functionCallingConfig", fcc));
    }
    char *text = lgw_json_text(out);
    json_decref(out);
    return text;
}

/* ---- answer ---- */

static const char *finish_reason(const char *r, bool calls)
{
    if (calls)
        return "tool_calls";
    if (!r || strcmp(r, "STOP") == 0)
        return "stop";
    if (strcmp(r, "MAX_TOKENS") == 0)
        return "length";
    static const char *filtered[] = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"};
    for (size_t i = 0; i < sizeof(filtered) / sizeof(filtered[0]); i++)
        if (strcmp(r, filtered[i]) == 0)
            return "content_filter";
    return "stop";
}

static json_t *read_usage(json_t *um, struct lgw_usage *out)
{
    if (json_object_get(um, "promptTokenCount")) { /* absent: keep what we have (the usage-chunk call) */
        out->input_tokens = json_integer_value(json_object_get(um, "promptTokenCount"));
        out->output_tokens = json_integer_value(json_object_get(um, "candidatesTokenCount")) +
                             json_integer_value(json_object_get(um, "thoughtsTokenCount"));
        out->cached_input_tokens = json_integer_value(json_object_get(um, "cachedContentTokenCount"));
        if (out->cached_input_tokens > out->input_tokens)
            out->cached_input_tokens = 0;
    }
    return json_pack("{s:I, s:I, s:I, s:{s:I}}", "prompt_tokens", (json_int_t)out->input_tokens, "completion_tokens",
                     (json_int_t)out->output_tokens, "total_tokens",
                     (json_int_t)(out->input_tokens + out->output_tokens), "prompt_tokens_details", "cached_tokens",
                     (json_int_t)out->cached_input_tokens);
}

/* The parts of one candidate: text appended to text, functionCalls as OpenAI tool calls (ids call_<n>). */
static void read_parts(json_t *cand, struct lgw_buf *text, json_t *calls, int *ncalls, bool with_index)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(json_object_get(cand, "content"), "parts"), i, p) {
        json_t *t = json_object_get(p, "text"), *fc = json_object_get(p, "functionCall");
        if (json_is_string(t) && !json_is_true(json_object_get(p, "thought")))
            lgw_buf_puts(text, json_string_value(t));
        else if (json_is_object(fc)) {
            char id[32], *args = json_dumps(json_object_get(fc, "args") ? json_object_get(fc, "args") : json_object(),
                                            JSON_COMPACT | JSON_ENCODE_ANY);
            snprintf(id, sizeof(id), "call_%d", *ncalls);
            json_t *call = json_pack("{s:s, s:s, s:{s:O?, s:s}}", "id", id, "type", "function", "function", "name",
                                     json_object_get(fc, "name"), "arguments", args ? args : "{}");
            if (with_index)
                json_object_set_new(call, "index", json_integer(*ncalls));
            json_array_append_new(calls, call);
            (*ncalls)++;
            free(args);
        }
    }
}

/* Gemini's answer to a prompt it refused: no candidates, and promptFeedback.blockReason says why. The client
 * gets what a candidate stopped for safety looks like (finish_reason content_filter), not a provider failure,
 * which would fail over and count against the provider's breaker. */
static bool prompt_blocked(json_t *r)
{
    return json_array_size(json_object_get(r, "candidates")) == 0 &&
           json_is_string(json_object_get(json_object_get(r, "promptFeedback"), "blockReason"));
}

static int on_body(const struct lgw_job *job, json_t *r, struct lgw_prov_result *res)
{
    json_t *cands = json_object_get(r, "candidates");
    bool blocked = prompt_blocked(r);
    if (json_array_size(cands) == 0 && !blocked) {
        lgw_prov_result_error(res, LGW_ERR(PROVIDER), "The provider's answer had no candidates.");
        return LGW_ERR(PROVIDER);
    }
    json_t *choices = json_array();
    if (blocked)
        json_array_append_new(choices, json_pack("{s:i, s:{s:s, s:n, s:s}, s:n, s:s}", "index", 0, "message", "role",
                                                 "assistant", "refusal", "content", "", "logprobs", "finish_reason",
                                                 "content_filter"));
    size_t i;
    json_t *cand;
    json_array_foreach(cands, i, cand) {
        struct lgw_buf text;
        lgw_buf_init(&text, 0);
        json_t *calls = json_array();
        int ncalls = 0;
        read_parts(cand, &text, calls, &ncalls, false);
        json_t *msg = json_pack("{s:s, s:n}", "role", "assistant", "refusal");
        json_object_set_new(msg, "content", text.len || !ncalls ? json_string(text.ptr ? text.ptr : "") : json_null());
        if (ncalls)
            json_object_set(msg, "tool_calls", calls);
        json_array_append_new(choices, json_pack("{s:i, s:o, s:n, s:s}", "index", (int)i, "message", msg, "logprobs",
                                                 "finish_reason",
                                                 finish_reason(json_string_value(json_object_get(cand, "finishReason")),
                                                               ncalls > 0)));
        json_decref(calls);
        lgw_buf_cleanup(&text);
    }
    char id[LGW_ID_MAX + 16];
    snprintf(id, sizeof(id), "chatcmpl-%s", job->id);
    json_t *model = json_object_get(r, "modelVersion");
    json_decref(res->body);
    res->body = json_pack("{s:s, s:s, s:I, s:s, s:o, s:o}", "id", id, "object", "chat.completion", "created",
                          (json_int_t)(lgw_wall_ms() / 1000), "model",
                          json_is_string(model) ? json_string_value(model) : res->model, "choices", choices, "usage",
                          read_usage(json_object_get(r, "usageMetadata"), &res->usage));
    return LGW_OK;
}

/* Google's {"error":{"code","message","status"}} as OpenAI's error object: the message, and Google's status
 * ("INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", ...) as the code; the type is the table's row for the HTTP
 * status, which Google sets to match its status. */
static json_t *error_object(json_t *parsed)
{
    json_t *err = json_object_get(parsed, "error");
    if (!json_is_string(json_object_get(err, "message")))
        return NULL;
    json_t *obj = json_pack("{s:O, s:n}", "message", json_object_get(err, "message"), "param");
    json_t *status = json_object_get(err, "status");
    if (json_is_string(status))
        json_object_set(obj, "code", status);
    return obj;
}

struct proto {
    bool started;
    int ncalls;
    int64_t created;
    char id[LGW_ID_MAX + 16];
};

static json_t *chunk(struct proto *p, const char *model, json_t *delta, const char *finish)
{
    return json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:n, s:s?}]}", "id", p->id, "object",
                     "chat.completion.chunk", "created", (json_int_t)p->created, "model", model, "choices", "index", 0,
                     "delta", delta, "logprobs", "finish_reason", finish);
}

static int emit(struct lgw_wire_stream *st, json_t *c)
{
    int rc = lgw_wire_emit(st, c);
    json_decref(c);
    return rc;
}

static int on_event(struct lgw_wire_stream *st, const char *event, const char *data, size_t len)
{
    (void)event;
    struct proto *p = st->proto;
    json_t *r = lgw_json_loadb(data, len, 0, NULL);
    if (!json_is_object(r)) {
        json_decref(r);
        return lgw_wire_fail(st, 502, NULL, "The provider sent a malformed stream event.");
    }
    json_t *err = error_object(r);
    if (err) {
        int rc = lgw_wire_fail(st, 502, err, NULL);
        json_decref(err);
        json_decref(r);
        return rc;
    }
    const char *model = st->res->model;
    int rc = LGW_OK;
    if (!p->started) {
        p->started = true;
        p->created = lgw_wall_ms() / 1000;
        snprintf(p->id, sizeof(p->id), "chatcmpl-%s", st->job->id);
        rc = emit(st, chunk(p, model, json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL));
    }
    json_t *cand = json_array_get(json_object_get(r, "candidates"), 0);
    /* Usage first: every event carries the prompt's count, so the first chunk already knows the input. */
    json_t *um = json_object_get(r, "usageMetadata");
    if (json_is_object(um))
        json_decref(read_usage(um, &st->res->usage));
    struct lgw_buf text;
    lgw_buf_init(&text, 0);
    json_t *calls = json_array();
    read_parts(cand, &text, calls, &p->ncalls, true);
    if (rc == 0 && text.len)
        rc = emit(st, chunk(p, model, json_pack("{s:s}", "content", text.ptr), NULL));
    if (rc == 0 && json_array_size(calls))
        rc = emit(st, chunk(p, model, json_pack("{s:O}", "tool_calls", calls), NULL));
    json_decref(calls);
    lgw_buf_cleanup(&text);
    const char *fr = json_string_value(json_object_get(cand, "finishReason"));
    bool blocked = prompt_blocked(r); /* the prompt refused: the stream's one event */
    if (rc == 0 && (fr || blocked)) {
        rc = emit(st, chunk(p, model, json_object(), blocked ? "content_filter" : finish_reason(fr, p->ncalls > 0)));
        if (rc == 0) {
            json_t *none = json_object();
            json_t *u = json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", p->id, "object", "chat.completion.chunk",
                                  "created", (json_int_t)p->created, "model", model, "choices", "usage",
                                  read_usage(none, &st->res->usage));
            json_decref(none);
            rc = lgw_wire_emit(st, u);
            json_decref(u);
        }
        st->done = true;
    }
    json_decref(r);
    return rc;
}

static const struct lgw_wire_ops gemini_ops = {
    .on_event = on_event,
    .on_body = on_body,
    .error_object = error_object,
    .proto_size = sizeof(struct proto),
};

/* Embeddings: :batchEmbedContents for one input or many; OpenAI's list comes back. */
static char *embed_body(const struct lgw_model_info *model, const struct lgw_job *job)
{
    json_t *input = json_object_get(job->body, "input"), *reqs = json_array();
    json_t *dims = json_object_get(job->body, "dimensions");
    char name[160];
    snprintf(name, sizeof(name), "models/%s", model->upstream ? model->upstream : model->id);
    size_t n = json_is_array(input) ? json_array_size(input) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_is_array(input) ? json_array_get(input, i) : input;
        char *text = json_is_string(item) ? NULL : json_dumps(item, JSON_COMPACT | JSON_ENCODE_ANY);
        json_t *r = json_pack("{s:s, s:{s:[{s:s}]}}", "model", name, "content", "parts", "text",
                              text ? text : json_string_value(item));
        free(text);
        if (json_is_integer(dims))
            json_object_set(r, "outputDimensionality", dims);
        json_array_append_new(reqs, r);
    }
    json_t *out = json_pack("{s:o}", "requests", reqs);
    char *body = lgw_json_text(out);
    json_decref(out);
    return body;
}

static int on_embed_body(const struct lgw_job *job, json_t *r, struct lgw_prov_result *res)
{
    json_t *embs = json_object_get(r, "embeddings");
    if (!json_is_array(embs)) {
        lgw_prov_result_error(res, LGW_ERR(PROVIDER), "The provider's answer had no embeddings.");
        return LGW_ERR(PROVIDER);
    }
    json_t *fmt = json_object_get(job->body, "encoding_format");
    bool base64 = json_is_string(fmt) && strcmp(json_string_value(fmt), "base64") == 0;
    json_t *data = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(embs, i, e) {
        json_t *values = json_object_get(e, "values");
        json_array_append_new(data, json_pack("{s:s, s:i, s:o}", "object", "embedding", "index", (int)i, "embedding",
                                              lgw_prov_embedding_value(json_is_array(values) ? values : json_array(),
                                                                       base64)));
    }
    json_decref(res->body);
    /* batchEmbedContents reports no token counts: usage stays 0 and the price is unknown, said loudly */
    res->body = json_pack("{s:s, s:o, s:s, s:{s:i, s:i}}", "object", "list", "data", data, "model", res->model,
                          "usage", "prompt_tokens", 0, "total_tokens", 0);
    return LGW_OK;
}

static const struct lgw_wire_ops gemini_embed_ops = {
    .on_body = on_embed_body,
    .error_object = error_object,
};

static int gemini_call(const struct lgw_provider *prov, struct lgw_prov_call *call)
{
    (void)prov;
    const struct lgw_config *cfg = call->cfg;
    const struct lgw_model_info *model = call->model;
    const struct lgw_job *job = call->job;
    struct lgw_prov_stream *stream = call->stream;
    const char *name = model->upstream ? model->upstream : model->id;
    const char *method = model->kind == LGW_JOB_EMBEDDINGS ? ":batchEmbedContents"
                       : stream ? ":streamGenerateContent?alt=sse" : ":generateContent";
    char url[512], key[600];
    snprintf(url, sizeof(url), "%s/models/%s%s", cfg->gemini_base_url, name, method);
    snprintf(key, sizeof(key), "x-goog-api-key: %s", cfg->gemini_api_key);
    lgw_strlcpy(call->res.model, model->id, sizeof(call->res.model));
    char *body = model->kind == LGW_JOB_EMBEDDINGS ? embed_body(model, job) : chat_body(job);
    return lgw_wire_call(call, url, curl_slist_append(NULL, key), body,
                         model->kind == LGW_JOB_EMBEDDINGS ? &gemini_embed_ops : &gemini_ops);
}

const struct lgw_provider lgw_provider_gemini = {
    .name = "gemini",
    .title = "Google Gemini",
    .configured = configured,
    .call = gemini_call,
};
