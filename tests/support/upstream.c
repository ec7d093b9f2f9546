/* upstream.c - the scripted upstream server for unit tests (see upstream.h).
 *
 * libmicrohttpd with a thread per connection: an answer's delays are plain waits on the connection's own
 * thread, and a stream is a content-reader callback that hands out one piece per call (MHD asks for the next
 * chunk only once the previous one is written, so a cut after piece k closes the connection after k was
 * sent). Waits are on one condition variable that the server's stop broadcasts, so nothing outlives it. */
#include "tests/support/upstream.h"

#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"

struct piece {
    char *bytes;
    size_t len;
    int delay_ms;
};

struct lgw_upstream_answer {
    int status;
    size_t nheaders;
    char **names, **values;
    char *body;
    size_t body_len;
    struct piece *pieces;
    size_t npieces;
    bool cut;
    int delay_ms;
    struct lgw_upstream_answer *next; /* the queue */
};

struct lgw_upstream {
    struct MHD_Daemon *daemon;
    char url[64];
    pthread_mutex_t lock;
    pthread_cond_t cond; /* broadcast on stop and on each request recorded; CLOCK_MONOTONIC */
    bool stopping;
    struct lgw_upstream_answer *head, *tail;
    struct lgw_upstream_request **reqs;
    size_t nreqs, cap;
    size_t cut_by_client;
};

/* One request being received: MHD's per-request pointer, from the URI callback to the completion one. */
struct conn_req {
    struct lgw_upstream *up;
    struct lgw_upstream_request *req; /* ours until recorded */
    struct lgw_buf body;
    bool headers_read;
};

/* A stream being written: the content reader's state, freed with the response. */
struct stream_state {
    struct lgw_upstream *up;
    struct lgw_upstream_answer *a;
    size_t piece, off;
    bool finished; /* the script ran to its end (or its cut): anything else means the client left */
};

/* ---- answers ---- */

struct lgw_upstream_answer *lgw_upstream_answer_new(int status)
{
    struct lgw_upstream_answer *a = lgw_calloc(1, sizeof(*a));
    a->status = status;
    return a;
}

void lgw_upstream_answer_free(struct lgw_upstream_answer *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nheaders; i++) {
        free(a->names[i]);
        free(a->values[i]);
    }
    free(a->names);
    free(a->values);
    free(a->body);
    for (size_t i = 0; i < a->npieces; i++)
        free(a->pieces[i].bytes);
    free(a->pieces);
    free(a);
}

void lgw_upstream_answer_header(struct lgw_upstream_answer *a, const char *name, const char *value)
{
    a->names = lgw_realloc(a->names, (a->nheaders + 1) * sizeof(*a->names));
    a->values = lgw_realloc(a->values, (a->nheaders + 1) * sizeof(*a->values));
    a->names[a->nheaders] = lgw_strdup(name);
    a->values[a->nheaders] = lgw_strdup(value);
    a->nheaders++;
}

void lgw_upstream_answer_body(struct lgw_upstream_answer *a, const void *bytes, size_t len)
{
    free(a->body);
    a->body = lgw_malloc(len + 1);
    memcpy(a->body, bytes, len);
    a->body_len = len;
}

void lgw_upstream_answer_piece(struct lgw_upstream_answer *a, const void *bytes, size_t len, int delay_ms)
{
    a->pieces = lgw_realloc(a->pieces, (a->npieces + 1) * sizeof(*a->pieces));
    struct piece *p = &a->pieces[a->npieces++];
    p->bytes = lgw_malloc(len + 1);
    memcpy(p->bytes, bytes, len);
    p->len = len;
    p->delay_ms = delay_ms;
}

void lgw_upstream_answer_cut(struct lgw_upstream_answer *a)
{
    a->cut = true;
}

void lgw_upstream_answer_delay(struct lgw_upstream_answer *a, int delay_ms)
{
    a->delay_ms = delay_ms;
}

/* ---- requests ---- */

static void request_free(struct lgw_upstream_request *req)
{
    if (!req)
        return;
    free(req->target);
    for (size_t i = 0; i < req->nheaders; i++) {
        free(req->names[i]);
        free(req->values[i]);
    }
    free(req->names);
    free(req->values);
    free(req->body);
    free(req);
}

const char *lgw_upstream_header(const struct lgw_upstream_request *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->names[i], name) == 0)
            return req->values[i];
    return NULL;
}

/* Waits ms unless the server stops first; false when it is stopping. */
static bool nap(struct lgw_upstream *up, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&up->lock);
    while (!up->stopping && ms > 0 && pthread_cond_timedwait(&up->cond, &up->lock, &until) != ETIMEDOUT)
        ;
    bool go_on = !up->stopping;
    pthread_mutex_unlock(&up->lock);
    return go_on;
}

/* ---- the server's callbacks (its threads) ---- */

