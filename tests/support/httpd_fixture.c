/* httpd_fixture.c - llmgw's HTTP server with test routes and counting callbacks (httpd_fixture.h). */
#include "httpd_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/clock.h"
#include "tests/support/http_client.h"

static void bad(struct lgw_hfix *fx, const char *what)
{
    pthread_mutex_lock(&fx->lock);
    if (!fx->errors++)
        snprintf(fx->error, sizeof(fx->error), "%s", what);
    pthread_mutex_unlock(&fx->lock);
}

/* Hands a connection just suspended to the test, which resumes it. */
static void park(struct lgw_hfix *fx, struct lgw_hconn *c)
{
    pthread_mutex_lock(&fx->lock);
    if (fx->nparked < LGW_HFIX_PARKED_MAX)
        fx->parked[fx->nparked++] = c;
    pthread_cond_broadcast(&fx->cond);
    pthread_mutex_unlock(&fx->lock);
}

static enum lgw_hres answer(struct lgw_hconn *c, unsigned status, const char *text)
{
    struct lgw_hresp *r = lgw_hresp_buffer(strlen(text), text, LGW_HRESP_COPY);
    if (!r || lgw_hresp_header(r, "Content-Type", "text/plain") || lgw_hresp_header(r, "X-Test", "yes")) {
        lgw_hresp_free(r);
        return LGW_HRES_NO;
    }
    return lgw_hconn_queue(c, status, r);
}

static bool field_cb(void *cls, const char *name, const char *value)
{
    struct lgw_hfix_req *r = cls;
    (void)value;
    size_t len = strlen(r->fields);
    snprintf(r->fields + len, sizeof(r->fields) - len, "%s;", name);
    return true;
}

static bool arg_cb(void *cls, const char *name, const char *value)
{
    struct lgw_hfix_req *r = cls;
    r->nargs++;
    if (strcmp(name, "n") == 0)
        snprintf(r->n, sizeof(r->n), "%s", value);
    return true;
}

/* Gives "part0;" ... then ends, suspending the connection (and handing it to the test) between pieces. */
static ssize_t pieces_reader(void *cls, uint64_t pos, char *out, size_t max)
{
    struct lgw_hfix_req *r = cls;
    if (pos != r->pos)
        bad(r->fx, "a stream's reader was given a wrong pos");
    if (r->suspend_next) {
        r->suspend_next = false;
        lgw_hconn_suspend(r->conn);
        park(r->fx, r->conn);
        return 0;
    }
    if (r->reads == LGW_HFIX_PIECES)
        return LGW_HRESP_END;
    int n = snprintf(out, max, "part%d;", r->reads);
    if (n < 0 || (size_t)n >= max) {
        bad(r->fx, "a stream's block is too small");
        return LGW_HRESP_ERROR;
    }
    r->reads++;
    r->pos += (uint64_t)n;
    r->suspend_next = true;
    return n;
}

/* A stream that never ends. */
static ssize_t endless_reader(void *cls, uint64_t pos, char *out, size_t max)
{
    struct lgw_hfix_req *r = cls;
    if (pos != r->pos)
        bad(r->fx, "an endless stream's reader was given a wrong pos");
    memset(out, 'x', max);
    r->pos += max;
    return (ssize_t)max;
}

static enum lgw_hres stream(struct lgw_hconn *c, size_t block, lgw_hresp_reader_fn reader, struct lgw_hfix_req *r)
{
    struct lgw_hresp *resp = lgw_hresp_stream(block, reader, r);
    if (!resp || lgw_hresp_header(resp, "Content-Type", "text/plain")) {
        lgw_hresp_free(resp);
        return LGW_HRES_NO;
    }
    return lgw_hconn_queue(c, 200, resp);
}

/* The routes (httpd_fixture.h), in the request callback's three steps: the head, each piece of the body,
 * the end (and again after a resume). */
