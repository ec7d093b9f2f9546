/* test_topics.c - the topic table: every topic once, partitions, names, and which roles create what. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "common/topics.h"

/* The topics whose creators include role, as a bit per enum value. */
static unsigned created_by(unsigned role)
{
    unsigned set = 0;
    for (int i = 0; i < LGW_TOPIC__COUNT; i++)
        if (lgw_topic_spec((enum lgw_topic)i)->creators & role)
            set |= 1u << i;
    return set;
}

#define BIT(t) (1u << (t))

static void test_table_covers_every_topic_once(void **state)
{
    (void)state;
    for (int i = 0; i < LGW_TOPIC__COUNT; i++) {
        const struct lgw_topic_spec *t = lgw_topic_spec((enum lgw_topic)i);
        assert_non_null(t);
        assert_int_equal(t->topic, i); /* row i describes enum value i */
        assert_non_null(t->suffix);
        assert_true(t->suffix[0] != '\0');
        assert_non_null(t->key);
        assert_non_null(t->payload);
        for (int j = 0; j < i; j++)
            if (strcmp(lgw_topic_spec((enum lgw_topic)j)->suffix, t->suffix) == 0)
                fail_msg("topics %d and %d share the suffix \"%s\"", j, i, t->suffix);
    }
}

static void test_cancel_and_replies_have_one_partition(void **state)
{
    (void)state;
    static const int64_t configured[] = {1, 2, 4, 64, 1024};
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    for (size_t i = 0; i < sizeof(configured) / sizeof(configured[0]); i++) {
        cfg.kafka_partitions = configured[i];
        /* Every worker reads all of cancel, and an ingress assign()s its reply topic's only partition: a
         * record on any other partition would never be read. */
        assert_int_equal(lgw_topic_partitions(&cfg, LGW_TOPIC_CANCEL), 1);
        assert_int_equal(lgw_topic_partitions(&cfg, LGW_TOPIC_REPLIES), 1);
    }
    lgw_config_cleanup(&cfg);
}

static void test_jobs_and_cost_follow_kafka_partitions(void **state)
{
    (void)state;
    static const int64_t configured[] = {1, 2, 4, 64, 1024};
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    assert_int_equal(lgw_topic_partitions(&cfg, LGW_TOPIC_JOBS_CHAT), cfg.kafka_partitions);
    for (size_t i = 0; i < sizeof(configured) / sizeof(configured[0]); i++) {
        cfg.kafka_partitions = configured[i];
        assert_int_equal(lgw_topic_partitions(&cfg, LGW_TOPIC_JOBS_CHAT), configured[i]);
        assert_int_equal(lgw_topic_partitions(&cfg, LGW_TOPIC_JOBS_EMBEDDINGS), configured[i]);
        assert_int_equal(lgw_topic_partitions(&cfg, LGW_TOPIC_COST), configured[i]);
        assert_int_equal(lgw_topic_partitions(&cfg, LGW_TOPIC_BATCH_JOBS_CHAT), configured[i]);
        assert_int_equal(lgw_topic_partitions(&cfg, LGW_TOPIC_BATCH_JOBS_EMBEDDINGS), configured[i]);
        assert_int_equal(lgw_topic_partitions(&cfg, LGW_TOPIC_BATCH_RESULTS), configured[i]);
    }
    lgw_config_cleanup(&cfg);
}

static void test_names(void **state)
{
    (void)state;
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    char name[256], want[256];
    lgw_topic_name(&cfg, LGW_TOPIC_JOBS_CHAT, NULL, name, sizeof(name));
    assert_string_equal(name, "llmgw.jobs.chat"); /* the default prefix */

    strcpy(cfg.topic_prefix, "t1");
    for (int i = 0; i < LGW_TOPIC__COUNT; i++) {
        if (i == LGW_TOPIC_REPLIES)
            continue;
        lgw_topic_name(&cfg, (enum lgw_topic)i, "i1", name, sizeof(name)); /* instance ignored */
        snprintf(want, sizeof(want), "t1.%s", lgw_topic_spec((enum lgw_topic)i)->suffix);
        assert_string_equal(name, want);
    }
    lgw_topic_name(&cfg, LGW_TOPIC_JOBS_CHAT, NULL, name, sizeof(name));
    assert_string_equal(name, "t1.jobs.chat");
    lgw_topic_name(&cfg, LGW_TOPIC_JOBS_EMBEDDINGS, NULL, name, sizeof(name));
    assert_string_equal(name, "t1.jobs.embeddings");
    lgw_topic_name(&cfg, LGW_TOPIC_COST, NULL, name, sizeof(name));
    assert_string_equal(name, "t1.cost");
    lgw_topic_name(&cfg, LGW_TOPIC_DLQ, NULL, name, sizeof(name));
    assert_string_equal(name, "t1.jobs.dlq");
    lgw_topic_name(&cfg, LGW_TOPIC_CANCEL, NULL, name, sizeof(name));
    assert_string_equal(name, "t1.cancel");
    lgw_topic_name(&cfg, LGW_TOPIC_REPLIES, "i1", name, sizeof(name));
    assert_string_equal(name, "t1.replies.i1");
    lgw_config_cleanup(&cfg);
}