static void *uri_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)conn;
    struct conn_req *cr = lgw_calloc(1, sizeof(*cr));
    cr->up = cls;
    cr->req = lgw_calloc(1, sizeof(*cr->req));
    cr->req->target = lgw_strdup(uri);
    cr->req->arrived_us = lgw_mono_us();
    lgw_buf_init(&cr->body, 0);
    return cr;
}

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *name, const char *value)
{
    (void)kind;
    struct lgw_upstream_request *req = cls;
    req->names = lgw_realloc(req->names, (req->nheaders + 1) * sizeof(*req->names));
    req->values = lgw_realloc(req->values, (req->nheaders + 1) * sizeof(*req->values));
    req->names[req->nheaders] = lgw_strdup(name);
    req->values[req->nheaders] = lgw_strdup(value ? value : "");
    req->nheaders++;
    return MHD_YES;
}

static ssize_t read_piece(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct stream_state *ss = cls;
    const struct lgw_upstream_answer *a = ss->a;
    while (ss->piece < a->npieces) {
        const struct piece *p = &a->pieces[ss->piece];
        if (ss->off == 0 && !nap(ss->up, p->delay_ms))
            return MHD_CONTENT_READER_END_WITH_ERROR; /* the server is stopping */
        if (p->len == 0) { /* a pause only: nothing to write */
            ss->piece++;
            continue;
        }
        size_t n = p->len - ss->off < max ? p->len - ss->off : max;
        memcpy(buf, p->bytes + ss->off, n);
        ss->off += n;
        if (ss->off == p->len) {
            ss->piece++;
            ss->off = 0;
        }
        return (ssize_t)n;
    }
    ss->finished = true;
    /* A cut closes the connection with the chunked body unfinished: the client sees a truncated stream. */
    return a->cut ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
}

static void stream_free(void *cls)
{
    struct stream_state *ss = cls;
    if (!ss->finished) {
        pthread_mutex_lock(&ss->up->lock);
        ss->up->cut_by_client++;
        pthread_mutex_unlock(&ss->up->lock);
    }
    lgw_upstream_answer_free(ss->a);
    free(ss);
}

/* The answer for a request that found the queue empty: 400, which nothing retries. */
static struct lgw_upstream_answer *no_answer(void)
{
    static const char body[] = "{\"error\":{\"message\":\"upstream script: no answer left for this request\","
                               "\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}";
    struct lgw_upstream_answer *a = lgw_upstream_answer_new(400);
    lgw_upstream_answer_header(a, "x-should-retry", "false");
    lgw_upstream_answer_body(a, body, sizeof(body) - 1);
    return a;
}

