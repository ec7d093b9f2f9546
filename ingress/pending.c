/* pending.c - sharded map of requests waiting for replies (see pending.h). */
#include "ingress/pending.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/hash.h"
#include "ingress/request.h"

#define SHARDS 16
#define BUCKETS 1024 /* per shard; chains stay short up to ~100k waiting requests */

struct shard {
    pthread_mutex_t lock;
    struct lgw_req *buckets[BUCKETS];
    size_t count;
};

struct lgw_pending {
    struct shard shards[SHARDS];
};

static struct shard *shard_of(struct lgw_pending *p, const char *id, size_t *bucket)
{
    uint64_t h = lgw_hash_str(id); /* ids end in 62 random bits (common/uuid.h), which FNV-1a mixes in */
    if (bucket)
        *bucket = (size_t)(h >> 8) % BUCKETS;
    return &p->shards[h % SHARDS];
}

struct lgw_pending *lgw_pending_new(void)
{
    struct lgw_pending *p = lgw_calloc(1, sizeof(*p));
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_init(&p->shards[i].lock, NULL);
    return p;
}

void lgw_pending_free(struct lgw_pending *p)
{
    if (!p)
        return;
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_destroy(&p->shards[i].lock);
    free(p);
}

void lgw_pending_lock(struct lgw_pending *p, const char *id)
{
    pthread_mutex_lock(&shard_of(p, id, NULL)->lock);
}

void lgw_pending_unlock(struct lgw_pending *p, const char *id)
{
    pthread_mutex_unlock(&shard_of(p, id, NULL)->lock);
}

void lgw_pending_insert_locked(struct lgw_pending *p, struct lgw_req *req)
{
    size_t b;
    struct shard *s = shard_of(p, req->id, &b);
    req->pending_next = s->buckets[b];
    s->buckets[b] = req;
    req->in_pending = true;
    s->count++;
}

void lgw_pending_suspend_locked(struct lgw_pending *p, struct lgw_req *req)
{
    lgw_req_ref(req); /* the map's reference */
    lgw_pending_insert_locked(p, req);
    pthread_mutex_lock(&req->lock);
    req->suspended = true;
    lgw_hconn_suspend(req->conn);
    pthread_mutex_unlock(&req->lock);
}

bool lgw_pending_remove(struct lgw_pending *p, struct lgw_req *req)
{
    size_t b;
    struct shard *s = shard_of(p, req->id, &b);
    bool removed = false;
    pthread_mutex_lock(&s->lock);
    if (req->in_pending) {
        for (struct lgw_req **pp = &s->buckets[b]; *pp; pp = &(*pp)->pending_next) {
            if (*pp == req) {
                *pp = req->pending_next;
                req->pending_next = NULL;
                req->in_pending = false;
                s->count--;
                removed = true;
                break;
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
    return removed;
}

struct lgw_req *lgw_pending_ref(struct lgw_pending *p, const char *id)
{
    size_t b;
    struct shard *s = shard_of(p, id, &b);
    struct lgw_req *req = NULL;
    pthread_mutex_lock(&s->lock);
    for (struct lgw_req *r = s->buckets[b]; r; r = r->pending_next) {
        if (strcmp(r->id, id) == 0) {
            req = r;
            atomic_fetch_add(&req->refs, 1);
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return req;
}

struct lgw_req *lgw_pending_take(struct lgw_pending *p, const char *id)
{
    size_t b;
    struct shard *s = shard_of(p, id, &b);
    pthread_mutex_lock(&s->lock);
    struct lgw_req **pp = &s->buckets[b], *req = NULL;
    for (; *pp; pp = &(*pp)->pending_next) {
        if (strcmp((*pp)->id, id) == 0) {
            req = *pp;
            *pp = req->pending_next;
            req->pending_next = NULL;
            req->in_pending = false;
            s->count--;
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return req;
}

struct lgw_req *lgw_pending_take_expired(struct lgw_pending *p, int64_t now_ms)
{
    struct lgw_req *out = NULL;
    for (int i = 0; i < SHARDS; i++) {
        struct shard *s = &p->shards[i];
        pthread_mutex_lock(&s->lock);
        for (size_t b = 0; s->count && b < BUCKETS; b++) {
            struct lgw_req **pp = &s->buckets[b];
            while (*pp) {
                struct lgw_req *req = *pp;
                if (req->deadline_ms <= now_ms) {
                    *pp = req->pending_next;
                    req->in_pending = false;
                    req->pending_next = out;
                    out = req;
                    s->count--;
                } else {
                    pp = &req->pending_next;
                }
            }
        }
        pthread_mutex_unlock(&s->lock);
    }
    return out;
}

size_t lgw_pending_count(struct lgw_pending *p)
{
    size_t n = 0;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&p->shards[i].lock);
        n += p->shards[i].count;
        pthread_mutex_unlock(&p->shards[i].lock);
    }
    return n;
}
