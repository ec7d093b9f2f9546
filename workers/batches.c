/* batches.c - the cancelling batches a worker skips (see batches.h). */
#include "workers/batches.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/batch_record.h"
#include "common/buf.h"
#include "common/kv_topic.h"
#include "common/log.h"

struct lgw_wbatches {
    pthread_mutex_t lock;
    json_t *cancelling; /* batch id -> true, for each batch whose latest record is cancelling */
    struct lgw_kv_reader *reader;
    struct lgw_metrics *m; /* not owned; may be NULL */
};

#define GAUGE "llmgw_batch_cancelling"

struct lgw_wbatches *lgw_wbatches_new(struct lgw_metrics *m)
{
    struct lgw_wbatches *b = lgw_calloc(1, sizeof(*b));
    pthread_mutex_init(&b->lock, NULL);
    b->cancelling = json_object();
    b->m = m;
    lgw_metrics_declare(m, GAUGE, LGW_METRIC_GAUGE,
                        "Batches this worker has read as cancelling: their lines not yet run are answered "
                        "batch_cancelled.");
    lgw_metrics_gauge_set(m, GAUGE, NULL, 0);
    return b;
}

static void record_cb(void *opaque, const char *key, size_t keylen, const void *value, size_t len)
{
    lgw_wbatches_apply(opaque, key, keylen, value, len);
}

int lgw_wbatches_start(const struct lgw_config *cfg, struct lgw_metrics *m, const char *name,
                       struct lgw_wbatches **out)
{
    struct lgw_wbatches *b = lgw_wbatches_new(m);
    int rc = lgw_kv_reader_start(cfg, LGW_TOPIC_BATCHES, name, record_cb, b, &b->reader);
    if (rc) {
        lgw_wbatches_free(b);
        *out = NULL;
        return rc;
    }
    *out = b;
    return 0;
}

void lgw_wbatches_apply(struct lgw_wbatches *b, const char *key, size_t keylen, const void *value, size_t len)
{
    char id[LGW_ID_MAX];
    if (!key || keylen == 0 || keylen >= sizeof(id))
        return;
    memcpy(id, key, keylen);
    id[keylen] = '\0';
    bool cancelling = false;
    if (value) {
        struct lgw_batch_record rec;
        char why[256];
        if (lgw_batch_record_decode(value, len, &rec, why, sizeof(why))) {
            LGW_WARN("worker", "batch record %s ignored: %s", id, why);
            lgw_batch_record_cleanup(&rec);
            return;
        }
        cancelling = rec.state == LGW_BATCH_CANCELLING;
        lgw_batch_record_cleanup(&rec);
    }
    pthread_mutex_lock(&b->lock);
    if (cancelling)
        json_object_set_new(b->cancelling, id, json_true());
    else
        json_object_del(b->cancelling, id); /* a tombstone, or a record after cancelling (none today) */
    /* Set under the lock, so the sizes are published in the order the records were applied. */
    lgw_metrics_gauge_set(b->m, GAUGE, NULL, (int64_t)json_object_size(b->cancelling));
    pthread_mutex_unlock(&b->lock);
}

bool lgw_wbatches_cancelling(struct lgw_wbatches *b, const char *batch_id)
{
    pthread_mutex_lock(&b->lock);
    bool yes = json_object_get(b->cancelling, batch_id) != NULL;
    pthread_mutex_unlock(&b->lock);
    return yes;
}

bool lgw_wbatches_caught_up(const struct lgw_wbatches *b)
{
    return !b->reader || lgw_kv_reader_caught_up(b->reader);
}

void lgw_wbatches_free(struct lgw_wbatches *b)
{
    if (!b)
        return;
    lgw_kv_reader_free(b->reader);
    json_decref(b->cancelling);
    pthread_mutex_destroy(&b->lock);
    free(b);
}
