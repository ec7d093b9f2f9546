/* kv_topic.c - a compacted topic read into memory (see kv_topic.h). */
#include "common/kv_topic.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/buf.h"
#include "common/errors.h"
#include "common/kafka.h"
#include "common/log.h"

/* The most partitions a table row gives a compacted topic; these topics have one, this is room to spare. */
#define MAX_PARTS 64

struct lgw_kv_reader {
    rd_kafka_t *consumer;
    pthread_t thread;
    atomic_bool stop;
    atomic_bool caught_up;
    atomic_llong records;
    char topic[LGW_TOPIC_MAX];
    int nparts;
    int64_t end[MAX_PARTS];  /* each partition's end offset when the reader was positioned */
    int64_t next[MAX_PARTS]; /* the next offset to read per partition */
    lgw_kv_record_cb cb;
    void *opaque;
};

/* Assigns every partition at its beginning and notes where each ends now. False while the topic does not
 * exist yet or its leader is unknown (the caller tries again). */
static bool position(struct lgw_kv_reader *r)
{
    rd_kafka_topic_partition_list_t *at = rd_kafka_topic_partition_list_new(r->nparts);
    for (int p = 0; p < r->nparts; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t err = lgw_kafka_watermarks_within(r->consumer, r->topic, p, &lo, &hi, 1000);
        if (err) {
            rd_kafka_topic_partition_list_destroy(at);
            return false;
        }
        r->end[p] = hi;
        r->next[p] = lo;
        rd_kafka_topic_partition_list_add(at, r->topic, p)->offset = lo;
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(r->consumer, at);
    rd_kafka_topic_partition_list_destroy(at);
    if (err) {
        LGW_WARN("kafka", "assign %s: %s", r->topic, rd_kafka_err2str(err));
        return false;
    }
    return true;
}

static bool all_read(const struct lgw_kv_reader *r)
{
    for (int p = 0; p < r->nparts; p++)
        if (r->next[p] < r->end[p])
            return false;
    return true;
}

static void *read_main(void *arg)
{
    pthread_setname_np(pthread_self(), "kv-reader"); /* its CPU apart in top -H, perf and /proc/<pid>/task */
    struct lgw_kv_reader *r = arg;
    bool positioned = false;
    int64_t tries = 0;
    while (!atomic_load(&r->stop)) {
        if (!positioned) {
            positioned = position(r);
            if (!positioned) {
                if (++tries % 20 == 0)
                    LGW_WARN("kafka", "%s: not readable yet; still trying", r->topic);
                struct timespec ts = {0, 250 * 1000000L};
                nanosleep(&ts, NULL);
                continue;
            }
            LGW_INFO("kafka", "reading %s from the beginning", r->topic);
        }
        if (!atomic_load(&r->caught_up) && all_read(r))
            atomic_store(&r->caught_up, true);
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(r->consumer, 200);
        if (!msg)
            continue;
        if (msg->err) {
            if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                LGW_WARN("kafka", "%s: %s", r->topic, rd_kafka_message_errstr(msg));
        } else if (msg->key && msg->key_len > 0) {
            r->cb(r->opaque, msg->key, msg->key_len, msg->payload, msg->payload ? msg->len : 0);
            atomic_fetch_add(&r->records, 1);
        }
        if (msg->partition >= 0 && msg->partition < r->nparts && msg->offset >= 0 &&
            (!msg->err || msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF))
            r->next[msg->partition] = msg->err ? msg->offset : msg->offset + 1;
        rd_kafka_message_destroy(msg);
    }
    return NULL;
}

int lgw_kv_reader_start(const struct lgw_config *cfg, enum lgw_topic topic, const char *name, lgw_kv_record_cb cb,
                        void *opaque, struct lgw_kv_reader **out)
{
    *out = NULL;
    struct lgw_kv_reader *r = lgw_calloc(1, sizeof(*r));
    lgw_topic_name(cfg, topic, NULL, r->topic, sizeof(r->topic));
    r->nparts = lgw_topic_partitions(cfg, topic);
    if (r->nparts < 1 || r->nparts > MAX_PARTS) {
        free(r);
        return LGW_ERR(CONFIG);
    }
    r->cb = cb;
    r->opaque = opaque;
    char client[200], group[300];
    snprintf(client, sizeof(client), "llmgw-%s-%s", lgw_topic_spec(topic)->suffix, name);
    /* librdkafka 2.0.2 wants a group.id even for assign(); it is never joined, nothing is committed. */
    snprintf(group, sizeof(group), "%s-%s", r->topic, name);
    int rc = lgw_kafka_follower_new(cfg, client, group, r, &r->consumer);
    if (rc) {
        free(r);
        return rc;
    }
    if (pthread_create(&r->thread, NULL, read_main, r) != 0) {
        rd_kafka_destroy(r->consumer);
        free(r);
        return LGW_ERR(INTERNAL);
    }
    *out = r;
    return LGW_OK;
}

bool lgw_kv_reader_caught_up(const struct lgw_kv_reader *r)
{
    return atomic_load(&r->caught_up);
}

int64_t lgw_kv_reader_records(const struct lgw_kv_reader *r)
{
    return atomic_load(&r->records);
}

void lgw_kv_reader_free(struct lgw_kv_reader *r)
{
    if (!r)
        return;
    atomic_store(&r->stop, true);
    lgw_kafka_wake(r->consumer); /* else up to 200 ms each: a role stops several readers, one after another */
    pthread_join(r->thread, NULL);
    rd_kafka_consumer_close(r->consumer);
    rd_kafka_destroy(r->consumer);
    free(r);
}
