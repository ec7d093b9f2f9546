/* sse.c - streamed answers (see sse.h). */
#include "ingress/sse.h"

#include <string.h>
#include <sys/socket.h>

#include "common/errors.h"

/* Wakes the content reader if it is waiting; caller holds req->lock. */
static void wake(struct lgw_req *req)
{
    if (req->reader_suspended) {
        req->reader_suspended = false;
        lgw_hconn_resume(req->conn);
    }
}

/* First data of the stream: the suspended request is resumed and answers with the SSE response. */
static void start(struct lgw_req *req, const char *run_id)
{
    req->stream_started = true;
    lgw_strlcpy(req->run_id, run_id, sizeof(req->run_id));
    req->status = 200;
    req->done = true;
    if (req->suspended) {
        req->suspended = false;
        lgw_hconn_resume(req->conn);
    }
}

/* The client stopped reading and sse_max bytes wait for it: end the stream here. Its socket is shut down,
 * because the server calls the content reader only when the client makes room, which it will not; the
 * closed connection completes the request, which (still waiting in the pending map) sends the workers a
 * cancel, so the provider call stops and the execution is recorded cancelled. Caller holds req->lock. */
static void overflow(struct lgw_req *req)
{
    req->sse_done = true;
    req->sse_overflow = true;
    lgw_buf_reset(&req->sse);
    req->sse_off = 0;
    if (!req->conn_closed && req->fd >= 0)
        shutdown(req->fd, SHUT_RDWR);
    wake(req);
}

void lgw_sse_reply(struct lgw_req *req, const struct lgw_reply *reply)
{
    pthread_mutex_lock(&req->lock);
    if (req->sse_done)
        goto out;
    if (!req->stream_started) {
        if (reply->final && reply->status != 200) {
            /* Failed before anything was streamed: a plain error with its status, as OpenAI does. */
            pthread_mutex_unlock(&req->lock);
            lgw_req_take_route(req, reply, true);
            lgw_req_complete_reply(req, reply->status, reply->body);
            return;
        }
        if (reply->seq != 0 && !reply->final)
            goto out; /* the middle of some run: wait for a run that starts at its beginning */
        lgw_req_take_route(req, reply, false); /* the cost is known only at the end */
        if (reply->usage.input_tokens > 0) { /* the provider's count came before its first token: take it */
            req->ds.input_tokens = reply->usage.input_tokens;
            req->ds.cached_input_tokens = reply->usage.cached_input_tokens;
        }
        start(req, reply->run_id);
    } else if (strcmp(reply->run_id, req->run_id) != 0 || reply->seq != req->next_seq) {
        /* A second run of the job (after a worker crash) or a duplicate: never splice two answers. */
        goto out;
    }
    /* A message may carry several chunks (more_chunks after body): the run's next message follows them all. */
    req->next_seq = reply->seq + 1 + (int)json_array_size(reply->more_chunks);
    if (!reply->final) {
        if (reply->body)
            req->dialect->stream_chunk(&req->ds, reply->body, &req->sse);
        else
            req->dialect->stream_chunk_text(&req->ds, reply->body_text, reply->body_len, &req->sse);
        size_t i;
        json_t *chunk;
        json_array_foreach(reply->more_chunks, i, chunk) req->dialect->stream_chunk(&req->ds, chunk, &req->sse);
        /* Until the response's first block has gone out, the bytes wait for this gateway (a reply batch from
         * Kafka can land before the server has sent the headers, and an HTTP thread held off the core lets
         * a fast stream pile up), not for the client: the cap counts from then (lgw_sse_read), with 4 times the
         * cap as the bound before it so memory stays bounded anyway. */
        size_t waiting = req->sse.len - req->sse_off;
        if (waiting > req->sse_max && (req->sse_sent || waiting / 4 > req->sse_max)) {
            overflow(req);
            goto out;
        }
    } else if (reply->status == 200) {
        req->dialect->stream_end(&req->ds, reply, &req->sse);
        req->sse_done = true;
    } else {
        struct lgw_answer_error err;
        lgw_answer_error_reply(&err, reply->status, reply->body);
        req->dialect->stream_error(&req->ds, &err, &req->sse);
        req->sse_done = true;
    }
    wake(req);
out:
    pthread_mutex_unlock(&req->lock);
}

