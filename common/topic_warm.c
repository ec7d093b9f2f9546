/* topic_warm.c - a topic's metadata asked for once, in the background, before the first produce (topic_warm.h). */
#include "common/topic_warm.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/envelope.h"
#include "common/errors.h"
#include "common/hash.h"
#include "common/log.h"

#define SLOTS (2 * LGW_TOPIC_WARM_KNOWN) /* open addressing, at most half full */

struct lgw_topic_warm {
    rd_kafka_t *rk;
    struct lgw_metrics *m;
    int timeout_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    /* Under mu. known: hashes of topics this client has metadata for (0 = empty slot). */
    uint64_t known[SLOTS];
    size_t nknown;
    /* The lookups to do, a ring; and the one under way (0: none), so a hint for it is not queued twice. */
    char queue[LGW_TOPIC_WARM_QUEUE][LGW_TOPIC_MAX];
    uint64_t queued[LGW_TOPIC_WARM_QUEUE];
    size_t head, len;
    uint64_t busy;
};

static uint64_t topic_hash(const char *topic)
{
    uint64_t h = lgw_hash_str(topic);
    return h ? h : 1; /* 0 marks an empty slot */
}

static bool known_has(const struct lgw_topic_warm *tw, uint64_t h)
{
    for (size_t i = h % SLOTS;; i = (i + 1) % SLOTS) {
        if (tw->known[i] == h)
            return true;
        if (!tw->known[i])
            return false;
    }
}

static void known_add(struct lgw_topic_warm *tw, uint64_t h)
{
    if (tw->nknown >= LGW_TOPIC_WARM_KNOWN) { /* forget them all: each is asked about again once, when it comes */
        memset(tw->known, 0, sizeof(tw->known));
        tw->nknown = 0;
    }
    size_t i = h % SLOTS;
    for (; tw->known[i]; i = (i + 1) % SLOTS)
        if (tw->known[i] == h)
            return;
    tw->known[i] = h;
    tw->nknown++;
}

static bool pending(const struct lgw_topic_warm *tw, uint64_t h)
{
    if (tw->busy == h)
        return true;
    for (size_t k = 0; k < tw->len; k++)
        if (tw->queued[(tw->head + k) % LGW_TOPIC_WARM_QUEUE] == h)
            return true;
    return false;
}

void lgw_topic_warm_hint(struct lgw_topic_warm *tw, const char *topic)
{
    if (!tw || !topic || !*topic)
        return;
    uint64_t h = topic_hash(topic);
    pthread_mutex_lock(&tw->mu);
    if (known_has(tw, h) || pending(tw, h)) {
        pthread_mutex_unlock(&tw->mu);
        return;
    }
    bool full = tw->len == LGW_TOPIC_WARM_QUEUE;
    if (!full) {
        size_t at = (tw->head + tw->len++) % LGW_TOPIC_WARM_QUEUE;
        lgw_strlcpy(tw->queue[at], topic, LGW_TOPIC_MAX);
        tw->queued[at] = h;
        pthread_cond_signal(&tw->cv);
    }
    pthread_mutex_unlock(&tw->mu);
    if (full)
        lgw_metrics_add(tw->m, "llmgw_kafka_topic_lookups_total", "result=\"dropped\"", 1);
}

/* One topic's metadata, into rk's cache (where a later produce's new topic handle finds it). Returns "ok", or
 * why not, for the metric. */
static const char *lookup(struct lgw_topic_warm *tw, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(tw->rk, topic, NULL);
    if (!rkt)
        return "failed";
    const struct rd_kafka_metadata *md = NULL;
    int64_t t0 = lgw_mono_ms();
    rd_kafka_resp_err_t err = rd_kafka_metadata(tw->rk, 0, rkt, &md, tw->timeout_ms);
    const char *result = "ok";
    if (err) {
        result = "failed";
        LGW_WARN("kafka", "metadata of topic %s: %s (its first record waits on librdkafka's own lookup)", topic,
                 rd_kafka_err2str(err));
    } else if (md->topic_cnt < 1 || md->topics[0].err) {
        result = "unknown"; /* not (yet) a topic: its produce fails or waits as it would have */
        LGW_DEBUG("kafka", "metadata of topic %s: %s", topic,
                  rd_kafka_err2str(md->topic_cnt < 1 ? RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC : md->topics[0].err));
    } else {
        LGW_DEBUG("kafka", "metadata of topic %s learned in %lld ms", topic, (long long)(lgw_mono_ms() - t0));
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return result;
}

static void *warm_main(void *arg)
{
    pthread_setname_np(pthread_self(), "topic-warm"); /* its CPU apart in top -H, perf and /proc/<pid>/task */
    struct lgw_topic_warm *tw = arg;
    char topic[LGW_TOPIC_MAX];
    pthread_mutex_lock(&tw->mu);
    for (;;) {
        while (!tw->stop && !tw->len)
            pthread_cond_wait(&tw->cv, &tw->mu);
        if (tw->stop)
            break;
        lgw_strlcpy(topic, tw->queue[tw->head], sizeof(topic));
        tw->busy = tw->queued[tw->head];
        tw->head = (tw->head + 1) % LGW_TOPIC_WARM_QUEUE;
        tw->len--;
        pthread_mutex_unlock(&tw->mu);
        const char *result = lookup(tw, topic);
        char labels[32];
        snprintf(labels, sizeof(labels), "result=\"%s\"", result);
        lgw_metrics_add(tw->m, "llmgw_kafka_topic_lookups_total", labels, 1);
        pthread_mutex_lock(&tw->mu);
        if (result[0] == 'o') /* "ok": remembered; otherwise the next hint asks again */
            known_add(tw, tw->busy);
        tw->busy = 0;
    }
    pthread_mutex_unlock(&tw->mu);
    return NULL;
}

int lgw_topic_warm_new(rd_kafka_t *rk, struct lgw_metrics *m, int timeout_ms, struct lgw_topic_warm **out)
{
    *out = NULL;
    struct lgw_topic_warm *tw = lgw_calloc(1, sizeof(*tw));
    tw->rk = rk;
    tw->m = m;
    tw->timeout_ms = timeout_ms;
    lgw_metrics_declare(m, "llmgw_kafka_topic_lookups_total", LGW_METRIC_COUNTER,
                        "Topics a worker asked the cluster about before its first record to them, by result "
                        "(ok, unknown: no such topic, failed, dropped: too many waiting).");
    pthread_mutex_init(&tw->mu, NULL);
    pthread_cond_init(&tw->cv, NULL);
    if (pthread_create(&tw->thread, NULL, warm_main, tw)) {
        pthread_cond_destroy(&tw->cv);
        pthread_mutex_destroy(&tw->mu);
        free(tw);
        return LGW_ERR(INTERNAL);
    }
    *out = tw;
    return LGW_OK;
}

void lgw_topic_warm_free(struct lgw_topic_warm *tw)
{
    if (!tw)
        return;
    pthread_mutex_lock(&tw->mu);
    tw->stop = true;
    pthread_cond_signal(&tw->cv);
    pthread_mutex_unlock(&tw->mu);
    pthread_join(tw->thread, NULL);
    pthread_cond_destroy(&tw->cv);
    pthread_mutex_destroy(&tw->mu);
    free(tw);
}
