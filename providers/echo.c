/* echo.c - the echo provider: always available, needs no key, costs nothing.
 *
 * Chat answers with the last user message (so a test can check every reply reached the client that
 * asked); embeddings are deterministic unit vectors derived from SHA-256 of the input. Token counts are
 * estimates (about four bytes per token), so usage and cost paths run exactly as for real providers. */
#include <math.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "providers/provider.h"

#define ECHO_DEFAULT_DIMS 1536

static int64_t estimate_tokens(size_t bytes)
{
    return (int64_t)((bytes + 3) / 4);
}

/* Text of a message's content: a string, or the concatenated "text" parts of an array. */
static void content_text(json_t *content, struct lgw_buf *out)
{
    if (json_is_string(content)) {
        lgw_buf_append(out, json_string_value(content), json_string_length(content));
        return;
    }
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part) {
        json_t *text = json_object_get(part, "text");
        if (json_is_string(text))
            lgw_buf_append(out, json_string_value(text), json_string_length(text));
    }
}

/* Cuts s to at most max bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

static json_t *chunk_new(const char *id, int64_t created, const char *model, json_t *choices, bool usage_null)
{
    json_t *c = json_pack("{s:s, s:s, s:I, s:s, s:s, s:o}", "id", id, "object", "chat.completion.chunk", "created",
                          (json_int_t)created, "model", model, "system_fingerprint", "llmgw-echo", "choices", choices);
    if (usage_null) /* with include_usage, OpenAI sends "usage": null on every chunk but the last */
        json_object_set_new(c, "usage", json_null());
    return c;
}

static int emit_delta(struct lgw_prov_stream *stream, const char *id, int64_t created, const char *model, int n,
                      json_t *delta, const char *finish)
{
    json_t *choices = json_array();
    for (int c = 0; c < n; c++)
        json_array_append_new(choices, json_pack("{s:i, s:O, s:n, s:s?}", "index", c, "delta", delta, "logprobs",
                                                 "finish_reason", finish));
    json_decref(delta);
    json_t *chunk = chunk_new(id, created, model, choices, stream->include_usage);
    int rc = stream->emit(stream, chunk);
    json_decref(chunk);
    return rc;
}

/* Streams the answer word by word (each word with its leading spaces), as OpenAI's chunk sequence does:
 * a role chunk, content chunks, a finish chunk, and the usage chunk when the client asked for it. */
static int stream_answer(struct lgw_prov_stream *stream, const char *id, const char *model, int n, const char *text,
                         size_t len, const char *finish, const struct lgw_usage *usage)
{
    int64_t created = lgw_wall_ms() / 1000;
    int rc = emit_delta(stream, id, created, model, n, json_pack("{s:s, s:s}", "role", "assistant", "content", ""),
                        NULL);
    size_t i = 0;
    while (rc == 0 && i < len) {
        size_t start = i;
        while (i < len && text[i] == ' ')
            i++;
        while (i < len && text[i] != ' ')
            i++;
        rc = emit_delta(stream, id, created, model, n, json_pack("{s:s#}", "content", text + start, i - start), NULL);
    }
    if (rc == 0)
        rc = emit_delta(stream, id, created, model, n, json_object(), finish);
    if (rc == 0 && stream->include_usage) {
        json_t *chunk = chunk_new(id, created, model, json_array(), false);
        json_object_set_new(chunk, "usage",
                            json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)usage->input_tokens,
                                      "completion_tokens", (json_int_t)usage->output_tokens, "total_tokens",
                                      (json_int_t)(usage->input_tokens + usage->output_tokens)));
        rc = stream->emit(stream, chunk);
        json_decref(chunk);
    }
    return rc;
}

