/* conn.c - one client connection (conn.h). A connection moves through: reading a head, reading a body,
 * waiting for its answer (maybe suspended), writing it; then back to reading a head, or closed.
 *
 * Memory, the reason the ingress has its own server: bytes are read into the thread's scratch buffer, and a
 * connection keeps of them only what it must: a head cut short by the packet (in), the head it is serving
 * (head_buf, sized to it), bytes pipelined behind a request (in), and an answer only while it is being
 * written. A connection that waits holds its struct, its head and its request's context; one idle between
 * requests holds its struct alone. */
#include "httpd/conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"

static void set_events(struct lgw_hconn *c, uint32_t ev)
{
    if (c->events == ev)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    int op = !c->events ? EPOLL_CTL_ADD : !ev ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    if (epoll_ctl(c->t->ep, op, c->fd, &e) != 0 && op != EPOLL_CTL_DEL) {
        LGW_WARN("http", "epoll_ctl on a client socket failed: %s; closing it", strerror(errno));
        c->st = ST_CLOSING;
    }
    c->events = ev;
}

static void list_remove(struct lgw_hconn *c)
{
    struct hlist *l = c->list;
    if (!l)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    c->prev = c->next = NULL;
    c->list = NULL;
}

static void list_append(struct hlist *l, struct lgw_hconn *c)
{
    list_remove(c);
    c->active_ms = lgw_mono_ms();
    c->prev = l->tail;
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
    c->list = l;
}

/* Activity on c: its idle timeout starts again. */
/* A head is awaited from now: it must be whole within extra_ms (the time a kept-alive client may take to
 * start it) plus head_timeout_ms, and the thread learns of the deadline (loop.c checks none before it). */
static void await_head(struct lgw_hconn *c, int64_t extra_ms)
{
    int64_t h = c->t->d->o.head_timeout_ms;
    c->head_due_ms = h > 0 ? lgw_mono_ms() + extra_ms + h : 0;
    if (c->head_due_ms && (!c->t->heads_due_ms || c->head_due_ms < c->t->heads_due_ms))
        c->t->heads_due_ms = c->head_due_ms;
}

static void touch(struct hthread *t, struct lgw_hconn *c)
{
    list_append(&t->timed, c);
}

