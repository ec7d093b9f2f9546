/* sse.c - streamed answers: Kafka reply chunks out to the client as Server-Sent Events, as they arrive.
 *
 * The reply thread appends `data: {...}\n\n` records to the request's buffer; libmicrohttpd's content
 * reader drains it. With nothing to send the reader suspends the connection (returning 0 from a reader in
 * internal-polling mode would spin), and the next append resumes it. Everything is under req->lock. */
#include <string.h>

#include "errors.h"
#include "http_error.h"
#include "ingress_int.h"
#include "log.h"

/* Appends one SSE record; caller holds req->lock. */
static void append_data(struct lgw_req *req, const char *data, size_t len)
{
    lgw_buf_append(&req->sse, "data: ", 6);
    lgw_buf_append(&req->sse, data, len);
    lgw_buf_append(&req->sse, "\n\n", 2);
}

static void append_json(struct lgw_req *req, json_t *obj)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    if (text) {
        append_data(req, text, strlen(text));
        free(text);
    }
}

/* Wakes the content reader if it is waiting; caller holds req->lock. */
static void wake(struct lgw_req *req)
{
    if (req->reader_suspended) {
        req->reader_suspended = false;
        MHD_resume_connection(req->conn);
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
        MHD_resume_connection(req->conn);
    }
}

void lgw_sse_reply(struct lgw_req *req, const struct lgw_reply *reply)
{
    pthread_mutex_lock(&req->lock);
    if (req->sse_done)
        goto out;
    if (!req->stream_started) {
        if (reply->final && reply->status != 200) {
            /* Failed before anything was streamed: a plain JSON error with its status, as OpenAI does. */
            pthread_mutex_unlock(&req->lock);
            json_t *err = req->anthropic ? lgw_anth_error_from_openai(reply->status, reply->body)
                                         : json_incref(reply->body);
            char *body = json_dumps(err, JSON_COMPACT);
            json_decref(err);
            lgw_ingress_take_route(req, reply, true);
            lgw_ingress_complete(req, reply->status, body, body ? strlen(body) : 0);
            return;
        }
        if (reply->seq != 0 && !reply->final)
            goto out; /* the middle of some run: wait for a run that starts at its beginning */
        lgw_ingress_take_route(req, reply, false); /* the cost is known only at the end */
        start(req, reply->run_id);
    } else if (strcmp(reply->run_id, req->run_id) != 0 || reply->seq != req->next_seq) {
        /* A second run of the job (after a worker crash) or a duplicate: never splice two answers. */
        goto out;
    }
    req->next_seq = reply->seq + 1;
    if (req->anthropic) { /* Anthropic's event stream: message_start ... message_stop, no [DONE] */
        if (!reply->final)
            lgw_anth_stream_chunk(&req->anth, reply->body, &req->sse);
        else if (reply->status == 200)
            lgw_anth_stream_end(&req->anth, &reply->usage, &req->sse);
        else
            lgw_anth_stream_error(reply->body, &req->sse);
        req->sse_done = reply->final;
    } else if (!reply->final) {
        append_json(req, reply->body);
    } else {
        if (reply->status != 200)
            append_json(req, reply->body);
        append_data(req, "[DONE]", 6);
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
        lgw_ingress_complete_error(req, rc, message);
        return;
    }
    if (!req->sse_done) {
        struct lgw_buf err;
        lgw_buf_init(&err, 0);
        lgw_http_error_body(rc, message, &err);
        if (req->anthropic) {
            json_t *oai = json_loadb(err.ptr, err.len, 0, NULL);
            lgw_anth_stream_error(oai, &req->sse);
            json_decref(oai);
        } else {
            append_data(req, err.ptr, err.len);
            append_data(req, "[DONE]", 6);
        }
        lgw_buf_cleanup(&err);
        req->sse_done = true;
        wake(req);
    }
    pthread_mutex_unlock(&req->lock);
}

static ssize_t reader(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    struct lgw_req *req = cls;
    ssize_t n;
    pthread_mutex_lock(&req->lock);
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
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        req->reader_suspended = true;
        MHD_suspend_connection(req->conn);
        n = 0;
    }
    pthread_mutex_unlock(&req->lock);
    return n;
}

enum MHD_Result lgw_sse_queue(struct lgw_req *req)
{
    /* 4 KiB blocks: each chunk is small, and a chunk is written as soon as it is appended. */
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, reader, req, NULL);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    lgw_ingress_route_headers(req, resp);
    enum MHD_Result r = MHD_queue_response(req->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return r;
}
