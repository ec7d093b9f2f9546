/* test_topic_warm.c - a topic's metadata asked for once, in the background (common/topic_warm.h), against
 * librdkafka's in-process mock cluster:
 * - a hinted topic is looked up once however often it is hinted (what the lookup buys a produce is measured end
 *   to end, tests/e2e/test_topic_metadata.py);
 * - a lookup that failed (the broker down) is not remembered, so the next hint asks again;
 * - hints past the queue are dropped and counted, and a free returns while a lookup waits on a broker that is
 *   down. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/topic_warm.h"
#include "tests/support/mock_kafka.h"

#define LOOKUPS "llmgw_kafka_topic_lookups_total"
#define WAIT_MS 10000

struct fixture {
    struct lgw_test_kafka k;
    rd_kafka_t *producer;
    struct lgw_metrics *m;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_int_equal(lgw_test_kafka_start(&f->k), 0);
    static const char *const conf[] = {"linger.ms", "0", NULL};
    f->producer = lgw_test_kafka_client(&f->k, RD_KAFKA_PRODUCER, conf);
    assert_non_null(f->producer);
    f->m = lgw_metrics_new();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    rd_kafka_destroy(f->producer);
    lgw_test_kafka_stop(&f->k);
    lgw_metrics_free(f->m);
    free(f);
    return 0;
}

static int64_t lookups(struct fixture *f, const char *result)
{
    char labels[32];
    snprintf(labels, sizeof(labels), "result=\"%s\"", result);
    return lgw_metrics_value(f->m, LOOKUPS, labels);
}

/* Waits until the count of result reaches n (or WAIT_MS); returns it. */
static int64_t wait_lookups(struct fixture *f, const char *result, int64_t n)
{
    int64_t until = lgw_mono_ms() + WAIT_MS;
    while (lookups(f, result) < n && lgw_mono_ms() < until) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return lookups(f, result);
}

static void test_a_topic_is_looked_up_once(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(rd_kafka_mock_topic_create(f->k.mc, "replies.a", 3, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    struct lgw_topic_warm *tw;
    assert_int_equal(lgw_topic_warm_new(f->producer, f->m, 1000, &tw), 0);
    for (int i = 0; i < 5; i++)
        lgw_topic_warm_hint(tw, "replies.a");
    assert_int_equal(wait_lookups(f, "ok", 1), 1);
    for (int i = 0; i < 5; i++)
        lgw_topic_warm_hint(tw, "replies.a");
    lgw_topic_warm_hint(tw, "");   /* no topic: nothing to ask */
    lgw_topic_warm_hint(NULL, "x"); /* no warmer: a no-op */
    /* A second topic goes through the same queue after the first: once it is counted, nothing else was. */
    assert_int_equal(rd_kafka_mock_topic_create(f->k.mc, "replies.b", 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    lgw_topic_warm_hint(tw, "replies.b");
    assert_int_equal(wait_lookups(f, "ok", 2), 2);
    /* Both remembered: more hints ask nothing (a lookup on the mock cluster takes about a millisecond, so one
     * asked again would be counted well within the wait). */
    for (int i = 0; i < 5; i++) {
        lgw_topic_warm_hint(tw, "replies.a");
        lgw_topic_warm_hint(tw, "replies.b");
    }
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
    assert_int_equal(lookups(f, "ok"), 2);
    assert_int_equal(lookups(f, "failed"), 0);
    assert_int_equal(lookups(f, "dropped"), 0);
    lgw_topic_warm_free(tw);
}

static void test_a_failed_lookup_is_asked_again(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(rd_kafka_mock_topic_create(f->k.mc, "replies.c", 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    struct lgw_topic_warm *tw;
    assert_int_equal(lgw_topic_warm_new(f->producer, f->m, 200, &tw), 0);
    assert_int_equal(rd_kafka_mock_broker_set_down(f->k.mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    lgw_topic_warm_hint(tw, "replies.c");
    assert_int_equal(wait_lookups(f, "failed", 1), 1);
    /* The broker back: the same topic's next hint asks again, and this time it is answered. */
    assert_int_equal(rd_kafka_mock_broker_set_up(f->k.mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    for (int64_t until = lgw_mono_ms() + WAIT_MS; lookups(f, "ok") < 1 && lgw_mono_ms() < until;) {
        lgw_topic_warm_hint(tw, "replies.c"); /* a later job's */
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(lookups(f, "ok"), 1);
    lgw_topic_warm_free(tw);
}

static void test_hints_past_the_queue_are_dropped_and_free_returns(void **state)
{
    struct fixture *f = *state;
    struct lgw_topic_warm *tw;
    assert_int_equal(lgw_topic_warm_new(f->producer, f->m, 2000, &tw), 0);
    assert_int_equal(rd_kafka_mock_broker_set_down(f->k.mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    /* The first lookup waits on the broker (up to 2 s); the queue holds LGW_TOPIC_WARM_QUEUE more. */
    int n = LGW_TOPIC_WARM_QUEUE + 10;
    for (int i = 0; i < n; i++) {
        char topic[32];
        snprintf(topic, sizeof(topic), "replies.q%d", i);
        lgw_topic_warm_hint(tw, topic);
    }
    /* One was taken off the queue before the rest came, or was not yet: 9 or 10 dropped. */
    int64_t dropped = lookups(f, "dropped");
    assert_true(dropped == 9 || dropped == 10);
    int64_t t0 = lgw_mono_ms();
    lgw_topic_warm_free(tw); /* the one under way ends at its timeout; the queued ones are not asked */
    assert_true(lgw_mono_ms() - t0 < 2000 + 3000); /* bounded, not a speed figure */
    assert_true(lookups(f, "failed") <= 1);
    assert_int_equal(rd_kafka_mock_broker_set_up(f->k.mc, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_topic_is_looked_up_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_failed_lookup_is_asked_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hints_past_the_queue_are_dropped_and_free_returns, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
