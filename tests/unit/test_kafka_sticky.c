/* test_kafka_sticky.c - lgw_kafka_producer_new_sticky against librdkafka's in-process mock cluster: every
 * message goes to the one partition its stick_to picks, whatever its key (stick_to NULL: by key, spread), and the
 * producer keeps the topic-level settings made on the global conf (message.timeout.ms, acks), which a default
 * topic conf set in their place would drop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "common/kafka.h"
#include "tests/support/mock_kafka.h"

#define TOPIC "sticky-test"
#define PARTITIONS 4
#define MESSAGES 24

static int seen[PARTITIONS];
static int delivered, failed;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (msg->err || msg->partition < 0 || msg->partition >= PARTITIONS) {
        failed++;
        return;
    }
    seen[msg->partition]++;
    delivered++;
}

/* Sends MESSAGES keyed messages through a producer sticking to stick_to; returns how many partitions got any. */
static int partitions_used(const char *stick_to, int64_t timeout_ms, char *timeout_seen, size_t timeout_len)
{
    struct lgw_test_kafka k;
    assert_int_equal(lgw_test_kafka_start(&k), 0);
    assert_int_equal(rd_kafka_mock_topic_create(k.mc, TOPIC, PARTITIONS, 1), RD_KAFKA_RESP_ERR_NO_ERROR);

    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    snprintf(cfg.kafka_brokers, sizeof(cfg.kafka_brokers), "%s", lgw_test_kafka_bootstraps(&k));
    cfg.kafka_produce_timeout_ms = timeout_ms;
    rd_kafka_t *rk = NULL;
    assert_int_equal(lgw_kafka_producer_new_sticky(&cfg, "sticky-test", 5, stick_to, dr_cb, NULL, &rk), 0);

    /* The settings the producer was made with, as librdkafka holds them for its topics. */
    rd_kafka_conf_t *dup = rd_kafka_conf_dup(rd_kafka_conf(rk));
    rd_kafka_topic_conf_t *tc = rd_kafka_conf_get_default_topic_conf(dup);
    assert_non_null(tc);
    assert_int_equal(rd_kafka_topic_conf_get(tc, "message.timeout.ms", timeout_seen, &timeout_len), RD_KAFKA_CONF_OK);
    rd_kafka_conf_destroy(dup);

    memset(seen, 0, sizeof(seen));
    delivered = failed = 0;
    for (int i = 0; i < MESSAGES; i++) {
        char key[32];
        snprintf(key, sizeof(key), "job-%d", i);
        assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_KEY(key, strlen(key)),
                                           RD_KAFKA_V_VALUE("x", 1), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    assert_int_equal(rd_kafka_flush(rk, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
    lgw_test_kafka_stop(&k);
    lgw_config_cleanup(&cfg);
    assert_int_equal(failed, 0);
    assert_int_equal(delivered, MESSAGES);
    int used = 0;
    for (int p = 0; p < PARTITIONS; p++)
        used += seen[p] > 0;
    return used;
}

static void test_sticks_to_one_partition(void **state)
{
    (void)state;
    char timeout[32];
    assert_int_equal(partitions_used("worker-a", 1234, timeout, sizeof(timeout)), 1);
    assert_string_equal(timeout, "1234"); /* kafka_produce_timeout_ms, not librdkafka's default */
}

static void test_null_goes_by_key(void **state)
{
    (void)state;
    char timeout[32];
    /* 24 different keys over 4 partitions all landing on one by hash: 4 in 4^24 */
    assert_true(partitions_used(NULL, 4321, timeout, sizeof(timeout)) > 1);
    assert_string_equal(timeout, "4321");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sticks_to_one_partition),
        cmocka_unit_test(test_null_goes_by_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
