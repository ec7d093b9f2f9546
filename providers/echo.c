/* echo.c - the echo provider: always available, needs no key, costs nothing.
 *
 * Chat answers with the last user message (so a test can check every reply reached the client that
 * asked); embeddings are deterministic unit vectors derived from SHA-256 of the input. Token counts are
 * estimates (about four bytes per token), so usage and cost paths run exactly as for real providers. The
 * shapes and estimates are providers/canned.c's, which the simulated providers share. */
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "providers/canned.h"
#include "providers/provider.h"

#define FINGERPRINT "llmgw-echo"

/* Emits chunk (taken) into stream. */
static int emit(struct lgw_prov_stream *stream, json_t *chunk)
{
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
    bool un = stream->include_usage;
    int rc = emit(stream, lgw_canned_chunk(id, created, model, FINGERPRINT, n,
                                           json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL, un));
    for (size_t i = 0, end; rc == 0 && i < len; i = end) {
        end = lgw_canned_next_word(text, len, i);
        rc = emit(stream, lgw_canned_chunk(id, created, model, FINGERPRINT, n,
                                           json_pack("{s:s#}", "content", text + i, end - i), NULL, un));
    }
    if (rc == 0)
        rc = emit(stream, lgw_canned_chunk(id, created, model, FINGERPRINT, n, json_object(), finish, un));
    if (rc == 0 && un)
        rc = emit(stream, lgw_canned_usage_chunk(id, created, model, FINGERPRINT, usage));
    return rc;
}

static int echo_chat(const struct lgw_model_info *model, const struct lgw_job *job, struct lgw_prov_stream *stream,
                     struct lgw_prov_result *res)
{
    struct lgw_buf answer;
    struct lgw_canned_request req;
    lgw_buf_init(&answer, 0);
    lgw_canned_read(job->body, &answer, &req);
    const char *text = answer.ptr ? answer.ptr : "", *finish;
    size_t len = lgw_canned_fit(text, answer.len, req.max_tokens, &finish);
    char id[LGW_ID_MAX + 16];
    snprintf(id, sizeof(id), "chatcmpl-%s", job->id);
    res->usage.input_tokens = req.input_tokens;
    res->usage.output_tokens = lgw_canned_tokens(len) * req.n;
    res->status = 200;
    int rc = LGW_OK;
    if (stream) {
        rc = stream_answer(stream, id, model->id, req.n, text, len, finish, &res->usage);
    } else {
        res->body = lgw_canned_completion(id, model->id, FINGERPRINT, req.n, text, len, finish, &res->usage);
        rc = res->body ? LGW_OK : LGW_ERR(INTERNAL);
    }
    lgw_buf_cleanup(&answer);
    return rc;
}

/* No I/O: the answer is made here, and done runs before this returns. */
static int echo_call(const struct lgw_provider *prov, struct lgw_prov_call *call)
{
    (void)prov;
    const struct lgw_model_info *model = call->model;
    struct lgw_prov_result *res = &call->res;
    lgw_strlcpy(res->model, model->id, sizeof(res->model));
    int rc = model->kind == LGW_JOB_CHAT ? echo_chat(model, call->job, call->stream, res)
                                         : lgw_canned_embeddings(model, call->job, res);
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
