/* test_handover.c - workers/handover.c against librdkafka's in-process mock cluster, in a group on the cooperative
 * protocol: a second member joins, and the partitions that move stay with the first, paused, while jobs from them
 * are in flight; they are given up (and reach the second member) once those jobs end, or once the deadline has
 * passed. The first member's other partitions stay its own throughout. And a member stopped while the other holds
 * the partitions it paused and gave up is destroyed. */
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
#include "tests/support/mock_kafka.h"
#include "workers/handover.h"
#include "workers/offsets.h"

#define TOPIC "handover-test"
#define GROUP "handover-test-group"
#define PARTITIONS 4

struct member {
    rd_kafka_t *rk;
    struct lgw_handover *h; /* NULL: the joining member, which gives up at once */
    struct lgw_offsets *offsets;
    int64_t grace_ms;
    int revocations;
    bool assigned; /* for lgw_kafka_consumer_close_within */
};

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct member *m = opaque;
    assert_string_equal(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        m->assigned = true;
        rd_kafka_error_t *error = rd_kafka_incremental_assign(rk, parts);
        assert_null(error);
        return;
    }
    m->revocations++;
    if (m->h)
        assert_int_equal(lgw_handover_revoke(m->h, parts, lgw_mono_ms() + m->grace_ms), 0);
    else
        assert_null(rd_kafka_incremental_unassign(rk, parts));
}

static void member_start(const struct lgw_test_kafka *k, struct lgw_config *cfg, struct member *m)
{
    lgw_config_defaults(cfg);
    snprintf(cfg->kafka_brokers, sizeof(cfg->kafka_brokers), "%s", lgw_test_kafka_bootstraps(k));
    /* The mock group waits up to the session timeout less 1 s for its members to rejoin: 2 s, not 5. */
    snprintf(cfg->kafka_properties, sizeof(cfg->kafka_properties), "session.timeout.ms=3000");
    snprintf(cfg->kafka_rebalance, sizeof(cfg->kafka_rebalance), "cooperative");
    assert_int_equal(lgw_kafka_consumer_new(cfg, "handover-test", GROUP, false, 0, rebalance_cb, m, &m->rk), 0);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, TOPIC, RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(m->rk, sub), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(sub);
}

