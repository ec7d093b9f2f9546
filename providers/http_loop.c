/* http_loop.c - provider transfers on libcurl's multi interface, driven by epoll (see http_loop.h).
 *
 * The thread waits in epoll_wait on: the sockets libcurl asks to watch (CURLMOPT_SOCKETFUNCTION), an eventfd
 * that other threads write to after posting a task, and a timeout that is the nearer of libcurl's own timer
 * (CURLMOPT_TIMERFUNCTION) and the first queued task. Each wakeup hands only the ready sockets to
 * curl_multi_socket_action, then collects finished transfers (curl_multi_info_read). */
#include "providers/http_loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

/* Easy handles kept for the next transfer (curl_easy_reset keeps nothing but memory): enough to absorb a
 * burst without reallocating, small enough not to hold memory after one. */
#define SPARE_HANDLES 256
#define EPOLL_BATCH 256

struct task {
    int64_t due_us; /* monotonic, in microseconds: a millisecond clock would run a task up to 1 ms early */
    uint64_t seq;   /* post order among equal due times */
    lgw_http_task_cb cb;
    void *opaque;
};

struct lgw_http_xfer {
    struct lgw_http_transfer t; /* curl handle, request, response, callbacks' state */
    lgw_http_done_cb done;
    void *opaque;
    struct lgw_http_xfer *prev, *next; /* the running list (for the abort at stop) */
};

struct lgw_http_loop {
    CURLM *multi;
    CURLSH *share;
    int epfd, wakefd;
    pthread_t thread;
    atomic_bool stopping;
    atomic_size_t running;
    int64_t curl_due_us; /* libcurl's timer: when to call socket_action(TIMEOUT); -1 none */
    struct lgw_http_xfer *xfers;
    CURL *spare[SPARE_HANDLES];
    size_t nspare;
    /* Tasks: a min-heap on (due_us, seq), under lock, because any thread posts. */
    pthread_mutex_t lock;
    struct task *heap;
    size_t ntasks, cap;
    uint64_t seq;
};

static bool earlier(const struct task *a, const struct task *b)
{
    return a->due_us < b->due_us || (a->due_us == b->due_us && a->seq < b->seq);
}

/* Caller holds loop->lock. */
static void heap_push(struct lgw_http_loop *loop, struct task t)
{
    if (loop->ntasks == loop->cap) {
        loop->cap = loop->cap ? 2 * loop->cap : 64;
        loop->heap = lgw_realloc(loop->heap, loop->cap * sizeof(*loop->heap));
    }
    size_t i = loop->ntasks++;
    while (i > 0 && earlier(&t, &loop->heap[(i - 1) / 2])) {
        loop->heap[i] = loop->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    loop->heap[i] = t;
}

/* Caller holds loop->lock; the heap is not empty. */
static struct task heap_pop(struct lgw_http_loop *loop)
{
    struct task top = loop->heap[0], last = loop->heap[--loop->ntasks];
    size_t i = 0, n = loop->ntasks;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && earlier(&loop->heap[c + 1], &loop->heap[c]))
            c++;
        if (!earlier(&loop->heap[c], &last))
            break;
        loop->heap[i] = loop->heap[c];
        i = c;
    }
    if (n)
        loop->heap[i] = last;
    return top;
}

void lgw_http_loop_post(struct lgw_http_loop *loop, int64_t delay_ms, lgw_http_task_cb cb, void *opaque)
{
    struct task t = {lgw_mono_us() + (delay_ms > 0 ? delay_ms * 1000 : 0), 0, cb, opaque};
    pthread_mutex_lock(&loop->lock);
    t.seq = loop->seq++;
    heap_push(loop, t);
    pthread_mutex_unlock(&loop->lock);
    if (!lgw_http_loop_on_thread(loop)) {
        uint64_t one = 1;
        /* The counter only wakes the thread; a full counter (never, at 2^64) would still be readable. */
        if (write(loop->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            LGW_WARN("http", "loop wakeup: %s", strerror(errno));
    }
}

/* Runs the tasks due by now (all of them when everything is true). Returns the due time of the next one,
 * or -1 when none is queued. Loop thread. */
static int64_t run_tasks(struct lgw_http_loop *loop, bool everything)
{
    for (;;) {
        pthread_mutex_lock(&loop->lock);
        if (loop->ntasks == 0) {
            pthread_mutex_unlock(&loop->lock);
            return -1;
        }
        if (!everything && loop->heap[0].due_us > lgw_mono_us()) {
            int64_t due = loop->heap[0].due_us;
            pthread_mutex_unlock(&loop->lock);
            return due;
        }
        struct task t = heap_pop(loop);
        pthread_mutex_unlock(&loop->lock);
        t.cb(t.opaque); /* may post more tasks: the lock is not held */
    }
}

/* CURLMOPT_SOCKETFUNCTION: libcurl says which sockets to watch, for what. */
static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    struct lgw_http_loop *loop = userp;
    struct epoll_event ev = {0};
    ev.data.fd = s;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, s, NULL);
        curl_multi_assign(loop->multi, s, NULL);
        return 0;
    }
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    if (socketp) {
        epoll_ctl(loop->epfd, EPOLL_CTL_MOD, s, &ev);
    } else {
        if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, s, &ev) != 0 && errno == EEXIST)
            epoll_ctl(loop->epfd, EPOLL_CTL_MOD, s, &ev);
        curl_multi_assign(loop->multi, s, loop); /* any non-NULL marks "added" */
    }
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: when libcurl next wants to be called with CURL_SOCKET_TIMEOUT. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct lgw_http_loop *loop = userp;
    loop->curl_due_us = timeout_ms < 0 ? -1 : lgw_mono_us() + (int64_t)timeout_ms * 1000;
    return 0;
}

