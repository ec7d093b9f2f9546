/* test_kafka_close.c - lgw_kafka_consumer_close_within against librdkafka's in-process mock cluster, with records
 * fetched and not yet consumed when the close starts: what a worker stopped under load has. The close hands the
 * consumer's queue to the caller's; records still in it are dropped there, uncommitted, for the partition's next
 * owner (librdkafka 2.0.2 aborts, rd_kafka_q_serve's assert, when a record reaches a queue served by callbacks
 * only). The group's revoke still reaches the role's rebalance callback, the close finishes, and the member has
 * left the group, so its partitions move at once rather than after the session timeout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/kafka.h"
#include "tests/support/mock_kafka.h"

#define TOPIC "close-test"
#define RECORDS 500

static int assigned, revoked;

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque)
{
    (void)opaque;
    bool cooperative = lgw_kafka_rebalance_cooperative(rk);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        assigned += parts->cnt;
        if (cooperative)
            rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
        else
            rd_kafka_assign(rk, parts);
    } else {
        revoked += parts->cnt;
        if (cooperative)
            rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
        else
            rd_kafka_assign(rk, NULL);
    }
}

static void produce(const struct lgw_test_kafka *k)
{
    static const char *const conf[] = {"linger.ms", "5", NULL};
    rd_kafka_t *p = lgw_test_kafka_client(k, RD_KAFKA_PRODUCER, conf);
    assert_non_null(p);
    char value[512];
    memset(value, 'x', sizeof(value));
    for (int i = 0; i < RECORDS; i++)
        assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_VALUE(value, sizeof(value)),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);
}

static void test_close_with_records_fetched_and_not_consumed(void **state)
{
    (void)state;
    struct lgw_test_kafka k;
    assert_int_equal(lgw_test_kafka_start(&k), 0);
    assert_int_equal(rd_kafka_mock_topic_create(k.mc, TOPIC, 2, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    produce(&k);

    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    snprintf(cfg.kafka_brokers, sizeof(cfg.kafka_brokers), "%s", lgw_test_kafka_bootstraps(&k));
    rd_kafka_t *c = NULL;
    assert_int_equal(lgw_kafka_consumer_new(&cfg, "close-test", "close-test-group", false, 0, rebalance_cb, NULL, &c),
                     0);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, TOPIC, RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(c, sub), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(sub);

    /* One record consumed; the fetch that brought it brought more, which wait in the consumer's queue. */
    rd_kafka_message_t *msg = NULL;
    for (int64_t until = lgw_mono_ms() + 15000; !msg && lgw_mono_ms() < until;) {
        msg = rd_kafka_consumer_poll(c, 100);
        if (msg && msg->err) {
            rd_kafka_message_destroy(msg);
            msg = NULL;
        }
    }
    assert_non_null(msg);
    rd_kafka_message_destroy(msg);
    struct timespec ts = {0, 200 * 1000000L}; /* the next fetches land too */
    nanosleep(&ts, NULL);
    assert_int_equal(assigned, 2);

    assert_true(lgw_kafka_consumer_close_within(c, 10000, rebalance_cb));
    assert_true(rd_kafka_consumer_closed(c));
    assert_int_equal(revoked, 2);
    rd_kafka_destroy(c);

    /* It left the group: a new member is given both partitions at its first join, not after the 6 s session
     * timeout of the one that left (a hang check with room for a slow machine, not a speed figure). */
    assigned = revoked = 0;
    assert_int_equal(lgw_kafka_consumer_new(&cfg, "close-test-2", "close-test-group", false, 0, rebalance_cb, NULL,
                                            &c),
                     0);
    sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, TOPIC, RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(c, sub), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(sub);
    for (int64_t until = lgw_mono_ms() + 5000; assigned < 2 && lgw_mono_ms() < until;) {
        msg = rd_kafka_consumer_poll(c, 100);
        if (msg)
            rd_kafka_message_destroy(msg);
    }
    assert_int_equal(assigned, 2);
    assert_true(lgw_kafka_consumer_close_within(c, 10000, rebalance_cb));
    rd_kafka_destroy(c);
    lgw_test_kafka_stop(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_close_with_records_fetched_and_not_consumed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
