/* dialect_openai.c - the OpenAI dialect: jobs are already in its shape, so requests and answers pass through;
 * errors are {"error":{"message","type","param","code"}}; a stream ends with `data: [DONE]`. */
#include "ingress/dialect.h"

#include "common/errors.h"
#include "common/http_error.h"
#include "common/json_load.h"
#include "common/json_scan.h"
#include "common/json_write.h"

static int dump(json_t *obj, struct lgw_buf *out)
{
    int rc = lgw_buf_dump_json(out, obj, JSON_COMPACT);
    return rc == LGW_ERR(INTERNAL) ? LGW_ERR(PROVIDER) : rc; /* an answer jansson cannot write is the provider's */
}

static int request(json_t *in, json_t **out, char *msg, size_t msgsz)
{
    (void)msg;
    (void)msgsz;
    *out = json_incref(in);
    return LGW_OK;
}

static int message(json_t *answer, struct lgw_buf *out)
{
    return dump(answer, out);
}

/* The answer's text is already what an OpenAI client reads: the worker wrote it in this shape, compact. */
static int message_text(const char *answer, size_t len, struct lgw_buf *out)
{
    return lgw_buf_append(out, answer, len);
}

/* A worker's error body passes through as the provider (or the worker) wrote it; the gateway's own comes
 * from the error table. */
static void error(const struct lgw_answer_error *err, struct lgw_buf *out)
{
    if (err->body && dump(err->body, out) == 0)
        return;
    lgw_http_error_body_param(err->rc ? err->rc : lgw_err_from_status(err->status), lgw_answer_error_message(err),
                              err->param, out);
}

/* The chunk that ends an answer: a choice's finish_reason, or the usage chunk (no choices, usage set). */
static bool is_tail(json_t *chunk)
{
    json_t *choices = json_object_get(chunk, "choices");
    if (json_array_size(choices) == 0)
        return json_is_object(json_object_get(chunk, "usage"));
    size_t i;
    json_t *c;
    json_array_foreach(choices, i, c)
        if (json_is_string(json_object_get(c, "finish_reason")))
            return true;
    return false;
}

static void flush_held(struct lgw_dialect_stream *s, struct lgw_buf *out)
{
    if (s->held)
        lgw_sse_record_json(out, NULL, s->held, true);
    s->held = NULL;
}

/* The last tail chunk waits for the final reply, which it then carries the llmgw object of: the usage chunk
 * when the client asked for usage, else the one with the finish_reason. Holding it costs no latency: the
 * final reply follows it at once. */
static void stream_chunk(struct lgw_dialect_stream *s, json_t *chunk, struct lgw_buf *out)
{
    flush_held(s, out);
    if (is_tail(chunk))
        s->held = json_deep_copy(chunk);
    else
        lgw_sse_record_json(out, NULL, chunk, false);
}

/* is_tail on the chunk's text, as jansson would read it (a value that is not there, or of another type, is
 * NULL to json_object_get). */
static bool is_tail_text(const char *t, size_t len)
{
    size_t off, n, pos = 0, e, elen, f, flen;
    bool any = false;
    if (lgw_json_member(t, len, "choices", &off, &n) && t[off] == '[') {
        while (lgw_json_next(t + off, n, &pos, &e, &elen)) {
            const char *c = t + off + e;
            any = true;
            if (c[0] == '{' && lgw_json_member(c, elen, "finish_reason", &f, &flen) && c[f] == '"')
                return true;
        }
    }
    return !any && lgw_json_member(t, len, "usage", &off, &n) && t[off] == '{';
}

/* A chunk the worker wrote is already the record's data: only the tail is read, to be held. */
static void stream_chunk_text(struct lgw_dialect_stream *s, const char *chunk, size_t len, struct lgw_buf *out)
{
    flush_held(s, out);
    if (is_tail_text(chunk, len) && (s->held = lgw_json_loadb(chunk, len, JSON_REJECT_DUPLICATES, NULL)))
        return;
    lgw_sse_record(out, NULL, chunk, len); /* (a tail jansson will not read, a repeated key, goes as it came) */
}

static void stream_end(struct lgw_dialect_stream *s, const struct lgw_reply *final, struct lgw_buf *out)
{
    if (s->held && final)
        json_object_set_new(s->held, "llmgw", lgw_stream_cost_object(final));
    flush_held(s, out); /* OpenAI sends usage in a chunk of its own, already passed on when the client asked */
    lgw_sse_record(out, NULL, "[DONE]", 6);
}

/* As OpenAI does: an error object as a data record, then the end of the stream. */
static void stream_error(struct lgw_dialect_stream *s, const struct lgw_answer_error *err, struct lgw_buf *out)
{
    flush_held(s, out);
    struct lgw_buf body;
    lgw_buf_init(&body, 0);
    error(err, &body);
    lgw_sse_record(out, NULL, body.ptr ? body.ptr : "{}", body.ptr ? body.len : 2);
    lgw_buf_cleanup(&body);
    stream_end(s, NULL, out);
}

const struct lgw_dialect lgw_dialect_openai = {
    .name = "openai",
    .request = request,
    .message = message,
    .message_text = message_text,
    .error = error,
    .stream_chunk = stream_chunk,
    .stream_chunk_text = stream_chunk_text,
    .stream_end = stream_end,
    .stream_error = stream_error,
};
