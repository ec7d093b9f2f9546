/* loop.c - the HTTP server's threads (server.h): each runs one level-triggered epoll loop over its
 * connections (conn.c), its resume queue (an eventfd) and the shared listening socket (EPOLLEXCLUSIVE: one
 * thread is woken per new connection); between waits it closes connections past their timeouts. Also
 * listening, start, quiesce and stop. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "httpd/conn.h"

/* The warning of an accept pause, at most ACCEPT_LOG_PER_SEC a second; how many were held back is said with
 * the next one let through. */
static void say_accept_pause(struct lgw_httpd *d, int err)
{
    static const char kind = 0; /* one kind: every accept-pause line */
    uint64_t held;
    const void *held_key;
    bool say = lgw_log_limit_allow(&d->accept_log, &kind, lgw_mono_ms(), &held, &held_key);
    if (held)
        LGW_WARN("http", "%llu more accept pause(s) not logged", (unsigned long long)held);
    if (say)
        LGW_WARN("http", "cannot accept a connection: %s; pausing accepts %d ms", strerror(err), ACCEPT_PAUSE_MS);
}

static void accept_on(struct hthread *t)
{
    struct lgw_httpd *d = t->d;
    for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
        struct sockaddr_storage sa;
        socklen_t sl = sizeof(sa);
        int fd = accept4(d->listen_fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                say_accept_pause(d, errno);
                (void)epoll_ctl(t->ep, EPOLL_CTL_DEL, d->listen_fd, NULL); /* in the set: cannot fail */
                t->listening = false;
                t->accept_paused_until = lgw_mono_ms() + ACCEPT_PAUSE_MS;
            } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                /* Shut down (quiesced) or broken: this thread stops listening. */
                (void)epoll_ctl(t->ep, EPOLL_CTL_DEL, d->listen_fd, NULL);
                t->listening = false;
            }
            return;
        }
        struct lgw_peer_key key;
        lgw_peer_key_of(&sa, &key);
        if (atomic_load(&d->quiesced) || atomic_load(&d->open) >= d->o.max_connections ||
            !lgw_peers_take(d->peers, &key)) {
            close(fd); /* over a cap: refused at once, as a client over it is better told than queued */
            continue;
        }
        lgw_hconn_open(t, fd, &key);
    }
}

/* Answers 408 every connection whose head is past its deadline. A walk over the thread's connections, rather
 * than a list kept in deadline order: it runs only once the earliest deadline has come, at most every quarter
 * of the timeout (so a deadline is kept to within that, and at most 250 ms), it is a pointer chase per
 * connection, and a request pays nothing for it. Returns the ms until the next walk may be due, or -1. */
static int64_t check_heads(struct hthread *t, int64_t now)
{
    int64_t head = t->d->o.head_timeout_ms;
    int64_t tick = head / 4 < 250 ? head / 4 : 250;
    if (tick < 10)
        tick = 10;
    if (!t->heads_due_ms)
        return -1;
    int64_t at = t->heads_due_ms > t->heads_checked_ms + tick ? t->heads_due_ms : t->heads_checked_ms + tick;
    if (now >= at) {
        t->heads_checked_ms = now;
        t->heads_due_ms = 0;
        /* From the end: closing a connection moves the last one into its place, which was already seen. */
        for (size_t i = t->nall; i-- > 0;) {
            struct lgw_hconn *c = t->all[i];
            if (c->st != ST_HEAD || !c->head_due_ms)
                continue;
            if (now >= c->head_due_ms)
                lgw_hconn_head_late(c);
            else if (!t->heads_due_ms || c->head_due_ms < t->heads_due_ms)
                t->heads_due_ms = c->head_due_ms;
        }
        if (!t->heads_due_ms)
            return -1;
        at = t->heads_due_ms > now + tick ? t->heads_due_ms : now + tick;
    }
    return at - now;
}

/* Closes connections past their timeouts (idle, lingering, a late head) and puts the listening socket back
 * after an accept pause; returns the ms until the next of these may be due (at most a second). */
static int expire(struct hthread *t)
{
    int64_t idle = t->d->o.idle_timeout_ms;
    int64_t now = lgw_mono_ms();
    if (!t->listening && t->accept_paused_until && now >= t->accept_paused_until &&
        !atomic_load(&t->d->quiesced)) {
        struct epoll_event e = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL};
        if (epoll_ctl(t->ep, EPOLL_CTL_ADD, t->d->listen_fd, &e) == 0)
            t->listening = true;
        t->accept_paused_until = 0;
    }
    int wait = t->accept_paused_until ? ACCEPT_PAUSE_MS : 1000;
    int64_t heads = check_heads(t, now);
    if (heads >= 0 && heads < wait)
        wait = (int)heads + 1;
    while (t->lingering.head && now - t->lingering.head->active_ms >= LINGER_MS)
        lgw_hconn_close(t->lingering.head);
    if (t->lingering.head) {
        int64_t due = t->lingering.head->active_ms + LINGER_MS - now;
        if (due < wait)
            wait = (int)(due > 0 ? due : 0) + 1;
    }
    if (idle <= 0)
        return wait;
    while (t->timed.head && now - t->timed.head->active_ms >= idle) {
        struct lgw_hconn *c = t->timed.head;
        LGW_DEBUG("http", "a connection idle for %lld ms is closed", (long long)(now - c->active_ms));
        lgw_hconn_close(c);
    }
    if (t->timed.head) {
        int64_t due = t->timed.head->active_ms + idle - now;
        if (due < wait)
            wait = (int)(due > 0 ? due : 0) + 1;
    }
    return wait;
}