static void unlink_xfer(struct lgw_http_loop *loop, struct lgw_http_xfer *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        loop->xfers = x->next;
    if (x->next)
        x->next->prev = x->prev;
}

/* Takes x out of the multi handle, recycles its easy handle, and runs its done. */
static void finish(struct lgw_http_loop *loop, struct lgw_http_xfer *x, int rc)
{
    CURL *curl = x->t.curl;
    curl_multi_remove_handle(loop->multi, curl);
    unlink_xfer(loop, x);
    atomic_fetch_sub(&loop->running, 1);
    if (loop->nspare < SPARE_HANDLES) {
        curl_easy_reset(curl);
        loop->spare[loop->nspare++] = curl;
    } else {
        curl_easy_cleanup(curl);
    }
    lgw_http_done_cb done = x->done;
    void *opaque = x->opaque;
    free(x);
    done(opaque, rc);
}

static void collect(struct lgw_http_loop *loop)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(loop->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct lgw_http_xfer *x = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode cc = msg->data.result;
        finish(loop, x, lgw_http_transfer_result(&x->t, cc));
    }
}

struct lgw_http_xfer *lgw_http_loop_start(struct lgw_http_loop *loop, const struct lgw_http_req *req,
                                          struct lgw_http_resp *resp, lgw_http_done_cb done, void *opaque,
                                          int *rc)
{
    if (atomic_load(&loop->stopping)) {
        lgw_http_resp_init(resp, req->max_bytes);
        *rc = LGW_ERR(UNAVAILABLE);
        return NULL;
    }
    CURL *curl = loop->nspare ? loop->spare[--loop->nspare] : curl_easy_init();
    if (!curl) {
        lgw_http_resp_init(resp, req->max_bytes);
        *rc = LGW_ERR(NOMEM);
        return NULL;
    }
    struct lgw_http_xfer *x = lgw_calloc(1, sizeof(*x));
    *rc = lgw_http_transfer_setup(&x->t, curl, req, resp);
    if (*rc) {
        curl_easy_cleanup(curl);
        free(x);
        return NULL;
    }
    x->done = done;
    x->opaque = opaque;
    curl_easy_setopt(curl, CURLOPT_PRIVATE, x);
    curl_easy_setopt(curl, CURLOPT_SHARE, loop->share);
    x->next = loop->xfers;
    if (x->next)
        x->next->prev = x;
    loop->xfers = x;
    atomic_fetch_add(&loop->running, 1);
    CURLMcode mc = curl_multi_add_handle(loop->multi, curl);
    if (mc != CURLM_OK) {
        LGW_WARN("http", "curl_multi_add_handle: %s", curl_multi_strerror(mc));
        unlink_xfer(loop, x);
        atomic_fetch_sub(&loop->running, 1);
        curl_easy_cleanup(curl);
        free(x);
        *rc = LGW_ERR(INTERNAL);
        return NULL;
    }
    return x;
}

void lgw_http_loop_abort(struct lgw_http_loop *loop, struct lgw_http_xfer *x, int rc)
{
    x->t.resp->data_rc = rc;
    lgw_http_transfer_progress(&x->t);
    finish(loop, x, rc);
}

void lgw_http_loop_unpause(struct lgw_http_loop *loop, struct lgw_http_xfer *x)
{
    (void)loop;
    curl_easy_pause(x->t.curl, CURLPAUSE_CONT);
}

size_t lgw_http_loop_running(const struct lgw_http_loop *loop)
{
    return atomic_load(&loop->running);
}

