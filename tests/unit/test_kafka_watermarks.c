/* test_kafka_watermarks.c - lgw_kafka_watermarks_within against librdkafka's in-process mock cluster: the
 * watermarks of a partition with messages and of an empty one, and a bounded answer, not a wait, from a broker
 * that takes 5 s to answer (librdkafka 2.0.2's rd_kafka_query_watermark_offsets waits it out). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/kafka.h"
#include "tests/support/mock_kafka.h"

#define TOPIC "wm-test"

static void test_watermarks(void **state)
{
    (void)state;
    struct lgw_test_kafka k;
    assert_int_equal(lgw_test_kafka_start(&k), 0);
    assert_int_equal(rd_kafka_mock_topic_create(k.mc, TOPIC, 2, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_t *rk = lgw_test_kafka_client(&k, RD_KAFKA_PRODUCER, NULL);
    assert_non_null(rk);
    for (int i = 0; i < 3; i++)
        assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(0),
                                           RD_KAFKA_V_VALUE("x", 1), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(rk, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);

    int64_t lo = -5, hi = -5;
    assert_int_equal(lgw_kafka_watermarks_within(rk, TOPIC, 0, &lo, &hi, 5000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 3);
    assert_int_equal(lgw_kafka_watermarks_within(rk, TOPIC, 1, &lo, &hi, 5000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 0);

    /* The broker slow to answer: an error within the bound, and nothing written. */
    assert_int_equal(rd_kafka_mock_broker_set_rtt(k.mc, 1, 5000), RD_KAFKA_RESP_ERR_NO_ERROR);
    lo = hi = -5;
    int64_t t0 = lgw_mono_ms();
    rd_kafka_resp_err_t err = lgw_kafka_watermarks_within(rk, TOPIC, 0, &lo, &hi, 300);
    int64_t took = lgw_mono_ms() - t0;
    assert_int_not_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(lo, -5);
    assert_int_equal(hi, -5);
    /* A hang check, not a speed target: 300 ms asked, the broker's answer 5 s away. */
    if (took > 2500)
        fail_msg("took %lld ms with a 300 ms bound", (long long)took);
    assert_int_equal(rd_kafka_mock_broker_set_rtt(k.mc, 1, 0), RD_KAFKA_RESP_ERR_NO_ERROR);

    rd_kafka_destroy(rk);
    lgw_test_kafka_stop(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watermarks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
