/* pool.c - bounded queue and thread pool (see pool.h). */
#include "workers/pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "common/clock.h"
#include "common/buf.h"
#include "common/errors.h"
#include "common/log.h"

struct lgw_pool {
    lgw_pool_run_cb run_cb;
    void *opaque;

    /* A ring of cap items; one lock guards it, nonempty wakes the threads and nonfull the producer. */
    pthread_mutex_t lock;
    pthread_cond_t nonempty, nonfull;
    void **items;
    size_t cap, head, len;
    bool closed;

    pthread_t *threads;
    size_t nthreads; /* started */
};

/* Blocks until there is an item, or the pool is closed and empty (NULL): a closed pool still drains. */
static void *take(struct lgw_pool *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->len == 0 && !p->closed)
        pthread_cond_wait(&p->nonempty, &p->lock);
    void *item = NULL;
    if (p->len > 0) {
        item = p->items[p->head];
        p->head = (p->head + 1) % p->cap;
        p->len--;
        pthread_cond_signal(&p->nonfull);
    }
    pthread_mutex_unlock(&p->lock);
    return item;
}

static void *thread_main(void *arg)
{
    pthread_setname_np(pthread_self(), "wk-plan"); /* its CPU apart in top -H, perf and /proc/<pid>/task */
    struct lgw_pool *p = arg;
    void *item;
    while ((item = take(p)) != NULL)
        p->run_cb(item, p->opaque);
    return NULL;
}

int lgw_pool_new(size_t nthreads, size_t capacity, lgw_pool_run_cb run_cb, void *opaque, struct lgw_pool **out)
{
    struct lgw_pool *p = lgw_calloc(1, sizeof(*p));
    *out = NULL;
    p->run_cb = run_cb;
    p->opaque = opaque;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->nonempty, NULL);
    pthread_cond_init(&p->nonfull, NULL);
    p->cap = capacity ? capacity : 1;
    p->items = lgw_calloc(p->cap, sizeof(*p->items));
    p->threads = lgw_calloc(nthreads ? nthreads : 1, sizeof(*p->threads));
    for (size_t i = 0; i < nthreads; i++) {
        if (pthread_create(&p->threads[i], NULL, thread_main, p) != 0) {
            /* The OS is out of threads: stop the ones started (the queue is empty, so they exit at once). */
            LGW_ERROR("worker", "could not start pool thread %zu", i);
            lgw_pool_close(p);
            lgw_pool_join(p);
            lgw_pool_free(p, NULL);
            return LGW_ERR(INTERNAL);
        }
        p->nthreads++;
    }
    *out = p;
    return LGW_OK;
}

int lgw_pool_push(struct lgw_pool *p, void *item, const atomic_bool *stop)
{
    pthread_mutex_lock(&p->lock);
    while (p->len == p->cap && !p->closed && !atomic_load(stop)) {
        /* A bounded wait: nobody signals nonfull when *stop turns true. */
        struct timespec ts = lgw_deadline_in_ms(CLOCK_REALTIME, 100);
        pthread_cond_timedwait(&p->nonfull, &p->lock, &ts);
    }
    bool ok = !p->closed && p->len < p->cap;
    if (ok) {
        p->items[(p->head + p->len) % p->cap] = item;
        p->len++;
        pthread_cond_signal(&p->nonempty);
    }
    pthread_mutex_unlock(&p->lock);
    return ok ? LGW_OK : LGW_ERR(UNAVAILABLE);
}

void lgw_pool_close(struct lgw_pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->closed = true;
    pthread_cond_broadcast(&p->nonempty);
    pthread_cond_broadcast(&p->nonfull);
    pthread_mutex_unlock(&p->lock);
}

void lgw_pool_join(struct lgw_pool *p)
{
    for (size_t i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    p->nthreads = 0;
}

void lgw_pool_free(struct lgw_pool *p, void (*drop_cb)(void *item))
{
    if (!p)
        return;
    for (size_t i = 0; i < p->len; i++)
        if (drop_cb)
            drop_cb(p->items[(p->head + i) % p->cap]);
    free(p->items);
    free(p->threads);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->nonempty);
    pthread_cond_destroy(&p->nonfull);
    free(p);
}
