/* test_batch_flow.c - the batch share of a worker and its split between batch partitions (workers/batch_flow.h),
 * and the worker's view of cancelling batches (workers/batches.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/batch_record.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/metrics.h"
#include "workers/batch_flow.h"
#include "workers/batches.h"

static void test_slots_and_cap(void **state)
{
    (void)state;
    assert_int_equal(lgw_batch_flow_slots(1024, 50), 512);
    assert_int_equal(lgw_batch_flow_slots(10, 25), 2); /* rounded down */
    assert_int_equal(lgw_batch_flow_slots(1, 50), 1);  /* never none: batches must progress */
    assert_int_equal(lgw_batch_flow_slots(8, 100), 8);
    assert_int_equal(lgw_batch_flow_cap(512, 0), 512); /* nobody known busy: one partition may take all */
    assert_int_equal(lgw_batch_flow_cap(512, 1), 512);
    assert_int_equal(lgw_batch_flow_cap(512, 2), 256);
    assert_int_equal(lgw_batch_flow_cap(512, 3), 171); /* ceil: the slots are never left unused */
    assert_int_equal(lgw_batch_flow_cap(2, 8), 1);     /* more partitions than slots: one each, in turn */
}

/* A consumer that never connects: pause and seek are local operations on it. */
static rd_kafka_t *offline_consumer(void)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", "127.0.0.1:1", err, sizeof(err));
    rd_kafka_conf_set(conf, "group.id", "test", err, sizeof(err));
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(rk);
    return rk;
}

static void test_take_and_give_back(void **state)
{
    (void)state;
    struct lgw_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.worker_concurrency = 8;
    cfg.worker_batch_share_pct = 50; /* 4 batch slots */
    struct lgw_metrics *m = lgw_metrics_new();
    rd_kafka_t *rk = offline_consumer();
    struct lgw_batch_flow *f = lgw_batch_flow_new(&cfg, m, "p.batch.jobs.chat", "p.batch.jobs.embeddings");
    assert_true(lgw_batch_flow_is_batch(f, "p.batch.jobs.embeddings"));
    assert_false(lgw_batch_flow_is_batch(f, "p.jobs.chat"));
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(parts, "p.batch.jobs.chat", 0);
    rd_kafka_topic_partition_list_add(parts, "p.batch.jobs.chat", 1);
    rd_kafka_topic_partition_list_add(parts, "p.jobs.chat", 0); /* not a batch partition: ignored */
    lgw_batch_flow_assign(f, parts, true);

    /* Partition 0 alone has work: it may take every batch slot, and no more. */
    struct lgw_batch_slot *s[8];
    for (int i = 0; i < 4; i++)
        assert_non_null(s[i] = lgw_batch_flow_take(f, rk, "p.batch.jobs.chat", 0, 100 + i));
    assert_int_equal(lgw_batch_flow_inflight(f), 4);
    assert_null(lgw_batch_flow_take(f, rk, "p.batch.jobs.chat", 0, 104)); /* refused: sought back to 104 */
    assert_null(lgw_batch_flow_take(f, rk, "p.batch.jobs.chat", 0, 105)); /* fetched before the seek */
    /* Partition 1 asks too: refused now (the share is full), and busy from then on. */
    assert_null(lgw_batch_flow_take(f, rk, "p.batch.jobs.chat", 1, 7));
    lgw_batch_flow_tick(f, rk, false);
    /* Two busy partitions: each may hold ceil(4 / 2) = 2. Partition 0 gives back two of its four lines... */
    lgw_batch_flow_done(s[0]);
    lgw_batch_flow_done(s[1]);
    lgw_batch_flow_tick(f, rk, false);
    /* ...and is still at its cap of 2, so its waiting record stays back while partition 1's may start. */
    assert_null(lgw_batch_flow_take(f, rk, "p.batch.jobs.chat", 0, 104));
    assert_non_null(s[4] = lgw_batch_flow_take(f, rk, "p.batch.jobs.chat", 1, 7));
    assert_int_equal(lgw_batch_flow_inflight(f), 3);
    lgw_batch_flow_done(s[2]);
    lgw_batch_flow_tick(f, rk, false);
    assert_non_null(s[5] = lgw_batch_flow_take(f, rk, "p.batch.jobs.chat", 0, 104));
    assert_int_equal(lgw_batch_flow_inflight(f), 3);
    lgw_batch_flow_done(s[3]);
    lgw_batch_flow_done(s[4]);
    lgw_batch_flow_done(s[5]);
    assert_int_equal(lgw_batch_flow_inflight(f), 0);
    assert_null(lgw_batch_flow_take(f, rk, "p.jobs.chat", 0, 1)); /* not a batch topic */
    lgw_batch_flow_assign(f, parts, false);
    rd_kafka_topic_partition_list_destroy(parts);
    lgw_batch_flow_free(f);
    rd_kafka_destroy(rk);
    lgw_metrics_free(m);
}

