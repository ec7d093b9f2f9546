/* kafka_assign.c - a consumer's assignment started at absolute offsets, looked up first (kafka_assign.h). */
#include "common/kafka_assign.h"

#include "common/clock.h"
#include "common/log.h"

/* The partitions of parts set to RD_KAFKA_OFFSET_BEGINNING get the first offset each holds now. Per partition:
 * one left unanswered stays BEGINNING (librdkafka looks it up itself, without a back-off). */
static void resolve_beginnings(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int timeout_ms)
{
    rd_kafka_topic_partition_list_t *begin = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].offset == RD_KAFKA_OFFSET_BEGINNING) /* as a time: the earliest offset */
            rd_kafka_topic_partition_list_add(begin, parts->elems[i].topic, parts->elems[i].partition)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = begin->cnt ? rd_kafka_offsets_for_times(rk, begin, timeout_ms) : 0;
    if (err)
        LGW_WARN("kafka", "earliest offsets not read (%s): the assignment looks them up itself",
                 rd_kafka_err2str(err));
    for (int i = 0; !err && i < begin->cnt; i++) {
        const rd_kafka_topic_partition_t *b = &begin->elems[i];
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(parts, b->topic, b->partition);
        if (p && !b->err && b->offset >= 0)
            p->offset = b->offset;
    }
    rd_kafka_topic_partition_list_destroy(begin);
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
    int64_t left = until - lgw_mono_ms();
    if (set && left > 0)
        resolve_beginnings(rk, parts, (int)left);
    return set;
}
