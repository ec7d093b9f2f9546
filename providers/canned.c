/* canned.c - answers made inside the gateway, for echo and the simulated providers (see canned.h). */
#include "providers/canned.h"

#include <math.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/digest.h"
#include "common/errors.h"

#define DEFAULT_DIMS 1536

int64_t lgw_canned_tokens(size_t bytes)
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

void lgw_canned_read(json_t *body, struct lgw_buf *last_user, struct lgw_canned_request *req)
{
    struct lgw_buf all;
    lgw_buf_init(&all, 0);
    lgw_buf_reset(last_user);
    req->input_tokens = 3; /* every reply is primed with a few tokens, as OpenAI counts them */
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(body, "messages"), i, m) {
        lgw_buf_reset(&all);
        content_text(json_object_get(m, "content"), &all);
        req->input_tokens += 4 + lgw_canned_tokens(all.len);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (role && strcmp(role, "user") == 0) {
            lgw_buf_reset(last_user);
            content_text(json_object_get(m, "content"), last_user);
        }
    }
    lgw_buf_cleanup(&all);
    json_t *nv = json_object_get(body, "n");
    req->n = json_is_integer(nv) && json_integer_value(nv) > 0 ? (int)json_integer_value(nv) : 1;
    json_t *mt = json_object_get(body, "max_completion_tokens");
    if (!json_is_integer(mt))
        mt = json_object_get(body, "max_tokens");
    req->max_tokens = json_is_integer(mt) ? json_integer_value(mt) : -1;
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

size_t lgw_canned_fit(const char *text, size_t len, int64_t max_tokens, const char **finish)
{
    *finish = "stop";
    if (max_tokens < 0 || lgw_canned_tokens(len) <= max_tokens)
        return len;
    *finish = "length";
    return utf8_cut(text, len, (size_t)max_tokens * 4);
}

size_t lgw_canned_next_word(const char *text, size_t len, size_t pos)
{
    while (pos < len && text[pos] == ' ')
        pos++;
    while (pos < len && text[pos] != ' ')
        pos++;
    return pos;
}

static json_t *usage_json(const struct lgw_usage *u)
{
    return json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)u->input_tokens, "completion_tokens",
                     (json_int_t)u->output_tokens, "total_tokens", (json_int_t)(u->input_tokens + u->output_tokens));
}

json_t *lgw_canned_completion(const char *id, const char *model, const char *fingerprint, int n, const char *text,
                              size_t len, const char *finish, const struct lgw_usage *usage)
{
    json_t *choices = json_array();
    for (int c = 0; c < n; c++)
        json_array_append_new(choices, json_pack("{s:i, s:{s:s, s:s#, s:n}, s:n, s:s}", "index", c, "message", "role",
                                                 "assistant", "content", text, len, "refusal", "logprobs",
                                                 "finish_reason", finish));
    return json_pack("{s:s, s:s, s:I, s:s, s:o, s:o, s:s}", "id", id, "object", "chat.completion", "created",
                     (json_int_t)(lgw_wall_ms() / 1000), "model", model, "choices", choices, "usage", usage_json(usage),
                     "system_fingerprint", fingerprint);
}

static json_t *chunk_new(const char *id, int64_t created, const char *model, const char *fingerprint, json_t *choices)
{
    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:o}", "id", id, "object", "chat.completion.chunk", "created",
                     (json_int_t)created, "model", model, "system_fingerprint", fingerprint, "choices", choices);
}

json_t *lgw_canned_chunk(const char *id, int64_t created, const char *model, const char *fingerprint, int n,
                         json_t *delta, const char *finish, bool usage_null)
{
    json_t *choices = json_array();
    for (int c = 0; c < n; c++)
        json_array_append_new(choices, json_pack("{s:i, s:O, s:n, s:s?}", "index", c, "delta", delta, "logprobs",
                                                 "finish_reason", finish));
    json_decref(delta);
    json_t *chunk = chunk_new(id, created, model, fingerprint, choices);
    if (usage_null)
        json_object_set_new(chunk, "usage", json_null());
    return chunk;
}

json_t *lgw_canned_usage_chunk(const char *id, int64_t created, const char *model, const char *fingerprint,
                               const struct lgw_usage *usage)
{
    json_t *chunk = chunk_new(id, created, model, fingerprint, json_array());
    json_object_set_new(chunk, "usage", usage_json(usage));
    return chunk;
}

/* Fills v[0..dims) with a unit vector that depends only on (model, text). */
static void embed(const char *model, const char *text, size_t len, float *v, int dims)
{
    unsigned char seed[SHA256_DIGEST_LENGTH], block[SHA256_DIGEST_LENGTH];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int outlen;
    EVP_DigestInit_ex(ctx, lgw_digest_sha256(), NULL);
    EVP_DigestUpdate(ctx, model, strlen(model) + 1);
    EVP_DigestUpdate(ctx, text, len);
    EVP_DigestFinal_ex(ctx, seed, &outlen);
    double norm = 0;
    for (int i = 0; i < dims; i += 8) {
        uint32_t counter = (uint32_t)(i / 8);
        EVP_DigestInit_ex(ctx, lgw_digest_sha256(), NULL);
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

int lgw_canned_embeddings(const struct lgw_model_info *model, const struct lgw_job *job,
                          struct lgw_prov_result *res)
{
    json_t *input = json_object_get(job->body, "input");
    json_t *dv = json_object_get(job->body, "dimensions");
    int dims = json_is_integer(dv) ? (int)json_integer_value(dv) : DEFAULT_DIMS;
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
            tokens += lgw_canned_tokens(json_string_length(item));
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
