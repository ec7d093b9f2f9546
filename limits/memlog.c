/* memlog.c - the in-memory sliding log (see memlog.h): a hash table of keys, each an array of entries in time
 * order (time, tokens, request), pruned from the front as entries leave the window. */
#include "limits/memlog.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/buf.h"
#include "common/hash.h"

struct entry {
    int64_t t_us; /* when it entered (in-flight: when it expires) */
    int64_t tokens;
    uint64_t id;
};

/* One limit's log. A scope's request and token limits share a key name (as in Redis), so a log is its name
 * and its kind. */
struct key {
    char *name;
    char kind;
    struct entry *e;
    size_t head, len, cap; /* live entries are e[head..len) */
    int64_t sum;           /* tokens of the live entries */
    struct key *next;
};

struct lgw_memlog {
    pthread_mutex_t mu; /* one lock: a check is a few hundred nanoseconds of work */
    int64_t window_us;
    struct key **buckets;
    size_t nbuckets, nkeys, max_keys;
};

struct lgw_memlog *lgw_memlog_new(int64_t window_us, size_t max_keys)
{
    struct lgw_memlog *ml = lgw_calloc(1, sizeof(*ml));
    pthread_mutex_init(&ml->mu, NULL);
    ml->window_us = window_us;
    ml->nbuckets = 4096;
    ml->buckets = lgw_calloc(ml->nbuckets, sizeof(*ml->buckets));
    ml->max_keys = max_keys;
    return ml;
}

static void key_free(struct key *k)
{
    free(k->name);
    free(k->e);
    free(k);
}

void lgw_memlog_free(struct lgw_memlog *ml)
{
    if (!ml)
        return;
    for (size_t i = 0; i < ml->nbuckets; i++)
        for (struct key *k = ml->buckets[i], *next; k; k = next) {
            next = k->next;
            key_free(k);
        }
    free(ml->buckets);
    pthread_mutex_destroy(&ml->mu);
    free(ml);
}

/* Drops entries that left: older than the window, or (in flight) past their expiry. */
static void prune(struct lgw_memlog *ml, struct key *k, char kind, int64_t now_us)
{
    if (kind == LGW_MEMLOG_INFLIGHT) {
        /* Not in time order of expiry in general (holds differ); compact out the expired ones. */
        size_t w = k->head;
        for (size_t r = k->head; r < k->len; r++)
            if (k->e[r].t_us > now_us)
                k->e[w++] = k->e[r];
        k->len = w;
    } else {
        while (k->head < k->len && k->e[k->head].t_us <= now_us - ml->window_us) {
            k->sum -= k->e[k->head].tokens;
            k->head++;
        }
        LGW_ASSERT(k->sum >= 0 && (k->head < k->len || k->sum == 0));
    }
    if (k->head == k->len)
        k->head = k->len = 0;
}

/* Drops every key whose log is empty (called when the table is full). */
static void drop_empty(struct lgw_memlog *ml, int64_t now_us)
{
    for (size_t i = 0; i < ml->nbuckets; i++) {
        struct key **pp = &ml->buckets[i];
        while (*pp) {
            struct key *k = *pp;
            prune(ml, k, k->kind, now_us);
            if (k->len == 0) {
                *pp = k->next;
                key_free(k);
                ml->nkeys--;
            } else {
                pp = &k->next;
            }
        }
    }
}

static struct key *find(struct lgw_memlog *ml, const char *name, char kind, bool create, int64_t now_us)
{
    size_t b = lgw_hash_str(name) % ml->nbuckets;
    for (struct key *k = ml->buckets[b]; k; k = k->next)
        if (k->kind == kind && strcmp(k->name, name) == 0)
            return k;
    if (!create)
        return NULL;
    if (ml->nkeys >= ml->max_keys)
        drop_empty(ml, now_us);
    struct key *k = lgw_calloc(1, sizeof(*k));
    k->name = lgw_strdup(name);
    k->kind = kind;
    k->next = ml->buckets[b];
    ml->buckets[b] = k;
    ml->nkeys++;
    return k;
}