static int assigned(rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    assert_int_equal(rd_kafka_assignment(rk, &parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    int n = parts->cnt;
    rd_kafka_topic_partition_list_destroy(parts);
    return n;
}

/* Polls both members (the first one's handover steps, as the worker's consume loop does) until want says so or
 * timeout_ms passed. */
static bool poll_until(struct member *a, struct member *b, bool (*want)(struct member *, struct member *),
                       int timeout_ms)
{
    int64_t until = lgw_mono_ms() + timeout_ms;
    while (lgw_mono_ms() < until) {
        if (a->h)
            lgw_handover_step(a->h, false);
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(a->rk, 20);
        if (msg)
            rd_kafka_message_destroy(msg);
        if (b && b->rk && (msg = rd_kafka_consumer_poll(b->rk, 20)))
            rd_kafka_message_destroy(msg);
        if (want(a, b))
            return true;
    }
    return false;
}

/* The first member polled holds every partition. */
static bool has_all(struct member *m, struct member *other)
{
    (void)other;
    return assigned(m->rk) == PARTITIONS;
}

static bool a_revoked(struct member *a, struct member *b)
{
    (void)b;
    return a->revocations > 0;
}

static bool split(struct member *a, struct member *b)
{
    return assigned(a->rk) == PARTITIONS / 2 && assigned(b->rk) == PARTITIONS / 2;
}

/* a alone with every partition, a job in flight on each; then b joins and a's revocation begins. */
static void join_with_jobs_in_flight(struct lgw_test_kafka *k, struct lgw_config *cfg, struct member *a,
                                     struct member *b)
{
    assert_int_equal(lgw_test_kafka_start(k), 0);
    assert_int_equal(rd_kafka_mock_topic_create(k->mc, TOPIC, PARTITIONS, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    a->offsets = lgw_offsets_new();
    member_start(k, cfg, a);
    a->h = lgw_handover_new(a->rk, a->offsets, 5000);
    assert_true(poll_until(a, NULL, has_all, 30000));
    for (int p = 0; p < PARTITIONS; p++)
        lgw_offsets_add(a->offsets, TOPIC, p, 0);
    member_start(k, cfg, b);
    assert_true(poll_until(a, b, a_revoked, 30000));
}

/* m stops as a worker does: its drain is over, so its close gives every partition up at once. */
static void leave(struct member *m)
{
    m->grace_ms = 0;
    assert_int_equal(lgw_kafka_consumer_close_within(m->rk, 10000, rebalance_cb, &m->assigned), LGW_KAFKA_CLOSE_DONE);
    rd_kafka_destroy(m->rk);
    m->rk = NULL;
    lgw_handover_free(m->h);
    m->h = NULL;
    lgw_offsets_free(m->offsets);
    m->offsets = NULL;
}

/* b leaves, and a gets b's partitions back. a is closed only after that rebalance: closed while it is in flight,
 * a's close could wait for ever in rd_kafka_incremental_unassign (librdkafka 2.0.2; seen here under ASan). */
static void b_leaves(struct member *a, struct member *b)
{
    leave(b);
    assert_true(poll_until(a, NULL, has_all, 30000));
}

/* The last member leaves, and the cluster goes. */
static void leave_last(struct lgw_test_kafka *k, struct member *m)
{
    leave(m);
    lgw_test_kafka_stop(k);
}

static void moving_partitions_wait_for_their_jobs(void **state)
{
    (void)state;
    struct lgw_test_kafka k;
    struct lgw_config cfg;
    struct member a = {.grace_ms = 60000}, b = {0};
    join_with_jobs_in_flight(&k, &cfg, &a, &b);

    /* Held: a keeps all four (two of them paused), b gets none, for as long as the jobs run. */
    assert_false(poll_until(&a, &b, split, 2000));
    assert_int_equal(assigned(a.rk), PARTITIONS);
    assert_int_equal(assigned(b.rk), 0);
    assert_true(lgw_handover_step(a.h, false));
    rd_kafka_topic_partition_list_t *all = NULL;
    assert_int_equal(rd_kafka_assignment(a.rk, &all), RD_KAFKA_RESP_ERR_NO_ERROR);
    lgw_handover_exclude(a.h, all);
    assert_int_equal(all->cnt, PARTITIONS / 2); /* the held ones are not resumed with the rest */
    rd_kafka_topic_partition_list_destroy(all);

    /* The jobs end: the moving partitions are given up and reach b; a keeps its own two. */
    for (int p = 0; p < PARTITIONS; p++)
        lgw_offsets_done(a.offsets, TOPIC, p, 0);
    assert_true(poll_until(&a, &b, split, 30000));
    assert_false(lgw_handover_step(a.h, false));
    assert_int_equal(a.revocations, 1);

    /* a stops while b holds the partitions a paused and gave up: a's destroy returns. A plain librdkafka 2.0.2
     * consumer that paused partitions at a revoke and lost them to another member was seen to wait for ever in
     * rd_kafka_destroy (docs/PERFORMANCE.md, thirty-second pass); a worker's consumer, configured and handed over
     * as here, does not, and this keeps it so. */
    leave(&a);
    assert_true(poll_until(&b, NULL, has_all, 30000)); /* b is closed only once that rebalance is over */
    leave_last(&k, &b);
}

static void the_deadline_gives_them_up_with_jobs_still_running(void **state)
{
    (void)state;
    struct lgw_test_kafka k;
    struct lgw_config cfg;
    struct member a = {.grace_ms = 500}, b = {0};
    join_with_jobs_in_flight(&k, &cfg, &a, &b);
    assert_true(poll_until(&a, &b, split, 30000)); /* the jobs never end; the grace does */
    /* The given-up partitions' offsets are forgotten (their next owner runs those jobs); a's own are kept. */
    assert_int_equal(lgw_offsets_inflight(a.offsets, NULL, 0), PARTITIONS / 2);

    /* b leaves: a gets its two back. A cooperative rebalance that only adds revokes nothing of a's. */
    b_leaves(&a, &b);
    assert_int_equal(a.revocations, 1);
    leave_last(&k, &a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(moving_partitions_wait_for_their_jobs),
        cmocka_unit_test(the_deadline_gives_them_up_with_jobs_still_running),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
