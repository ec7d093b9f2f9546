/* spend.c - period names, the spend record, and the in-memory view of the spend topic (see spend.h). */
#include "limits/spend.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/hash.h"
#include "common/kv_topic.h"
#include "common/log.h"

/* Buckets of the view's hash table: one total per tenant and key per current day and month, so a few
 * thousand entries for a large deployment; chains stay short without ever resizing. */
#define NBUCKETS 4096

struct entry {
    struct entry *next;
    int64_t spend_nusd;
    char key[]; /* "scope|period" */
};

struct lgw_spend {
    pthread_mutex_t lock; /* guards the table: the reader thread writes, every HTTP thread reads */
    struct entry *buckets[NBUCKETS];
    size_t n;
    char pruned_day[LGW_SPEND_PERIOD_MAX]; /* the day of the last prune: one prune per day */
    /* NULL: fed by hand (tests). Atomic: set by lgw_spend_start while a metrics push thread may already ask
     * lgw_spend_caught_up (a worker starts its meter first). */
    struct lgw_kv_reader *_Atomic reader;
};

struct lgw_spend *lgw_spend_new(void)
{
    struct lgw_spend *s = lgw_calloc(1, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

static void record_cb(void *opaque, const char *key, size_t keylen, const void *value, size_t len)
{
    lgw_spend_apply(opaque, key, keylen, value, len);
}

int lgw_spend_start(struct lgw_spend *s, const struct lgw_config *cfg, const char *name)
{
    struct lgw_kv_reader *r = NULL;
    int rc = lgw_kv_reader_start(cfg, LGW_TOPIC_SPEND, name, record_cb, s, &r);
    atomic_store(&s->reader, r);
    return rc;
}

/* The entry of key, or NULL; with its bucket. Caller holds the lock. */
static struct entry *find(struct lgw_spend *s, const char *key, size_t *bucket)
{
    *bucket = lgw_hash_str(key) % NBUCKETS;
    for (struct entry *e = s->buckets[*bucket]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

/* Periods older than the previous day and month of now_ms are over for good: no budget looks at them. */
static bool stale(const char *period, int64_t now_ms)
{
    char floor[LGW_SPEND_PERIOD_MAX];
    if (strncmp(period, "day:", 4) == 0)
        lgw_spend_day(now_ms - 86400000LL, floor);
    else
        lgw_spend_month(lgw_spend_month_end_ms(now_ms) - 32LL * 86400000LL, floor); /* the previous month */
    return strcmp(period, floor) < 0; /* same prefix, fixed-width digits: text order is time order */
}

void lgw_spend_apply(struct lgw_spend *s, const char *key, size_t keylen, const void *value, size_t len)
{
    struct lgw_spend_record rec;
    char why[128], want[LGW_SPEND_KEY_MAX], got[LGW_SPEND_KEY_MAX];
    int64_t now = lgw_wall_ms();
    if (!value) /* a tombstone: an operator's clean-up of an old period; totals are never lowered */
        return;
    if (lgw_spend_record_decode(value, len, &rec, why, sizeof(why))) {
        LGW_WARN("spend", "ignoring a spend record: %s", why);
        return;
    }
    lgw_spend_record_key(&rec, want);
    if (keylen >= sizeof(got) || (memcpy(got, key, keylen), got[keylen] = '\0', strcmp(got, want) != 0)) {
        LGW_WARN("spend", "ignoring a spend record whose key is not its scope and period (%s)", want);
        return;
    }
    if (stale(rec.period, now)) /* a replay of the topic's history: nothing to keep */
        return;
    char today[LGW_SPEND_PERIOD_MAX];
    lgw_spend_day(now, today);
    pthread_mutex_lock(&s->lock);
    size_t b;
    struct entry *e = find(s, want, &b);
    if (!e) {
        size_t klen = strlen(want);
        e = lgw_calloc(1, sizeof(*e) + klen + 1);
        memcpy(e->key, want, klen + 1);
        e->next = s->buckets[b];
        s->buckets[b] = e;
        s->n++;
    }
    /* A total only grows within its period; a smaller one is an older record (or another ledger's
     * commit that landed later on the topic) and must not lower what was seen. */
    if (rec.spend_nusd > e->spend_nusd)
        e->spend_nusd = rec.spend_nusd;
    bool prune = strcmp(s->pruned_day, today) != 0;
    int64_t total = e->spend_nusd;
    pthread_mutex_unlock(&s->lock);
    LGW_DEBUG("spend", "%s: %lld nano-USD (record %lld)", want, (long long)total, (long long)rec.spend_nusd);
    if (prune)
        lgw_spend_prune(s, now);
}

int64_t lgw_spend_get(struct lgw_spend *s, const char *scope, const char *period)
{
    char key[LGW_SPEND_KEY_MAX];
    snprintf(key, sizeof(key), "%s|%s", scope, period);
    pthread_mutex_lock(&s->lock);
    size_t b;
    struct entry *e = find(s, key, &b);
    int64_t v = e ? e->spend_nusd : 0;
    pthread_mutex_unlock(&s->lock);
    return v;
}

bool lgw_spend_caught_up(const struct lgw_spend *s)
{
    struct lgw_kv_reader *r = atomic_load(&s->reader);
    return !r || lgw_kv_reader_caught_up(r);
}

size_t lgw_spend_count(struct lgw_spend *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->n;
    pthread_mutex_unlock(&s->lock);
    return n;
}

void lgw_spend_prune(struct lgw_spend *s, int64_t now_ms)
{
    pthread_mutex_lock(&s->lock);
    lgw_spend_day(now_ms, s->pruned_day);
    for (size_t b = 0; b < NBUCKETS; b++) {
        for (struct entry **at = &s->buckets[b]; *at;) {
            struct entry *e = *at;
            if (stale(strrchr(e->key, '|') + 1, now_ms)) {
                *at = e->next;
                free(e);
                s->n--;
            } else
                at = &e->next;
        }
    }
    pthread_mutex_unlock(&s->lock);
}

void lgw_spend_free(struct lgw_spend *s)
{
    if (!s)
        return;
    lgw_kv_reader_free(atomic_load(&s->reader)); /* first: its thread writes the table */
    for (size_t b = 0; b < NBUCKETS; b++) {
        for (struct entry *e = s->buckets[b], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}
