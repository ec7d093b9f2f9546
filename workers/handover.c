/* handover.c - revoked partitions held until their jobs end, then given up (see handover.h). */
#include "workers/handover.h"

#include <stdlib.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/kafka.h"
#include "common/log.h"

struct lgw_handover {
    rd_kafka_t *consumer;
    struct lgw_offsets *offsets;
    int commit_wait_ms;
    rd_kafka_topic_partition_list_t *held; /* revoked, not yet given up; NULL: none */
    int64_t until_ms;
    bool stopped; /* lgw_handover_stopped */
};

struct lgw_handover *lgw_handover_new(rd_kafka_t *consumer, struct lgw_offsets *offsets, int commit_wait_ms)
{
    struct lgw_handover *h = lgw_calloc(1, sizeof(*h));
    h->consumer = consumer;
    h->offsets = offsets;
    h->commit_wait_ms = commit_wait_ms;
    return h;
}

void lgw_handover_stopped(struct lgw_handover *h)
{
    h->stopped = true;
}

void lgw_handover_free(struct lgw_handover *h)
{
    if (!h)
        return;
    if (h->held)
        rd_kafka_topic_partition_list_destroy(h->held);
    free(h);
}

static size_t held_inflight(const struct lgw_handover *h)
{
    size_t n = 0;
    for (int i = 0; i < h->held->cnt; i++)
        n += lgw_offsets_inflight(h->offsets, h->held->elems[i].topic, h->held->elems[i].partition);
    return n;
}

/* Commits what ended, forgets the held partitions' offsets and gives them up. */
static int give_up(struct lgw_handover *h, bool lost)
{
    size_t left = held_inflight(h);
    rd_kafka_topic_partition_list_t *held = h->held;
    h->held = NULL;
    if (!lost) {
        rd_kafka_resp_err_t cerr = lgw_kafka_commit_within(h->consumer, NULL, h->commit_wait_ms);
        if (cerr && cerr != RD_KAFKA_RESP_ERR__NO_OFFSET)
            LGW_WARN("worker", "commit on revoke: %s", rd_kafka_err2str(cerr));
    }
    for (int i = 0; i < held->cnt; i++)
        lgw_offsets_drop(h->offsets, held->elems[i].topic, held->elems[i].partition);
    int rc = LGW_OK;
    if (lgw_kafka_rebalance_cooperative(h->consumer)) {
        rd_kafka_error_t *error = rd_kafka_incremental_unassign(h->consumer, held);
        if (error) {
            LGW_ERROR("worker", "giving up %d partition(s): %s", held->cnt, rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
            rc = LGW_ERR(UNAVAILABLE);
        }
    } else {
        rd_kafka_resp_err_t err = rd_kafka_assign(h->consumer, NULL);
        if (err) {
            LGW_ERROR("worker", "giving up %d partition(s): %s", held->cnt, rd_kafka_err2str(err));
            rc = LGW_ERR(UNAVAILABLE);
        }
    }
    if (left && h->stopped) /* the stop's drain has said so already, for every job it left */
        LGW_INFO("worker", "revoked %d partition(s) at the stop, with %zu of the unfinished job(s)", held->cnt, left);
    else if (left)
        LGW_WARN("worker", "revoked %d partition(s) with %zu job(s) still running%s: their next owner runs them "
                 "again", held->cnt, left, lost ? " (assignment lost)" : " past the grace period");
    else
        LGW_INFO("worker", "revoked %d partition(s)%s", held->cnt, lost ? " (assignment lost)" : "");
    rd_kafka_topic_partition_list_destroy(held);
    return rc;
}

int lgw_handover_revoke(struct lgw_handover *h, const rd_kafka_topic_partition_list_t *parts, int64_t until_ms)
{
    /* A revocation while partitions are held (the assignment lost meanwhile, or the consumer's close) takes
     * them along: one give-up covers both. */
    if (!h->held)
        h->held = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++)
        if (!rd_kafka_topic_partition_list_find(h->held, parts->elems[i].topic, parts->elems[i].partition))
            rd_kafka_topic_partition_list_add(h->held, parts->elems[i].topic, parts->elems[i].partition);
    h->until_ms = until_ms;
    /* Their jobs not yet taken stay in Kafka for the next owner: the records already fetched are dropped by
     * the pause, uncommitted. */
    rd_kafka_resp_err_t err = rd_kafka_pause_partitions(h->consumer, h->held);
    if (err)
        LGW_WARN("worker", "pausing revoked partitions: %s", rd_kafka_err2str(err));
    if (rd_kafka_assignment_lost(h->consumer))
        return give_up(h, true);
    size_t n = held_inflight(h);
    if (n)
        LGW_INFO("worker", "revoking %d partition(s): waiting for their %zu job(s) in flight", h->held->cnt, n);
    lgw_handover_step(h, false);
    return LGW_OK;
}

bool lgw_handover_step(struct lgw_handover *h, bool wait)
{
    while (h->held) {
        if (held_inflight(h) == 0 || lgw_mono_ms() >= h->until_ms) {
            give_up(h, false);
            return false;
        }
        if (!wait)
            return true;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return false;
}

void lgw_handover_exclude(const struct lgw_handover *h, rd_kafka_topic_partition_list_t *parts)
{
    if (!h->held)
        return;
    for (int i = 0; i < h->held->cnt; i++)
        rd_kafka_topic_partition_list_del(parts, h->held->elems[i].topic, h->held->elems[i].partition);
}
