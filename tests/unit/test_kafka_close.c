/* test_kafka_close.c - common/kafka_close.c against librdkafka's in-process mock cluster.
 *
 * A close with records fetched and not yet consumed when it starts: what a worker stopped under load has. The
 * close hands the consumer's queue to the caller's; records still in it are dropped there, uncommitted, for the
 * partition's next owner (librdkafka 2.0.2 aborts, rd_kafka_q_serve's assert, when a record reaches a queue served
 * by callbacks only). The group's revoke still reaches the role's rebalance callback, the close finishes, and the
 * member has left the group, so its partitions move at once rather than after the session timeout.
 *
 * A stop during a consumer's first rebalance in a cooperative group: librdkafka 2.0.2 aborts destroying a consumer
 * whose JoinGroup answered and whose first SyncGroup did not (the mock broker holds the SyncGroup's answer here).
 * The first case shows that abort itself, in a child process; the others, that the close waits for the first
 * assignment, and that a consumer which never gets one is kept rather than destroyed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/kafka.h"
#include "common/kafka_close.h"
#include "tests/support/mock_kafka.h"

#define TOPIC "close-test"
#define RECORDS 500

static int assigned, revoked;
static bool had_assignment; /* for lgw_kafka_consumer_close_within */

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque)
{
    (void)opaque;
    bool cooperative = lgw_kafka_rebalance_cooperative(rk);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        had_assignment = true;
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

    assert_int_equal(lgw_kafka_consumer_close_within(c, 10000, rebalance_cb, &had_assignment), LGW_KAFKA_CLOSE_DONE);
    assert_true(rd_kafka_consumer_closed(c));
    assert_int_equal(revoked, 2);
    lgw_kafka_consumer_destroy(c, LGW_KAFKA_CLOSE_DONE);

    /* It left the group: a new member is given both partitions at its first join, not after the 6 s session
     * timeout of the one that left (a hang check with room for a slow machine, not a speed figure). */
    assigned = revoked = 0;
    had_assignment = false;
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
    assert_int_equal(lgw_kafka_consumer_close_within(c, 10000, rebalance_cb, &had_assignment), LGW_KAFKA_CLOSE_DONE);
    lgw_kafka_consumer_destroy(c, LGW_KAFKA_CLOSE_DONE);
    lgw_test_kafka_stop(&k);
}

/* A consumer in a cooperative group whose JoinGroup has answered and whose first SyncGroup answers only after
 * sync_delay_ms: returns 0 with *out subscribed and joined, or -1. No cmocka assertion: the child processes use it. */
static int join_with_sync_held(struct lgw_test_kafka *k, struct lgw_config *cfg, int sync_delay_ms, rd_kafka_t **out)
{
    if (lgw_test_kafka_start(k) || rd_kafka_mock_topic_create(k->mc, TOPIC, 2, 1))
        return -1;
    /* SyncGroup is API key 14; the one broker of the mock cluster is 1. */
    if (rd_kafka_mock_broker_push_request_error_rtts(k->mc, 1, 14, 1, RD_KAFKA_RESP_ERR_NO_ERROR, sync_delay_ms))
        return -1;
    lgw_config_defaults(cfg);
    snprintf(cfg->kafka_brokers, sizeof(cfg->kafka_brokers), "%s", lgw_test_kafka_bootstraps(k));
    /* The mock group holds a JoinGroup up to the session timeout less 1 s for other members: 2 s here. */
    snprintf(cfg->kafka_properties, sizeof(cfg->kafka_properties), "session.timeout.ms=3000");
    snprintf(cfg->kafka_rebalance, sizeof(cfg->kafka_rebalance), "cooperative");
    had_assignment = false;
    if (lgw_kafka_consumer_new(cfg, "close-test", "close-test-coop", false, 0, rebalance_cb, NULL, out))
        return -1;
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, TOPIC, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(*out, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err)
        return -1;
    /* The assignor is chosen once the JoinGroup answered; not polled, so no rebalance event is served meanwhile. */
    for (int64_t until = lgw_mono_ms() + 15000; lgw_mono_ms() < until;) {
        if (lgw_kafka_group_joined(*out))
            return had_assignment ? -1 : 0;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return -1;
}

/* Runs child in a new process (librdkafka is not used by this one before: no thread of it is forked half-way)
 * and returns its wait status. */
static int in_child(int (*child)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child()); /* _exit: the handles a child keeps are not a leak of this test's */
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

/* librdkafka's own close and destroy during the first SyncGroup: the abort the stop works around. Should it ever
 * stop aborting (a librdkafka with the fix of #4381), this case fails, and kafka_close.c's wait can go. */
static int destroy_during_first_sync(void)
{
    struct lgw_test_kafka k;
    struct lgw_config cfg;
    rd_kafka_t *c = NULL;
    if (join_with_sync_held(&k, &cfg, 8000, &c))
        return 2;
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c); /* aborts in rd_kafka_sticky_assignor_state_destroy */
    lgw_test_kafka_stop(&k);
    return 0;
}