static const char *date_field(struct hthread *t)
{
    time_t now = time(NULL);
    if (now != t->date_at) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(t->date, sizeof(t->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        t->date_at = now;
    }
    return t->date;
}

/* The status line and the fields of c's answer into out. */
static void write_head(struct lgw_hconn *c)
{
    struct lgw_hresp *r = c->resp;
    lgw_buf_printf(&c->out, "HTTP/1.1 %03u %s\r\n", r->status, lgw_http_reason(r->status));
    lgw_buf_puts(&c->out, date_field(c->t));
    lgw_buf_append(&c->out, r->fields, r->fields_len);
    bool no_body = r->status == 204 || r->status == 304 || (r->status >= 100 && r->status < 200);
    if (r->reader) {
        if (c->head.minor == 0)
            c->keep_alive = false; /* HTTP/1.0 has no chunks: the stream ends with the connection */
        else
            lgw_buf_puts(&c->out, "Transfer-Encoding: chunked\r\n");
    } else if (!no_body) {
        lgw_buf_printf(&c->out, "Content-Length: %zu\r\n", r->len);
    }
    if (r->close || c->body_unread)
        c->keep_alive = false;
    if (!c->keep_alive && !r->close)
        lgw_buf_puts(&c->out, "Connection: close\r\n");
    if (c->keep_alive && c->head.minor == 0)
        lgw_buf_puts(&c->out, "Connection: keep-alive\r\n");
    lgw_buf_puts(&c->out, "\r\n");
    if (no_body || c->head.head_method) { /* HEAD: the fields of the answer a GET would get, no body */
        c->data_off = r->len;
        if (r->reader)
            c->stream_end = true;
    }
}

enum lgw_hres lgw_hconn_queue(struct lgw_hconn *c, unsigned status, struct lgw_hresp *r)
{
    if (c->resp || status < 100 || status > 999) {
        lgw_hresp_free(r);
        return LGW_HRES_NO;
    }
    r->status = status;
    c->resp = r;
    return LGW_HRES_YES;
}

/* ---- the request's head ---- */

const char *lgw_hconn_header(const struct lgw_hconn *c, const char *name)
{
    return lgw_http_head_field(&c->head, name);
}

static size_t visit(const struct lgw_http_pair *p, size_t n, bool (*fn)(void *, const char *, const char *),
                    void *cls)
{
    size_t i = 0;
    while (i < n) {
        bool more = fn(cls, p[i].name, p[i].value);
        i++;
        if (!more)
            break;
    }
    return i;
}

size_t lgw_hconn_headers(const struct lgw_hconn *c, bool (*fn)(void *, const char *, const char *), void *cls)
{
    return visit(c->head.fields, c->head.nfields, fn, cls);
}

size_t lgw_hconn_args(const struct lgw_hconn *c, bool (*fn)(void *, const char *, const char *), void *cls)
{
    return visit(c->head.args, c->head.nargs, fn, cls);
}

const char *lgw_hconn_arg(const struct lgw_hconn *c, const char *name)
{
    for (size_t i = 0; i < c->head.nargs; i++)
        if (strcmp(c->head.args[i].name, name) == 0)
            return c->head.args[i].value;
    return NULL;
}

size_t lgw_hconn_head_bytes(const struct lgw_hconn *c)
{
    return c->head_len;
}

int lgw_hconn_fd(const struct lgw_hconn *c)
{
    return c->fd;
}

/* ---- suspend and resume ---- */

void lgw_hconn_suspend(struct lgw_hconn *c)
{
    c->suspended = true;
}

void lgw_hconn_resume(struct lgw_hconn *c)
{
    struct hthread *t = c->t;
    pthread_mutex_lock(&t->lock);
    if (!c->resume_queued) {
        c->resume_queued = true;
        c->resume_next = t->resumes;
        t->resumes = c;
    }
    pthread_mutex_unlock(&t->lock);
    uint64_t one = 1;
    ssize_t n = write(t->wake_fd, &one, sizeof(one));
    (void)n; /* the eventfd's counter cannot overflow here; a full one is already a wake-up */
}

/* ---- closing ---- */

static void end_request(struct lgw_hconn *c, bool ok)
{
    if (c->called && c->t->d->o.completed)
        c->t->d->o.completed(c->t->d->o.cls, c, &c->req_ctx, ok);
    c->called = false;
    c->req_ctx = NULL;
    lgw_hresp_free(c->resp);
    c->resp = NULL;
    lgw_buf_cleanup(&c->out);
    c->out_off = 0;
    c->data_off = 0;
    c->stream_pos = 0;
    c->stream_end = false;
    lgw_http_head_clear(&c->head);
    free(c->head_buf);
    c->head_buf = NULL;
    c->head_len = 0;
    c->body_unread = false;
}

void lgw_hconn_close(struct lgw_hconn *c)
{
    struct hthread *t = c->t;
    struct lgw_httpd *d = t->d;
    end_request(c, false);
    set_events(c, 0);
    list_remove(c);
    pthread_mutex_lock(&t->lock); /* a resume queued for it (at stop) is dropped */
    for (struct lgw_hconn **pp = &t->resumes; *pp; pp = &(*pp)->resume_next)
        if (*pp == c) {
            *pp = c->resume_next;
            break;
        }
    pthread_mutex_unlock(&t->lock);
    if (d->o.connection)
        d->o.connection(d->o.cls, c, &c->conn_ctx, false); /* before the socket number can be reused */
    close(c->fd);
    lgw_peers_release(d->peers, &c->peer);
    atomic_fetch_sub(&d->open, 1);
    for (size_t i = 0; i < t->nall; i++)
        if (t->all[i] == c) {
            t->all[i] = t->all[--t->nall];
            break;
        }
    lgw_buf_cleanup(&c->in);
    free(c);
}

/* ---- writing ---- */

/* Writes what it can of out (and a buffered answer's data). True: all of it is out. */
static bool flush(struct lgw_hconn *c)
{
    const struct lgw_hresp *r = c->resp;
    for (;;) {
        struct iovec iov[2];
        int n = 0;
        if (c->out_off < c->out.len)
            iov[n++] = (struct iovec){c->out.ptr + c->out_off, c->out.len - c->out_off};
        if (!r->reader && c->data_off < r->len)
            iov[n++] = (struct iovec){(char *)r->data + c->data_off, r->len - c->data_off};
        if (!n)
            return true;
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                c->st = ST_CLOSING; /* the client is gone */
            return false;
        }
        touch(c->t, c);
        size_t took = (size_t)w, head = c->out.len - c->out_off;
        if (took <= head) {
            c->out_off += took;
        } else {
            c->out_off = c->out.len;
            c->data_off += took - head;
        }
        if (c->out_off == c->out.len) { /* all of out went: its memory is reused for the next chunk */
            lgw_buf_reset(&c->out);
            c->out_off = 0;
        }
    }
}

