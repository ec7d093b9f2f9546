/* h2o.c - the bench/http_hold server on libh2o's own event loop (Debian 12: libh2o-evloop 2.2.5).
 *
 * h2o keeps a connection as a small struct on an event loop and a request in a memory pool. Each of
 * --threads threads runs its own h2o_evloop_t and h2o_context_t and accepts on its own SO_REUSEPORT socket (as
 * h2o's own server does, minus the configurator). A request whose head and body h2o has read goes on the hold
 * queue; the queue's thread hands it back through an h2o_multithread queue, which wakes the owning loop, and
 * the loop answers it: h2o is not thread-safe, so only a request's own loop thread may touch it.
 *
 * Why a held request cannot vanish: h2o 2.2.5's HTTP/1 stops reading a connection (and its timeout) once a
 * request is complete, so a client that goes away is only noticed when the answer is written; until then the
 * request and its pool stay alive, and the record of it below lives in that pool. HTTP/2 can drop a stream
 * under a waiting handler (RST_STREAM), so the upgrade to HTTP/2 (h2c, or its preface) is turned off.
 *
 * Build: -lh2o-evloop (it pulls in libssl, libcrypto, libz and libwslay itself) and -lpthread. */
#ifndef H2O_USE_LIBUV
#define H2O_USE_LIBUV 0 /* h2o.h assumes the libuv build unless told, and Debian's libh2o-evloop.pc does not tell it */
#endif

#include "hold.h"

#include <h2o.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct loop_thread {
    pthread_t tid;
    int fd; /* its listening socket */
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    h2o_multithread_receiver_t back; /* held requests coming back; also a bare wake-up (max_conns) */
};

/* A held request on its way to the hold queue and back. It lives in the request's pool: see the top comment. */
struct held_req {
    h2o_multithread_message_t msg;
    h2o_req_t *req;
    struct loop_thread *t;
};

static h2o_globalconf_t config;
static struct loop_thread *threads;
static int nthreads;
static int max_conns;
static atomic_int conns; /* connections open, over all threads */
static h2o_barrier_t started;

static void wake_all(void)
{
    for (int i = 0; i < nthreads; i++)
        h2o_multithread_send_message(&threads[i].back, NULL);
}

/* Any thread's listener may be the one stopped at the limit, so a drop from the limit wakes them all; below it,
 * closing a connection costs no wake-up. */
static void release_conn(void)
{
    if (atomic_fetch_sub(&conns, 1) >= max_conns)
        wake_all();
}

static void on_conn_close(void *data)
{
    (void)data;
    release_conn();
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    struct loop_thread *t = listener->data;
    if (err)
        return;
    /* A bounded batch, so a burst of connects cannot delay the answers waiting on this loop; the listener is
     * level-triggered, so the rest come on the next iteration. */
    for (int n = 0; n < 64; n++) {
        /* Reserve the slot before accepting, so the threads together never pass max_conns. */
        if (atomic_fetch_add(&conns, 1) >= max_conns) {
            release_conn();
            return;
        }
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (!sock) {
            release_conn();
            return;
        }
        sock->on_close.cb = on_conn_close;
        sock->on_close.data = NULL;
        h2o_accept(&t->accept_ctx, sock);
    }
}

/* At the limit the listener stops, leaving new clients in the kernel's backlog rather than accepting and dropping
 * them (the way h2o's own server enforces max-connections). Runs before each loop iteration. */
static void update_listener(struct loop_thread *t)
{
    bool room = atomic_load(&conns) < max_conns;
    if (room && !h2o_socket_is_reading(t->listener))
        h2o_socket_read_start(t->listener, on_accept);
    else if (!room && h2o_socket_is_reading(t->listener))
        h2o_socket_read_stop(t->listener);
}

/* Any method, any path: the bench POSTs a chat completion to /v1/chat/completions, and h2o has read its body. */
static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    struct held_req *h = h2o_mem_alloc_pool(&req->pool, sizeof(*h));
    *h = (struct held_req){.req = req, .t = H2O_STRUCT_FROM_MEMBER(struct loop_thread, ctx, req->conn->ctx)};
    hold_put(h);
    return 0;
}

/* On the hold queue's thread: only queue the request to its loop, never touch it here. */
static void on_due(void *p)
{
    struct held_req *h = p;
    h2o_multithread_send_message(&h->t->back, &h->msg);
}

/* On the loop thread that owns the requests. */
static void on_back(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link); /* h2o asserts the list is empty when this returns */
        h2o_req_t *req = H2O_STRUCT_FROM_MEMBER(struct held_req, msg, m)->req;
        req->res.status = 200;
        req->res.reason = "OK";
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
        req->res.content_length = HOLD_BODY_LEN; /* h2o_send_inline leaves it unset, which would answer chunked */
        h2o_send_inline(req, HOLD_BODY, HOLD_BODY_LEN); /* may free the request's pool, and so m: not used after */
    }
}

static void *loop_main(void *arg)
{
    struct loop_thread *t = arg;
    /* Set up here, not on the main thread: a socket's buffers come from the thread-local allocator of the thread
     * that creates it (h2o_socket_buffer_prototype), which is not locked, so a socket made on one thread and read
     * on another corrupts it (h2o_mem_alloc_recycle's assertion, under load). */
    /* HOLD_H2O_INPUT_BUFFER: a socket's first input buffer in bytes (h2o's default is 8 KiB). A request's head and
     * body stay in that buffer until it is answered, so it is most of what a waiting client holds; h2o reads at
     * least 4 KiB at a time, so below 4096 it allocates 4 KiB anyway. Per thread, as the prototype is. */
    const char *input = getenv("HOLD_H2O_INPUT_BUFFER");
    if (input && atoi(input) > 0)
        h2o_socket_buffer_prototype._initial_buf.capacity = (size_t)atoi(input);
    h2o_context_init(&t->ctx, h2o_evloop_create(), &config);
    t->accept_ctx.ctx = &t->ctx;
    t->accept_ctx.hosts = config.hosts;
    h2o_multithread_register_receiver(t->ctx.queue, &t->back, on_back);
    t->listener = h2o_evloop_socket_create(t->ctx.loop, t->fd, H2O_SOCKET_FLAG_DONT_READ);
    t->listener->data = t;
    h2o_barrier_wait(&started);
    for (;;) {
        update_listener(t);
        h2o_evloop_run(t->ctx.loop, INT32_MAX);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct hold_opts o;
    hold_parse(argc, argv, &o);
    nthreads = o.threads;
    max_conns = o.max_conns;

    h2o_config_init(&config);
    config.http1.upgrade_to_http2 = 0; /* HTTP/1.1 only: see the top comment */
    h2o_hostconf_t *host = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof(*handler));
    handler->on_req = on_req;

    if (hold_start(o.hold_ms, on_due) != 0) {
        fprintf(stderr, "hold_start failed\n");
        return 1;
    }
    threads = calloc((size_t)nthreads, sizeof(*threads));
    if (!threads) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (int i = 0; i < nthreads; i++)
        if ((threads[i].fd = hold_listen(o.port)) < 0)
            return 1;
    /* "ready" waits for every loop, so that no thread's share of the connections waits on its setup. */
    h2o_barrier_init(&started, (size_t)nthreads + 1);
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&threads[i].tid, NULL, loop_main, &threads[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    }
    h2o_barrier_wait(&started);

    printf("ready\n");
    fflush(stdout);
    hold_wait_for_signal();
    exit(0); /* the loops are not torn down: they would only be waited on to free what exit frees */
}
