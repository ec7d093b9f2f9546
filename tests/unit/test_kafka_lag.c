/* test_kafka_lag.c - the consumer lag gauges against librdkafka's in-process mock cluster: an idle
 * partition's lag counts from the group's committed offset, a consumed one's from its position, a paused
 * one's high watermark is asked of the broker (the cached one stops with the fetches), the series go with
 * the gauges, and a stop returns, bounded, while the broker is slow to answer. The refresh runs on its own thread:
 * the test's thread only produces, polls and reads the registry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/kafka_lag.h"
#include "common/metrics.h"
#include "tests/support/mock_kafka.h"

#define TOPIC "lag-test"
#define LABELS(p) "role=\"test\",topic=\"" TOPIC "\",partition=\"" #p "\""
/* Longer than two refreshes: every wait below ends as soon as its value is there. */
#define WAIT_MS 15000

struct fixture {
    struct lgw_test_kafka k;
    rd_kafka_t *producer;
    rd_kafka_t *consumer;
    struct lgw_metrics *m;
    struct lgw_kafka_lag *lag;
};

/* Fetches in flight end soon after a pause, so the cached high watermarks stop moving. */
static const char *const consumer_conf[] = {"group.id", "lag-test-group", "enable.auto.commit", "false",
                                            "auto.offset.reset", "earliest", "fetch.wait.max.ms", "100", NULL};

