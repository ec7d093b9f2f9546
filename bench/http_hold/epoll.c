/* epoll.c - the bench/http_hold server (hold.h) on a minimal HTTP/1.1 layer of its own, over epoll.
 *
 * Why: mhd.c, evhttp.c and h2o.c measure what existing HTTP layers hold per waiting client; this one measures
 * the lower bound for a purpose-built layer with no fixed per-connection pool. A waiting connection keeps no
 * buffer at all: only its struct conn (64 bytes), the hold queue's record and the kernel's socket. The read
 * buffer exists only while a head or body is being read (1 KiB, doubling; head at most 8 KiB, else 431; body
 * at most 1 MiB by Content-Length, else 413), or while pipelined bytes wait their turn; an answer's unsent rest
 * is malloc'd only when the socket is full.
 *
 * What it does not do: request bodies in Transfer-Encoding (501); idle or read timeouts (a bench client is
 * trusted to finish what it starts); HEAD (every request, any method and path, is answered with HOLD_BODY);
 * answering a client that half-closes after its request (end of file, like EPOLLRDHUP while waiting, counts as
 * the client gone); TLS, HTTP/2. A bench tool, not a server to expose.
 *
 * Threads: --threads loops, each with its own epoll, SO_REUSEPORT listening socket and an eventfd the hold
 * queue's thread wakes it with. A connection is touched only on its loop's thread, except that while it waits
 * the hold queue owns it: a client gone meanwhile only has its socket closed (state GONE), and its struct is
 * freed when the hold queue hands it back. Level-triggered throughout. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hold.h"

#define HEAD_MAX 8192
#define BODY_MAX (1u << 20)
#define BUF_START 1024u

enum state { READING, WAITING, WRITING, GONE };

struct loop {
    int ep, lfd, efd, spare;
    pthread_mutex_t lock;             /* guards the due list: the hold queue's thread appends to it */
    struct conn *due_head, *due_tail; /* handed back, not yet answered */
};

struct conn {
    struct loop *loop;
    struct conn *next; /* on loop->due */
    char *buf;         /* the request being read, or pipelined bytes; NULL otherwise */
    char *out;         /* an answer's unsent rest; NULL unless the socket was full */
    uint32_t len, cap, need; /* need: head + body length once the head is parsed, 0 before */
    uint32_t out_len, out_off;
    uint32_t events; /* the epoll interest now registered, to skip redundant epoll_ctl calls */
    int fd;
    uint8_t state;
    bool close_after; /* Connection: close, or HTTP/1.0 without keep-alive */
    bool ka10;        /* HTTP/1.0 keep-alive: the answer must say so */
};

static atomic_int nconns;
static int max_conns;
static char listen_tag, event_tag; /* epoll data.ptr of a loop's listening socket and of its eventfd */

static void close_conn(struct conn *c)
{
    close(c->fd);
    atomic_fetch_sub(&nconns, 1);
    free(c->buf);
    c->buf = NULL;
    if (c->state == WAITING) { /* the hold queue still points at it: freed when handed back */
        c->state = GONE;
        return;
    }
    free(c->out);
    free(c);
}

static bool set_events(struct conn *c, uint32_t ev)
{
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (c->events != ev && epoll_ctl(c->loop->ep, EPOLL_CTL_MOD, c->fd, &e) != 0)
        return false;
    c->events = ev;
    return true;
}

static void fail(struct conn *c, int status)
{
    const char *why = status == 400   ? "Bad Request"
                      : status == 413 ? "Content Too Large"
                      : status == 431 ? "Request Header Fields Too Large"
                                      : "Not Implemented";
    char a[128];
    int n = snprintf(a, sizeof(a), "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status, why);
    (void)!send(c->fd, a, (size_t)n, MSG_NOSIGNAL); /* best effort: the connection closes either way */
    close_conn(c);
}

static bool tchar(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Whether the comma-separated list v[0..n) holds tok (case-insensitive). */
static bool has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; i < n;) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ' ' && v[i] != '\t' && v[i] != ',')
            i++;
        if (i - s == tl && !strncasecmp(v + s, tok, tl))
            return true;
    }
    return false;
}