/* Asks a stream's reader for its next block, framed as a chunk in out. False: the connection is suspended or
 * closing (nothing added). */
static bool next_chunk(struct lgw_hconn *c)
{
    struct lgw_hresp *r = c->resp;
    bool chunked = c->head.minor == 1;
    lgw_buf_reserve(&c->out, r->block + 32);
    size_t at = c->out.len + (chunked ? 18 : 0); /* room for the size line */
    ssize_t n = r->reader(r->reader_cls, c->stream_pos, c->out.ptr + at, r->block);
    if (n == LGW_HRESP_END) {
        c->stream_end = true;
        if (chunked)
            lgw_buf_puts(&c->out, "0\r\n\r\n");
        return true;
    }
    if (n < 0 || (size_t)n > r->block) {
        c->st = ST_CLOSING;
        return false;
    }
    if (n == 0)
        return false; /* the reader suspended the connection */
    c->stream_pos += (uint64_t)n;
    if (chunked) { /* the size line before the block, CRLF after it */
        char line[20];
        int k = snprintf(line, sizeof(line), "%zx\r\n", (size_t)n);
        memmove(c->out.ptr + c->out.len + (size_t)k, c->out.ptr + at, (size_t)n);
        memcpy(c->out.ptr + c->out.len, line, (size_t)k);
        c->out.len += (size_t)k + (size_t)n;
        lgw_buf_puts(&c->out, "\r\n");
    } else {
        c->out.len += (size_t)n;
        c->out.ptr[c->out.len] = '\0'; /* as every append leaves it */
    }
    return true;
}

static void next_request(struct lgw_hconn *c);

/* Writes the answer on, as far as the socket takes it; when it is all out, the request is over. A stream's
 * reader is asked for more only once what it gave before is out, and not while the connection is suspended. */
static void write_on(struct lgw_hconn *c)
{
    for (;;) {
        if (!flush(c)) {
            if (c->st != ST_CLOSING)
                set_events(c, EPOLLOUT);
            return;
        }
        const struct lgw_hresp *r = c->resp;
        if (!r->reader || c->stream_end)
            break;
        if (c->suspended || !next_chunk(c)) {
            if (c->st == ST_CLOSING)
                return;
            if (!c->suspended) { /* 0 from a reader that did not suspend: it would be asked forever */
                c->st = ST_CLOSING;
                return;
            }
            set_events(c, 0);
            list_remove(c);
            return;
        }
    }
    /* All of it is out. */
    bool keep = c->keep_alive, linger = c->linger || c->body_unread;
    end_request(c, true);
    if (!keep && linger && shutdown(c->fd, SHUT_WR) == 0) {
        c->st = ST_LINGER;
        list_append(&c->t->lingering, c);
        set_events(c, EPOLLIN);
        return;
    }
    if (!keep) {
        c->st = ST_CLOSING;
        return;
    }
    next_request(c);
}

/* The callback answered (or must have): start writing, or wait suspended. */
static void after_callback(struct lgw_hconn *c, enum lgw_hres rc)
{
    if (rc == LGW_HRES_NO) {
        c->st = ST_CLOSING;
        return;
    }
    if (c->resp && c->st != ST_WRITE) {
        if (c->st == ST_BODY && !lgw_http_body_done(&c->body))
            c->body_unread = true;
        c->suspended = false; /* an answer queued wins over a suspend */
        c->st = ST_WRITE;
        set_events(c, 0);
        write_head(c);
        /* A stream's first block goes out with the head, in one write. */
        if (c->resp->reader && !c->stream_end && !next_chunk(c) && c->st == ST_CLOSING)
            return;
        write_on(c);
        return;
    }
    if (c->suspended) {
        set_events(c, 0);
        list_remove(c);
    }
}

/* ---- reading ---- */

static void answer_raw(struct lgw_hconn *c, unsigned status)
{
    struct lgw_httpd *d = c->t->d;
    char body[ERROR_BODY_MAX];
    const char *ctype = "text/plain";
    size_t n = 0;
    if (d->o.error_body)
        n = d->o.error_body(d->o.cls, (int)status, body, sizeof(body), &ctype);
    if (n > sizeof(body))
        n = 0;
    struct lgw_hresp *r = lgw_hresp_buffer(n, body, LGW_HRESP_COPY);
    lgw_hresp_header(r, "Content-Type", ctype); /* a static type: no CR or LF to refuse */
    lgw_hresp_header(r, "Connection", "close");
    lgw_http_head_clear(&c->head); /* answered as HTTP/1.1, whatever came */
    c->head.minor = 1;
    c->keep_alive = false;
    c->linger = true;
    r->status = status;
    c->resp = r;
    c->st = ST_WRITE;
    set_events(c, 0);
    write_head(c);
    write_on(c);
}