static void push(struct key *k, int64_t t_us, int64_t tokens, uint64_t id)
{
    if (k->len == k->cap) {
        if (k->head > 0) { /* room at the front: slide down first */
            memmove(k->e, k->e + k->head, (k->len - k->head) * sizeof(*k->e));
            k->len -= k->head;
            k->head = 0;
        }
        if (k->len == k->cap) {
            k->cap = k->cap ? k->cap * 2 : 16;
            k->e = lgw_realloc(k->e, k->cap * sizeof(*k->e));
        }
    }
    k->e[k->len++] = (struct entry){t_us, tokens, id};
    k->sum += tokens;
}

int lgw_memlog_admit(struct lgw_memlog *ml, const struct lgw_memlog_limit *lim, int n, uint64_t id_hash,
                     int64_t tokens, int64_t hold_us, int64_t now_us, struct lgw_memlog_usage *use,
                     int64_t *retry_us)
{
    int refused = -1;
    *retry_us = 0;
    struct key *keys[LGW_MEMLOG_MAX];
    LGW_ASSERT(n <= LGW_MEMLOG_MAX);
    pthread_mutex_lock(&ml->mu);
    for (int i = 0; i < n; i++) {
        struct key *k = keys[i] = find(ml, lim[i].key, lim[i].kind, true, now_us);
        prune(ml, k, lim[i].kind, now_us);
        int64_t count = (int64_t)(k->len - k->head);
        int64_t need = lim[i].kind == LGW_MEMLOG_TOKENS ? tokens : 1;
        int64_t used = lim[i].kind == LGW_MEMLOG_TOKENS ? k->sum : count;
        use[i].used = used;
        use[i].reset_us = count && lim[i].kind != LGW_MEMLOG_INFLIGHT ? k->e[k->head].t_us + ml->window_us - now_us : 0;
        if (used + need <= lim[i].limit)
            continue;
        /* Refused: the wait is until enough of the oldest entries have left the window. */
        int64_t wait = ml->window_us;
        if (lim[i].kind == LGW_MEMLOG_INFLIGHT) {
            wait = 1000000; /* a slot frees when some request ends: unknown; ask again in a second */
        } else if (need <= lim[i].limit) {
            int64_t freed = 0;
            for (size_t j = k->head; j < k->len; j++) {
                freed += lim[i].kind == LGW_MEMLOG_TOKENS ? k->e[j].tokens : 1;
                if (used - freed + need <= lim[i].limit) {
                    wait = k->e[j].t_us + ml->window_us - now_us;
                    break;
                }
            }
        }
        if (refused < 0)
            refused = i;
        if (wait > *retry_us)
            *retry_us = wait;
    }
    if (refused < 0) {
        for (int i = 0; i < n; i++) {
            if (lim[i].kind == LGW_MEMLOG_INFLIGHT)
                push(keys[i], now_us + hold_us, 0, id_hash);
            else
                push(keys[i], now_us, lim[i].kind == LGW_MEMLOG_TOKENS ? tokens : 0, id_hash);
            use[i].used += lim[i].kind == LGW_MEMLOG_TOKENS ? tokens : 1;
            if (use[i].reset_us == 0 && lim[i].kind != LGW_MEMLOG_INFLIGHT)
                use[i].reset_us = ml->window_us;
        }
    }
    pthread_mutex_unlock(&ml->mu);
    return refused;
}

void lgw_memlog_finish(struct lgw_memlog *ml, const struct lgw_memlog_limit *lim, int n, uint64_t id_hash,
                       int64_t used)
{
    pthread_mutex_lock(&ml->mu);
    for (int i = 0; i < n; i++) {
        if (lim[i].kind == LGW_MEMLOG_REQUESTS || (lim[i].kind == LGW_MEMLOG_TOKENS && used < 0))
            continue;
        struct key *k = find(ml, lim[i].key, lim[i].kind, false, 0);
        if (!k)
            continue;
        for (size_t j = k->head; j < k->len; j++) {
            if (k->e[j].id != id_hash)
                continue;
            if (lim[i].kind == LGW_MEMLOG_TOKENS) {
                k->sum += used - k->e[j].tokens;
                k->e[j].tokens = used;
                LGW_ASSERT(k->sum >= 0); /* the sum is of the live entries' tokens, each >= 0 */
            } else {
                k->e[j] = k->e[--k->len]; /* in-flight entries are unordered */
                if (k->head == k->len)
                    k->head = k->len = 0;
            }
            break;
        }
    }
    pthread_mutex_unlock(&ml->mu);
}