void lgw_sse_fail(struct lgw_req *req, int rc, const char *message)
{
    pthread_mutex_lock(&req->lock);
    if (!req->stream_started) {
        pthread_mutex_unlock(&req->lock);
        lgw_req_complete_error(req, rc, message);
        return;
    }
    if (!req->sse_done) {
        struct lgw_answer_error err;
        lgw_answer_error_rc(&err, rc, message);
        req->dialect->stream_error(&req->ds, &err, &req->sse);
        req->sse_done = true;
        wake(req);
    }
    pthread_mutex_unlock(&req->lock);
}

bool lgw_sse_ends(struct lgw_req *req, const struct lgw_reply *reply)
{
    pthread_mutex_lock(&req->lock);
    bool ends;
    if (!reply->final || req->sse_done || (req->done && !req->stream_started))
        ends = false; /* a chunk, or a request already answered */
    else if (!req->stream_started)
        ends = true; /* an error before the first chunk, or a stream with no chunk at all */
    else /* the run being streamed, at the seq expected next (what lgw_sse_reply passes on) */
        ends = strcmp(reply->run_id, req->run_id) == 0 && reply->seq == req->next_seq;
    pthread_mutex_unlock(&req->lock);
    return ends;
}

bool lgw_sse_finished(struct lgw_req *req)
{
    pthread_mutex_lock(&req->lock);
    bool finished = req->sse_done || (req->done && !req->stream_started);
    pthread_mutex_unlock(&req->lock);
    return finished;
}

ssize_t lgw_sse_read(struct lgw_req *req, uint64_t pos, char *out, size_t max)
{
    ssize_t n;
    pthread_mutex_lock(&req->lock);
    if (req->sse_done && req->limit_ticket.held) {
        /* The stream's end is buffered: the limits learn what it used before the client can see the end.
         * Not under the lock, which the reply thread takes; the ticket is this thread's alone. */
        pthread_mutex_unlock(&req->lock);
        lgw_req_settle_limits(req);
        pthread_mutex_lock(&req->lock);
    }
    /* The server asks for the first block before it writes the headers (they go out together), and for the
     * next only once the block before went out: a call past position 0 is the first sign that the client has
     * taken bytes. */
    if (pos > 0)
        req->sse_sent = true;
    if (req->sse_off < req->sse.len) {
        size_t avail = req->sse.len - req->sse_off;
        n = (ssize_t)(avail < max ? avail : max);
        memcpy(out, req->sse.ptr + req->sse_off, (size_t)n);
        req->sse_off += (size_t)n;
        if (req->sse_off == req->sse.len) { /* all sent: reuse the buffer from the start */
            lgw_buf_reset(&req->sse);
            req->sse_off = 0;
        }
    } else if (req->sse_done) {
        n = LGW_HRESP_END;
    } else {
        req->reader_suspended = true;
        lgw_hconn_suspend(req->conn);
        n = 0;
    }
    pthread_mutex_unlock(&req->lock);
    return n;
}

static ssize_t reader(void *cls, uint64_t pos, char *out, size_t max)
{
    return lgw_sse_read(cls, pos, out, max);
}

enum lgw_hres lgw_sse_queue(struct lgw_req *req)
{
    /* 4 KiB blocks: each chunk is small, and a chunk is written as soon as it is appended. */
    struct lgw_hresp *resp = lgw_hresp_stream(4096, reader, req);
    lgw_hresp_header(resp, "Content-Type", "text/event-stream");
    lgw_hresp_header(resp, "Cache-Control", "no-cache");
    lgw_req_route_headers(req, resp);
    return lgw_hconn_queue(req->conn, 200, resp);
}
