/* dialect.h - the API dialect a client speaks, chosen once per request from its route (OpenAI for
 * /v1/chat/completions and /v1/embeddings, Anthropic for /v1/messages). Inside llmgw every job and reply is
 * OpenAI-shaped; a dialect turns the client's request into that shape and every answer back into the
 * client's: a whole message, a stream's chunks and its end, and errors (the gateway's own, and a worker's).
 * Adding a dialect is one file with one ops table; nothing else in the ingress asks which one it is. */
#ifndef LGW_DIALECT_H
#define LGW_DIALECT_H

#include <jansson.h>
#include <stdbool.h>

#include "common/buf.h"
#include "common/envelope.h"

/* An error to answer: either the gateway's own (rc from the error table, message or NULL for the table's
 * text, the field at fault when there is one) or a worker's (status and the OpenAI error body it sent,
 * borrowed). The OpenAI dialect answers param as OpenAI does; Anthropic's error shape has no such field. */
struct lgw_answer_error {
    int status;
    int rc;             /* the gateway's own: an LGW_ERR; 0 when body says */
    const char *message;
    const char *param;  /* the gateway's own: the request field at fault ("max_tokens"), or NULL */
    json_t *body;       /* a worker's OpenAI-style error body, or NULL */
};

/* Per-stream state a dialect keeps between chunks (embedded in the request; one thread at a time). */
struct lgw_dialect_stream {
    /* Set before the first chunk: the request's input tokens as far as they are known then (the provider's
     * count when the first chunk carries it, else the gateway's estimate), and the request id (an id for a
     * stream that ends before any chunk names one). */
    int64_t input_tokens, cached_input_tokens;
    const char *request_id;
    bool started;
    int open;  /* Anthropic: 0 no block, 1 text block, 2 tool_use block */
    int index; /* Anthropic: index of the open block */
    int tool_block[16];
    char stop_reason[32];
    json_t *held; /* OpenAI: the last chunk with a finish_reason or usage, held for the llmgw object; owned */
};

struct lgw_dialect {
    const char *name;
    /* The client's parsed body into the OpenAI-shaped request a job carries (*out: new reference).
     * Returns 0 or an LGW_ERR with msg filled. */
    int (*request)(json_t *in, json_t **out, char *msg, size_t msgsz);
    /* A successful answer (an OpenAI chat.completion or embeddings list) into out. Returns 0, or
     * LGW_ERR(PROVIDER) when the answer cannot be expressed in this dialect. */
    int (*message)(json_t *answer, struct lgw_buf *out);
    /* The same answer as its JSON text (checked, not parsed), for a dialect that passes the OpenAI shape on as it
     * is; NULL: the ingress parses the text and calls message. */
    int (*message_text)(const char *answer, size_t len, struct lgw_buf *out);
    /* An error body into out. */
    void (*error)(const struct lgw_answer_error *err, struct lgw_buf *out);
    /* Streams: the SSE records for one OpenAI chunk, for the end (the worker's final reply: usage of the
     * whole answer, its cost and route, for the llmgw object), and for an error after the stream started
     * (it ends the stream). */
    void (*stream_chunk)(struct lgw_dialect_stream *s, json_t *chunk, struct lgw_buf *out);
    /* The same chunk as its JSON text (checked, not parsed); NULL: the ingress parses chunks for stream_chunk. */
    void (*stream_chunk_text)(struct lgw_dialect_stream *s, const char *chunk, size_t len, struct lgw_buf *out);
    void (*stream_end)(struct lgw_dialect_stream *s, const struct lgw_reply *final, struct lgw_buf *out);
    void (*stream_error)(struct lgw_dialect_stream *s, const struct lgw_answer_error *err, struct lgw_buf *out);
};

extern const struct lgw_dialect lgw_dialect_openai;
extern const struct lgw_dialect lgw_dialect_anthropic;

/* Fills err for the gateway's own error rc (message NULL: the table's text). */
void lgw_answer_error_rc(struct lgw_answer_error *err, int rc, const char *message);
/* Fills err for a worker's error reply (status, OpenAI error body borrowed). */
void lgw_answer_error_reply(struct lgw_answer_error *err, int status, json_t *body);
/* The message text of err: the gateway's, or the body's error.message (NULL when it has none). */
const char *lgw_answer_error_message(const struct lgw_answer_error *err);

/* The llmgw object a streamed answer ends with, for clients that want its cost without the ledger:
 * {"cost_usd": "0.000012345" (null when the model has no price), "cost_estimated": bool, "provider",
 * "model", "attempts", "cache": "hit"|"miss"|"bypass"}, and "simulated": true when a simulated provider
 * answered ("provider" is then "openai-sim" ...). The official SDKs ignore unknown fields. New reference. */
json_t *lgw_stream_cost_object(const struct lgw_reply *final);
/* Releases what s holds (the held chunk). */
void lgw_dialect_stream_cleanup(struct lgw_dialect_stream *s);

/* Appends one SSE record `data: <data>\n\n` (with `event: <event>\n` first when event is not NULL). */
void lgw_sse_record(struct lgw_buf *out, const char *event, const char *data, size_t len);
/* Same with data as compact JSON; takes obj's reference when take is true. */
void lgw_sse_record_json(struct lgw_buf *out, const char *event, json_t *obj, bool take);

#endif