/* Parses the head buf[0..hl), which ends in the first "\r\n\r\n" of the buffer, so every scan below stops at
 * a '\r' inside it. Returns 0, or the status to fail with. */
static int parse_head(struct conn *c, size_t hl, uint32_t *clen, bool *expect)
{
    const char *p = c->buf, *end = c->buf + hl - 2, *s = p;
    while (tchar((unsigned char)*p))
        p++;
    if (p == s || *p != ' ')
        return 400;
    for (s = ++p; (unsigned char)*p > ' ' && *p != 0x7f; p++)
        ;
    if (p == s || *p != ' ')
        return 400;
    p++;
    if (end - p < 10 || memcmp(p, "HTTP/1.", 7) || (p[7] != '0' && p[7] != '1') || memcmp(p + 8, "\r\n", 2))
        return 400;
    bool http11 = p[7] == '1', close = false, ka = false, te = false, cl_seen = false;
    uint32_t cl = 0;
    for (p += 10; p < end;) {
        for (s = p; tchar((unsigned char)*p); p++)
            ;
        if (p == s || *p != ':') /* also an obs-fold line, which starts with a space */
            return 400;
        size_t nl = (size_t)(p++ - s);
        while (*p == ' ' || *p == '\t')
            p++;
        const char *v = p;
        for (; *p != '\r'; p++)
            if (((unsigned char)*p < ' ' && *p != '\t') || *p == 0x7f)
                return 400;
        if (p[1] != '\n')
            return 400;
        const char *ve = p;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t vl = (size_t)(ve - v);
        p += 2;
        if (nl == 14 && !strncasecmp(s, "content-length", 14)) {
            uint32_t n = 0;
            for (size_t k = 0; k < vl; k++) {
                if (v[k] < '0' || v[k] > '9')
                    return 400;
                if (n <= BODY_MAX) /* saturates above the limit instead of overflowing */
                    n = n * 10 + (uint32_t)(v[k] - '0');
            }
            if (!vl || (cl_seen && n != cl))
                return 400;
            cl = n, cl_seen = true;
        } else if (nl == 17 && !strncasecmp(s, "transfer-encoding", 17)) {
            te = true;
        } else if (nl == 10 && !strncasecmp(s, "connection", 10)) {
            close |= has_token(v, vl, "close");
            ka |= has_token(v, vl, "keep-alive");
        } else if (nl == 6 && !strncasecmp(s, "expect", 6)) {
            *expect = vl == 12 && !strncasecmp(v, "100-continue", 12);
        }
    }
    if (te)
        return 501;
    if (cl > BODY_MAX)
        return 413;
    *clen = cl;
    *expect = *expect && http11 && cl; /* an HTTP/1.0 client does not know 100 */
    c->close_after = close || (!http11 && !ka);
    c->ka10 = !http11 && !c->close_after;
    return 0;
}

/* Returns 1 when a whole request is buffered, 0 when more is needed, -1 when the connection was closed. */
static int parse(struct conn *c)
{
    if (!c->need) {
        size_t lim = c->len < HEAD_MAX ? c->len : HEAD_MAX;
        const char *e = lim >= 4 ? memmem(c->buf, lim, "\r\n\r\n", 4) : NULL;
        if (!e) {
            if (c->len < HEAD_MAX)
                return 0;
            fail(c, 431);
            return -1;
        }
        uint32_t hl = (uint32_t)(e + 4 - c->buf), clen = 0;
        bool expect = false;
        int st = parse_head(c, hl, &clen, &expect);
        if (st) {
            fail(c, st);
            return -1;
        }
        c->need = hl + clen;
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        /* Nothing else is being written now, so a short write means a client that does not read: drop it. */
        if (expect && c->len == hl && send(c->fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL) != sizeof(cont) - 1) {
            close_conn(c);
            return -1;
        }
    }
    return c->len >= c->need;
}

