/* providers.c - the workers' provider status records held in the ingress (see providers.h). */
#include "ingress/providers.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/kv_topic.h"
#include "common/log.h"
#include "common/provider_status.h"
#include "ingress/providers_view.h"

struct lgw_providers {
    pthread_mutex_t lock; /* guards recs: the reader thread writes, HTTP threads read (and drop stale ones) */
    struct lgw_pstatus *recs[LGW_PROVIDERS_WORKERS_MAX]; /* owned; recs[i]->worker_id is the record key */
    size_t n;
    bool full_said; /* the cap was hit and said so; said again only after it had room */
    struct lgw_kv_reader *reader; /* NULL: fed by hand (tests) */
};

struct lgw_providers *lgw_providers_new(void)
{
    struct lgw_providers *p = lgw_calloc(1, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    return p;
}

static void record_cb(void *opaque, const char *key, size_t keylen, const void *value, size_t len)
{
    lgw_providers_apply(opaque, key, keylen, value, len, lgw_wall_ms());
}

int lgw_providers_start(struct lgw_providers *p, const struct lgw_config *cfg, const char *name)
{
    return lgw_kv_reader_start(cfg, LGW_TOPIC_PROVIDERS, name, record_cb, p, &p->reader);
}

static void rec_free(struct lgw_pstatus *rec)
{
    lgw_pstatus_cleanup(rec);
    free(rec);
}

/* Removes recs[i] (order does not matter: the view sorts). Locked. */
static void drop_at(struct lgw_providers *p, size_t i)
{
    rec_free(p->recs[i]);
    p->recs[i] = p->recs[--p->n];
}

/* The index of worker id, or n. Locked. */
static size_t index_of(const struct lgw_providers *p, const char *id)
{
    size_t i = 0;
    while (i < p->n && strcmp(p->recs[i]->worker_id, id) != 0)
        i++;
    return i;
}

static void drop_stale(struct lgw_providers *p, int64_t now_ms)
{
    for (size_t i = p->n; i-- > 0;)
        if (!lgw_pstatus_fresh(p->recs[i], now_ms))
            drop_at(p, i);
}

/* Keeps rec (taken) as its worker's latest. Locked. */
static void put(struct lgw_providers *p, struct lgw_pstatus *rec, int64_t now_ms)
{
    size_t i = index_of(p, rec->worker_id);
    if (i < p->n) {
        rec_free(p->recs[i]);
        p->recs[i] = rec;
        return;
    }
    if (p->n == LGW_PROVIDERS_WORKERS_MAX)
        drop_stale(p, now_ms);
    if (p->n == LGW_PROVIDERS_WORKERS_MAX) {
        if (!p->full_said)
            LGW_WARN("providers", "status of more than %d workers: worker %s left out until some go stale",
                     LGW_PROVIDERS_WORKERS_MAX, rec->worker_id);
        p->full_said = true;
        rec_free(rec);
        return;
    }
    p->full_said = false;
    p->recs[p->n++] = rec;
}

/* The record's worker, from its key: a NUL-terminated copy, or false when the key cannot be a worker id. */
static bool key_id(const char *key, size_t keylen, char id[LGW_NAME_MAX])
{
    if (keylen == 0 || keylen >= LGW_NAME_MAX || memchr(key, '\0', keylen))
        return false;
    memcpy(id, key, keylen);
    id[keylen] = '\0';
    return true;
}

/* The record in value, decoded and checked against its key (id); NULL, said, when it is not one to keep. */
static struct lgw_pstatus *decode(const char *id, const void *value, size_t len)
{
    char why[256];
    struct lgw_pstatus *rec = lgw_malloc(sizeof(*rec));
    int rc = lgw_pstatus_decode(value, len, rec, why, sizeof(why));
    if (rc == 0 && strcmp(rec->worker_id, id) != 0) {
        rc = LGW_ERR(INVALID);
        lgw_strlcpy(why, "its worker_id is not its key", sizeof(why));
    }
    if (rc) {
        LGW_WARN("providers", "provider status of worker %s ignored: %s", id, why);
        rec_free(rec);
        return NULL;
    }
    return rec;
}

void lgw_providers_apply(struct lgw_providers *p, const char *key, size_t keylen, const void *value, size_t len,
                         int64_t now_ms)
{
    char id[LGW_NAME_MAX];
    if (!key_id(key, keylen, id)) {
        LGW_WARN("providers", "provider status record with a key of %zu bytes ignored", keylen);
        return;
    }
    /* Decoded outside the lock: HTTP threads never wait on a parse. A bad record leaves the worker's previous
     * one as it was (it goes stale on its own). */
    struct lgw_pstatus *rec = NULL;
    if (value && !(rec = decode(id, value, len)))
        return;
    pthread_mutex_lock(&p->lock);
    size_t i = index_of(p, id);
    if (rec && lgw_pstatus_fresh(rec, now_ms)) {
        put(p, rec, now_ms);
        rec = NULL;
    } else if (i < p->n) {
        drop_at(p, i); /* a tombstone (the worker stopped), or a record already too old to show */
    }
    pthread_mutex_unlock(&p->lock);
    if (rec)
        rec_free(rec);
}

json_t *lgw_providers_json(struct lgw_providers *p, const struct lgw_catalog *cat, int64_t now_ms)
{
    /* Built under the lock: the view borrows the records, and folding a few of them takes microseconds. */
    pthread_mutex_lock(&p->lock);
    drop_stale(p, now_ms);
    json_t *answer = lgw_providers_view((const struct lgw_pstatus *const *)p->recs, p->n, cat);
    pthread_mutex_unlock(&p->lock);
    return answer;
}

size_t lgw_providers_count(struct lgw_providers *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->n;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void lgw_providers_free(struct lgw_providers *p)
{
    if (!p)
        return;
    lgw_kv_reader_free(p->reader); /* first: its callback writes the records */
    for (size_t i = 0; i < p->n; i++)
        rec_free(p->recs[i]);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