static enum lgw_hres call(struct lgw_hconn *c, const char *upload, size_t *n)
{
    struct lgw_httpd *d = c->t->d;
    c->called = true;
    return d->o.request(d->o.cls, c, c->head.path, c->head.method, c->head.version, upload, n, &c->req_ctx);
}

/* The body's end was reached: the last call, where the callback answers or suspends. */
static void body_done(struct lgw_hconn *c)
{
    c->st = ST_HANDLE;
    set_events(c, 0); /* nothing more is read until the answer is out (pipelined bytes wait in the socket) */
    size_t zero = 0;
    enum lgw_hres rc = call(c, "", &zero);
    if (c->st != ST_HANDLE)
        return;
    if (rc == LGW_HRES_YES && !c->resp && !c->suspended) {
        LGW_WARN("http", "a request was neither answered nor suspended; closing its connection");
        rc = LGW_HRES_NO;
    }
    after_callback(c, rc);
}

/* Feeds body bytes to the request; returns how many of data were the body's (the rest is pipelined). */
static size_t feed_body(struct lgw_hconn *c, const char *data, size_t len)
{
    size_t used = 0;
    while (c->st == ST_BODY && used < len) {
        const char *piece;
        size_t piece_len;
        int rc = lgw_http_body_next(&c->body, data + used, len - used, &used, &piece, &piece_len);
        if (rc) {
            answer_raw(c, (unsigned)rc);
            return len;
        }
        if (piece_len) {
            size_t n = piece_len;
            enum lgw_hres r = call(c, piece, &n);
            if (r == LGW_HRES_NO) {
                c->st = ST_CLOSING;
                return len;
            }
            if (c->resp) { /* answered mid-body: the rest is never read */
                after_callback(c, r);
                return len;
            }
        }
        if (lgw_http_body_done(&c->body))
            body_done(c);
    }
    return used;
}

/* The head in c->head_buf is complete: parse it and start the request. */
static void start_request(struct lgw_hconn *c)
{
    int rc = lgw_http_head_parse(c->head_buf, c->head_len, &c->head);
    if (rc) {
        answer_raw(c, (unsigned)rc);
        return;
    }
    c->keep_alive = c->head.keep_alive;
    lgw_http_body_init(&c->body, c->head.chunked, c->head.content_length);
    c->st = ST_BODY;
    size_t zero = 0;
    enum lgw_hres r = call(c, "", &zero);
    if (r == LGW_HRES_NO || c->resp || c->suspended) {
        after_callback(c, r);
        return;
    }
    bool has_body = !lgw_http_body_done(&c->body);
    if (has_body && c->head.expect_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        ssize_t w = send(c->fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w != (ssize_t)sizeof(cont) - 1) { /* a fresh socket takes 25 bytes; one that does not is broken */
            c->st = ST_CLOSING;
            return;
        }
    }
    if (!has_body)
        body_done(c);
}

/* Keeps bytes pipelined behind a request being answered, for when it is (next_request). A client that
 * pipelines more than a head's cap before reading its answers is closed. */
static void keep(struct lgw_hconn *c, const char *data, size_t len)
{
    if (c->in.len + len > c->t->d->o.max_head_bytes + 1)
        c->st = ST_CLOSING;
    else
        lgw_buf_append(&c->in, data, len);
}

/* Takes bytes read (or pipelined): a head, the body after it, and maybe more requests behind. */
static void take(struct lgw_hconn *c, const char *data, size_t len)
{
    size_t max = c->t->d->o.max_head_bytes;
    struct lgw_buf hold; /* a head completed in in, taken out of it: data points into it */
    lgw_buf_init(&hold, 0);
    while (len && c->st != ST_CLOSING) {
        if (c->st == ST_BODY) {
            size_t used = feed_body(c, data, len);
            data += used;
            len -= used;
            continue;
        }
        if (c->st != ST_HEAD) {
            /* Answered before its body was read, or lingering: nothing more is read as a request. */
            if (!c->body_unread && c->st != ST_LINGER)
                keep(c, data, len);
            break;
        }
        size_t end, from = c->in_scanned;
        if (c->in.len) { /* a head begun in an earlier read goes on in in */
            lgw_buf_append(&c->in, data, len);
            end = lgw_http_head_end(c->in.ptr, c->in.len, &from);
            if (!end) {
                c->in_scanned = from;
                if (c->in.len > max)
                    answer_raw(c, 431);
                break;
            }
            lgw_buf_cleanup(&hold); /* what data pointed into is all in in now */
            hold = c->in;
            lgw_buf_init(&c->in, 0);
            data = hold.ptr;
            len = hold.len;
        } else {
            end = lgw_http_head_end(data, len, &from);
            if (!end) { /* a head cut short by the packet: kept for the rest */
                if (len > max)
                    answer_raw(c, 431);
                else
                    lgw_buf_append(&c->in, data, len);
                c->in_scanned = from;
                break;
            }
        }
        c->in_scanned = 0;
        if (end > max) {
            answer_raw(c, 431);
            break;
        }
        c->head_buf = lgw_malloc(end + 1);
        memcpy(c->head_buf, data, end);
        c->head_buf[end] = '\0';
        c->head_len = end;
        data += end;
        len -= end;
        start_request(c); /* then round again: its body, or the next request once this one is answered */
    }
    lgw_buf_cleanup(&hold);
}

