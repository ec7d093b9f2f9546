/* test_kafka_fatal.c - a producer's fatal error (an idempotent producer that lost its sequence, as librdkafka
 * 2.0.x raises when a broker of a cluster dies under it) stops the process once, whoever made the producer:
 * the hook runs on the first one only, and an owner's own error callback sees it through lgw_kafka_fatal_check.
 * No broker is needed: rd_kafka_test_fatal_error raises the error as the broker's answer would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/kafka.h"

static int hook_calls;
static char hook_reason[512];

static void hook(const char *reason)
{
    hook_calls++;
    lgw_strlcpy(hook_reason, reason, sizeof(hook_reason));
}

static int owner_calls;

static void owner_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)reason;
    (void)opaque;
    if (lgw_kafka_fatal_check(rk, err))
        owner_calls++;
}

/* Polls rk until *count moves or 5 s pass (librdkafka serves the error callback on rd_kafka_poll). */
static void poll_until(rd_kafka_t *rk, const int *count, int before)
{
    for (int i = 0; i < 100 && *count == before; i++)
        rd_kafka_poll(rk, 50);
}

static void test_fatal_error_stops_once(void **state)
{
    (void)state;
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    lgw_strlcpy(cfg.kafka_brokers, "127.0.0.1:1", sizeof(cfg.kafka_brokers)); /* nothing listens there */
    lgw_kafka_set_fatal_hook(hook);
    assert_false(lgw_kafka_fatal_seen());

    rd_kafka_t *rk;
    assert_int_equal(lgw_kafka_producer_new(&cfg, "t-fatal", 0, NULL, NULL, &rk), 0);
    rd_kafka_poll(rk, 0);
    assert_int_equal(hook_calls, 0); /* errors that are not fatal (the broker unreachable) do not stop it */
    assert_int_equal(rd_kafka_test_fatal_error(rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                               "rewound sequence number"), RD_KAFKA_RESP_ERR_NO_ERROR);
    poll_until(rk, &hook_calls, 0);
    assert_int_equal(hook_calls, 1);
    assert_non_null(strstr(hook_reason, "rewound sequence number"));
    assert_true(lgw_kafka_fatal_seen());
    /* And every produce fails from now on: what the stop is for. */
    rd_kafka_resp_err_t err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("t"), RD_KAFKA_V_VALUE("x", 1), RD_KAFKA_V_END);
    assert_int_equal(err, RD_KAFKA_RESP_ERR__FATAL);
    rd_kafka_destroy(rk);

    /* A producer with its owner's error callback: the owner sees the fatal error, the hook does not run twice. */
    assert_int_equal(lgw_kafka_producer_new_err(&cfg, "t-fatal-2", 0, NULL, owner_error_cb, NULL, &rk), 0);
    assert_int_equal(rd_kafka_test_fatal_error(rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, "again"),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    poll_until(rk, &owner_calls, 0);
    assert_int_equal(owner_calls, 1);
    assert_int_equal(hook_calls, 1);
    rd_kafka_destroy(rk);
    lgw_config_cleanup(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fatal_error_stops_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
