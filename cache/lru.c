/* lru.c - the byte-bounded in-memory LRU (see lru.h): a chained hash table for lookups and a doubly linked
 * list in use order for eviction, both over the same entries. */
#include "cache/lru.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/hash.h"

struct entry {
    struct entry *hnext;       /* the bucket's chain */
    struct entry *prev, *next; /* use order: head most recent, tail next to go */
    int64_t expires_ms;
    size_t size; /* what the entry counts against the bound */
    size_t klen, vlen;
    char *key;   /* NUL-terminated; the value follows it in the same allocation */
    char data[]; /* key, NUL, value */
};

struct lgw_lru {
    pthread_mutex_t mu;
    size_t max_bytes, bytes, count;
    struct entry **buckets;
    size_t nbuckets; /* a power of two */
    struct entry *head, *tail;
};

struct lgw_lru *lgw_lru_new(size_t max_bytes)
{
    struct lgw_lru *lru = lgw_calloc(1, sizeof(*lru));
    pthread_mutex_init(&lru->mu, NULL);
    lru->max_bytes = max_bytes;
    lru->nbuckets = 64;
    lru->buckets = lgw_calloc(lru->nbuckets, sizeof(*lru->buckets));
    return lru;
}

void lgw_lru_free(struct lgw_lru *lru)
{
    if (!lru)
        return;
    for (struct entry *e = lru->head, *n; e; e = n) {
        n = e->next;
        free(e);
    }
    free(lru->buckets);
    pthread_mutex_destroy(&lru->mu);
    free(lru);
}

static struct entry **slot(struct lgw_lru *lru, const char *key)
{
    struct entry **p = &lru->buckets[lgw_hash_str(key) & (lru->nbuckets - 1)];
    while (*p && strcmp((*p)->key, key) != 0)
        p = &(*p)->hnext;
    return p;
}

static void unlink_use(struct lgw_lru *lru, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        lru->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        lru->tail = e->prev;
    e->prev = e->next = NULL;
}

static void push_front(struct lgw_lru *lru, struct entry *e)
{
    e->prev = NULL;
    e->next = lru->head;
    if (lru->head)
        lru->head->prev = e;
    lru->head = e;
    if (!lru->tail)
        lru->tail = e;
}

static void drop(struct lgw_lru *lru, struct entry **p)
{
    struct entry *e = *p;
    *p = e->hnext;
    unlink_use(lru, e);
    LGW_ASSERT(lru->bytes >= e->size && lru->count > 0);
    lru->bytes -= e->size;
    lru->count--;
    free(e);
}

/* Doubles the table when it holds more entries than buckets, so chains stay short. */
static void grow(struct lgw_lru *lru)
{
    size_t n = lru->nbuckets * 2;
    struct entry **b = lgw_calloc(n, sizeof(*b));
    for (size_t i = 0; i < lru->nbuckets; i++) {
        for (struct entry *e = lru->buckets[i], *next; e; e = next) {
            next = e->hnext;
            struct entry **p = &b[lgw_hash_str(e->key) & (n - 1)];
            e->hnext = *p;
            *p = e;
        }
    }
    free(lru->buckets);
    lru->buckets = b;
    lru->nbuckets = n;
}

bool lgw_lru_get(struct lgw_lru *lru, const char *key, int64_t now_ms, struct lgw_buf *out)
{
    bool hit = false;
    pthread_mutex_lock(&lru->mu);
    struct entry **p = slot(lru, key);
    if (*p && now_ms >= (*p)->expires_ms) {
        drop(lru, p);
    } else if (*p) {
        struct entry *e = *p;
        unlink_use(lru, e);
        push_front(lru, e);
        hit = lgw_buf_append(out, e->data + e->klen + 1, e->vlen) == 0;
    }
    pthread_mutex_unlock(&lru->mu);
    return hit;
}

bool lgw_lru_put(struct lgw_lru *lru, const char *key, const void *val, size_t len, int64_t expires_ms)
{
    size_t klen = strlen(key);
    /* The entry's share of the hash table too: the table holds at most two slots per entry (it doubles when
     * entries outnumber slots) past its first 64. */
    size_t size = sizeof(struct entry) + klen + 1 + len + 2 * sizeof(struct entry *);
    if (size > lru->max_bytes)
        return false;
    struct entry *e = lgw_malloc(size);
    memset(e, 0, sizeof(*e));
    e->expires_ms = expires_ms;
    e->size = size;
    e->klen = klen;
    e->vlen = len;
    e->key = e->data;
    memcpy(e->data, key, klen + 1);
    memcpy(e->data + klen + 1, val, len);
    pthread_mutex_lock(&lru->mu);
    struct entry **p = slot(lru, key);
    if (*p)
        drop(lru, p);
    /* Evict from the tail (least recently used) until the new entry fits. */
    while (lru->tail && lru->bytes + size > lru->max_bytes)
        drop(lru, slot(lru, lru->tail->key));
    if (lru->count + 1 > lru->nbuckets)
        grow(lru);
    p = slot(lru, key);
    e->hnext = *p;
    *p = e;
    push_front(lru, e);
    lru->bytes += size;
    lru->count++;
    LGW_ASSERT(lru->bytes <= lru->max_bytes);
    pthread_mutex_unlock(&lru->mu);
    return true;
}

/* How many of the coldest entries one lgw_lru_expire looks at. */
#define EXPIRE_SCAN 16

size_t lgw_lru_expire(struct lgw_lru *lru, int64_t now_ms)
{
    size_t dropped = 0;
    pthread_mutex_lock(&lru->mu);
    struct entry *e = lru->tail;
    for (int i = 0; e && i < EXPIRE_SCAN; i++) {
        struct entry *warmer = e->prev;
        if (now_ms >= e->expires_ms) {
            drop(lru, slot(lru, e->key));
            dropped++;
        }
        e = warmer;
    }
    pthread_mutex_unlock(&lru->mu);
    return dropped;
}

size_t lgw_lru_bytes(struct lgw_lru *lru)
{
    pthread_mutex_lock(&lru->mu);
    size_t n = lru->bytes;
    pthread_mutex_unlock(&lru->mu);
    return n;
}

size_t lgw_lru_count(struct lgw_lru *lru)
{
    pthread_mutex_lock(&lru->mu);
    size_t n = lru->count;
    pthread_mutex_unlock(&lru->mu);
    return n;
}
