/* test_kafka_assign.c - lgw_kafka_committed_starts against librdkafka's in-process mock cluster: a partition with
 * a committed offset starts there, one without at the earliest offset it holds (both absolute), and a consumer
 * whose rebalance callback uses it reads both from where they should start. A coordinator that does not answer
 * leaves the offsets alone; a leader not ready yet (a topic made moments before) is asked again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/kafka.h"
#include "common/kafka_close.h"
#include "common/kafka_assign.h"
#include "tests/support/mock_kafka.h"

#define TOPIC "assign-test"
#define GROUP "assign-test-group"
#define RECORDS 4 /* per partition */

static void produce(const struct lgw_test_kafka *k)
{
    rd_kafka_t *p = lgw_test_kafka_client(k, RD_KAFKA_PRODUCER, NULL);
    assert_non_null(p);
    for (int part = 0; part < 2; part++)
        for (int i = 0; i < RECORDS; i++) {
            char value[16];
            int n = snprintf(value, sizeof(value), "%d", i);
            assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(part),
                                               RD_KAFKA_V_VALUE(value, (size_t)n),
                                               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                             RD_KAFKA_RESP_ERR_NO_ERROR);
        }
    assert_int_equal(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);
}

/* The group committed offset 2 on partition 0 and nothing on partition 1. */
static void commit_partition_0_at_2(const struct lgw_test_kafka *k)
{
    static const char *const conf[] = {"group.id", GROUP, "enable.auto.commit", "false", NULL};
    rd_kafka_t *c = lgw_test_kafka_client(k, RD_KAFKA_CONSUMER, conf);
    assert_non_null(c);
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(offs, TOPIC, 0)->offset = 2;
    assert_int_equal(rd_kafka_commit(c, offs, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(offs);
    rd_kafka_destroy(c);
}

static rd_kafka_t *group_consumer(const struct lgw_test_kafka *k, struct lgw_config *cfg,
                                  void (*cb)(rd_kafka_t *, rd_kafka_resp_err_t, rd_kafka_topic_partition_list_t *,
                                             void *))
{
    lgw_config_defaults(cfg);
    snprintf(cfg->kafka_brokers, sizeof(cfg->kafka_brokers), "%s", lgw_test_kafka_bootstraps(k));
    rd_kafka_t *c = NULL;
    assert_int_equal(lgw_kafka_consumer_new(cfg, "assign-test", GROUP, false, 0, cb, NULL, &c), 0);
    return c;
}

static void the_starts_are_the_committed_offsets_or_the_beginning(void **state)
{
    (void)state;
    struct lgw_test_kafka k;
    assert_int_equal(lgw_test_kafka_start(&k), 0);
    assert_int_equal(rd_kafka_mock_topic_create(k.mc, TOPIC, 2, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    commit_partition_0_at_2(&k);
    struct lgw_config cfg;
    rd_kafka_t *c = group_consumer(&k, &cfg, NULL);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(parts, TOPIC, 0);
    rd_kafka_topic_partition_list_add(parts, TOPIC, 1);
    assert_int_equal(lgw_kafka_committed_starts(c, parts, 10000), 2);
    assert_int_equal(parts->elems[0].offset, 2);
    assert_int_equal(parts->elems[1].offset, 0); /* the earliest offset it holds: absolute, so it starts at once */

    /* The coordinator gone: nothing is set, and the assignment looks the offsets up itself, as before. */
    rd_kafka_mock_broker_set_down(k.mc, 1);
    parts->elems[0].offset = parts->elems[1].offset = RD_KAFKA_OFFSET_INVALID;
    assert_int_equal(lgw_kafka_committed_starts(c, parts, 500), 0);
    assert_int_equal(parts->elems[0].offset, RD_KAFKA_OFFSET_INVALID);
    assert_int_equal(parts->elems[1].offset, RD_KAFKA_OFFSET_INVALID);
    rd_kafka_mock_broker_set_up(k.mc, 1);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_destroy(c);
    lgw_test_kafka_stop(&k);
}

/* A deployment's very first start: its topics are milliseconds old, and the earliest-offset lookup answers "not
 * leader" until the partitions' leader leads them. Asked again every 50 ms within the bound, the partition still
 * starts at an absolute offset; past the bound it is left to librdkafka, as before. */
static void a_leader_not_ready_is_asked_again(void **state)
{
    (void)state;
    struct lgw_test_kafka k;
    assert_int_equal(lgw_test_kafka_start(&k), 0);
    assert_int_equal(rd_kafka_mock_topic_create(k.mc, TOPIC, 2, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    struct lgw_config cfg;
    rd_kafka_t *c = group_consumer(&k, &cfg, NULL);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(parts, TOPIC, 0);
    rd_kafka_topic_partition_list_add(parts, TOPIC, 1);
    /* ListOffsets is API key 2. More answers than librdkafka's own retries of one request take. */
    rd_kafka_resp_err_t errs[40];
    for (size_t i = 0; i < 40; i++)
        errs[i] = i < 6 ? RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION : RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE;
    rd_kafka_mock_push_request_errors_array(k.mc, 2, 6, errs);
    assert_int_equal(lgw_kafka_committed_starts(c, parts, 10000), 2);
    assert_int_equal(parts->elems[0].offset, 0);
    assert_int_equal(parts->elems[1].offset, 0);

    /* Never ready within the bound: both stay at the logical beginning, for librdkafka to look up. */
    rd_kafka_mock_push_request_errors_array(k.mc, 2, 34, errs + 6);
    parts->elems[0].offset = parts->elems[1].offset = RD_KAFKA_OFFSET_INVALID;
    assert_int_equal(lgw_kafka_committed_starts(c, parts, 300), 2);
    assert_int_equal(parts->elems[0].offset, RD_KAFKA_OFFSET_BEGINNING);
    assert_int_equal(parts->elems[1].offset, RD_KAFKA_OFFSET_BEGINNING);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_destroy(c);
    lgw_test_kafka_stop(&k);
}

static int assigned;

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        assigned += lgw_kafka_committed_starts(rk, parts, 10000);
        rd_kafka_assign(rk, parts);
    } else
        rd_kafka_assign(rk, NULL);
}

static void a_group_member_reads_each_partition_from_its_start(void **state)
{
    (void)state;
    struct lgw_test_kafka k;
    assert_int_equal(lgw_test_kafka_start(&k), 0);
    assert_int_equal(rd_kafka_mock_topic_create(k.mc, TOPIC, 2, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    produce(&k);
    commit_partition_0_at_2(&k);
    struct lgw_config cfg;
    rd_kafka_t *c = group_consumer(&k, &cfg, rebalance_cb);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, TOPIC, RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(c, sub), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(sub);
    int64_t first[2] = {-1, -1};
    int got = 0;
    for (int64_t until = lgw_mono_ms() + 15000; got < (RECORDS - 2) + RECORDS && lgw_mono_ms() < until;) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(c, 100);
        if (!msg)
            continue;
        if (!msg->err) {
            if (first[msg->partition] < 0)
                first[msg->partition] = msg->offset;
            got++;
        }
        rd_kafka_message_destroy(msg);
    }
    assert_int_equal(assigned, 2);
    assert_int_equal(first[0], 2);
    assert_int_equal(first[1], 0);
    assert_int_equal(got, (RECORDS - 2) + RECORDS);
    bool had = true; /* the assignment above */
    assert_int_equal(lgw_kafka_consumer_close_within(c, 10000, rebalance_cb, &had), LGW_KAFKA_CLOSE_DONE);
    rd_kafka_destroy(c);
    lgw_test_kafka_stop(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_starts_are_the_committed_offsets_or_the_beginning),
        cmocka_unit_test(a_group_member_reads_each_partition_from_its_start),
        cmocka_unit_test(a_leader_not_ready_is_asked_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
