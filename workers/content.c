/* content.c - GenAI message content on candidate spans, when captured (see content.h).
 *
 * Fitting a conversation under the cap: the JSON is built from the request with every text cut at `limit`
 * bytes and the first `skip` messages left out, and measured with json_dumpb(NULL) (no copy). The whole
 * conversation usually fits at once; otherwise the fewest left-out messages that fit with empty texts are
 * found by bisection, then the longest limit that fits with them. Each measure is one build, a few dozen in
 * the worst case, and only for requests past the cap with capture on. */
#include "workers/content.h"

#include <string.h>

/* Bytes of each text kept when older messages have to be left out: the newest ones are shown with some of
 * their words rather than more of them with none. */
#define KEEP_MIN 256
/* The text a cut ends with, so a reader sees it is not the whole. */
#define CUT_MARK "\xe2\x80\xa6" /* … */

struct fit {
    size_t limit; /* bytes of each text kept; SIZE_MAX: whole */
    size_t skip;  /* leading messages left out */
    bool cut;     /* a text was cut (out) */
};

/* s[0..len) as a JSON string, cut at f->limit bytes on a character boundary and marked. */
static json_t *text_value(const char *s, size_t len, struct fit *f)
{
    if (len <= f->limit)
        return json_stringn(s, len);
    size_t n = f->limit;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) /* s[n] continues a character: cut before it */
        n--;
    f->cut = true;
    char *tmp = lgw_malloc(n + sizeof(CUT_MARK));
    memcpy(tmp, s, n);
    memcpy(tmp + n, CUT_MARK, sizeof(CUT_MARK)); /* with its NUL */
    json_t *v = json_stringn(tmp, n + sizeof(CUT_MARK) - 1);
    free(tmp);
    return v;
}

static json_t *text_of(const json_t *str, struct fit *f)
{
    return text_value(json_string_value(str), json_string_length(str), f);
}

static json_t *text_part(const json_t *str, struct fit *f)
{
    return json_pack("{s:s,s:o}", "type", "text", "content", text_of(str, f));
}

/* A message's content as parts: a string is one text part; an array of parts keeps its text parts and names
 * the others by type only (an image's bytes or URL are not the conversation's words, and can be megabytes). */
static void content_parts(json_t *parts, const json_t *content, struct fit *f)
{
    if (json_is_string(content)) {
        json_array_append_new(parts, text_part(content, f));
        return;
    }
    size_t i;
    json_t *p;
    json_array_foreach(content, i, p) {
        json_t *type = json_object_get(p, "type"), *text = json_object_get(p, "text");
        if (!json_is_string(type))
            continue;
        if (strcmp(json_string_value(type), "text") == 0 && json_is_string(text))
            json_array_append_new(parts, text_part(text, f));
        else
            json_array_append_new(parts, json_pack("{s:O}", "type", type));
    }
}

/* An assistant message's tool calls as tool_call parts: id, name, and the arguments as the model wrote them
 * (a JSON text, kept as a string and cut like any text). */
static void tool_call_parts(json_t *parts, const json_t *calls, struct fit *f)
{
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c) {
        json_t *fn = json_object_get(c, "function");
        json_t *part = json_pack("{s:s}", "type", "tool_call");
        json_t *id = json_object_get(c, "id"), *name = json_object_get(fn, "name"), *args = json_object_get(fn, "arguments");
        if (json_is_string(id))
            json_object_set(part, "id", id);
        if (json_is_string(name))
            json_object_set(part, "name", name);
        if (json_is_string(args))
            json_object_set_new(part, "arguments", text_of(args, f));
        json_array_append_new(parts, part);
    }
}

/* A tool message's content as text: a string, or its text parts joined. */
static json_t *tool_response(const json_t *content, struct fit *f)
{
    if (json_is_string(content))
        return text_of(content, f);
    struct lgw_buf all;
    lgw_buf_init(&all, 0);
    size_t i;
    json_t *p;
    json_array_foreach(content, i, p) {
        json_t *text = json_object_get(p, "text");
        if (json_is_string(text))
            lgw_buf_append(&all, json_string_value(text), json_string_length(text));
    }
    json_t *v = text_value(all.ptr ? all.ptr : "", all.len, f);
    lgw_buf_cleanup(&all);
    return v;
}

