/* wire.h - one provider HTTP call with the gateway's rules, shared by every HTTP adapter: attempts with
 * retries (backoff, Retry-After, the request deadline, never after a chunk reached the client), streamed
 * SSE parsing, error status mapping. Each provider supplies the protocol part as lgw_wire_ops. */
#ifndef LGW_WIRE_H
#define LGW_WIRE_H

#include <curl/curl.h>

#include "providers/provider.h"
#include "providers/sse_parse.h"

/* State of one streamed attempt, handed to ops->on_event. */
struct lgw_wire_stream {
    struct lgw_prov_stream *stream;
    struct lgw_prov_result *res;
    const struct lgw_job *job;
    struct lgw_sse_parser parser;
    int emitted;  /* chunks that reached the client: past 0, never retry */
    bool done;    /* the provider ended the stream properly */
    bool failed;  /* res holds the error */
    void *proto;  /* the protocol's own state, ops->proto_size zeroed bytes per attempt */
};

struct lgw_wire_ops {
    /* One SSE event of a streamed answer: emit OpenAI chunks through lgw_wire_emit, set st->done at the
     * end; on a provider error call lgw_wire_fail. Returns 0 or an LGW_ERR that stops the transfer. */
    int (*on_event)(struct lgw_wire_stream *st, const char *event, const char *data, size_t len);
    /* A 2xx answer, parsed: set res->body (OpenAI shape, new reference) and res->usage. Returns 0 or
     * LGW_ERR(PROVIDER) after lgw_prov_result_error for an answer it cannot use. */
    int (*on_body)(const struct lgw_job *job, json_t *parsed, struct lgw_prov_result *res);
    /* The provider's error object inside a non-2xx body, as OpenAI's {"message","type","param","code"}
     * (new reference), or NULL when there is none. */
    json_t *(*error_object)(json_t *parsed);
    size_t proto_size;
};

/* POSTs body to url on call->loop: attempts, retries and the answer into call->res, then call->done.
 * headers (auth) and body (malloc'd) are taken; content-type and accept are added. With call->stream set,
 * the answer goes out chunk by chunk. Returns 0 (the contract of lgw_provider.call). Any thread. */
int lgw_wire_call(struct lgw_prov_call *call, const char *url, struct curl_slist *headers, char *body,
                  const struct lgw_wire_ops *ops);

/* Sends one OpenAI chunk to the client (dropping usage when the client did not ask for it). */
int lgw_wire_emit(struct lgw_wire_stream *st, json_t *chunk);
/* Marks the stream failed with the client status and the provider's error object (borrowed, as from
 * ops->error_object), or without one the table's row for the status with fallback_message. Returns
 * LGW_ERR(PROVIDER). */
int lgw_wire_fail(struct lgw_wire_stream *st, int status, json_t *error_object, const char *fallback_message);
/* Maps a provider's HTTP status to the client's: the same where it means the same, 529 → 503, else 502. */
int lgw_wire_client_status(long status);

#endif