static int echo_chat(const struct lgw_model_info *model, const struct lgw_job *job, struct lgw_prov_stream *stream,
                     struct lgw_prov_result *res)
{
    json_t *msgs = json_object_get(job->body, "messages");
    struct lgw_buf answer, all;
    lgw_buf_init(&answer, 0);
    lgw_buf_init(&all, 0);
    int64_t prompt_tokens = 3; /* every reply is primed with a few tokens, as OpenAI counts them */
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        lgw_buf_reset(&all);
        content_text(json_object_get(m, "content"), &all);
        prompt_tokens += 4 + estimate_tokens(all.len);
        if (strcmp(json_string_value(json_object_get(m, "role")), "user") == 0) {
            lgw_buf_reset(&answer);
            content_text(json_object_get(m, "content"), &answer);
        }
    }
    const char *finish = "stop";
    size_t len = answer.len;
    json_t *mt = json_object_get(job->body, "max_completion_tokens");
    if (!json_is_integer(mt))
        mt = json_object_get(job->body, "max_tokens");
    if (json_is_integer(mt) && estimate_tokens(len) > json_integer_value(mt)) {
        len = utf8_cut(answer.ptr, len, (size_t)json_integer_value(mt) * 4);
        finish = "length";
    }
    int64_t completion_tokens = estimate_tokens(len);
    json_t *nv = json_object_get(job->body, "n");
    int n = json_is_integer(nv) ? (int)json_integer_value(nv) : 1;
    char id[LGW_ID_MAX + 16];
    snprintf(id, sizeof(id), "chatcmpl-%s", job->id);
    res->usage.input_tokens = prompt_tokens;
    res->usage.output_tokens = completion_tokens * n;
    res->status = 200;
    if (stream) {
        int rc = stream_answer(stream, id, model->id, n, answer.ptr ? answer.ptr : "", len, finish, &res->usage);
        lgw_buf_cleanup(&answer);
        lgw_buf_cleanup(&all);
        return rc;
    }
    json_t *choices = json_array();
    for (int c = 0; c < n; c++)
        json_array_append_new(choices,
                              json_pack("{s:i, s:{s:s, s:s#, s:n}, s:n, s:s}", "index", c, "message", "role",
                                        "assistant", "content", answer.ptr ? answer.ptr : "", len, "refusal",
                                        "logprobs", "finish_reason", finish));
    res->body = json_pack("{s:s, s:s, s:I, s:s, s:o, s:{s:I, s:I, s:I}, s:s}", "id", id, "object", "chat.completion",
                          "created", (json_int_t)(lgw_wall_ms() / 1000), "model", model->id, "choices", choices,
                          "usage", "prompt_tokens", (json_int_t)res->usage.input_tokens, "completion_tokens",
                          (json_int_t)res->usage.output_tokens, "total_tokens",
                          (json_int_t)(res->usage.input_tokens + res->usage.output_tokens), "system_fingerprint",
                          "llmgw-echo");
    lgw_buf_cleanup(&answer);
    lgw_buf_cleanup(&all);
    return res->body ? LGW_OK : LGW_ERR(INTERNAL);
}

/* Fills v[0..dims) with a unit vector that depends only on (model, text). */
static void embed(const char *model, const char *text, size_t len, float *v, int dims)
{
    unsigned char seed[SHA256_DIGEST_LENGTH], block[SHA256_DIGEST_LENGTH];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int outlen;
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, model, strlen(model) + 1);
    EVP_DigestUpdate(ctx, text, len);
    EVP_DigestFinal_ex(ctx, seed, &outlen);
    double norm = 0;
    for (int i = 0; i < dims; i += 8) {
        uint32_t counter = (uint32_t)(i / 8);
        EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
        EVP_DigestUpdate(ctx, seed, sizeof(seed));
        EVP_DigestUpdate(ctx, &counter, sizeof(counter));
        EVP_DigestFinal_ex(ctx, block, &outlen);
        for (int k = 0; k < 8 && i + k < dims; k++) {
            uint32_t u;
            memcpy(&u, block + 4 * k, 4);
            v[i + k] = (float)((double)u / 2147483648.0 - 1.0); /* uniform in [-1, 1) */
            norm += (double)v[i + k] * v[i + k];
        }
    }
    EVP_MD_CTX_free(ctx);
    norm = sqrt(norm);
    if (norm == 0) {
        v[0] = 1; /* 2^-32 per component chance; keep the unit-length promise anyway */
        norm = 1;
    }
    for (int i = 0; i < dims; i++)
        v[i] = (float)(v[i] / norm);
}