bool lgw_http_loop_on_thread(const struct lgw_http_loop *loop)
{
    return pthread_equal(pthread_self(), loop->thread);
}

static void *loop_main(void *arg)
{
    pthread_setname_np(pthread_self(), "prov-loop"); /* its CPU apart in top -H, perf and /proc/<pid>/task */
    struct lgw_http_loop *loop = arg;
    struct epoll_event evs[EPOLL_BATCH];
    int still;
    while (!atomic_load(&loop->stopping)) {
        int64_t task_due = run_tasks(loop, false);
        int64_t now = lgw_mono_us(), due = task_due;
        if (loop->curl_due_us >= 0 && (due < 0 || loop->curl_due_us < due))
            due = loop->curl_due_us;
        /* epoll_wait counts in milliseconds: round up, so a task never runs before it is due. The cap keeps a
         * lost wakeup from costing more than a second. */
        int64_t left_ms = due < 0 ? 1000 : due <= now ? 0 : (due - now + 999) / 1000;
        int wait = (int)(left_ms < 1000 ? left_ms : 1000);
        int n = epoll_wait(loop->epfd, evs, EPOLL_BATCH, wait);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == loop->wakefd) {
                uint64_t v;
                if (read(loop->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                    LGW_WARN("http", "loop wakeup read: %s", strerror(errno));
                continue;
            }
            int mask = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                       (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                       (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(loop->multi, evs[i].data.fd, mask, &still);
        }
        if (loop->curl_due_us >= 0 && lgw_mono_us() >= loop->curl_due_us) {
            loop->curl_due_us = -1;
            curl_multi_socket_action(loop->multi, CURL_SOCKET_TIMEOUT, 0, &still);
        }
        collect(loop);
    }
    /* Stopping: end every transfer (their owners get LGW_ERR(UNAVAILABLE) and may post tasks, which run here;
     * a task that starts a transfer now is refused), until nothing is left. */
    do {
        while (loop->xfers)
            lgw_http_loop_abort(loop, loop->xfers, LGW_ERR(UNAVAILABLE));
        run_tasks(loop, true);
    } while (loop->xfers);
    return NULL;
}

int lgw_http_loop_new(const struct lgw_http_loop_opts *opts, struct lgw_http_loop **out)
{
    *out = NULL;
    struct lgw_http_loop *loop = lgw_calloc(1, sizeof(*loop));
    pthread_mutex_init(&loop->lock, NULL);
    loop->curl_due_us = -1;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    loop->multi = curl_multi_init();
    loop->share = curl_share_init();
    if (loop->epfd < 0 || loop->wakefd < 0 || !loop->multi || !loop->share)
        goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = loop->wakefd};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) != 0)
        goto fail;
    /* One thread uses the share, so it needs no lock callbacks. */
    curl_share_setopt(loop->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(loop->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_multi_setopt(loop->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(loop->multi, CURLMOPT_SOCKETDATA, loop);
    curl_multi_setopt(loop->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(loop->multi, CURLMOPT_TIMERDATA, loop);
    curl_multi_setopt(loop->multi, CURLMOPT_MAX_HOST_CONNECTIONS, opts->max_host_connections);
    curl_multi_setopt(loop->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, opts->max_connections);
    curl_multi_setopt(loop->multi, CURLMOPT_MAXCONNECTS, opts->max_idle_connections);
    if (pthread_create(&loop->thread, NULL, loop_main, loop) != 0)
        goto fail;
    *out = loop;
    return LGW_OK;
fail:
    LGW_ERROR("http", "cannot start a transfer loop: %s", strerror(errno));
    if (loop->multi)
        curl_multi_cleanup(loop->multi);
    if (loop->share)
        curl_share_cleanup(loop->share);
    if (loop->epfd >= 0)
        close(loop->epfd);
    if (loop->wakefd >= 0)
        close(loop->wakefd);
    pthread_mutex_destroy(&loop->lock);
    free(loop);
    return LGW_ERR(INTERNAL);
}

void lgw_http_loop_free(struct lgw_http_loop *loop)
{
    if (!loop)
        return;
    atomic_store(&loop->stopping, true);
    uint64_t one = 1;
    if (write(loop->wakefd, &one, sizeof(one)) < 0)
        LGW_WARN("http", "loop wakeup: %s", strerror(errno));
    pthread_join(loop->thread, NULL);
    for (size_t i = 0; i < loop->nspare; i++)
        curl_easy_cleanup(loop->spare[i]);
    curl_multi_cleanup(loop->multi);
    curl_share_cleanup(loop->share);
    close(loop->epfd);
    close(loop->wakefd);
    free(loop->heap);
    pthread_mutex_destroy(&loop->lock);
    free(loop);
}
