/* test_kafka_commit.c - lgw_kafka_commit_within against librdkafka's in-process mock cluster: a commit the
 * coordinator answers lands (rd_kafka_committed reads it back), and one it does not answer in time returns
 * RD_KAFKA_RESP_ERR__TIMED_OUT within the bound, where rd_kafka_commit(..., 0) would wait for the answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/kafka.h"
#include "tests/support/mock_kafka.h"

#define TOPIC "commit-test"

static const char *const consumer_conf[] = {"group.id", "commit-test-group", "enable.auto.commit", "false", NULL};

static rd_kafka_topic_partition_list_t *at(int64_t offset)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, TOPIC, 0)->offset = offset;
    return l;
}

static void test_commit_within(void **state)
{
    (void)state;
    struct lgw_test_kafka k;
    assert_int_equal(lgw_test_kafka_start(&k), 0);
    assert_int_equal(rd_kafka_mock_topic_create(k.mc, TOPIC, 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_t *rk = lgw_test_kafka_client(&k, RD_KAFKA_CONSUMER, consumer_conf);
    assert_non_null(rk);

    rd_kafka_topic_partition_list_t *l = at(7);
    assert_int_equal(lgw_kafka_commit_within(rk, l, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    l = at(RD_KAFKA_OFFSET_INVALID);
    assert_int_equal(rd_kafka_committed(rk, l, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(l->elems[0].offset, 7);
    rd_kafka_topic_partition_list_destroy(l);

    /* The coordinator slow to answer (5 s): timed out within the bound. */
    assert_int_equal(rd_kafka_mock_broker_set_rtt(k.mc, 1, 5000), RD_KAFKA_RESP_ERR_NO_ERROR);
    l = at(9);
    int64_t t0 = lgw_mono_ms();
    rd_kafka_resp_err_t err = lgw_kafka_commit_within(rk, l, 300);
    int64_t took = lgw_mono_ms() - t0;
    rd_kafka_topic_partition_list_destroy(l);
    assert_int_equal(err, RD_KAFKA_RESP_ERR__TIMED_OUT);
    /* A hang check, not a speed target: 300 ms asked, the coordinator's answer 5 s away. */
    if (took > 2500)
        fail_msg("took %lld ms with a 300 ms bound", (long long)took);
    assert_int_equal(rd_kafka_mock_broker_set_rtt(k.mc, 1, 0), RD_KAFKA_RESP_ERR_NO_ERROR);

    rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE); /* never subscribed: nothing to leave */
    lgw_test_kafka_stop(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commit_within),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
