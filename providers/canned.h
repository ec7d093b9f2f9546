/* canned.h - answers made inside the gateway, for the adapters that call no network: echo (providers/echo.c)
 * and the simulated providers (providers/sim.c). What a chat request asks (its last user message, an estimate
 * of its input tokens), OpenAI's answer and chunk shapes, and deterministic embeddings, so both adapters
 * answer exactly as OpenAI would shape it and usage and cost run as for real providers.
 *
 * Pure functions over their arguments; any thread. Every json_t returned is a new reference. */
#ifndef LGW_CANNED_H
#define LGW_CANNED_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "providers/provider.h"

/* Tokens of bytes of text, by OpenAI's rule of thumb: about four bytes a token. */
int64_t lgw_canned_tokens(size_t bytes);

/* What a chat request asks for. */
struct lgw_canned_request {
    int64_t input_tokens; /* estimated: the messages' text, plus the few tokens OpenAI primes each one with */
    int n;                /* choices ("n"; 1 when absent) */
    int64_t max_tokens;   /* max_completion_tokens, else max_tokens; -1 when neither */
};

/* Reads body (an OpenAI chat request, validated by the ingress) into req, and the text of its last user
 * message into last_user (reset first; text parts of an array joined). */
void lgw_canned_read(json_t *body, struct lgw_buf *last_user, struct lgw_canned_request *req);

/* How much of text[0..len) an answer of at most max_tokens (-1: no limit) holds, cut between UTF-8
 * sequences; *finish is "length" when it was cut, else "stop" (static strings). */
size_t lgw_canned_fit(const char *text, size_t len, int64_t max_tokens, const char **finish);

/* Where the next streamed piece of text[0..len) from pos ends: its leading spaces and one word, as a model
 * streams a token at a time. Returns pos when pos == len. */
size_t lgw_canned_next_word(const char *text, size_t len, size_t pos);

/* A chat.completion of n identical choices with the message text[0..len), finish_reason finish, usage, and
 * system_fingerprint fingerprint. */
json_t *lgw_canned_completion(const char *id, const char *model, const char *fingerprint, int n, const char *text,
                              size_t len, const char *finish, const struct lgw_usage *usage);

/* A chat.completion.chunk of n choices, each with delta (taken) and finish_reason finish (NULL: none).
 * usage_null: with "usage": null, as OpenAI sends on every chunk but the last when include_usage is set. */
json_t *lgw_canned_chunk(const char *id, int64_t created, const char *model, const char *fingerprint, int n,
                         json_t *delta, const char *finish, bool usage_null);

/* The stream's last chunk when the client asked for usage: no choices, the usage. */
json_t *lgw_canned_usage_chunk(const char *id, int64_t created, const char *model, const char *fingerprint,
                               const struct lgw_usage *usage);

/* Answers an embeddings job for model into res (status 200, body, usage): for each input, a unit vector that
 * depends only on (model, input), from SHA-256; "dimensions" (default 1536) and "encoding_format" (float or
 * base64) as OpenAI takes them; input tokens estimated (token-id inputs count one per id). Returns 0 or
 * LGW_ERR(INTERNAL). */
int lgw_canned_embeddings(const struct lgw_model_info *model, const struct lgw_job *job,
                          struct lgw_prov_result *res);

#endif