static enum lgw_hres request_cb(void *cls, struct lgw_hconn *c, const char *path, const char *method,
                                const char *version, const char *upload, size_t *upload_size, void **req_ctx)
{
    struct lgw_hfix *fx = cls;
    struct lgw_hfix_req *r = *req_ctx;
    if (!r) { /* the head */
        if (*upload_size)
            bad(fx, "the head's call came with an upload");
        r = calloc(1, sizeof(*r));
        if (!r)
            return LGW_HRES_NO;
        r->fx = fx;
        r->conn = c;
        snprintf(r->path, sizeof(r->path), "%s", path);
        snprintf(r->method, sizeof(r->method), "%s", method);
        snprintf(r->version, sizeof(r->version), "%s", version);
        const char *host = lgw_hconn_header(c, "host");
        snprintf(r->host, sizeof(r->host), "%s", host ? host : "");
        lgw_hconn_args(c, arg_cb, r);
        r->nfields = lgw_hconn_headers(c, field_cb, r);
        r->head_bytes = lgw_hconn_head_bytes(c);
        lgw_buf_init(&r->upload, 0);
        pthread_mutex_lock(&fx->lock);
        r->next = fx->reqs;
        fx->reqs = r;
        fx->nreqs++;
        pthread_cond_broadcast(&fx->cond);
        pthread_mutex_unlock(&fx->lock);
        *req_ctx = r;
        if (strcmp(path, "/early") == 0)
            return answer(c, 413, "too large");
        return LGW_HRES_YES;
    }
    if (*upload_size) { /* a piece of the body */
        lgw_buf_append(&r->upload, upload, *upload_size);
        r->pieces++;
        *upload_size = 0;
        return LGW_HRES_YES;
    }
    r->handle_calls++;
    if (strcmp(path, "/hello") == 0) {
        char text[64];
        snprintf(text, sizeof(text), "hello %s", r->n);
        return answer(c, 200, text);
    }
    if (strcmp(path, "/echo") == 0) {
        size_t len = r->upload.len;
        char *data = lgw_buf_take(&r->upload, &len);
        if (!data && !(data = malloc(1))) /* an empty body too is handed over malloc'd, as FREE asks */
            return LGW_HRES_NO;
        struct lgw_hresp *resp = lgw_hresp_buffer(len, data, LGW_HRESP_FREE);
        if (!resp) {
            free(data);
            return LGW_HRES_NO;
        }
        return lgw_hconn_queue(c, 200, resp);
    }
    if (strcmp(path, "/park") == 0 || strcmp(path, "/hold") == 0) {
        if (r->handle_calls > 1)
            return path[1] == 'p' ? answer(c, 200, "resumed") : LGW_HRES_NO;
        lgw_hconn_suspend(c);
        park(fx, c);
        return LGW_HRES_YES;
    }
    if (strcmp(path, "/stream") == 0)
        return stream(c, 16, pieces_reader, r);
    if (strcmp(path, "/endless") == 0)
        return stream(c, 16384, endless_reader, r);
    if (strcmp(path, "/refuse") == 0)
        return LGW_HRES_NO;
    if (strcmp(path, "/nocontent") == 0)
        return answer(c, 204, "a body a 204 must not send");
    if (strcmp(path, "/bye") == 0) {
        struct lgw_hresp *resp = lgw_hresp_buffer(3, "bye", LGW_HRESP_STATIC);
        if (!resp || lgw_hresp_header(resp, "Connection", "close")) {
            lgw_hresp_free(resp);
            return LGW_HRES_NO;
        }
        return lgw_hconn_queue(c, 200, resp);
    }
    return answer(c, 404, "no such route");
}

static void completed_cb(void *cls, struct lgw_hconn *c, void **req_ctx, bool ok)
{
    struct lgw_hfix *fx = cls;
    struct lgw_hfix_req *r = *req_ctx;
    if (!r || r->conn != c) {
        bad(fx, "completed without the request's context");
        return;
    }
    pthread_mutex_lock(&fx->lock);
    r->completions++;
    r->ok = ok;
    if (ok)
        fx->completed_ok++;
    else
        fx->completed_failed++;
    pthread_cond_broadcast(&fx->cond);
    pthread_mutex_unlock(&fx->lock);
}

static void connection_cb(void *cls, struct lgw_hconn *c, void **conn_ctx, bool open)
{
    struct lgw_hfix *fx = cls;
    if (open ? *conn_ctx != NULL : *conn_ctx != fx)
        bad(fx, "a connection's context is not what its open set");
    int nodelay = 0;
    socklen_t len = sizeof(nodelay);
    if (open && (getsockopt(lgw_hconn_fd(c), IPPROTO_TCP, TCP_NODELAY, &nodelay, &len) != 0 || !nodelay))
        bad(fx, "a connection's socket has Nagle on: a stream's chunks would wait for delayed ACKs");
    *conn_ctx = fx;
    pthread_mutex_lock(&fx->lock);
    if (open)
        fx->opens++;
    else
        fx->closes++;
    pthread_cond_broadcast(&fx->cond);
    pthread_mutex_unlock(&fx->lock);
}

static size_t error_body_cb(void *cls, int status, char *out, size_t cap, const char **content_type)
{
    (void)cls;
    *content_type = "application/json";
    int n = snprintf(out, cap, "{\"status\":%d}", status);
    return n > 0 ? (size_t)n : 0;
}

/* ---- the fixture ---- */

static void start(struct lgw_hfix *fx, unsigned per_ip, int64_t idle_ms, int64_t head_ms, size_t max_head)
{
    memset(fx, 0, sizeof(*fx));
    pthread_mutex_init(&fx->lock, NULL);
    pthread_cond_init(&fx->cond, NULL);
    struct lgw_httpd_options o = {
        .addr = "127.0.0.1",
        .port = 0,
        .threads = 2,
        .backlog = 64,
        .max_connections = 64,
        .max_connections_per_ip = per_ip,
        .max_head_bytes = max_head,
        .idle_timeout_ms = idle_ms,
        .head_timeout_ms = head_ms,
        .request = request_cb,
        .completed = completed_cb,
        .connection = connection_cb,
        .error_body = error_body_cb,
        .cls = fx,
    };
    assert_int_equal(lgw_httpd_start(&o, &fx->d), 0);
    fx->port = lgw_httpd_port(fx->d);
    assert_true(fx->port > 0);
}