static void produce(struct fixture *f, int32_t partition, int n)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(rd_kafka_producev(f->producer, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(partition),
                                           RD_KAFKA_V_VALUE("x", 1), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(f->producer, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* Polls until n messages came (or WAIT_MS passed); returns how many did. */
static int consume(struct fixture *f, int n)
{
    int got = 0;
    for (int64_t until = lgw_mono_ms() + WAIT_MS; got < n && lgw_mono_ms() < until;) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(f->consumer, 100);
        if (msg) {
            got += msg->err == RD_KAFKA_RESP_ERR_NO_ERROR;
            rd_kafka_message_destroy(msg);
        }
    }
    return got;
}

static rd_kafka_topic_partition_list_t *both_partitions(void)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(parts, TOPIC, 0);
    rd_kafka_topic_partition_list_add(parts, TOPIC, 1);
    return parts;
}

/* Waits until the gauge reads want (the refresh thread sets it), or fails. */
static void wait_gauge(struct fixture *f, const char *labels, int64_t want)
{
    int64_t until = lgw_mono_ms() + WAIT_MS, got = -1;
    while ((got = lgw_metrics_value(f->m, "llmgw_kafka_consumer_lag", labels)) != want && lgw_mono_ms() < until) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (got != want)
        fail_msg("%s: lag %lld, want %lld", labels, (long long)got, (long long)want);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_int_equal(lgw_test_kafka_start(&f->k), 0);
    assert_int_equal(rd_kafka_mock_topic_create(f->k.mc, TOPIC, 2, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    f->producer = lgw_test_kafka_client(&f->k, RD_KAFKA_PRODUCER, NULL);
    f->consumer = lgw_test_kafka_client(&f->k, RD_KAFKA_CONSUMER, consumer_conf);
    assert_non_null(f->producer);
    assert_non_null(f->consumer);
    f->m = lgw_metrics_new();
    f->lag = lgw_kafka_lag_new(f->m, "test");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    lgw_kafka_lag_free(f->lag); /* stops the thread first: it reads the consumer */
    /* Assigned by hand, never a group member: nothing to leave. */
    rd_kafka_destroy_flags(f->consumer, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    rd_kafka_destroy(f->producer);
    lgw_test_kafka_stop(&f->k);
    lgw_metrics_free(f->m);
    free(f);
    return 0;
}

/* Assigned, committed at 2 on partition 0, nothing handed to the application: no position, so the lag
 * counts from the committed offset (3 of 5), or from the low watermark where nothing is committed (3 of 3).
 * Consumed to the end, each partition's position is its high watermark: lag 0. */
static void test_idle_then_consumed(void **state)
{
    struct fixture *f = *state;
    produce(f, 0, 5);
    produce(f, 1, 3);
    rd_kafka_topic_partition_list_t *commit = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(commit, TOPIC, 0)->offset = 2;
    assert_int_equal(rd_kafka_commit(f->consumer, commit, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(commit);
    rd_kafka_topic_partition_list_t *parts = both_partitions();
    assert_int_equal(rd_kafka_assign(f->consumer, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);

    lgw_kafka_lag_start(f->lag, f->consumer);
    wait_gauge(f, LABELS(0), 3);
    wait_gauge(f, LABELS(1), 3);

    assert_int_equal(consume(f, 6), 6); /* 3 from partition 0 (from the committed 2), 3 from partition 1 */
    wait_gauge(f, LABELS(0), 0);
    wait_gauge(f, LABELS(1), 0);
}

/* Paused partitions are not fetched: only the broker knows what arrived since. The batch flow pauses a
 * topic without telling the lag (a topic held at its share), so neither does this test until the end. */
static void test_paused_asks_broker(void **state)
{
    struct fixture *f = *state;
    produce(f, 0, 2);
    rd_kafka_topic_partition_list_t *parts = both_partitions();
    assert_int_equal(rd_kafka_assign(f->consumer, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    lgw_kafka_lag_start(f->lag, f->consumer);
    assert_int_equal(consume(f, 2), 2);
    wait_gauge(f, LABELS(0), 0);

    assert_int_equal(rd_kafka_pause_partitions(f->consumer, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    struct timespec settle = {0, 500 * 1000000L}; /* the fetches in flight at the pause end (fetch.wait.max.ms) */
    nanosleep(&settle, NULL);
    produce(f, 0, 4);
    wait_gauge(f, LABELS(0), 4);
    wait_gauge(f, LABELS(1), 0);
    /* The cached watermark did stop where the pause found it: the 4 came from the broker. */
    int64_t lo = 0, hi = 0;
    assert_int_equal(rd_kafka_get_watermark_offsets(f->consumer, TOPIC, 0, &lo, &hi), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(hi, 2);
    /* Told of a pause, as the back-pressure pause tells it, it goes on refreshing. */
    lgw_kafka_lag_paused(f->lag, true);
    produce(f, 1, 1);
    wait_gauge(f, LABELS(1), 1);
    rd_kafka_topic_partition_list_destroy(parts);
}

/* The series are the lag's: freed, they are gone from /metrics. */
static void test_free_removes_series(void **state)
{
    struct fixture *f = *state;
    produce(f, 1, 1);
    rd_kafka_topic_partition_list_t *parts = both_partitions();
    assert_int_equal(rd_kafka_assign(f->consumer, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
    lgw_kafka_lag_start(f->lag, f->consumer);
    wait_gauge(f, LABELS(1), 1);
    lgw_kafka_lag_stop(f->lag);
    lgw_kafka_lag_stop(f->lag); /* idempotent */
    struct lgw_buf out;
    lgw_buf_init(&out, 1 << 20);
    assert_int_equal(lgw_metrics_render(f->m, &out), 0);
    assert_non_null(strstr(out.ptr, "topic=\"" TOPIC "\"")); /* a stop keeps them */
    lgw_kafka_lag_free(f->lag);
    f->lag = NULL;
    lgw_buf_reset(&out);
    assert_int_equal(lgw_metrics_render(f->m, &out), 0);
    assert_null(strstr(out.ptr ? out.ptr : "", "topic=\"" TOPIC "\""));
    lgw_buf_cleanup(&out);
}

/* The broker slow to answer (6 s), a refresh waits on it (committed offsets, the paused partitions'
 * watermarks): the stop waits for the refresh under way, whose calls are bounded, and not for the broker.
 * librdkafka's rd_kafka_query_watermark_offsets waits for the answer whatever its timeout says. */
static void test_stop_with_broker_slow(void **state)
{
    struct fixture *f = *state;
    rd_kafka_topic_partition_list_t *parts = both_partitions();
    assert_int_equal(rd_kafka_assign(f->consumer, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    lgw_kafka_lag_start(f->lag, f->consumer);
    wait_gauge(f, LABELS(0), 0);
    assert_int_equal(rd_kafka_mock_broker_set_rtt(f->k.mc, 1, 6000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_pause_partitions(f->consumer, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
    lgw_kafka_lag_paused(f->lag, true); /* a refresh now, asking the broker */
    struct timespec inside = {0, 100 * 1000000L};
    nanosleep(&inside, NULL);
    int64_t t0 = lgw_mono_ms();
    lgw_kafka_lag_stop(f->lag);
    int64_t took = lgw_mono_ms() - t0;
    /* A hang check, not a speed target: the calls' bounds add up to 0.75 s, the broker's answer to 6 s. */
    if (took > 3000)
        fail_msg("the stop took %lld ms with the broker slow", (long long)took);
    assert_int_equal(rd_kafka_mock_broker_set_rtt(f->k.mc, 1, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_idle_then_consumed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paused_asks_broker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_removes_series, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_with_broker_slow, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