static void *thread_main(void *arg)
{
    struct hthread *t = arg;
    pthread_setname_np(pthread_self(), "http");
    struct epoll_event ev[EVENTS_MAX];
    while (!atomic_load(&t->d->stop)) {
        int timeout = expire(t);
        int n = epoll_wait(t->ep, ev, EVENTS_MAX, timeout);
        if (n < 0 && errno != EINTR) {
            LGW_ERROR("http", "epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            if (ev[i].data.ptr == NULL) {
                accept_on(t);
            } else if (ev[i].data.ptr == (void *)t) {
                uint64_t v;
                ssize_t r = read(t->wake_fd, &v, sizeof(v));
                (void)r; /* the count does not matter: the queue says what to do */
                /* One at a time under the lock: a connection's link is only ever touched under it, and one
                 * resumed again meanwhile is simply queued again. */
                for (;;) {
                    pthread_mutex_lock(&t->lock);
                    struct lgw_hconn *c = t->resumes;
                    if (c) {
                        t->resumes = c->resume_next;
                        c->resume_next = NULL;
                        c->resume_queued = false;
                    }
                    pthread_mutex_unlock(&t->lock);
                    if (!c)
                        break;
                    lgw_hconn_resumed(c);
                }
            } else {
                lgw_hconn_event(ev[i].data.ptr, ev[i].events);
            }
        }
    }
    return NULL;
}

/* ---- start and stop ---- */

static int listen_on(struct lgw_httpd *d)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)d->o.port);
    if (inet_pton(AF_INET, d->o.addr, &sa.sin_addr) != 1) {
        LGW_ERROR("http", "listen address %s is not an IPv4 address", d->o.addr);
        return LGW_ERR(CONFIG);
    }
    d->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (d->listen_fd < 0)
        return LGW_ERR(IO);
    int one = 1; /* a restart binds at once, past the last run's connections in TIME_WAIT */
    socklen_t sl = sizeof(sa);
    if (setsockopt(d->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(d->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(d->listen_fd, d->o.backlog > 0 ? d->o.backlog : 1024) != 0 ||
        getsockname(d->listen_fd, (struct sockaddr *)&sa, &sl) != 0) {
        LGW_ERROR("http", "cannot listen on %s:%d: %s", d->o.addr, d->o.port, strerror(errno));
        return LGW_ERR(IO);
    }
    d->port = ntohs(sa.sin_port);
    return LGW_OK;
}

int lgw_httpd_start(const struct lgw_httpd_options *o, struct lgw_httpd **out)
{
    *out = NULL;
    if (!o->request || o->threads < 1 || !o->max_head_bytes)
        return LGW_ERR(INTERNAL);
    struct lgw_httpd *d = lgw_calloc(1, sizeof(*d));
    d->o = *o;
    d->listen_fd = -1;
    int rc = listen_on(d);
    if (rc) {
        if (d->listen_fd >= 0)
            close(d->listen_fd);
        free(d);
        return rc;
    }
    d->peers = lgw_peers_new(o->max_connections_per_ip);
    lgw_log_limit_init(&d->accept_log, "http", ACCEPT_LOG_PER_SEC);
    d->threads = lgw_calloc((size_t)o->threads, sizeof(*d->threads));
    for (int i = 0; i < o->threads; i++) {
        struct hthread *t = &d->threads[i];
        t->d = d;
        pthread_mutex_init(&t->lock, NULL);
        t->ep = epoll_create1(EPOLL_CLOEXEC);
        t->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        struct epoll_event le = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL};
        struct epoll_event we = {.events = EPOLLIN, .data.ptr = t};
        t->listening = true; /* before the thread runs: from then on only it reads and writes this */
        if (t->ep < 0 || t->wake_fd < 0 || epoll_ctl(t->ep, EPOLL_CTL_ADD, d->listen_fd, &le) != 0 ||
            epoll_ctl(t->ep, EPOLL_CTL_ADD, t->wake_fd, &we) != 0 ||
            pthread_create(&t->tid, NULL, thread_main, t) != 0) {
            LGW_ERROR("http", "cannot start HTTP thread %d: %s", i, strerror(errno));
            t->tid = 0;
            lgw_httpd_stop(d);
            return LGW_ERR(INTERNAL);
        }
        d->nthreads = i + 1;
    }
    *out = d;
    return LGW_OK;
}

int lgw_httpd_port(const struct lgw_httpd *d)
{
    return d->port;
}

unsigned lgw_httpd_open_connections(const struct lgw_httpd *d)
{
    return atomic_load(&d->open);
}

void lgw_httpd_quiesce(struct lgw_httpd *d)
{
    if (atomic_exchange(&d->quiesced, true))
        return;
    /* Each thread's next accept fails and drops the socket from its set; no new connection is queued. */
    shutdown(d->listen_fd, SHUT_RDWR);
}

void lgw_httpd_stop(struct lgw_httpd *d)
{
    if (!d)
        return;
    atomic_store(&d->stop, true);
    for (int i = 0; i < d->nthreads; i++) {
        uint64_t one = 1;
        ssize_t n = write(d->threads[i].wake_fd, &one, sizeof(one));
        (void)n;
    }
    for (int i = 0; i < d->nthreads; i++)
        if (d->threads[i].tid)
            pthread_join(d->threads[i].tid, NULL);
    for (int i = 0; d->threads && i < d->o.threads; i++) {
        struct hthread *t = &d->threads[i];
        while (t->nall)
            lgw_hconn_close(t->all[t->nall - 1]);
        free(t->all);
        if (t->ep > 0)
            close(t->ep);
        if (t->wake_fd > 0)
            close(t->wake_fd);
        if (t->d)
            pthread_mutex_destroy(&t->lock);
    }
    if (d->listen_fd >= 0)
        close(d->listen_fd);
    free(d->threads);
    lgw_peers_free(d->peers);
    lgw_log_limit_cleanup(&d->accept_log);
    free(d);
}
