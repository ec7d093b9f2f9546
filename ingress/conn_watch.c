/* conn_watch.c - the request-head deadline of every client connection (conn_watch.h says why the HTTP server's
 * idle timeout is not enough). Connections are in one list under one lock; a thread walks it a few times a
 * second and, for a connection past its deadline, writes a 408 and shuts its socket down, which makes the
 * server see the end of the stream and close the connection (freeing its slot) on its own thread.
 *
 * Why touching the socket from this thread is safe: the server reports a connection closed (which removes its
 * entry, under the lock) before it closes the socket, and the watch only shuts a socket down under the lock, so
 * a socket number is never touched after it could belong to another connection. And while a head is awaited
 * the server has nothing of its own to write on the socket, so the 408 cannot interleave with an answer. */
#include "ingress/conn_watch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/http_error.h"
#include "common/log.h"
#include "common/metrics.h"

struct lgw_watched_conn {
    struct lgw_watched_conn *prev, *next;
    int fd;
    int64_t deadline_ms; /* monotonic; 0: no head awaited (one is being served) */
};

struct lgw_conn_watch {
    pthread_mutex_t lock; /* guards the list and every entry's deadline */
    pthread_cond_t wake;  /* the walk's tick, cut short by a stop (CLOCK_MONOTONIC) */
    struct lgw_watched_conn *head;
    int64_t head_timeout_ms, idle_ms, tick_ms;
    struct lgw_metrics *m;
    /* The whole 408 for a late head, status line to body, written by this thread. */
    char *answer;
    size_t answer_len;
    atomic_bool stop;
    pthread_t thread;
};

/* Writes what fits of the 408 without blocking (a client that does not read gets only the close) and shuts the
 * socket down both ways: the server's next read sees the end of the stream and closes the connection. */
static void expire(struct lgw_conn_watch *w, struct lgw_watched_conn *conn)
{
    /* Counted before the client can see the close, so whoever saw it also sees the count. */
    lgw_metrics_add(w->m, "llmgw_http_read_timeouts_total", "phase=\"head\"", 1);
    ssize_t n = send(conn->fd, w->answer, w->answer_len, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)n; /* best effort: the close is what frees the slot */
    shutdown(conn->fd, SHUT_RDWR);
    conn->deadline_ms = 0;
}

static void *watch_main(void *arg)
{
    pthread_setname_np(pthread_self(), "in-conn-watch"); /* its CPU apart in top -H, perf and /proc/<pid>/task */
    struct lgw_conn_watch *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!atomic_load(&w->stop)) {
        /* An early wake-up only walks the list sooner: every deadline is checked against the clock. */
        struct timespec until = lgw_deadline_in_ms(CLOCK_MONOTONIC, w->tick_ms);
        pthread_cond_timedwait(&w->wake, &w->lock, &until);
        if (atomic_load(&w->stop))
            break;
        int64_t now = lgw_mono_ms();
        int64_t expired = 0;
        for (struct lgw_watched_conn *conn = w->head; conn; conn = conn->next)
            if (conn->deadline_ms && now >= conn->deadline_ms) {
                expire(w, conn);
                expired++;
            }
        if (expired) {
            pthread_mutex_unlock(&w->lock);
            LGW_DEBUG("ingress", "%lld connection(s) sent no complete request head within %lld ms: 408, closed",
                      (long long)expired, (long long)w->head_timeout_ms);
            pthread_mutex_lock(&w->lock);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* A complete HTTP/1.1 408 with an OpenAI-style error body saying message. Malloc'd; *len is its size. */
static char *build_408(const char *message, size_t *len)
{
    struct lgw_buf body;
    lgw_buf_init(&body, 4096);
    lgw_http_error_body(LGW_ERR(REQUEST_TIMEOUT), message, &body);
    char head[160];
    int hn = snprintf(head, sizeof(head),
                      "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      body.len);
    *len = (size_t)hn + body.len;
    char *out = lgw_malloc(*len);
    memcpy(out, head, (size_t)hn);
    memcpy(out + hn, body.ptr, body.len);
    lgw_buf_cleanup(&body);
    return out;
}

struct lgw_conn_watch *lgw_conn_watch_new(int64_t head_timeout_ms, int64_t idle_ms, struct lgw_metrics *m)
{
    struct lgw_conn_watch *w = lgw_calloc(1, sizeof(*w));
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &ca);
    pthread_condattr_destroy(&ca);
    w->head_timeout_ms = head_timeout_ms;
    w->idle_ms = idle_ms;
    /* A deadline is kept to within a quarter of itself, and the walk (a few thousand entries at most, a pointer
     * chase each) happens at most four times a second. */
    w->tick_ms = head_timeout_ms / 4 < 250 ? head_timeout_ms / 4 : 250;
    if (w->tick_ms < 10)
        w->tick_ms = 10;
    w->m = m;
    lgw_metrics_declare(m, "llmgw_http_read_timeouts_total", LGW_METRIC_COUNTER,
                        "Connections answered 408 and closed because their request head (http_header_timeout_ms) "
                        "or body (http_body_timeout_ms, http_body_min_rate) arrived too slowly, by phase.");
    lgw_metrics_add(m, "llmgw_http_read_timeouts_total", "phase=\"head\"", 0); /* shown as 0, not absent */
    lgw_metrics_add(m, "llmgw_http_read_timeouts_total", "phase=\"body\"", 0);
    w->answer = build_408("The request head did not arrive in time; the connection is closed.", &w->answer_len);
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        LGW_ERROR("ingress", "cannot start the request-head watch thread");
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w->answer);
        free(w);
        return NULL;
    }
    return w;
}

void lgw_conn_watch_free(struct lgw_conn_watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    atomic_store(&w->stop, true);
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    while (w->head) { /* none once the HTTP server stopped; freed anyway rather than leaked */
        struct lgw_watched_conn *conn = w->head;
        w->head = conn->next;
        free(conn);
    }
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w->answer);
    free(w);
}

void lgw_conn_watch_body_late(struct lgw_conn_watch *w)
{
    lgw_metrics_add(w->m, "llmgw_http_read_timeouts_total", "phase=\"body\"", 1);
}

struct lgw_watched_conn *lgw_conn_watch_add(struct lgw_conn_watch *w, int fd)
{
    struct lgw_watched_conn *conn = lgw_calloc(1, sizeof(*conn));
    conn->fd = fd;
    conn->deadline_ms = lgw_mono_ms() + w->head_timeout_ms;
    pthread_mutex_lock(&w->lock);
    conn->next = w->head;
    if (w->head)
        w->head->prev = conn;
    w->head = conn;
    pthread_mutex_unlock(&w->lock);
    return conn;
}

void lgw_conn_watch_head_done(struct lgw_conn_watch *w, struct lgw_watched_conn *conn)
{
    if (!conn)
        return;
    pthread_mutex_lock(&w->lock);
    conn->deadline_ms = 0;
    pthread_mutex_unlock(&w->lock);
}

void lgw_conn_watch_next(struct lgw_conn_watch *w, struct lgw_watched_conn *conn)
{
    if (!conn)
        return;
    int64_t deadline = lgw_mono_ms() + w->idle_ms + w->head_timeout_ms;
    pthread_mutex_lock(&w->lock);
    conn->deadline_ms = deadline;
    pthread_mutex_unlock(&w->lock);
}

void lgw_conn_watch_remove(struct lgw_conn_watch *w, struct lgw_watched_conn *conn)
{
    if (!conn)
        return;
    pthread_mutex_lock(&w->lock);
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        w->head = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    pthread_mutex_unlock(&w->lock);
    free(conn);
}
