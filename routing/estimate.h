/* estimate.h - what a request needs from a model, read from its body before any provider sees it: an
 * estimate of its input tokens, the output it asks for, and the capabilities it uses (tools, vision, JSON
 * mode, streaming). Routing never sends a request to a model whose window it would not fit. */
#ifndef LGW_ESTIMATE_H
#define LGW_ESTIMATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/envelope.h"

/* Tokens charged for one image part: OpenAI's high-detail price for a 1024x1024 image (85 + 4 x 170 tiles)
 * rounded up; the bytes of an image say nothing about its token count. */
#define LGW_ESTIMATE_IMAGE_TOKENS 800
/* Per-message framing (role, separators), as OpenAI's cookbook counts it. */
#define LGW_ESTIMATE_MESSAGE_TOKENS 4

struct lgw_route_needs {
    int64_t input_tokens;      /* estimated; errs high (see lgw_estimate_tokens) */
    int64_t max_output_tokens; /* max_completion_tokens or max_tokens of the request; 0: not given */
    unsigned caps;             /* LGW_CAP_* bits the request uses */
};

/* An upper-leaning estimate of the tokens of UTF-8 text under BPE tokenizers (cl100k, o200k, Claude's):
 * a run of letters counts one token per 4 letters (rounded up), a run of digits one per 3, each other
 * ASCII symbol one, each non-ASCII character one, whitespace nothing. On English prose it lands within
 * about +30% of cl100k; it is built never to undercount by much, because undercounting sends a request to
 * a model it does not fit. Pure. */
int64_t lgw_estimate_tokens(const char *text, size_t len);

/* Reads a chat or embeddings request body (borrowed) into needs. Pure. */
void lgw_route_needs_of(const json_t *body, enum lgw_job_kind kind, bool stream, struct lgw_route_needs *needs);

#endif
