/* kafka_close.c - a group consumer's stop (see kafka_close.h). */
#include "common/kafka_close.h"

#include "common/clock.h"
#include "common/kafka.h"
#include "common/log.h"

/* In a cooperative group and not yet assigned: polls (which runs the role's rebalance callback) until the first
 * assignment or until. Returns whether the consumer can be destroyed. */
static bool wait_first_assignment(rd_kafka_t *consumer, int64_t until, const bool *assigned)
{
    /* The protocol is known once the group's JoinGroup answered, which is when the assignor, whose state the
     * first assignment makes, is chosen: before that there is nothing to wait for. */
    if (*assigned || !lgw_kafka_rebalance_cooperative(consumer) || !lgw_kafka_group_joined(consumer))
        return true;
    while (!*assigned && lgw_mono_ms() < until) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(consumer, 50);
        if (msg) /* a record of a partition assigned meanwhile: never stored, so the next owner reads it */
            rd_kafka_message_destroy(msg);
    }
    if (*assigned)
        return true;
    LGW_WARN("kafka", "the consumer joined its cooperative group and got no assignment before its stop: it is left "
             "open until the process exits (librdkafka 2.0.2 aborts destroying it); the group drops the member at "
             "its session timeout");
    return false;
}

static int assignment_size(rd_kafka_t *consumer)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(consumer, &parts))
        return -1;
    int n = parts->cnt;
    rd_kafka_topic_partition_list_destroy(parts);
    return n;
}

/* A cooperative consumer gives its partitions up before its close, by unsubscribing: polled here, its group revokes
 * them through the role's callback and the member leaves the group, and the close that follows has nothing left to
 * revoke. Closed with partitions assigned, librdkafka 2.0.2 can end its group handler while the close's revoke still
 * runs in the callback (a commit there, the give-up after it) and abort on rd_kafka_cgrp_terminated's assert
 * (!rd_kafka_assignment_in_progress): test_handover met it under load, once in 17 runs. librdkafka issues #4527
 * and #4792 describe the same family of close races; unsubscribing first is the workaround their reporters use.
 * Records polled meanwhile are dropped (never stored, so the next owner reads them). Within until; past it the
 * close revokes whatever is left. */
static void unsubscribe_first(rd_kafka_t *consumer, int64_t until)
{
    rd_kafka_resp_err_t err = rd_kafka_unsubscribe(consumer);
    if (err) {
        LGW_WARN("kafka", "unsubscribe before the close: %s", rd_kafka_err2str(err));
        return;
    }
    while (assignment_size(consumer) > 0 && lgw_mono_ms() < until) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(consumer, 50);
        if (msg)
            rd_kafka_message_destroy(msg);
    }
}

enum lgw_kafka_close lgw_kafka_consumer_close_within(rd_kafka_t *consumer, int timeout_ms,
                                                     lgw_kafka_rebalance_fn *rebalance_cb, const bool *assigned)
{
    int64_t until = lgw_mono_ms() + timeout_ms;
    if (!wait_first_assignment(consumer, until, assigned))
        return LGW_KAFKA_CLOSE_KEEP;
    if (lgw_kafka_rebalance_cooperative(consumer))
        unsubscribe_first(consumer, until);
    rd_kafka_queue_t *q = rd_kafka_queue_new(consumer);
    rd_kafka_error_t *err = rd_kafka_consumer_close_queue(consumer, q);
    if (err) {
        LGW_WARN("kafka", "consumer close: %s", rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
        rd_kafka_queue_destroy(q);
        return LGW_KAFKA_CLOSE_UNFINISHED;
    }
    /* The close moves the consumer's queue onto q, records fetched and not yet consumed included. Served as
     * events, like librdkafka's own close serves it: a record is dropped here (never stored, so the partition's
     * next owner reads it); served by callbacks only, librdkafka 2.0.2 aborts on it (rd_kafka_q_serve's assert,
     * seen when a worker was stopped under load). */
    while (!rd_kafka_consumer_closed(consumer) && lgw_mono_ms() < until) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 50);
        if (!ev)
            continue;
        if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE) /* the role's callback, as its polls run it */
            rebalance_cb(consumer, rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev),
                         rd_kafka_opaque(consumer));
        rd_kafka_event_destroy(ev);
    }
    bool closed = rd_kafka_consumer_closed(consumer);
    if (!closed)
        LGW_WARN("kafka", "consumer close did not finish within %d ms: the group drops this member at its session "
                 "timeout instead", timeout_ms);
    /* Destroying the queue disables it: whatever the close still posts there is dropped, as librdkafka's own
     * close does when told not to wait. */
    rd_kafka_queue_destroy(q);
    return closed ? LGW_KAFKA_CLOSE_DONE : LGW_KAFKA_CLOSE_UNFINISHED;
}

enum lgw_kafka_close lgw_kafka_consumer_abandon(rd_kafka_t *consumer, const bool *assigned)
{
    return wait_first_assignment(consumer, 0, assigned) ? LGW_KAFKA_CLOSE_UNFINISHED : LGW_KAFKA_CLOSE_KEEP;
}

void lgw_kafka_consumer_destroy(rd_kafka_t *consumer, enum lgw_kafka_close how)
{
    if (!consumer || how == LGW_KAFKA_CLOSE_KEEP)
        return;
    rd_kafka_destroy_flags(consumer, how == LGW_KAFKA_CLOSE_DONE ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}
