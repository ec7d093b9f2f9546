/* kafka_close.h - a group consumer's stop: leaving its group within a bound, then destroying it in the way that
 * stop allows. Every role with a group consumer (worker, ledger, batch runner) stops through these.
 *
 * librdkafka 2.0.2 (Debian 12's) aborts in rd_kafka_destroy when a consumer whose group chose the cooperative-sticky
 * assignor (its JoinGroup answered) is destroyed before its first SyncGroup answered: the assignor's state is made
 * by the first assignment, and its destroy asserts on it (rd_kafka_sticky_assignor_state_destroy; librdkafka
 * issues #4312 and #4381, fixed in 2.3.0). A worker stopped during its first rebalance met it
 * (tests/unit/test_kafka_close.c reproduces it). So a stop tells these functions whether the role's rebalance
 * callback has had an assignment yet (in the cooperative protocol every SyncGroup brings one, even an empty one):
 * the close waits for that first assignment, and a consumer that never got it is left undestroyed at exit. What is
 * left: whether the group has joined is asked of librdkafka just before the close (lgw_kafka_group_joined), and a
 * JoinGroup answered between that question and the close (two operations on librdkafka's main thread,
 * microseconds apart) still ends in the abort. */
#ifndef LGW_KAFKA_CLOSE_H
#define LGW_KAFKA_CLOSE_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

/* A consumer's rebalance callback (rd_kafka_conf_set_rebalance_cb's). */
typedef void lgw_kafka_rebalance_fn(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                                    void *opaque);

/* How a consumer's stop ended, and so how lgw_kafka_consumer_destroy destroys it. */
enum lgw_kafka_close {
    LGW_KAFKA_CLOSE_UNFINISHED = 0, /* not closed, or not within the bound: destroyed without another close (the
                                     * group drops the member at its session timeout, and the next owner reruns
                                     * what was not committed) */
    LGW_KAFKA_CLOSE_DONE,           /* closed: the member has left its group */
    LGW_KAFKA_CLOSE_KEEP,           /* joined a cooperative group and never assigned: destroying it would abort */
};

/* rd_kafka_consumer_close (revoke, final commit, leave the group) bounded by timeout_ms: librdkafka 2.0.2's own
 * close has no bound, and one caught while its group was rejoining after a broker outage waited past a 30 s stop
 * deadline. The close's rebalance events go to rebalance_cb (the one the consumer was made with; every consumer
 * in a group has one), on the calling thread. Records fetched and not consumed are dropped uncommitted.
 * *assigned: whether rebalance_cb has had an assignment yet (it sets it). A consumer in a cooperative group without
 * one is first polled, within the same bound, until its first assignment comes; if none does it is not closed (a
 * close then would make the abort certain) and the result is LGW_KAFKA_CLOSE_KEEP. A cooperative consumer first
 * unsubscribes, and is polled within the same bound until its partitions are revoked: closed with partitions
 * assigned, librdkafka 2.0.2 can end its group handler while the close's revoke still runs in rebalance_cb and abort
 * (rd_kafka_cgrp_terminated's assert; kafka_close.c). The consumer's thread. */
enum lgw_kafka_close lgw_kafka_consumer_close_within(rd_kafka_t *consumer, int timeout_ms,
                                                     lgw_kafka_rebalance_fn *rebalance_cb, const bool *assigned);

/* For a stop that does not close the consumer (the broker is away: the close would wait for it):
 * LGW_KAFKA_CLOSE_KEEP when destroying it would abort (above), else LGW_KAFKA_CLOSE_UNFINISHED. Before any close
 * (librdkafka 2.0.2 may not answer the question after one). The consumer's thread. */
enum lgw_kafka_close lgw_kafka_consumer_abandon(rd_kafka_t *consumer, const bool *assigned);

/* Destroys consumer as how says: after a finished close, without another close, or (LGW_KAFKA_CLOSE_KEEP, which
 * the stop has logged) not at all: the handle and its threads then last until the process exits, which a role's
 * stop is followed by. NULL is a no-op. */
void lgw_kafka_consumer_destroy(rd_kafka_t *consumer, enum lgw_kafka_close how);

#endif