/* The request is over and the connection kept: a next head, maybe already here (pipelined). */
static void next_request(struct lgw_hconn *c)
{
    c->st = ST_HEAD;
    c->in_scanned = 0;
    await_head(c, c->t->d->o.idle_timeout_ms);
    set_events(c, EPOLLIN);
    touch(c->t, c);
    if (c->in.len) {
        struct lgw_buf pending = c->in;
        lgw_buf_init(&c->in, 0);
        take(c, pending.ptr, pending.len);
        lgw_buf_cleanup(&pending);
    }
}

static void read_on(struct lgw_hconn *c)
{
    struct hthread *t = c->t;
    ssize_t n = recv(c->fd, t->scratch, sizeof(t->scratch), MSG_DONTWAIT);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            c->st = ST_CLOSING;
        return;
    }
    if (n == 0) { /* the client closed its side: nothing more will come */
        c->st = ST_CLOSING;
        return;
    }
    touch(t, c);
    take(c, t->scratch, (size_t)n);
}

/* ---- the loop ---- */

/* Reads and drops what a client sends after its connection's last answer, until it closes its side. */
static void linger_on(struct lgw_hconn *c)
{
    ssize_t n = recv(c->fd, c->t->scratch, sizeof(c->t->scratch), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    c->lingered += n > 0 ? (size_t)n : 0;
    if (n <= 0 || c->lingered > LINGER_BYTES) /* the time limit is expire()'s */
        c->st = ST_CLOSING;
}

void lgw_hconn_event(struct lgw_hconn *c, uint32_t ev)
{
    if (c->st == ST_LINGER)
        linger_on(c);
    else if (c->st == ST_WRITE && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
        write_on(c);
    else if ((c->st == ST_HEAD || c->st == ST_BODY) && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        read_on(c);
    if (c->st == ST_CLOSING)
        lgw_hconn_close(c);
}

void lgw_hconn_head_late(struct lgw_hconn *c)
{
    answer_raw(c, 408);
    if (c->st == ST_CLOSING)
        lgw_hconn_close(c);
}

void lgw_hconn_resumed(struct lgw_hconn *c)
{
    if (!c->suspended)
        return;
    c->suspended = false;
    touch(c->t, c);
    if (c->st == ST_WRITE) {
        write_on(c);
    } else {
        size_t zero = 0;
        enum lgw_hres rc = call(c, "", &zero);
        if (rc == LGW_HRES_YES && !c->resp && !c->suspended)
            rc = LGW_HRES_NO;
        after_callback(c, rc);
    }
    if (c->st == ST_CLOSING)
        lgw_hconn_close(c);
}


void lgw_hconn_open(struct hthread *t, int fd, const struct lgw_peer_key *key)
{
    struct lgw_httpd *d = t->d;
    if (t->nall == t->capall) {
        t->capall = t->capall ? t->capall * 2 : 64;
        t->all = lgw_realloc(t->all, t->capall * sizeof(*t->all));
    }
    struct lgw_hconn *c = lgw_calloc(1, sizeof(*c));
    t->all[t->nall++] = c;
    c->t = t;
    c->fd = fd;
    c->peer = *key;
    c->st = ST_HEAD;
    await_head(c, 0);
    /* Answers leave in small writes (a stream's chunks, each as it comes): with Nagle on, a write behind one
     * not yet acknowledged waits for the client's delayed ACK, about 40 ms. Best effort: a socket without it
     * is only slower. */
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    atomic_fetch_add(&d->open, 1);
    if (d->o.connection)
        d->o.connection(d->o.cls, c, &c->conn_ctx, true);
    set_events(c, EPOLLIN);
    touch(t, c);
    if (c->st == ST_CLOSING)
        lgw_hconn_close(c);
}