/* The request is in: keep only the bytes pipelined after it, stop reading, and put it on the hold queue. */
static void hold(struct conn *c)
{
    uint32_t rest = c->len - c->need;
    char *b = NULL;
    uint32_t cap = 0;
    if (rest) {
        for (cap = BUF_START; cap < rest; cap *= 2)
            ;
        if (!(b = malloc(cap))) {
            close_conn(c);
            return;
        }
        memcpy(b, c->buf + c->need, rest);
    }
    free(c->buf);
    c->buf = b, c->len = rest, c->cap = cap, c->need = 0;
    if (!set_events(c, EPOLLRDHUP)) { /* still told when the client goes away, never of its data */
        close_conn(c);
        return;
    }
    c->state = WAITING;
    hold_put(c);
}

static void on_read(struct conn *c)
{
    for (;;) {
        int r = parse(c);
        if (r > 0)
            hold(c);
        if (r)
            return;
        if (!c->buf || c->len == c->cap) { /* never a head past 8 KiB: parse() has failed it first */
            uint32_t cap = c->buf ? c->cap * 2 : BUF_START;
            char *b = realloc(c->buf, cap);
            if (!b) {
                close_conn(c);
                return;
            }
            c->buf = b, c->cap = cap;
        }
        ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (n > 0) {
            c->len += (uint32_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->len) { /* an idle keep-alive connection holds no buffer either */
                free(c->buf);
                c->buf = NULL, c->cap = 0;
            }
            if (!set_events(c, EPOLLIN | EPOLLRDHUP))
                close_conn(c);
            return;
        } else {
            close_conn(c);
            return;
        }
    }
}

static void finished(struct conn *c)
{
    free(c->out);
    c->out = NULL;
    if (c->close_after) {
        close_conn(c);
        return;
    }
    c->state = READING;
    if (c->len)
        on_read(c); /* a pipelined request may already be whole */
    else if (!set_events(c, EPOLLIN | EPOLLRDHUP))
        close_conn(c);
}

static void answer(struct conn *c)
{
    c->state = WRITING; /* from here a failure frees it: the hold queue is done with it */
    char head[160];
    const char *conn = c->close_after ? "Connection: close\r\n" : c->ka10 ? "Connection: keep-alive\r\n" : "";
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
                      HOLD_BODY_LEN, conn);
    struct iovec iov[2] = {{head, (size_t)hl}, {(void *)HOLD_BODY, HOLD_BODY_LEN}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
    size_t total = (size_t)hl + HOLD_BODY_LEN;
    ssize_t n;
    do
        n = sendmsg(c->fd, &m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        close_conn(c);
        return;
    }
    size_t sent = n < 0 ? 0 : (size_t)n;
    if (sent == total) {
        finished(c);
        return;
    }
    if (!(c->out = malloc(total - sent))) {
        close_conn(c);
        return;
    }
    c->out_len = (uint32_t)(total - sent), c->out_off = 0;
    size_t h = sent < (size_t)hl ? (size_t)hl - sent : 0; /* the head's unsent rest, then the body's */
    memcpy(c->out, head + hl - h, h);
    memcpy(c->out + h, HOLD_BODY + HOLD_BODY_LEN - (total - sent - h), total - sent - h);
    if (!set_events(c, EPOLLOUT))
        close_conn(c);
}

static void on_write(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0) {
            close_conn(c);
            return;
        }
        c->out_off += (uint32_t)n;
    }
    finished(c);
}

/* On the hold queue's thread. Only the first hand-back onto an empty list wakes the loop: drain() reads the
 * eventfd before it takes the list, so a later one finds the list empty again and wakes it anew. */
static void due(void *req)
{
    struct conn *c = req;
    struct loop *l = c->loop;
    pthread_mutex_lock(&l->lock);
    bool wake = !l->due_head;
    c->next = NULL;
    if (l->due_tail)
        l->due_tail->next = c;
    else
        l->due_head = c;
    l->due_tail = c;
    pthread_mutex_unlock(&l->lock);
    uint64_t one = 1;
    if (wake)
        (void)!write(l->efd, &one, sizeof(one));
}

