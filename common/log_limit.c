/* log_limit.c - per-kind, per-second rate limit for log lines (see log_limit.h). */
#include "common/log_limit.h"

#include <string.h>

void lgw_log_limit_init(struct lgw_log_limit *l, const char *module, uint32_t per_sec)
{
    memset(l, 0, sizeof(*l));
    l->module = module;
    l->per_sec = per_sec;
    pthread_mutex_init(&l->lock, NULL);
}

void lgw_log_limit_cleanup(struct lgw_log_limit *l)
{
    pthread_mutex_destroy(&l->lock);
}

/* key's slot: its own, a free one it takes, or the shared pool (the last slot) when all are taken. */
static struct lgw_log_limit_kind *slot(struct lgw_log_limit *l, const void *key)
{
    for (size_t i = 0; i < LGW_LOG_LIMIT_KINDS; i++) {
        struct lgw_log_limit_kind *k = &l->kinds[i];
        if (k->key == key)
            return k;
        if (!k->key) {
            k->key = key;
            k->second = -1;
            return k;
        }
    }
    return &l->kinds[LGW_LOG_LIMIT_KINDS];
}

bool lgw_log_limit_allow(struct lgw_log_limit *l, const void *key, int64_t now_ms, uint64_t *report,
                         const void **report_key)
{
    int64_t second = now_ms / 1000;
    pthread_mutex_lock(&l->lock);
    struct lgw_log_limit_kind *k = slot(l, key);
    *report = 0;
    *report_key = NULL;
    if (k->second != second) {
        *report = k->suppressed;
        *report_key = k->last;
        k->suppressed = 0;
        k->second = second;
        k->logged = 0;
    }
    bool allow = k->logged < l->per_sec;
    if (allow) {
        k->logged++;
    } else {
        k->suppressed++;
        k->last = key;
    }
    pthread_mutex_unlock(&l->lock);
    return allow;
}

void lgw_log_limit_flush(struct lgw_log_limit *l, int64_t now_ms,
                         void (*cb)(void *opaque, const void *key, uint64_t n), void *opaque)
{
    int64_t second = now_ms / 1000;
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i <= LGW_LOG_LIMIT_KINDS; i++) {
        struct lgw_log_limit_kind *k = &l->kinds[i];
        if (k->suppressed && k->second < second) {
            cb(opaque, k->last, k->suppressed);
            k->suppressed = 0;
        }
    }
    pthread_mutex_unlock(&l->lock);
}
