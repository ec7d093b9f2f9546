/* sse.h - streamed answers: Kafka reply chunks out to the client as Server-Sent Events, as they arrive, in
 * the request's dialect (ingress/dialect.h).
 *
 * The reply thread appends records to the request's buffer; the answer's reader (httpd/server.h) drains it.
 * With nothing to send the reader suspends the connection (the server would otherwise ask again at once), and
 * the next append resumes it. Everything is under req->lock. */
#ifndef LGW_SSE_H
#define LGW_SSE_H

#include "ingress/request.h"

/* Passes one reply of a streaming request on: starts the SSE answer at the first chunk, appends chunks in
 * order, ends the stream at the final reply. A failure before the first chunk is answered as a plain error
 * with its status, as OpenAI does. Reply thread, holding a reference to req. */
void lgw_sse_reply(struct lgw_req *req, const struct lgw_reply *reply);
/* Ends a request with the gateway's error rc: a plain error if nothing was streamed yet (also for requests
 * that do not stream), else an error record that ends the stream. Reply thread (or the drain after it). */
void lgw_sse_fail(struct lgw_req *req, int rc, const char *message);
/* True when passing reply on (lgw_sse_reply) would end req's answer: the final reply of the run being
 * streamed, in order, or any final reply before the first chunk. The reply thread asks before it passes a
 * reply on, so that a request leaves the pending map before its end can reach the client (see
 * replies.c). Reply thread (the state it reads changes only there). */
bool lgw_sse_ends(struct lgw_req *req, const struct lgw_reply *reply);
/* True once the stream's last record is buffered, or the request was answered without streaming. */
bool lgw_sse_finished(struct lgw_req *req);
/* The SSE response's content reader: copies at most max buffered bytes into out, ends the stream once its
 * last record is out, or suspends the connection when nothing waits. pos is the stream's bytes handed out
 * so far. HTTP thread (public for the unit tests). */
ssize_t lgw_sse_read(struct lgw_req *req, uint64_t pos, char *out, size_t max);
/* Queues the SSE response (from the access handler, once the stream started). HTTP thread. */
enum lgw_hres lgw_sse_queue(struct lgw_req *req);

#endif