static json_t *embedding_value(const float *v, int dims, bool base64)
{
    if (!base64) {
        json_t *arr = json_array();
        for (int i = 0; i < dims; i++)
            json_array_append_new(arr, json_real(v[i]));
        return arr;
    }
    /* OpenAI's base64 format: the float32 array in little-endian bytes (x86 is little-endian). */
    size_t nbytes = (size_t)dims * sizeof(float);
    char *b64 = lgw_malloc(4 * ((nbytes + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)v, (int)nbytes);
    json_t *s = json_string(b64);
    free(b64);
    return s;
}

static int echo_embeddings(const struct lgw_model_info *model, const struct lgw_job *job,
                           struct lgw_prov_result *res)
{
    json_t *input = json_object_get(job->body, "input");
    json_t *dv = json_object_get(job->body, "dimensions");
    int dims = json_is_integer(dv) ? (int)json_integer_value(dv) : ECHO_DEFAULT_DIMS;
    json_t *fmt = json_object_get(job->body, "encoding_format");
    bool base64 = json_is_string(fmt) && strcmp(json_string_value(fmt), "base64") == 0;
    float *v = lgw_malloc((size_t)dims * sizeof(float));
    json_t *data = json_array();
    int64_t tokens = 0;
    /* A single string, a list of strings, a list of token ids, or a list of token-id lists. */
    size_t count = json_is_array(input) ? json_array_size(input) : 1;
    bool token_list = json_is_array(input) && json_is_integer(json_array_get(input, 0));
    if (token_list)
        count = 1;
    for (size_t i = 0; i < count; i++) {
        json_t *item = json_is_array(input) && !token_list ? json_array_get(input, i) : input;
        if (json_is_string(item)) {
            embed(model->id, json_string_value(item), json_string_length(item), v, dims);
            tokens += estimate_tokens(json_string_length(item));
        } else {
            char *text = json_dumps(item, JSON_COMPACT);
            embed(model->id, text, strlen(text), v, dims);
            tokens += json_is_array(item) ? (int64_t)json_array_size(item) : 1;
            free(text);
        }
        json_array_append_new(data, json_pack("{s:s, s:i, s:o}", "object", "embedding", "index", (int)i, "embedding",
                                              embedding_value(v, dims, base64)));
    }
    free(v);
    res->usage.input_tokens = tokens;
    res->body = json_pack("{s:s, s:o, s:s, s:{s:I, s:I}}", "object", "list", "data", data, "model", model->id, "usage",
                          "prompt_tokens", (json_int_t)tokens, "total_tokens", (json_int_t)tokens);
    res->status = 200;
    return res->body ? LGW_OK : LGW_ERR(INTERNAL);
}

/* No I/O: the answer is made here, and done runs before this returns. */
static int echo_call(const struct lgw_provider *prov, struct lgw_prov_call *call)
{
    (void)prov;
    const struct lgw_model_info *model = call->model;
    struct lgw_prov_result *res = &call->res;
    lgw_strlcpy(res->model, model->id, sizeof(res->model));
    int rc = model->kind == LGW_JOB_CHAT ? echo_chat(model, call->job, call->stream, res)
                                         : echo_embeddings(model, call->job, res);
    if (rc)
        return rc;
    res->bill = LGW_BILL_REPORTED; /* echo counts its own tokens (and charges its catalog price, if any) */
    call->done(call);
    return LGW_OK;
}

static bool always(const struct lgw_config *cfg)
{
    (void)cfg;
    return true;
}

const struct lgw_provider lgw_provider_echo = {
    .name = "echo",
    .title = "Echo",
    .configured = always,
    .call = echo_call,
};
