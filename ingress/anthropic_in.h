/* anthropic_in.h - the inbound Anthropic API: POST /v1/messages requests (what the official anthropic
 * SDK sends) become OpenAI-shaped chat jobs, and their answers go back in Anthropic's format, plain or as
 * Anthropic's streaming events, whichever provider served them. */
#ifndef LGW_ANTHROPIC_IN_H
#define LGW_ANTHROPIC_IN_H

#include <jansson.h>
#include <stdbool.h>

#include "buf.h"
#include "envelope.h"

/* Validates an Anthropic Messages request and builds the equivalent OpenAI chat request (new reference in
 * *out). Returns 0 or LGW_ERR(INVALID) with msg filled. */
int lgw_anth_request_to_openai(json_t *in, json_t **out, char *msg, size_t msgsz);
/* An OpenAI chat.completion as an Anthropic message (new reference; NULL if it is not one). */
json_t *lgw_anth_message_from_openai(json_t *completion);
/* Anthropic's error body for an OpenAI-style error body and status (new reference). */
json_t *lgw_anth_error_from_openai(int status, json_t *openai_error_body);

/* Turns a stream of OpenAI chunks into Anthropic's event stream. Embedded in the request; one thread. */
struct lgw_anth_stream {
    bool started;
    int open;           /* 0 none, 1 text block, 2 tool_use block */
    int index;          /* index of the open block */
    int tool_calls;     /* OpenAI tool index -> our block index + 1 (first 16 tools) */
    int tool_block[16];
    char stop_reason[32];
};

/* Appends the events for one OpenAI chunk to out (`event: X\ndata: {...}\n\n`). */
void lgw_anth_stream_chunk(struct lgw_anth_stream *s, json_t *chunk, struct lgw_buf *out);
/* Appends the closing events (content_block_stop, message_delta with usage, message_stop). */
void lgw_anth_stream_end(struct lgw_anth_stream *s, const struct lgw_usage *usage, struct lgw_buf *out);
/* Appends an error event. */
void lgw_anth_stream_error(json_t *openai_error_body, struct lgw_buf *out);

#endif
