/* cancel.c - cancel topic consumer and running-stream registry (see cancel.h). */
#include "workers/cancel.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/envelope.h"
#include "common/errors.h"
#include "common/kafka.h"
#include "common/topics.h"
#include "common/log.h"

struct lgw_cancel_reg {
    char id[LGW_ID_MAX];
    atomic_bool *flag;
    void (*wake)(void *opaque);
    void *opaque;
    struct lgw_cancel_reg *prev, *next;
};

struct lgw_cancels {
    rd_kafka_t *consumer;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t lock;
    /* Running streams: registering and unregistering are O(1) (a worker holds thousands); a cancel, which is
     * rare, walks the list. */
    struct lgw_cancel_reg *list;
};

static void raise_flag(struct lgw_cancels *c, const char *id, size_t len)
{
    pthread_mutex_lock(&c->lock);
    for (struct lgw_cancel_reg *r = c->list; r; r = r->next)
        if (strlen(r->id) == len && memcmp(r->id, id, len) == 0) {
            atomic_store(r->flag, true);
            if (r->wake)
                r->wake(r->opaque); /* under the lock: the stream cannot unregister (and end) meanwhile */
            LGW_LOG(LGW_LOG_INFO, "worker", r->id, NULL, "client left: cancelling the upstream call");
        }
    pthread_mutex_unlock(&c->lock);
}

static void *consume_main(void *arg)
{
    pthread_setname_np(pthread_self(), "wk-cancels"); /* its CPU apart in top -H, perf and /proc/<pid>/task */
    struct lgw_cancels *c = arg;
    while (!atomic_load(&c->stop)) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(c->consumer, 100);
        if (!msg)
            continue;
        struct lgw_cancel cancel;
        char why[128];
        if (!msg->err) {
            if (lgw_cancel_decode(msg->payload, msg->len, &cancel, why, sizeof(why)) == 0)
                raise_flag(c, cancel.id, strlen(cancel.id));
            else
                LGW_WARN("worker", "undecodable cancel at offset %lld: %s", (long long)msg->offset, why);
        }
        rd_kafka_message_destroy(msg);
    }
    return NULL;
}

int lgw_cancels_start(const struct lgw_config *cfg, const char *worker_id, struct lgw_cancels **out)
{
    *out = NULL;
    char errstr[256], group[200], client[200], topic[LGW_TOPIC_MAX];
    rd_kafka_conf_t *conf = lgw_kafka_conf_new(cfg, "llmgw-cancel");
    if (!conf)
        return LGW_ERR(CONFIG);
    /* Every worker reads every cancel, from the end: only running streams can be cancelled. The group id is
     * required by librdkafka 2.0.2 even with assign(); it is never joined. */
    snprintf(group, sizeof(group), "%s-cancel-%s", cfg->topic_prefix, worker_id);
    snprintf(client, sizeof(client), "llmgw-cancel-%s", worker_id);
    /* Assigned once below and never paused: the follow wait (common/kafka.h) delays no cancel. */
    char wait[32];
    snprintf(wait, sizeof(wait), "%lld", (long long)lgw_kafka_follow_wait_ms(cfg));
    int rc = lgw_kafka_set(conf, "group.id", group) | lgw_kafka_set(conf, "client.id", client) |
             lgw_kafka_set(conf, "auto.offset.reset", "latest") | lgw_kafka_set(conf, "enable.auto.commit", "false") |
             lgw_kafka_set(conf, "fetch.wait.max.ms", wait);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return LGW_ERR(CONFIG);
    }
    struct lgw_cancels *c = lgw_calloc(1, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    c->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!c->consumer) {
        LGW_ERROR("worker", "cancel consumer: %s", errstr);
        rd_kafka_conf_destroy(conf);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return LGW_ERR(UNAVAILABLE);
    }
    rd_kafka_poll_set_consumer(c->consumer);
    lgw_topic_name(cfg, LGW_TOPIC_CANCEL, NULL, topic, sizeof(topic));
    /* assign() at the current end of every partition the topic table gives the topic, not a group
     * subscription: a group join takes seconds, and a cancel published meanwhile would be skipped.
     * Each end must be an explicit offset known now: the logical OFFSET_END resolves only when fetching
     * starts, and a cancel published before that is skipped. Right after the topic was created its leader
     * may not be known yet, so the query is retried (bounded); a failure that lasts falls back to
     * OFFSET_END, loudly. */
    int nparts = lgw_topic_partitions(cfg, LGW_TOPIC_CANCEL);
    rd_kafka_topic_partition_list_t *at = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++) {
        int64_t lo = 0, hi = RD_KAFKA_OFFSET_END;
        rd_kafka_resp_err_t qerr = RD_KAFKA_RESP_ERR_NO_ERROR;
        for (int i = 0; i < 50; i++) {
            qerr = lgw_kafka_watermarks_within(c->consumer, topic, p, &lo, &hi, 1000);
            if (qerr == RD_KAFKA_RESP_ERR_NO_ERROR)
                break;
            struct timespec ts = {0, 200 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (qerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
            LGW_WARN("worker", "cancel topic %s/%d: end offset unknown (%s); cancels sent before fetching starts "
                               "may be missed", topic, p, rd_kafka_err2str(qerr));
            hi = RD_KAFKA_OFFSET_END;
        }
        rd_kafka_topic_partition_list_add(at, topic, p)->offset = hi;
    }
    rd_kafka_assign(c->consumer, at);
    rd_kafka_topic_partition_list_destroy(at);
    if (pthread_create(&c->thread, NULL, consume_main, c) != 0) {
        rd_kafka_destroy(c->consumer);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return LGW_ERR(INTERNAL);
    }
    *out = c;
    return LGW_OK;
}

void lgw_cancels_stop(struct lgw_cancels *c)
{
    if (!c || !c->consumer)
        return;
    atomic_store(&c->stop, true);
    lgw_kafka_wake(c->consumer);
    pthread_join(c->thread, NULL);
    rd_kafka_consumer_close(c->consumer);
    rd_kafka_destroy(c->consumer);
    c->consumer = NULL;
}

void lgw_cancels_free(struct lgw_cancels *c)
{
    if (!c)
        return;
    lgw_cancels_stop(c);
    while (c->list) {
        struct lgw_cancel_reg *r = c->list;
        c->list = r->next;
        free(r);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

struct lgw_cancel_reg *lgw_cancels_register(struct lgw_cancels *c, const char *job_id, atomic_bool *flag,
                                            void (*wake)(void *opaque), void *opaque)
{
    struct lgw_cancel_reg *r = lgw_calloc(1, sizeof(*r));
    lgw_strlcpy(r->id, job_id, sizeof(r->id));
    r->flag = flag;
    r->wake = wake;
    r->opaque = opaque;
    pthread_mutex_lock(&c->lock);
    r->next = c->list;
    if (r->next)
        r->next->prev = r;
    c->list = r;
    pthread_mutex_unlock(&c->lock);
    return r;
}

void lgw_cancels_unregister(struct lgw_cancels *c, struct lgw_cancel_reg *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&c->lock);
    if (r->prev)
        r->prev->next = r->next;
    else
        c->list = r->next;
    if (r->next)
        r->next->prev = r->prev;
    pthread_mutex_unlock(&c->lock);
    free(r);
}
