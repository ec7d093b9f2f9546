/* upstream.h - a scripted upstream HTTP server for unit tests: it plays a provider on 127.0.0.1 (an
 * ephemeral port, its own threads, libmicrohttpd) by answering each request with the next answer of a
 * queue the test wrote, and records every request it received for assertions.
 *
 * An answer is a status, headers and either a whole body (sent with a content-length) or a stream: raw byte
 * pieces written in order as HTTP chunks, each after an optional delay, ending with the terminating chunk
 * or, when the answer is "cut", with the connection closed in the middle of the chunked body, as a
 * provider that drops a stream does. An answer may also wait before it is sent (a slow provider).
 *
 * Threads: the server answers on its own threads; every function here may be called from any thread
 * (the queue and the recorded requests are under one lock). Test-only code. */
#ifndef LGW_TEST_UPSTREAM_H
#define LGW_TEST_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lgw_upstream;
struct lgw_upstream_answer;

/* One request as received. Owned by the server; valid until lgw_upstream_reset or _free. */
struct lgw_upstream_request {
    char method[16];
    char *target;            /* path and query, as sent ("/v1/models/m:streamGenerateContent?alt=sse") */
    size_t nheaders;
    char **names, **values;  /* header names as sent (compare without case) */
    char *body;              /* NUL-terminated; body_len bytes */
    size_t body_len;
    int64_t arrived_us;      /* monotonic time its headers arrived */
};

/* Starts a server on 127.0.0.1 and an ephemeral port. Returns it (lgw_upstream_free), or NULL when it
 * could not listen. */
struct lgw_upstream *lgw_upstream_new(void);
/* Stops the server (waits cut short: a delayed or streaming answer ends at once) and frees everything,
 * answers not yet used included. NULL is a no-op. */
void lgw_upstream_free(struct lgw_upstream *up);
/* "http://127.0.0.1:<port>", owned by up. */
const char *lgw_upstream_url(const struct lgw_upstream *up);

/* A new answer with this status (lgw_upstream_push hands it to a server, or lgw_upstream_answer_free).
 * With no body and no pieces it is sent with an empty body. */
struct lgw_upstream_answer *lgw_upstream_answer_new(int status);
void lgw_upstream_answer_free(struct lgw_upstream_answer *a);
/* Adds a response header. Without a Content-Type one is added: application/json for a body,
 * text/event-stream for a stream. */
void lgw_upstream_answer_header(struct lgw_upstream_answer *a, const char *name, const char *value);
/* Sets the whole body (copied). */
void lgw_upstream_answer_body(struct lgw_upstream_answer *a, const void *bytes, size_t len);
/* Appends a piece (copied) to the answer's stream, written as one HTTP chunk after delay_ms. An answer with
 * pieces is a stream (chunked transfer encoding). */
void lgw_upstream_answer_piece(struct lgw_upstream_answer *a, const void *bytes, size_t len, int delay_ms);
/* The stream ends by closing the connection after its last piece, without the terminating chunk; a body
 * answer announces its full length, sends half of it and closes. */
void lgw_upstream_answer_cut(struct lgw_upstream_answer *a);
/* Waits delay_ms after the request arrived before answering. */
void lgw_upstream_answer_delay(struct lgw_upstream_answer *a, int delay_ms);

/* Queues answer (taken) for the next request that has none. A request that finds the queue empty is
 * answered 400 with x-should-retry: false (so nothing retries it), and recorded like any other. */
void lgw_upstream_push(struct lgw_upstream *up, struct lgw_upstream_answer *answer);
/* Answers queued and not yet used. */
size_t lgw_upstream_unused(struct lgw_upstream *up);

/* Requests received so far (complete: headers and body). */
size_t lgw_upstream_count(struct lgw_upstream *up);
/* The i-th request received (0-based, in arrival order of their ends), or NULL. */
const struct lgw_upstream_request *lgw_upstream_request(struct lgw_upstream *up, size_t i);
/* Waits up to timeout_ms until n requests have been received; true if they have. */
bool lgw_upstream_wait_count(struct lgw_upstream *up, size_t n, int timeout_ms);
/* Answers the client stopped reading before their end (it closed the connection). */
size_t lgw_upstream_cut_by_client(struct lgw_upstream *up);
/* Forgets the requests received and the answers not used (answers being sent go on). */
void lgw_upstream_reset(struct lgw_upstream *up);

/* The value of header name (any case) in req, or NULL. */
const char *lgw_upstream_header(const struct lgw_upstream_request *req, const char *name);

#endif