static enum MHD_Result send_answer(struct lgw_upstream *up, struct MHD_Connection *conn,
                                   struct lgw_upstream_answer *a)
{
    if (a->delay_ms > 0 && !nap(up, a->delay_ms)) {
        lgw_upstream_answer_free(a);
        return MHD_NO; /* stopping: drop the connection */
    }
    struct MHD_Response *resp;
    bool stream = a->npieces > 0;
    if (!stream && a->cut && a->body_len > 1) {
        /* A body cut short: its full length announced, half of it sent, then the connection closed. */
        struct stream_state *ss = lgw_calloc(1, sizeof(*ss));
        ss->up = up;
        ss->a = a;
        lgw_upstream_answer_piece(a, a->body, a->body_len / 2, 0);
        resp = MHD_create_response_from_callback(a->body_len, 4096, read_piece, ss, stream_free);
    } else if (stream) {
        struct stream_state *ss = lgw_calloc(1, sizeof(*ss));
        ss->up = up;
        ss->a = a; /* freed with the response */
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, read_piece, ss, stream_free);
    } else {
        resp = MHD_create_response_from_buffer(a->body_len, a->body ? a->body : (void *)"", MHD_RESPMEM_MUST_COPY);
    }
    bool owned_by_response = a->npieces > 0; /* the reader's state frees it with the response */
    bool typed = false;
    for (size_t i = 0; i < a->nheaders; i++) {
        MHD_add_response_header(resp, a->names[i], a->values[i]);
        typed = typed || strcasecmp(a->names[i], "content-type") == 0;
    }
    if (!typed)
        MHD_add_response_header(resp, "Content-Type", stream ? "text/event-stream" : "application/json");
    enum MHD_Result r = MHD_queue_response(conn, (unsigned int)a->status, resp);
    MHD_destroy_response(resp);
    if (!owned_by_response)
        lgw_upstream_answer_free(a);
    return r;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)url;
    (void)version;
    struct lgw_upstream *up = cls;
    struct conn_req *cr = *con_cls;
    if (!cr->headers_read) {
        cr->headers_read = true;
        snprintf(cr->req->method, sizeof(cr->req->method), "%s", method);
        MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header, cr->req);
        return MHD_YES;
    }
    if (*upload_size) {
        lgw_buf_append(&cr->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    /* The whole request is in: record it, then answer with the script's next answer. */
    struct lgw_upstream_request *req = cr->req;
    cr->req = NULL;
    req->body = lgw_buf_take(&cr->body, &req->body_len);
    if (!req->body)
        req->body = lgw_strdup("");
    pthread_mutex_lock(&up->lock);
    if (up->nreqs == up->cap) {
        up->cap = up->cap ? 2 * up->cap : 16;
        up->reqs = lgw_realloc(up->reqs, up->cap * sizeof(*up->reqs));
    }
    up->reqs[up->nreqs++] = req;
    struct lgw_upstream_answer *a = up->head;
    if (a) {
        up->head = a->next;
        if (!up->head)
            up->tail = NULL;
        a->next = NULL;
    }
    pthread_cond_broadcast(&up->cond);
    pthread_mutex_unlock(&up->lock);
    return send_answer(up, conn, a ? a : no_answer());
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct conn_req *cr = *con_cls;
    if (!cr)
        return;
    request_free(cr->req); /* a request the client gave up before its end */
    lgw_buf_cleanup(&cr->body);
    free(cr);
    *con_cls = NULL;
}

/* ---- the server ---- */

struct lgw_upstream *lgw_upstream_new(void)
{
    struct lgw_upstream *up = lgw_calloc(1, sizeof(*up));
    lgw_cond_init_mono(&up->cond);
    pthread_mutex_init(&up->lock, NULL);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    up->daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0,
                                  NULL, NULL, access_cb, up, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                  MHD_OPTION_URI_LOG_CALLBACK, uri_cb, up, MHD_OPTION_NOTIFY_COMPLETED,
                                  completed_cb, up, MHD_OPTION_END);
    if (!up->daemon) {
        lgw_upstream_free(up);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(up->daemon, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(up->url, sizeof(up->url), "http://127.0.0.1:%u", (unsigned)info->port);
    return up;
}

void lgw_upstream_free(struct lgw_upstream *up)
{
    if (!up)
        return;
    pthread_mutex_lock(&up->lock);
    up->stopping = true; /* every wait ends now, so MHD's threads can be joined */
    pthread_cond_broadcast(&up->cond);
    pthread_mutex_unlock(&up->lock);
    if (up->daemon)
        MHD_stop_daemon(up->daemon);
    lgw_upstream_reset(up);
    free(up->reqs);
    pthread_mutex_destroy(&up->lock);
    pthread_cond_destroy(&up->cond);
    free(up);
}

const char *lgw_upstream_url(const struct lgw_upstream *up)
{
    return up->url;
}

void lgw_upstream_push(struct lgw_upstream *up, struct lgw_upstream_answer *answer)
{
    pthread_mutex_lock(&up->lock);
    answer->next = NULL;
    if (up->tail)
        up->tail->next = answer;
    else
        up->head = answer;
    up->tail = answer;
    pthread_mutex_unlock(&up->lock);
}

size_t lgw_upstream_unused(struct lgw_upstream *up)
{
    pthread_mutex_lock(&up->lock);
    size_t n = 0;
    for (const struct lgw_upstream_answer *a = up->head; a; a = a->next)
        n++;
    pthread_mutex_unlock(&up->lock);
    return n;
}

size_t lgw_upstream_count(struct lgw_upstream *up)
{
    pthread_mutex_lock(&up->lock);
    size_t n = up->nreqs;
    pthread_mutex_unlock(&up->lock);
    return n;
}

const struct lgw_upstream_request *lgw_upstream_request(struct lgw_upstream *up, size_t i)
{
    pthread_mutex_lock(&up->lock);
    const struct lgw_upstream_request *req = i < up->nreqs ? up->reqs[i] : NULL;
    pthread_mutex_unlock(&up->lock);
    return req; /* never changed after it was recorded: safe to read without the lock */
}

bool lgw_upstream_wait_count(struct lgw_upstream *up, size_t n, int timeout_ms)
{
    int64_t until = lgw_mono_ms() + timeout_ms;
    pthread_mutex_lock(&up->lock);
    while (up->nreqs < n && lgw_mono_ms() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 10 * 1000000L; /* look again every 10 ms: the deadline is checked above */
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&up->cond, &up->lock, &ts);
    }
    bool ok = up->nreqs >= n;
    pthread_mutex_unlock(&up->lock);
    return ok;
}

size_t lgw_upstream_cut_by_client(struct lgw_upstream *up)
{
    pthread_mutex_lock(&up->lock);
    size_t n = up->cut_by_client;
    pthread_mutex_unlock(&up->lock);
    return n;
}

void lgw_upstream_reset(struct lgw_upstream *up)
{
    pthread_mutex_lock(&up->lock);
    struct lgw_upstream_answer *a = up->head;
    up->head = up->tail = NULL;
    for (size_t i = 0; i < up->nreqs; i++)
        request_free(up->reqs[i]);
    up->nreqs = 0;
    up->cut_by_client = 0;
    pthread_mutex_unlock(&up->lock);
    while (a) {
        struct lgw_upstream_answer *next = a->next;
        lgw_upstream_answer_free(a);
        a = next;
    }
}
