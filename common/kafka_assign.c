/* kafka_assign.c - a consumer's assignment started at absolute offsets, looked up first (kafka_assign.h). */
#include "common/kafka_assign.h"

#include <stdbool.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"

/* How long between two asks for earliest offsets that a partition's leader could not answer yet. */
#define LEADER_RETRY_MS 50

/* An answer that a later ask may not get: a topic made moments ago (a deployment's very first start) has
 * partitions whose leader does not lead them yet. */
static bool leader_not_ready(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION || err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
           err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
}

/* The partitions of parts set to RD_KAFKA_OFFSET_BEGINNING get the first offset each holds now, asked again while
 * a leader is not ready, until until. Per partition: one left unanswered stays BEGINNING (librdkafka looks it up
 * itself, without a back-off). */
static void resolve_beginnings(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int64_t until)
{
    rd_kafka_topic_partition_list_t *ask = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].offset == RD_KAFKA_OFFSET_BEGINNING) /* as a time: the earliest offset */
            rd_kafka_topic_partition_list_add(ask, parts->elems[i].topic, parts->elems[i].partition)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    int asks = 0;
    while (ask->cnt) {
        int64_t left = until - lgw_mono_ms();
        if (left <= 0) {
            err = RD_KAFKA_RESP_ERR__TIMED_OUT;
            break;
        }
        asks++;
        /* librdkafka 2.0.2 returns a partition's error as the whole request's: the partitions answered are
         * still read from the list. */
        err = rd_kafka_offsets_for_times(rk, ask, (int)left);
        if (err && !leader_not_ready(err))
            break;
        rd_kafka_topic_partition_list_t *again = rd_kafka_topic_partition_list_new(ask->cnt);
        for (int i = 0; i < ask->cnt; i++) {
            const rd_kafka_topic_partition_t *a = &ask->elems[i];
            rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(parts, a->topic, a->partition);
            if (!a->err && a->offset >= 0 && p) {
                p->offset = a->offset;
            } else if (leader_not_ready(a->err) || (!a->err && err)) {
                rd_kafka_topic_partition_list_add(again, a->topic, a->partition)->offset = RD_KAFKA_OFFSET_BEGINNING;
                if (a->err)
                    err = a->err;
            }
        }
        rd_kafka_topic_partition_list_destroy(ask);
        ask = again;
        if (ask->cnt && lgw_mono_ms() + LEADER_RETRY_MS >= until)
            break;
        if (ask->cnt) {
            struct timespec ts = {0, LEADER_RETRY_MS * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    if (ask->cnt)
        LGW_WARN("kafka", "earliest offsets of %d partition(s) not read (%s, %d ask(s)): the assignment looks them "
                 "up itself", ask->cnt, rd_kafka_err2str(err), asks);
    else if (asks > 1)
        LGW_DEBUG("kafka", "earliest offsets read at the %d%s ask: a leader was not ready", asks,
                  asks == 2 ? "nd" : asks == 3 ? "rd" : "th");
    rd_kafka_topic_partition_list_destroy(ask);
}

int lgw_kafka_committed_starts(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int timeout_ms)
{
    int64_t until = lgw_mono_ms() + timeout_ms;
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_resp_err_t err = rd_kafka_committed(rk, committed, timeout_ms);
    int set = 0;
    if (err)
        LGW_WARN("kafka", "committed offsets not read (%s): the assignment looks them up itself",
                 rd_kafka_err2str(err));
    for (int i = 0; !err && i < committed->cnt; i++) {
        const rd_kafka_topic_partition_t *c = &committed->elems[i];
        if (c->err)
            continue;
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(parts, c->topic, c->partition);
        if (!p)
            continue;
        p->offset = c->offset >= 0 ? c->offset : RD_KAFKA_OFFSET_BEGINNING;
        set++;
    }
    rd_kafka_topic_partition_list_destroy(committed);
    if (set)
        resolve_beginnings(rk, parts, until);
    return set;
}