/* Spend and tenant settings are replayed from the beginning by every ingress: compacted (the last value per
 * key is all a reader needs), on one partition (a key's records in write order). The audit is never deleted. */
static void test_state_topics(void **state)
{
    (void)state;
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    cfg.kafka_partitions = 12;
    assert_string_equal(lgw_topic_spec(LGW_TOPIC_SPEND)->config, "cleanup.policy=compact");
    assert_string_equal(lgw_topic_spec(LGW_TOPIC_TENANTS)->config, "cleanup.policy=compact");
    assert_string_equal(lgw_topic_spec(LGW_TOPIC_AUDIT)->config, "retention.ms=-1");
    assert_int_equal(lgw_topic_partitions(&cfg, LGW_TOPIC_SPEND), 1);
    assert_int_equal(lgw_topic_partitions(&cfg, LGW_TOPIC_TENANTS), 1);
    assert_string_equal(lgw_topic_spec(LGW_TOPIC_BATCHES)->config, "cleanup.policy=compact");
    assert_int_equal(lgw_topic_partitions(&cfg, LGW_TOPIC_BATCHES), 1);
    assert_null(lgw_topic_spec(LGW_TOPIC_COST)->config);
    lgw_config_cleanup(&cfg);
}

/* Provider status: one partition, compacted, with segments short enough for compaction to keep up with a
 * record per worker every few seconds, and a day's retention for the last record of a killed worker. */
static void test_providers_topic(void **state)
{
    (void)state;
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    cfg.kafka_partitions = 12;
    char name[LGW_TOPIC_MAX];
    lgw_topic_name(&cfg, LGW_TOPIC_PROVIDERS, NULL, name, sizeof(name));
    assert_string_equal(name, "llmgw.providers");
    assert_int_equal(lgw_topic_partitions(&cfg, LGW_TOPIC_PROVIDERS), 1);
    const char *conf = lgw_topic_spec(LGW_TOPIC_PROVIDERS)->config;
    assert_non_null(strstr(conf, "cleanup.policy=compact,delete;"));
    assert_non_null(strstr(conf, ";segment.ms="));
    assert_non_null(strstr(conf, ";retention.ms="));
    lgw_config_cleanup(&cfg);
}

static void test_creators(void **state)
{
    (void)state;
    assert_int_equal(created_by(LGW_ROLE_INGRESS), BIT(LGW_TOPIC_JOBS_CHAT) | BIT(LGW_TOPIC_JOBS_EMBEDDINGS) |
                                                       BIT(LGW_TOPIC_REPLIES) | BIT(LGW_TOPIC_CANCEL) |
                                                       BIT(LGW_TOPIC_SPEND) | BIT(LGW_TOPIC_TENANTS) |
                                                       BIT(LGW_TOPIC_AUDIT) | BIT(LGW_TOPIC_PROVIDERS) |
                                                       BIT(LGW_TOPIC_BATCHES) |
                                                       /* POST /v1/batches submits lines (batch/api.h) */
                                                       BIT(LGW_TOPIC_BATCH_JOBS_CHAT) |
                                                       BIT(LGW_TOPIC_BATCH_JOBS_EMBEDDINGS) |
                                                       BIT(LGW_TOPIC_BATCH_RESULTS));
    assert_int_equal(created_by(LGW_ROLE_WORKER), BIT(LGW_TOPIC_JOBS_CHAT) | BIT(LGW_TOPIC_JOBS_EMBEDDINGS) |
                                                      BIT(LGW_TOPIC_COST) | BIT(LGW_TOPIC_DLQ) |
                                                      BIT(LGW_TOPIC_CANCEL) | BIT(LGW_TOPIC_PROVIDERS) |
                                                      BIT(LGW_TOPIC_SPEND) | BIT(LGW_TOPIC_TENANTS) |
                                                      BIT(LGW_TOPIC_BATCH_JOBS_CHAT) |
                                                      BIT(LGW_TOPIC_BATCH_JOBS_EMBEDDINGS) |
                                                      BIT(LGW_TOPIC_BATCH_RESULTS) | BIT(LGW_TOPIC_BATCHES));
    assert_int_equal(created_by(LGW_ROLE_LEDGER), BIT(LGW_TOPIC_COST) | BIT(LGW_TOPIC_SPEND) | BIT(LGW_TOPIC_AUDIT));
    /* The batch role creates what it writes and reads: the lines, their results and the batch records. */
    assert_int_equal(created_by(LGW_ROLE_BATCH), BIT(LGW_TOPIC_BATCH_JOBS_CHAT) |
                                                     BIT(LGW_TOPIC_BATCH_JOBS_EMBEDDINGS) |
                                                     BIT(LGW_TOPIC_BATCH_RESULTS) | BIT(LGW_TOPIC_BATCHES));
}