static json_t *input_messages(const json_t *messages, struct fit *f)
{
    json_t *out = json_array();
    f->cut = false;
    for (size_t i = f->skip; i < json_array_size(messages); i++) {
        const json_t *m = json_array_get(messages, i);
        json_t *role = json_object_get(m, "role"), *name = json_object_get(m, "name");
        json_t *msg = json_pack("{s:s,s:[]}", "role", json_is_string(role) ? json_string_value(role) : "user",
                                "parts");
        json_t *parts = json_object_get(msg, "parts");
        if (json_is_string(role) && strcmp(json_string_value(role), "tool") == 0) {
            json_t *part = json_pack("{s:s,s:o}", "type", "tool_call_response", "response",
                                     tool_response(json_object_get(m, "content"), f));
            json_t *id = json_object_get(m, "tool_call_id");
            if (json_is_string(id))
                json_object_set(part, "id", id);
            json_array_append_new(parts, part);
        } else {
            content_parts(parts, json_object_get(m, "content"), f);
            tool_call_parts(parts, json_object_get(m, "tool_calls"), f);
        }
        if (json_is_string(name))
            json_object_set(msg, "name", name);
        json_array_append_new(out, msg);
    }
    return out;
}

/* The conventions' finish reasons: OpenAI's tool_calls (and the older function_call) is tool_call. */
static const char *finish_reason_of(const char *fr)
{
    if (strcmp(fr, "tool_calls") == 0 || strcmp(fr, "function_call") == 0)
        return "tool_call";
    return fr;
}

struct output_src {
    const json_t *choices;
    const struct lgw_wcontent_stream *st;
    const char *finish_reason;
};

static json_t *output_messages(const struct output_src *src, struct fit *f)
{
    json_t *out = json_array();
    f->cut = false;
    if (!src->choices) {
        json_t *text = json_stringn(src->st->text.ptr ? src->st->text.ptr : "", src->st->text.len);
        json_t *msg = json_pack("{s:s,s:[o],s:s}", "role", "assistant", "parts", text_part(text, f),
                                "finish_reason", finish_reason_of(src->finish_reason));
        json_decref(text);
        json_array_append_new(out, msg);
        return out;
    }
    size_t i;
    json_t *c;
    json_array_foreach(src->choices, i, c) {
        json_t *m = json_object_get(c, "message"), *role = json_object_get(m, "role");
        json_t *fr = json_object_get(c, "finish_reason");
        json_t *msg = json_pack("{s:s,s:[],s:s}", "role", json_is_string(role) ? json_string_value(role) : "assistant",
                                "parts", "finish_reason", json_is_string(fr) ? finish_reason_of(json_string_value(fr)) : "");
        json_t *parts = json_object_get(msg, "parts");
        content_parts(parts, json_object_get(m, "content"), f);
        tool_call_parts(parts, json_object_get(m, "tool_calls"), f);
        json_array_append_new(out, msg);
    }
    return out;
}

typedef json_t *(*build_fn)(const void *src, struct fit *f);

static json_t *build_input(const void *src, struct fit *f)
{
    return input_messages(src, f);
}

static json_t *build_output(const void *src, struct fit *f)
{
    return output_messages(src, f);
}

/* Bytes of the compact JSON of build(src) under f (f->cut updated). */
static size_t measure(build_fn build, const void *src, struct fit *f)
{
    json_t *v = build(src, f);
    size_t n = json_dumpb(v, NULL, 0, JSON_COMPACT);
    json_decref(v);
    return n;
}

/* Sets key to build(src) fitted under LGW_WCONTENT_MAX (see the top of the file), with count items that
 * may be left out from the front; says on the span what was cut (cut_key) or left out (dropped_key, NULL:
 * nothing may be). */