static void test_librdkafka_aborts_destroying_before_the_first_assignment(void **state)
{
    (void)state;
    int status = in_child(destroy_during_first_sync);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

/* The first assignment does not come within the bound: not closed, kept, and the child exits normally. */
static int keep_when_no_first_assignment(void)
{
    struct lgw_test_kafka k;
    struct lgw_config cfg;
    rd_kafka_t *c = NULL;
    if (join_with_sync_held(&k, &cfg, 8000, &c))
        return 2;
    enum lgw_kafka_close how = lgw_kafka_consumer_close_within(c, 500, rebalance_cb, &had_assignment);
    lgw_kafka_consumer_destroy(c, how);
    if (how != LGW_KAFKA_CLOSE_KEEP || had_assignment || rd_kafka_consumer_closed(c))
        return 3;
    return 0; /* the mock cluster lives in the kept consumer's process until it exits */
}

static void test_a_consumer_never_assigned_is_kept(void **state)
{
    (void)state;
    int status = in_child(keep_when_no_first_assignment);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* The first assignment comes 1.5 s after the JoinGroup: the close waits for it (polling, which runs the
 * callback), then closes, and the destroy does not abort. */
static void test_the_close_waits_for_the_first_assignment(void **state)
{
    (void)state;
    struct lgw_test_kafka k;
    struct lgw_config cfg;
    rd_kafka_t *c = NULL;
    assert_int_equal(join_with_sync_held(&k, &cfg, 1500, &c), 0);
    assigned = revoked = 0;
    assert_int_equal(lgw_kafka_consumer_close_within(c, 10000, rebalance_cb, &had_assignment), LGW_KAFKA_CLOSE_DONE);
    assert_true(had_assignment);
    assert_int_equal(assigned, 2);
    assert_int_equal(revoked, 2);
    lgw_kafka_consumer_destroy(c, LGW_KAFKA_CLOSE_DONE);
    lgw_test_kafka_stop(&k);
}

/* The protocol of a consumer whose group handler has terminated: what a role's rebalance callback meets inside a
 * close's revoke when the handler terminates while the callback runs (test_handover met it under load, a segfault
 * when the protocol was asked of librdkafka). After the close librdkafka can no longer say; the configuration can. */
static void test_the_protocol_is_known_during_and_after_the_close(void **state)
{
    (void)state;
    struct lgw_test_kafka k;
    struct lgw_config cfg;
    rd_kafka_t *c = NULL;
    assert_int_equal(join_with_sync_held(&k, &cfg, 1, &c), 0);
    for (int64_t until = lgw_mono_ms() + 15000; !had_assignment && lgw_mono_ms() < until;) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(c, 50);
        if (msg)
            rd_kafka_message_destroy(msg);
    }
    assert_true(had_assignment);
    assert_true(lgw_kafka_group_joined(c));
    assert_string_equal(rd_kafka_rebalance_protocol(c), "COOPERATIVE");
    assert_true(lgw_kafka_rebalance_cooperative(c));
    assert_int_equal(lgw_kafka_consumer_close_within(c, 10000, rebalance_cb, &had_assignment), LGW_KAFKA_CLOSE_DONE);
    assert_null(rd_kafka_rebalance_protocol(c)); /* librdkafka 2.0.2: the handler is gone */
    assert_true(lgw_kafka_rebalance_cooperative(c));
    assert_true(lgw_kafka_group_joined(c)); /* cannot be ruled out */
    lgw_kafka_consumer_destroy(c, LGW_KAFKA_CLOSE_DONE);
    lgw_test_kafka_stop(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* The forking cases first: this process has no librdkafka thread yet. */
        cmocka_unit_test(test_librdkafka_aborts_destroying_before_the_first_assignment),
        cmocka_unit_test(test_a_consumer_never_assigned_is_kept),
        cmocka_unit_test(test_close_with_records_fetched_and_not_consumed),
        cmocka_unit_test(test_the_close_waits_for_the_first_assignment),
        cmocka_unit_test(test_the_protocol_is_known_during_and_after_the_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