static void drain(struct loop *l)
{
    uint64_t n;
    (void)!read(l->efd, &n, sizeof(n));
    pthread_mutex_lock(&l->lock);
    struct conn *c = l->due_head;
    l->due_head = l->due_tail = NULL;
    pthread_mutex_unlock(&l->lock);
    while (c) {
        struct conn *next = c->next;
        if (c->state == GONE)
            free(c);
        else
            answer(c);
        c = next;
    }
}

static void accept_all(struct loop *l)
{
    for (;;) {
        int fd = accept4(l->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
            continue;
        if (fd < 0 && (errno == EMFILE || errno == ENFILE) && l->spare >= 0) {
            /* Out of descriptors: refuse the client with the spare one, or level-triggered epoll would spin. The
             * kernel says EMFILE before it looks at the backlog, so only a client taken off it means "go on". */
            close(l->spare);
            if ((fd = accept(l->lfd, NULL, NULL)) >= 0)
                close(fd);
            l->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                return;
            continue;
        }
        if (fd < 0)
            return;
        struct conn *c = atomic_fetch_add(&nconns, 1) < max_conns ? calloc(1, sizeof(*c)) : NULL;
        if (!c) { /* over --max-conns: accepted and closed at once */
            atomic_fetch_sub(&nconns, 1);
            close(fd);
            continue;
        }
        int one = 1; /* a pipelined answer must not wait for the client's delayed ACK of the previous one */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        *c = (struct conn){.loop = l, .fd = fd, .state = READING, .events = EPOLLIN | EPOLLRDHUP};
        struct epoll_event e = {.events = c->events, .data.ptr = c};
        if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &e) != 0)
            close_conn(c);
    }
}

static void *loop_main(void *arg)
{
    struct loop *l = arg;
    struct epoll_event ev[256];
    for (;;) {
        int n = epoll_wait(l->ep, ev, 256, -1);
        bool due_back = false;
        for (int i = 0; i < n; i++) {
            struct conn *c = ev[i].data.ptr;
            if (ev[i].data.ptr == &listen_tag)
                accept_all(l);
            else if (ev[i].data.ptr == &event_tag)
                due_back = true;
            else if (ev[i].events & (EPOLLERR | EPOLLHUP))
                close_conn(c);
            else if (c->state == WAITING)
                close_conn(c); /* EPOLLRDHUP, the only event it waits for */
            else if (c->state == READING)
                on_read(c);
            else if (ev[i].events & EPOLLOUT)
                on_write(c);
        }
        /* After the batch: answering may free a connection that has an event further on in it. */
        if (due_back)
            drain(l);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct hold_opts o;
    hold_parse(argc, argv, &o);
    max_conns = o.max_conns;
    struct loop *loops = calloc((size_t)o.threads, sizeof(*loops));
    if (!loops || hold_start(o.hold_ms, due) != 0) {
        fprintf(stderr, "epoll: cannot start\n");
        return 1;
    }
    for (int i = 0; i < o.threads; i++) {
        struct loop *l = &loops[i];
        pthread_mutex_init(&l->lock, NULL);
        l->ep = epoll_create1(EPOLL_CLOEXEC);
        l->lfd = hold_listen(o.port);
        l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        l->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
        struct epoll_event le = {.events = EPOLLIN, .data.ptr = &listen_tag};
        struct epoll_event ee = {.events = EPOLLIN, .data.ptr = &event_tag};
        pthread_t t;
        if (l->ep < 0 || l->lfd < 0 || l->efd < 0 || epoll_ctl(l->ep, EPOLL_CTL_ADD, l->lfd, &le) != 0 ||
            epoll_ctl(l->ep, EPOLL_CTL_ADD, l->efd, &ee) != 0 || pthread_create(&t, NULL, loop_main, l) != 0) {
            fprintf(stderr, "epoll: loop %d: cannot start\n", i);
            return 1;
        }
        pthread_detach(t);
    }
    printf("ready\n");
    fflush(stdout);
    hold_wait_for_signal();
    exit(0);
}
