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
static void touch(struct hthread *t, struct lgw_hconn *c)
{
    list_append(&t->timed, c);
}

static bool out_reserve(struct lgw_hconn *c, size_t more)
{
    if (c->out_len + more <= c->out_cap)
        return true;
    size_t cap = c->out_cap ? c->out_cap : 256;
    while (cap < c->out_len + more)
        cap *= 2;
    char *p = realloc(c->out, cap);
    if (!p)
        return false;
    c->out = p;
    c->out_cap = cap;
    return true;
}

static bool out_add(struct lgw_hconn *c, const char *s, size_t n)
{
    if (!out_reserve(c, n))
        return false;
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
    return true;
}

static void out_drop(struct lgw_hconn *c)
{
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = c->out_cap = 0;
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
static bool write_head(struct lgw_hconn *c)
{
    struct lgw_hresp *r = c->resp;
    char line[STATUS_LINE_MAX + 64];
    int n = snprintf(line, sizeof(line), "HTTP/1.1 %03u %s\r\n", r->status, lgw_http_reason(r->status));
    const char *date = date_field(c->t);
    if (!out_add(c, line, (size_t)n) || !out_add(c, date, strlen(date)))
        return false;
    if (r->fields_len && !out_add(c, r->fields, r->fields_len))
        return false;
    bool no_body = r->status == 204 || r->status == 304 || (r->status >= 100 && r->status < 200);
    if (r->reader) {
        if (c->head.minor == 0)
            c->keep_alive = false; /* HTTP/1.0 has no chunks: the stream ends with the connection */
        else if (!out_add(c, "Transfer-Encoding: chunked\r\n", 28))
            return false;
    } else if (!no_body) {
        n = snprintf(line, sizeof(line), "Content-Length: %zu\r\n", r->len);
        if (!out_add(c, line, (size_t)n))
            return false;
    }
    if (r->close || c->body_unread)
        c->keep_alive = false;
    if (!c->keep_alive && !r->close && !out_add(c, "Connection: close\r\n", 19))
        return false;
    if (c->keep_alive && c->head.minor == 0 && !out_add(c, "Connection: keep-alive\r\n", 24))
        return false;
    if (!out_add(c, "\r\n", 2))
        return false;
    if (no_body || c->head.head_method) { /* HEAD: the fields of the answer a GET would get, no body */
        c->data_off = r->len;
        if (r->reader)
            c->stream_end = true;
    }
    return true;
}

enum lgw_hres lgw_hconn_queue(struct lgw_hconn *c, unsigned status, struct lgw_hresp *r)
{
    if (!r)
        return LGW_HRES_NO;
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

void *lgw_hconn_context(const struct lgw_hconn *c)
{
    return c->conn_ctx;
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
    out_drop(c);
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
    free(c->in);
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
        if (c->out_off < c->out_len)
            iov[n++] = (struct iovec){c->out + c->out_off, c->out_len - c->out_off};
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
        size_t took = (size_t)w, head = c->out_len - c->out_off;
        if (took <= head) {
            c->out_off += took;
        } else {
            c->out_off = c->out_len;
            c->data_off += took - head;
        }
        if (c->out_off == c->out_len) {
            c->out_len = c->out_off = 0;
        }
    }
}

/* Asks a stream's reader for its next block, framed as a chunk in out. False: the connection is suspended or
 * closing (nothing added). */
static bool next_chunk(struct lgw_hconn *c)
{
    struct lgw_hresp *r = c->resp;
    bool chunked = c->head.minor == 1;
    if (!out_reserve(c, r->block + 32)) {
        c->st = ST_CLOSING;
        return false;
    }
    size_t at = c->out_len + (chunked ? 18 : 0); /* room for the size line */
    ssize_t n = r->reader(r->reader_cls, c->stream_pos, c->out + at, r->block);
    if (n == LGW_HRESP_END) {
        c->stream_end = true;
        if (chunked && !out_add(c, "0\r\n\r\n", 5))
            c->st = ST_CLOSING;
        return c->st != ST_CLOSING;
    }
    if (n < 0 || (size_t)n > r->block) {
        c->st = ST_CLOSING;
        return false;
    }
    if (n == 0)
        return false; /* the reader suspended the connection */
    c->stream_pos += (uint64_t)n;
    if (!chunked) {
        c->out_len += (size_t)n;
        return true;
    }
    char line[20];
    int k = snprintf(line, sizeof(line), "%zx\r\n", (size_t)n);
    memmove(c->out + c->out_len + (size_t)k, c->out + at, (size_t)n);
    memcpy(c->out + c->out_len, line, (size_t)k);
    c->out_len += (size_t)k + (size_t)n;
    memcpy(c->out + c->out_len, "\r\n", 2);
    c->out_len += 2;
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
        if (!write_head(c)) {
            c->st = ST_CLOSING;
            return;
        }
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
    if (!r || lgw_hresp_header(r, "Content-Type", ctype) || lgw_hresp_header(r, "Connection", "close")) {
        lgw_hresp_free(r);
        c->st = ST_CLOSING;
        return;
    }
    lgw_http_head_clear(&c->head); /* answered as HTTP/1.1, whatever came */
    c->head.minor = 1;
    c->keep_alive = false;
    c->linger = true;
    r->status = status;
    c->resp = r;
    c->st = ST_WRITE;
    set_events(c, 0);
    if (!write_head(c)) {
        c->st = ST_CLOSING;
        return;
    }
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

/* Takes bytes read (or pipelined) for a connection in ST_HEAD or ST_BODY. Bytes it cannot use yet (behind a
 * request being answered) are kept in c->in. */
static void take(struct lgw_hconn *c, const char *data, size_t len)
{
    struct lgw_httpd *d = c->t->d;
    char *owned = NULL; /* a copy of pipelined bytes that data points into */
    while (len && c->st != ST_CLOSING) {
        if (c->st == ST_BODY) {
            size_t used = feed_body(c, data, len);
            data += used;
            len -= used;
            continue;
        }
        if (c->st != ST_HEAD) { /* pipelined behind a request being answered: kept until it is */
            char *p = c->in_len + len <= d->o.max_head_bytes + 1 ? realloc(c->in, c->in_len + len) : NULL;
            if (!p) {
                c->st = ST_CLOSING;
                break;
            }
            memcpy(p + c->in_len, data, len);
            c->in = p;
            c->in_len += len;
            c->in_cap = c->in_len;
            break;
        }
        /* A head: found in data directly when nothing is pending, else in in. */
        const char *buf = data;
        size_t blen = len, from = 0;
        if (c->in_len) {
            size_t n = len; /* all of it: at most a head's cap and one read */
            if (c->in_len + n > c->in_cap) {
                size_t cap = c->in_cap ? c->in_cap * 2 : 1024;
                while (cap < c->in_len + n)
                    cap *= 2;
                char *p = realloc(c->in, cap);
                if (!p) {
                    c->st = ST_CLOSING;
                    break;
                }
                c->in = p;
                c->in_cap = cap;
            }
            memcpy(c->in + c->in_len, data, n);
            c->in_len += n;
            data += n;
            len -= n;
            buf = c->in;
            blen = c->in_len;
            from = c->in_scanned;
        }
        size_t end = lgw_http_head_end(buf, blen, &from);
        if (!end) {
            if (blen > d->o.max_head_bytes) {
                answer_raw(c, 431);
                break;
            }
            if (buf == c->in) {
                c->in_scanned = from;
                continue; /* all of data is in in now (or the cap was reached, answered above) */
            }
            /* A head cut short: keep it. */
            c->in = malloc(len > 1024 ? len : 1024);
            if (!c->in) {
                c->st = ST_CLOSING;
                break;
            }
            c->in_cap = len > 1024 ? len : 1024;
            memcpy(c->in, data, len);
            c->in_len = len;
            c->in_scanned = from;
            break;
        }
        if (end > d->o.max_head_bytes) {
            answer_raw(c, 431);
            break;
        }
        c->head_buf = malloc(end + 1);
        if (!c->head_buf) {
            c->st = ST_CLOSING;
            break;
        }
        memcpy(c->head_buf, buf, end);
        c->head_buf[end] = '\0';
        c->head_len = end;
        const char *rest;
        size_t rest_len;
        char *old_in = NULL;
        if (buf == c->in) {
            /* What followed the head in in is taken from there; in is given up (kept while used). */
            old_in = c->in;
            rest = c->in + end;
            rest_len = c->in_len - end;
            c->in = NULL;
            c->in_len = c->in_cap = c->in_scanned = 0;
        } else {
            rest = data + end;
            rest_len = len - end;
        }
        start_request(c);
        /* The rest: the body, then maybe a next request (pipelined), kept for when this one is answered. */
        while (rest_len && c->st == ST_BODY) {
            size_t used = feed_body(c, rest, rest_len);
            rest += used;
            rest_len -= used;
        }
        if (rest_len && c->st == ST_HEAD) {
            /* Answered already and back to reading a head: go round with the rest (copied, as what it points
             * into is given up now). */
            char *copy = malloc(rest_len);
            if (!copy) {
                free(old_in);
                c->st = ST_CLOSING;
                return;
            }
            memcpy(copy, rest, rest_len);
            free(old_in);
            free(owned);
            owned = copy;
            data = copy;
            len = rest_len;
            continue;
        }
        if (rest_len && c->st != ST_CLOSING && !c->body_unread) {
            /* Pipelined behind a request being answered: kept until it is. */
            char *p = c->in_len + rest_len <= d->o.max_head_bytes + 1 ? realloc(c->in, c->in_len + rest_len) : NULL;
            if (!p) {
                c->st = ST_CLOSING;
            } else {
                memcpy(p + c->in_len, rest, rest_len);
                c->in = p;
                c->in_len += rest_len;
                c->in_cap = c->in_len;
            }
        }
        free(old_in);
        break;
    }
    free(owned);
}

/* The request is over and the connection kept: a next head, maybe already here (pipelined). */
static void next_request(struct lgw_hconn *c)
{
    c->st = ST_HEAD;
    c->in_scanned = 0;
    set_events(c, EPOLLIN);
    touch(c->t, c);
    if (c->in_len) {
        char *pending = c->in;
        size_t n = c->in_len;
        c->in = NULL;
        c->in_len = c->in_cap = 0;
        take(c, pending, n);
        free(pending);
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
        size_t cap = t->capall ? t->capall * 2 : 64;
        struct lgw_hconn **all = realloc(t->all, cap * sizeof(*all));
        if (all) {
            t->all = all;
            t->capall = cap;
        }
    }
    struct lgw_hconn *c = t->nall < t->capall ? calloc(1, sizeof(*c)) : NULL;
    if (!c) {
        lgw_peers_release(d->peers, key);
        close(fd);
        return;
    }
    t->all[t->nall++] = c;
    c->t = t;
    c->fd = fd;
    c->peer = *key;
    c->st = ST_HEAD;
    atomic_fetch_add(&d->open, 1);
    if (d->o.connection)
        d->o.connection(d->o.cls, c, &c->conn_ctx, true);
    set_events(c, EPOLLIN);
    touch(t, c);
    if (c->st == ST_CLOSING)
        lgw_hconn_close(c);
}
