/* offsets.c - per-partition in-flight offset tracking (see offsets.h). */
#include "workers/offsets.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

struct slot {
    int64_t offset;
    bool done;
};

struct part {
    char *topic;
    int32_t partition;
    struct slot *slots; /* [head, len) are live, sorted by offset */
    size_t head, len, cap;
};

struct lgw_offsets {
    pthread_mutex_t lock;
    struct part *parts;
    size_t nparts;
};

struct lgw_offsets *lgw_offsets_new(void)
{
    struct lgw_offsets *t = lgw_calloc(1, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

void lgw_offsets_free(struct lgw_offsets *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nparts; i++) {
        free(t->parts[i].topic);
        free(t->parts[i].slots);
    }
    free(t->parts);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static struct part *find(struct lgw_offsets *t, const char *topic, int32_t partition, bool create)
{
    for (size_t i = 0; i < t->nparts; i++)
        if (t->parts[i].partition == partition && strcmp(t->parts[i].topic, topic) == 0)
            return &t->parts[i];
    if (!create)
        return NULL;
    t->parts = lgw_realloc(t->parts, (t->nparts + 1) * sizeof(*t->parts));
    struct part *p = &t->parts[t->nparts++];
    memset(p, 0, sizeof(*p));
    p->topic = lgw_strdup(topic);
    p->partition = partition;
    return p;
}

void lgw_offsets_add(struct lgw_offsets *t, const char *topic, int32_t partition, int64_t offset)
{
    pthread_mutex_lock(&t->lock);
    struct part *p = find(t, topic, partition, true);
    if (p->head > 0 && p->head == p->len) {
        p->head = p->len = 0; /* everything done: reuse the array from the start */
    } else if (p->len == p->cap && p->head > p->cap / 2) {
        memmove(p->slots, p->slots + p->head, (p->len - p->head) * sizeof(*p->slots));
        p->len -= p->head;
        p->head = 0;
    }
    if (p->len == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->slots = lgw_realloc(p->slots, p->cap * sizeof(*p->slots));
    }
    p->slots[p->len].offset = offset;
    p->slots[p->len].done = false;
    p->len++;
    pthread_mutex_unlock(&t->lock);
}

int64_t lgw_offsets_done(struct lgw_offsets *t, const char *topic, int32_t partition, int64_t offset)
{
    int64_t commit = -1;
    pthread_mutex_lock(&t->lock);
    struct part *p = find(t, topic, partition, false);
    if (!p)
        goto out; /* partition was revoked meanwhile: its new owner decides */
    size_t lo = p->head, hi = p->len;
    while (lo < hi) { /* binary search: slots are sorted by offset */
        size_t mid = lo + (hi - lo) / 2;
        if (p->slots[mid].offset < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == p->len || p->slots[lo].offset != offset)
        goto out;
    p->slots[lo].done = true;
    while (p->head < p->len && p->slots[p->head].done) {
        commit = p->slots[p->head].offset + 1;
        p->head++;
    }
out:
    pthread_mutex_unlock(&t->lock);
    return commit;
}

size_t lgw_offsets_inflight(struct lgw_offsets *t, const char *topic, int32_t partition)
{
    size_t n = 0;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->nparts; i++) {
        struct part *p = &t->parts[i];
        if (topic && (p->partition != partition || strcmp(p->topic, topic) != 0))
            continue;
        for (size_t s = p->head; s < p->len; s++)
            n += !p->slots[s].done;
    }
    pthread_mutex_unlock(&t->lock);
    return n;
}

void lgw_offsets_drop(struct lgw_offsets *t, const char *topic, int32_t partition)
{
    pthread_mutex_lock(&t->lock);
    struct part *p = find(t, topic, partition, false);
    if (p) {
        free(p->topic);
        free(p->slots);
        *p = t->parts[--t->nparts];
    }
    pthread_mutex_unlock(&t->lock);
}