static void test_every_topic_has_a_creator(void **state)
{
    (void)state;
    for (int i = 0; i < LGW_TOPIC__COUNT; i++) {
        unsigned creators = lgw_topic_spec((enum lgw_topic)i)->creators;
        if ((creators & (LGW_ROLE_INGRESS | LGW_ROLE_WORKER | LGW_ROLE_LEDGER | LGW_ROLE_BATCH)) == 0)
            fail_msg("topic \"%s\" is created by no role", lgw_topic_spec((enum lgw_topic)i)->suffix);
    }
    assert_int_equal(created_by(LGW_ROLE_INGRESS | LGW_ROLE_WORKER | LGW_ROLE_LEDGER | LGW_ROLE_BATCH),
                     (1u << LGW_TOPIC__COUNT) - 1);
}

static void test_reply_to_may_not_name_own_topics(void **state)
{
    (void)state;
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    strcpy(cfg.topic_prefix, "t1");
    char name[256];
    for (int i = 0; i < LGW_TOPIC__COUNT; i++) {
        lgw_topic_name(&cfg, (enum lgw_topic)i, "i1", name, sizeof(name));
        bool replies = i == LGW_TOPIC_REPLIES || i == LGW_TOPIC_BATCH_RESULTS;
        assert_int_equal(lgw_topic_may_reply_to(&cfg, name), replies);
    }
    assert_true(lgw_topic_may_reply_to(&cfg, "my-app.replies"));   /* a producer's own topic */
    assert_true(lgw_topic_may_reply_to(&cfg, "t1.replies.batch-7")); /* an ingress-style reply topic */
    assert_true(lgw_topic_may_reply_to(&cfg, "t2.cost"));            /* another deployment's prefix */
    assert_false(lgw_topic_may_reply_to(&cfg, "t1.cost"));
    assert_false(lgw_topic_may_reply_to(&cfg, "t1.jobs.chat"));
    /* near misses of an own name are someone else's topics */
    assert_true(lgw_topic_may_reply_to(&cfg, "t1cost"));
    assert_true(lgw_topic_may_reply_to(&cfg, "t1.cost.x"));
    assert_true(lgw_topic_may_reply_to(&cfg, "t1."));
    assert_true(lgw_topic_may_reply_to(&cfg, "t"));
    assert_true(lgw_topic_may_reply_to(&cfg, "t10.cost"));
    strcpy(cfg.topic_prefix, "a.b"); /* a prefix with a dot of its own */
    assert_false(lgw_topic_may_reply_to(&cfg, "a.b.cost"));
    assert_false(lgw_topic_may_reply_to(&cfg, "a.b.jobs.chat"));
    assert_true(lgw_topic_may_reply_to(&cfg, "a.cost"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_covers_every_topic_once),
        cmocka_unit_test(test_cancel_and_replies_have_one_partition),
        cmocka_unit_test(test_jobs_and_cost_follow_kafka_partitions),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_creators),
        cmocka_unit_test(test_state_topics),
        cmocka_unit_test(test_providers_topic),
        cmocka_unit_test(test_every_topic_has_a_creator),
        cmocka_unit_test(test_reply_to_may_not_name_own_topics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