void lgw_hfix_start_with(struct lgw_hfix *fx, unsigned per_ip, int64_t idle_ms, size_t max_head)
{
    start(fx, per_ip, idle_ms, 0, max_head);
}

void lgw_hfix_start_heads(struct lgw_hfix *fx, int64_t idle_ms, int64_t head_ms)
{
    start(fx, 0, idle_ms, head_ms, 16384);
}

void lgw_hfix_start(struct lgw_hfix *fx)
{
    lgw_hfix_start_with(fx, 0, 0, 16384);
}

void lgw_hfix_stop(struct lgw_hfix *fx)
{
    lgw_httpd_stop(fx->d);
    fx->d = NULL;
    if (fx->errors)
        fail_msg("%d callback error(s), the first: %s", fx->errors, fx->error);
    assert_int_equal(fx->opens, fx->closes);
    assert_int_equal(fx->completed_ok + fx->completed_failed, fx->nreqs);
    while (fx->reqs) {
        struct lgw_hfix_req *r = fx->reqs;
        fx->reqs = r->next;
        if (r->completions != 1)
            fail_msg("request %s %s completed %d times", r->method, r->path, r->completions);
        lgw_buf_cleanup(&r->upload);
        free(r);
    }
    pthread_cond_destroy(&fx->cond);
    pthread_mutex_destroy(&fx->lock);
}

int lgw_hfix_wait(struct lgw_hfix *fx, const int *count, int want)
{
    struct timespec until = lgw_deadline_in_ms(CLOCK_REALTIME, LGW_HCLIENT_WAIT_MS);
    pthread_mutex_lock(&fx->lock);
    while (*count < want && pthread_cond_timedwait(&fx->cond, &fx->lock, &until) != ETIMEDOUT) {
    }
    int n = *count;
    pthread_mutex_unlock(&fx->lock);
    return n;
}

int lgw_hfix_count(struct lgw_hfix *fx, const int *count)
{
    pthread_mutex_lock(&fx->lock);
    int n = *count;
    pthread_mutex_unlock(&fx->lock);
    return n;
}

unsigned lgw_hfix_wait_open(struct lgw_hfix *fx, unsigned want)
{
    int64_t deadline = lgw_mono_ms() + LGW_HCLIENT_WAIT_MS;
    unsigned n;
    while ((n = lgw_httpd_open_connections(fx->d)) != want && lgw_mono_ms() < deadline) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return n;
}

struct lgw_hconn *lgw_hfix_parked(struct lgw_hfix *fx)
{
    struct timespec until = lgw_deadline_in_ms(CLOCK_REALTIME, LGW_HCLIENT_WAIT_MS);
    pthread_mutex_lock(&fx->lock);
    while (!fx->nparked && pthread_cond_timedwait(&fx->cond, &fx->lock, &until) != ETIMEDOUT) {
    }
    struct lgw_hconn *c = NULL;
    if (fx->nparked) {
        c = fx->parked[0];
        memmove(fx->parked, fx->parked + 1, (size_t)--fx->nparked * sizeof(fx->parked[0]));
    }
    pthread_mutex_unlock(&fx->lock);
    assert_non_null(c);
    return c;
}

struct lgw_hfix_req *lgw_hfix_req(struct lgw_hfix *fx, const char *path)
{
    pthread_mutex_lock(&fx->lock);
    struct lgw_hfix_req *r = fx->reqs;
    while (r && strcmp(r->path, path) != 0)
        r = r->next;
    pthread_mutex_unlock(&fx->lock);
    assert_non_null(r);
    return r;
}

void lgw_hfix_get_hello(struct lgw_hclient *cl, const char *n)
{
    char req[128], want[64];
    snprintf(req, sizeof(req), "GET /hello?n=%s HTTP/1.1\r\nHost: t\r\n\r\n", n);
    snprintf(want, sizeof(want), "hello %s", n);
    lgw_hclient_sends(cl, req);
    struct lgw_hanswer a;
    lgw_hclient_read(cl, &a, false);
    assert_int_equal(a.status, 200);
    assert_string_equal(lgw_hanswer_body(&a), want);
    lgw_hanswer_cleanup(&a);
}

struct lgw_hconn *lgw_hfix_park(struct lgw_hfix *fx, struct lgw_hclient *cl)
{
    lgw_hclient_open(cl, fx->port);
    lgw_hclient_sends(cl, "GET /park HTTP/1.1\r\nHost: t\r\n\r\n");
    return lgw_hfix_parked(fx);
}
