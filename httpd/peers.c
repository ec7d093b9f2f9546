/* peers.c - connections per address (peers.h): a chained hash table under one lock, an entry per address
 * with connections open (freed at its last close, so a scan of many addresses leaves nothing behind). */
#include "httpd/peers.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

#define BUCKETS 1024

struct entry {
    struct entry *next;
    struct lgw_peer_key key;
    unsigned count;
};

struct lgw_peers {
    pthread_mutex_t lock;
    unsigned cap;
    struct entry *buckets[BUCKETS];
};

struct lgw_peers *lgw_peers_new(unsigned cap)
{
    struct lgw_peers *p = lgw_calloc(1, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    p->cap = cap;
    return p;
}

void lgw_peers_free(struct lgw_peers *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < BUCKETS; i++)
        while (p->buckets[i]) {
            struct entry *e = p->buckets[i];
            p->buckets[i] = e->next;
            free(e);
        }
    pthread_mutex_destroy(&p->lock);
    free(p);
}

void lgw_peer_key_of(const struct sockaddr_storage *sa, struct lgw_peer_key *key)
{
    memset(key, 0, sizeof(*key));
    if (sa->ss_family == AF_INET) {
        memcpy(key->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        key->len = 4;
    } else if (sa->ss_family == AF_INET6) {
        memcpy(key->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        key->len = 16;
    }
}

static size_t bucket(const struct lgw_peer_key *k)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (uint8_t i = 0; i < k->len; i++)
        h = (h ^ k->addr[i]) * 16777619u;
    return h % BUCKETS;
}

static bool same(const struct lgw_peer_key *a, const struct lgw_peer_key *b)
{
    return a->len == b->len && memcmp(a->addr, b->addr, a->len) == 0;
}

bool lgw_peers_take(struct lgw_peers *p, const struct lgw_peer_key *key)
{
    if (!p->cap || !key->len)
        return true;
    bool ok = false;
    size_t b = bucket(key);
    pthread_mutex_lock(&p->lock);
    struct entry *e = p->buckets[b];
    while (e && !same(&e->key, key))
        e = e->next;
    if (!e) {
        e = lgw_calloc(1, sizeof(*e));
        e->key = *key;
        e->next = p->buckets[b];
        p->buckets[b] = e;
    }
    if (e->count < p->cap) {
        e->count++;
        ok = true;
    }
    pthread_mutex_unlock(&p->lock);
    return ok;
}

void lgw_peers_release(struct lgw_peers *p, const struct lgw_peer_key *key)
{
    if (!p || !p->cap || !key->len)
        return;
    size_t b = bucket(key);
    pthread_mutex_lock(&p->lock);
    for (struct entry **pp = &p->buckets[b]; *pp; pp = &(*pp)->next) {
        struct entry *e = *pp;
        if (same(&e->key, key)) {
            if (--e->count == 0) {
                *pp = e->next;
                free(e);
            }
            break;
        }
    }
    pthread_mutex_unlock(&p->lock);
}