static void put(struct lgw_wbatches *b, const char *id, enum lgw_batch_state st)
{
    struct lgw_batch_record rec;
    memset(&rec, 0, sizeof(rec));
    lgw_strlcpy(rec.id, id, sizeof(rec.id));
    lgw_strlcpy(rec.tenant, "acme", sizeof(rec.tenant));
    lgw_strlcpy(rec.endpoint, "/v1/chat/completions", sizeof(rec.endpoint));
    rec.state = st;
    rec.created_ms = 1;
    rec.expires_ms = 2;
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    assert_int_equal(lgw_batch_record_encode(&rec, &buf), 0);
    lgw_wbatches_apply(b, id, strlen(id), buf.ptr, buf.len);
    lgw_buf_cleanup(&buf);
}

static void test_cancelling_batches(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_wbatches *b = lgw_wbatches_new(m);
    assert_true(lgw_wbatches_caught_up(b));
    assert_int_equal(lgw_metrics_value(m, "llmgw_batch_cancelling", NULL), 0);
    put(b, "batch_a", LGW_BATCH_SUBMITTED);
    put(b, "batch_b", LGW_BATCH_CANCELLING);
    assert_false(lgw_wbatches_cancelling(b, "batch_a"));
    assert_true(lgw_wbatches_cancelling(b, "batch_b"));
    assert_int_equal(lgw_metrics_value(m, "llmgw_batch_cancelling", NULL), 1);
    put(b, "batch_a", LGW_BATCH_CANCELLING);
    assert_true(lgw_wbatches_cancelling(b, "batch_a"));
    assert_int_equal(lgw_metrics_value(m, "llmgw_batch_cancelling", NULL), 2);
    put(b, "batch_a", LGW_BATCH_CANCELLING); /* a replayed record counts once */
    assert_int_equal(lgw_metrics_value(m, "llmgw_batch_cancelling", NULL), 2);
    lgw_wbatches_apply(b, "batch_a", 7, NULL, 0); /* tombstone */
    assert_false(lgw_wbatches_cancelling(b, "batch_a"));
    assert_int_equal(lgw_metrics_value(m, "llmgw_batch_cancelling", NULL), 1);
    lgw_wbatches_apply(b, "batch_b", 7, "{not json", 9); /* ignored: the last good record stands */
    assert_true(lgw_wbatches_cancelling(b, "batch_b"));
    assert_int_equal(lgw_metrics_value(m, "llmgw_batch_cancelling", NULL), 1);
    assert_false(lgw_wbatches_cancelling(b, "batch_unknown"));
    lgw_wbatches_free(b);
    lgw_metrics_free(m);

    b = lgw_wbatches_new(NULL); /* no registry: the view works the same */
    put(b, "batch_c", LGW_BATCH_CANCELLING);
    assert_true(lgw_wbatches_cancelling(b, "batch_c"));
    lgw_wbatches_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots_and_cap),
        cmocka_unit_test(test_take_and_give_back),
        cmocka_unit_test(test_cancelling_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
