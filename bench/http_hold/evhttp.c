/* evhttp.c - the bench/http_hold server (hold.h) on libevent 2.1's evhttp: what evhttp holds for a waiting
 * request, set beside the other HTTP layers.
 *
 * An evhttp and its connections belong to one event_base and are not thread-safe, so each of --threads threads
 * has its own event_base and its own evhttp on its own SO_REUSEPORT socket (the kernel spreads connections).
 * A request is held by returning from the request callback without replying; the hold queue's thread then
 * hands it back, and since evhttp_send_reply may only be called on the request's own loop thread, the hand-back
 * goes through a per-thread list and an event the hold thread activates (event_active is thread-safe once
 * evthread_use_pthreads is on).
 *
 * A client gone while its request is held (libevent 2.1.12, http.c): evhttp_handle_request disables reading on
 * the connection while the request is the user's, so neither EOF nor the idle timeout is seen then, and the
 * connection and request stay until we answer. Should evhttp see EOF or a timeout anyway, it detaches a request
 * the user has not answered (req->evcon = NULL) instead of freeing it, and evhttp_send_reply on a detached
 * request frees it without sending (evhttp_send). Either way a held request outlives its connection until
 * evhttp_send_reply, which is the last time we touch it; so no evhttp_request_own and no close callback. The
 * cost: a vanished client's connection is only freed when its answer's write fails (or the next read sees EOF).
 *
 * No connection cap: evhttp_set_max_connections arrived in libevent 2.2; 2.1.12 has none, so --max-conns is
 * ignored and the process's fd limit is the only bound (past it, accept fails with EMFILE, which evconnlistener
 * logs and retries while the backlog stays readable). */
#include "hold.h"

#include <event2/event.h>
#include <event2/http.h>
#include <event2/buffer.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

struct loop;

/* A held request: what the hold queue carries and the loop's due list links. */
struct rec {
    struct evhttp_request *req;
    struct loop *loop;
    struct rec *next;
};

/* One HTTP thread. */
struct loop {
    struct event_base *base;
    struct evhttp *http;
    struct event *wake; /* activated by the hold thread when due goes from empty to not */
    pthread_mutex_t lock;
    struct rec *due_head, *due_tail; /* under lock; FIFO, so answers keep the hold queue's order */
    pthread_t thread;
};

static _Noreturn void oom(void)
{
    fprintf(stderr, "evhttp: out of memory\n");
    abort(); /* a bench tool: a lost request would skew the figures silently */
}

/* Loop thread: evhttp has read the whole request (head and body); hold it. */
static void on_request(struct evhttp_request *req, void *arg)
{
    struct rec *r = malloc(sizeof(*r));
    if (!r)
        oom();
    *r = (struct rec){.req = req, .loop = arg};
    hold_put(r);
}

/* Hold queue's thread: r is due. Only the list and event_active here; the request belongs to its loop. */
static void on_due(void *arg)
{
    struct rec *r = arg;
    struct loop *l = r->loop;
    pthread_mutex_lock(&l->lock);
    bool was_empty = !l->due_head;
    if (l->due_tail)
        l->due_tail->next = r;
    else
        l->due_head = r;
    l->due_tail = r;
    pthread_mutex_unlock(&l->lock);
    /* A non-empty list already has a wake-up pending (on_wake takes the whole list), so one per batch; when
     * on_wake has begun, the event is no longer active and this activates it afresh. */
    if (was_empty)
        event_active(l->wake, 0, 0);
}

/* Loop thread: answer every due request. */
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct loop *l = arg;
    pthread_mutex_lock(&l->lock);
    struct rec *r = l->due_head;
    l->due_head = l->due_tail = NULL;
    pthread_mutex_unlock(&l->lock);
    while (r) {
        struct rec *next = r->next;
        struct evhttp_request *req = r->req;
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
        /* HOLD_BODY is static: referenced, not copied; evhttp sets Content-Length from the buffer. */
        evbuffer_add_reference(evhttp_request_get_output_buffer(req), HOLD_BODY, HOLD_BODY_LEN, NULL, NULL);
        evhttp_send_reply(req, 200, "OK", NULL); /* frees req, now or once written; not touched after */
        free(r);
        r = next;
    }
}

static void *loop_main(void *arg)
{
    struct loop *l = arg;
    event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static int loop_init(struct loop *l, int port)
{
    int fd = hold_listen(port);
    if (fd < 0)
        return -1;
    pthread_mutex_init(&l->lock, NULL);
    l->base = event_base_new();
    l->http = l->base ? evhttp_new(l->base) : NULL;
    l->wake = l->base ? event_new(l->base, -1, 0, on_wake, l) : NULL;
    if (!l->http || !l->wake) {
        fprintf(stderr, "evhttp: cannot create the event base, evhttp or event\n");
        return -1;
    }
    evhttp_set_max_headers_size(l->http, 8192);
    evhttp_set_max_body_size(l->http, 1 << 20);
    evhttp_set_timeout(l->http, 60); /* idle keep-alive and stalled reads/writes; not a held request (no I/O) */
    /* Any method: the default set lacks OPTIONS, TRACE, CONNECT and PATCH (answered 501). */
    evhttp_set_allowed_methods(l->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(l->http, on_request, l);
    if (!evhttp_accept_socket_with_handle(l->http, fd)) {
        fprintf(stderr, "evhttp: evhttp_accept_socket_with_handle failed\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct hold_opts o;
    hold_parse(argc, argv, &o);
    /* Before any event_base exists: bases made earlier would have no locks for event_active from the hold
     * thread. */
    if (evthread_use_pthreads() != 0) {
        fprintf(stderr, "evhttp: evthread_use_pthreads failed\n");
        return 1;
    }
    struct loop *loops = calloc((size_t)o.threads, sizeof(*loops));
    if (!loops)
        oom();
    for (int i = 0; i < o.threads; i++)
        if (loop_init(&loops[i], o.port) != 0)
            return 1;
    if (hold_start(o.hold_ms, on_due) != 0) {
        fprintf(stderr, "evhttp: cannot start the hold queue\n");
        return 1;
    }
    for (int i = 0; i < o.threads; i++)
        if (pthread_create(&loops[i].thread, NULL, loop_main, &loops[i]) != 0) {
            fprintf(stderr, "evhttp: cannot start an HTTP thread\n");
            return 1;
        }
    printf("ready\n");
    fflush(stdout);
    hold_wait_for_signal();
    exit(0); /* the loops are still running: no teardown, the process ends them */
}