static void set_fitted(struct lgw_span *span, const char *key, const char *cut_key, const char *dropped_key,
                       build_fn build, const void *src, size_t count)
{
    struct fit f = {SIZE_MAX, 0, false};
    if (measure(build, src, &f) > LGW_WCONTENT_MAX) {
        f.limit = 0;
        if (measure(build, src, &f) > LGW_WCONTENT_MAX) {
            /* Even with empty texts too much: leave out the fewest oldest items with which the rest fit with
             * texts of KEEP_MIN bytes (words to read, not just roles); the newest item at least is kept. */
            if (!dropped_key || count < 2) {
                lgw_span_set_bool(span, cut_key, true); /* nothing fits: no content, only the mark */
                return;
            }
            size_t lo = 1, hi = count - 1;
            f.limit = KEEP_MIN;
            f.skip = hi;
            if (measure(build, src, &f) > LGW_WCONTENT_MAX) {
                f.limit = 0; /* the newest alone, with empty texts, or nothing */
                if (measure(build, src, &f) > LGW_WCONTENT_MAX) {
                    lgw_span_set_bool(span, cut_key, true);
                    return;
                }
                lo = hi;
            }
            while (lo < hi) {
                f.skip = lo + (hi - lo) / 2;
                if (measure(build, src, &f) <= LGW_WCONTENT_MAX)
                    hi = f.skip;
                else
                    lo = f.skip + 1;
            }
            f.skip = lo;
        }
        /* The longest text limit that fits, from the one known to (0 or KEEP_MIN). */
        size_t lo = f.limit, hi = LGW_WCONTENT_MAX;
        while (lo < hi) {
            f.limit = lo + (hi - lo + 1) / 2;
            if (measure(build, src, &f) <= LGW_WCONTENT_MAX)
                lo = f.limit;
            else
                hi = f.limit - 1;
        }
        f.limit = lo;
    }
    json_t *v = build(src, &f);
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (!text)
        return;
    lgw_span_set_long_strn(span, key, text, strlen(text));
    free(text);
    if (f.cut || f.limit != SIZE_MAX)
        lgw_span_set_bool(span, cut_key, true);
    if (f.skip)
        lgw_span_set_int(span, dropped_key, (int64_t)f.skip);
}

void lgw_wcontent_input(struct lgw_span *span, const struct lgw_job *job)
{
    if (!lgw_span_captures_content(span) || job->kind != LGW_JOB_CHAT)
        return;
    const json_t *messages = json_object_get(job->body, "messages");
    if (!json_is_array(messages))
        return;
    set_fitted(span, "gen_ai.input.messages", "llmgw.gen_ai.input.messages.truncated",
               "llmgw.gen_ai.input.messages.dropped", build_input, messages, json_array_size(messages));
}

void lgw_wcontent_output(struct lgw_span *span, const json_t *body, const struct lgw_wcontent_stream *st,
                         const char *finish_reason)
{
    if (!lgw_span_captures_content(span))
        return;
    const json_t *choices = json_object_get(body, "choices");
    struct output_src src = {json_is_array(choices) ? choices : NULL, st, finish_reason};
    if (!src.choices && !st)
        return; /* an error, or embeddings: no messages came back */
    set_fitted(span, "gen_ai.output.messages", "llmgw.gen_ai.output.messages.truncated", NULL, build_output, &src, 0);
    if (!src.choices && st->cut)
        lgw_span_set_bool(span, "llmgw.gen_ai.output.messages.truncated", true);
}

void lgw_wcontent_stream_init(struct lgw_wcontent_stream *st)
{
    lgw_buf_init(&st->text, LGW_WCONTENT_MAX);
    st->cut = false;
}

void lgw_wcontent_stream_cleanup(struct lgw_wcontent_stream *st)
{
    lgw_buf_cleanup(&st->text);
}

void lgw_wcontent_stream_add(struct lgw_wcontent_stream *st, const json_t *chunk)
{
    if (!st || st->cut)
        return;
    json_t *delta = json_object_get(json_array_get(json_object_get(chunk, "choices"), 0), "delta");
    json_t *content = json_object_get(delta, "content");
    if (!json_is_string(content))
        return;
    const char *s = json_string_value(content);
    size_t len = json_string_length(content), room = LGW_WCONTENT_MAX - st->text.len;
    if (len > room) {
        st->cut = true;
        len = room;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80) /* cut on a character boundary */
            len--;
    }
    lgw_buf_append(&st->text, s, len);
}
