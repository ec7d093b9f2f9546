/* test_kafka_conf.c - Kafka TLS/SASL settings and the librdkafka pass-through: what is refused (and that no
 * message holds a secret), and that every client llmgw makes carries the settings, the user's last. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/errors.h"
#include "common/kafka.h"
#include "common/kafka_conf.h"
#include "common/topics.h"

/* Runs the check on cfg; returns its rc and leaves the messages in errs (caller cleans up). */
static int check(const struct lgw_config *cfg, struct lgw_buf *errs)
{
    lgw_buf_init(errs, 0);
    return lgw_kafka_conf_check(cfg, errs);
}

static const char *text(const struct lgw_buf *errs)
{
    return errs->ptr ? errs->ptr : "";
}

static void test_defaults_pass(void **state)
{
    (void)state;
    struct lgw_config cfg;
    struct lgw_buf errs;
    lgw_config_defaults(&cfg);
    assert_int_equal(check(&cfg, &errs), 0);
    assert_int_equal(errs.len, 0);
    lgw_buf_cleanup(&errs);
}

static void test_sasl_needs_mechanism_user_password(void **state)
{
    (void)state;
    struct lgw_config cfg;
    struct lgw_buf errs;
    lgw_config_defaults(&cfg);
    lgw_strlcpy(cfg.kafka_security_protocol, "SASL_SSL", sizeof(cfg.kafka_security_protocol));
    assert_int_equal(check(&cfg, &errs), LGW_ERR(CONFIG));
    assert_non_null(strstr(text(&errs), "kafka_sasl_mechanism: required with SASL_SSL"));
    assert_non_null(strstr(text(&errs), "kafka_sasl_username: required"));
    assert_non_null(strstr(text(&errs), "kafka_sasl_password: required"));
    lgw_buf_cleanup(&errs);

    lgw_strlcpy(cfg.kafka_sasl_mechanism, "GSSAPI", sizeof(cfg.kafka_sasl_mechanism));
    lgw_strlcpy(cfg.kafka_sasl_username, "llmgw", sizeof(cfg.kafka_sasl_username));
    lgw_strlcpy(cfg.kafka_sasl_password, "hunter2-sasl", sizeof(cfg.kafka_sasl_password));
    assert_int_equal(check(&cfg, &errs), LGW_ERR(CONFIG));
    assert_non_null(strstr(text(&errs), "\"GSSAPI\" is not one of those llmgw supports"));
    lgw_buf_cleanup(&errs);

    lgw_strlcpy(cfg.kafka_sasl_mechanism, "SCRAM-SHA-512", sizeof(cfg.kafka_sasl_mechanism));
    assert_int_equal(check(&cfg, &errs), 0);
    lgw_buf_cleanup(&errs);

    lgw_strlcpy(cfg.kafka_security_protocol, "bogus", sizeof(cfg.kafka_security_protocol));
    assert_int_equal(check(&cfg, &errs), LGW_ERR(CONFIG));
    assert_non_null(strstr(text(&errs), "is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"));
    assert_null(strstr(text(&errs), "hunter2"));
    lgw_buf_cleanup(&errs);
}

/* A setting the protocol would ignore was meant to do something: refused, not silently dropped. */
static void test_settings_the_protocol_ignores_are_refused(void **state)
{
    (void)state;
    struct lgw_config cfg;
    struct lgw_buf errs;
    lgw_config_defaults(&cfg);
    lgw_strlcpy(cfg.kafka_sasl_password, "hunter2-sasl", sizeof(cfg.kafka_sasl_password));
    lgw_strlcpy(cfg.kafka_ssl_ca_location, "/etc/ssl/ca.pem", sizeof(cfg.kafka_ssl_ca_location));
    assert_int_equal(check(&cfg, &errs), LGW_ERR(CONFIG));
    assert_non_null(strstr(text(&errs), "kafka_sasl_password: set, but kafka_security_protocol PLAINTEXT"));
    assert_non_null(strstr(text(&errs), "kafka_ssl_ca_location: set, but kafka_security_protocol PLAINTEXT"));
    assert_null(strstr(text(&errs), "hunter2"));
    lgw_buf_cleanup(&errs);

    lgw_config_defaults(&cfg);
    lgw_strlcpy(cfg.kafka_security_protocol, "SSL", sizeof(cfg.kafka_security_protocol));
    lgw_strlcpy(cfg.kafka_ssl_certificate_location, "/x/client.pem", sizeof(cfg.kafka_ssl_certificate_location));
    lgw_strlcpy(cfg.kafka_ssl_endpoint_identification, "off", sizeof(cfg.kafka_ssl_endpoint_identification));
    assert_int_equal(check(&cfg, &errs), LGW_ERR(CONFIG));
    assert_non_null(strstr(text(&errs), "set both (TLS client authentication) or neither"));
    assert_non_null(strstr(text(&errs), "kafka_ssl_endpoint_identification: must be https or none"));
    lgw_buf_cleanup(&errs);

    /* A CA file that does not exist is refused by librdkafka at the check, before any role starts. */
    lgw_config_defaults(&cfg);
    lgw_strlcpy(cfg.kafka_security_protocol, "SSL", sizeof(cfg.kafka_security_protocol));
    lgw_strlcpy(cfg.kafka_ssl_ca_location, "/nonexistent/ca.pem", sizeof(cfg.kafka_ssl_ca_location));
    assert_int_equal(check(&cfg, &errs), LGW_ERR(CONFIG));
    assert_non_null(strstr(text(&errs), "ssl.ca.location"));
    lgw_buf_cleanup(&errs);
}

static void test_pass_through_refusals(void **state)
{
    (void)state;
    struct lgw_config cfg;
    struct lgw_buf errs;
    lgw_config_defaults(&cfg);
    lgw_strlcpy(cfg.kafka_properties,
                "client.rack=r1;no.such.property=1;socket.keepalive.enable=maybe;acks=1;"
                "ssl.keystore.password=hunter2-ks;;Bad Name=1;novalue",
                sizeof(cfg.kafka_properties));
    assert_int_equal(check(&cfg, &errs), LGW_ERR(CONFIG));
    const char *t = text(&errs);
    /* librdkafka's own words for what it does not know or cannot take */
    assert_non_null(strstr(t, "kafka_properties: No such configuration property: \"no.such.property\""));
    assert_non_null(strstr(t, "kafka_properties: Expected bool value for \"socket.keepalive.enable\""));
    /* llmgw's guarantees and its own settings */
    assert_non_null(strstr(t, "kafka_properties: acks is set by llmgw"));
    /* a secret in the list that `config docs` shows and a config file may hold */
    assert_non_null(strstr(t, "kafka_properties: ssl.keystore.password holds a secret"));
    assert_null(strstr(t, "hunter2"));
    /* entries are counted without the empty one */
    assert_non_null(strstr(t, "entry 6 is not `name=value`"));
    assert_non_null(strstr(t, "entry 7 is not `name=value`"));
    assert_null(strstr(t, "client.rack"));
    lgw_buf_cleanup(&errs);

    /* In the secret list, a value librdkafka quotes in its refusal is not repeated. */
    lgw_config_defaults(&cfg);
    lgw_strlcpy(cfg.kafka_secret_properties, "ssl.keystore.password=hunter2-ks;compression.codec=hunter2-codec",
                sizeof(cfg.kafka_secret_properties));
    assert_int_equal(check(&cfg, &errs), LGW_ERR(CONFIG));
    assert_non_null(strstr(text(&errs), "kafka_secret_properties: librdkafka refused the value of compression.codec"));
    assert_null(strstr(text(&errs), "hunter2"));
    lgw_buf_cleanup(&errs);
}

static void get(const rd_kafka_conf_t *conf, const char *name, const char *want)
{
    char val[512];
    size_t n = sizeof(val);
    assert_int_equal(rd_kafka_conf_get(conf, name, val, &n), RD_KAFKA_CONF_OK);
    if (strcmp(val, want) != 0)
        fail_msg("%s is \"%s\", want \"%s\"", name, val, want);
}

static void no_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    (void)rk, (void)err, (void)parts, (void)opaque;
}

/* kafka_rebalance sets a group member's protocol (a consumer with a rebalance callback); a
 * partition.assignment.strategy in kafka_properties still wins. lgw_kafka_rebalance_cooperative says which, from
 * the consumer alone (never joined here: no broker). */
static void test_group_members_get_the_rebalance_protocol(void **state)
{
    (void)state;
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    lgw_strlcpy(cfg.kafka_brokers, "127.0.0.1:1", sizeof(cfg.kafka_brokers));
    rd_kafka_t *rk;
    assert_int_equal(lgw_kafka_consumer_new(&cfg, "t-consumer", "t-group", false, 0, no_rebalance, NULL, &rk), 0);
    get(rd_kafka_conf(rk), "partition.assignment.strategy", "range,roundrobin");
    assert_false(lgw_kafka_rebalance_cooperative(rk));
    rd_kafka_destroy(rk);
    lgw_strlcpy(cfg.kafka_rebalance, "cooperative", sizeof(cfg.kafka_rebalance));
    assert_int_equal(lgw_kafka_consumer_new(&cfg, "t-consumer", "t-group", false, 0, no_rebalance, NULL, &rk), 0);
    get(rd_kafka_conf(rk), "partition.assignment.strategy", "cooperative-sticky");
    assert_true(lgw_kafka_rebalance_cooperative(rk));
    rd_kafka_destroy(rk);
    lgw_strlcpy(cfg.kafka_properties, "partition.assignment.strategy=roundrobin", sizeof(cfg.kafka_properties));
    assert_int_equal(lgw_kafka_consumer_new(&cfg, "t-consumer", "t-group", false, 0, no_rebalance, NULL, &rk), 0);
    get(rd_kafka_conf(rk), "partition.assignment.strategy", "roundrobin");
    assert_false(lgw_kafka_rebalance_cooperative(rk));
    rd_kafka_destroy(rk);
    lgw_strlcpy(cfg.kafka_rebalance, "eager", sizeof(cfg.kafka_rebalance));
    lgw_strlcpy(cfg.kafka_properties, "partition.assignment.strategy=cooperative-sticky", sizeof(cfg.kafka_properties));
    assert_int_equal(lgw_kafka_consumer_new(&cfg, "t-consumer", "t-group", false, 0, no_rebalance, NULL, &rk), 0);
    assert_true(lgw_kafka_rebalance_cooperative(rk));
    rd_kafka_destroy(rk);
}

/* Every client gets the security settings and the user's properties, and the user's value wins over llmgw's
 * own defaults (reconnect.backoff.ms is 50 by llmgw, queue.buffering.max.messages 1000000 in producers). */
static void test_clients_carry_the_settings(void **state)
{
    (void)state;
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    lgw_strlcpy(cfg.kafka_brokers, "127.0.0.1:1", sizeof(cfg.kafka_brokers));
    lgw_strlcpy(cfg.kafka_security_protocol, "SASL_PLAINTEXT", sizeof(cfg.kafka_security_protocol));
    lgw_strlcpy(cfg.kafka_sasl_mechanism, "SCRAM-SHA-256", sizeof(cfg.kafka_sasl_mechanism));
    lgw_strlcpy(cfg.kafka_sasl_username, "llmgw", sizeof(cfg.kafka_sasl_username));
    lgw_strlcpy(cfg.kafka_sasl_password, "hunter2-sasl", sizeof(cfg.kafka_sasl_password));
    lgw_strlcpy(cfg.kafka_properties,
                "client.rack=rack-7;reconnect.backoff.ms=77;queue.buffering.max.messages=1234;session.timeout.ms=9000",
                sizeof(cfg.kafka_properties));
    rd_kafka_conf_t *conf = lgw_kafka_conf_new(&cfg, "t");
    assert_non_null(conf);
    get(conf, "security.protocol", "sasl_plaintext");
    get(conf, "sasl.mechanisms", "SCRAM-SHA-256");
    get(conf, "sasl.username", "llmgw");
    get(conf, "client.rack", "rack-7");
    get(conf, "reconnect.backoff.ms", "77");
    rd_kafka_conf_destroy(conf);

    rd_kafka_t *rk;
    assert_int_equal(lgw_kafka_producer_new(&cfg, "t-producer", 0, NULL, NULL, &rk), 0);
    get(rd_kafka_conf(rk), "queue.buffering.max.messages", "1234");
    get(rd_kafka_conf(rk), "acks", "-1");
    get(rd_kafka_conf(rk), "enable.idempotence", "true");
    get(rd_kafka_conf(rk), "client.rack", "rack-7");
    rd_kafka_destroy(rk);
    assert_int_equal(lgw_kafka_consumer_new(&cfg, "t-consumer", "t-group", false, 0, NULL, NULL, &rk), 0);
    get(rd_kafka_conf(rk), "session.timeout.ms", "9000");
    get(rd_kafka_conf(rk), "security.protocol", "sasl_plaintext");
    get(rd_kafka_conf(rk), "enable.auto.offset.store", "false");
    /* Someone waits on jobs and replies: a fetch returns with the first message. */
    get(rd_kafka_conf(rk), "fetch.min.bytes", "1");
    get(rd_kafka_conf(rk), "fetch.wait.max.ms", "100");
    rd_kafka_destroy(rk);
    /* A batching consumer (the ledger): the broker holds each fetch for the window unless 1 MiB is there. */
    assert_int_equal(lgw_kafka_consumer_new(&cfg, "t-consumer", "t-group", false, 50, NULL, NULL, &rk), 0);
    get(rd_kafka_conf(rk), "fetch.min.bytes", "1048576");
    get(rd_kafka_conf(rk), "fetch.wait.max.ms", "50");
    rd_kafka_destroy(rk);
    /* The longest batch window (ledger_batch_ms allows 60 s) still makes a consumer: the wait is capped. */
    assert_int_equal(lgw_kafka_consumer_new(&cfg, "t-consumer", "t-group", false, 60000, NULL, NULL, &rk), 0);
    get(rd_kafka_conf(rk), "fetch.wait.max.ms", "10000");
    rd_kafka_destroy(rk);
    /* A follower (a compacted topic's reader, an ingress's replies) waits kafka_follow_wait_ms: a real broker
     * answers it as soon as a record arrives, so only its empty fetches become fewer. */
    cfg.kafka_follow_wait_ms = 2500;
    assert_int_equal(lgw_kafka_follower_new(&cfg, "t-follower", "t-group", NULL, &rk), 0);
    get(rd_kafka_conf(rk), "fetch.min.bytes", "1");
    get(rd_kafka_conf(rk), "fetch.wait.max.ms", "2500");
    get(rd_kafka_conf(rk), "enable.auto.commit", "false");
    rd_kafka_destroy(rk);
    /* The wait the other followers (a worker's cancels, which builds its own consumer) take. */
    assert_int_equal(lgw_kafka_follow_wait_ms(&cfg), 2500);
    /* On dev's mock cluster, which answers an empty fetch only after the full wait, it keeps the short one. */
    cfg.kafka_mock = true;
    assert_int_equal(lgw_kafka_follower_new(&cfg, "t-follower", "t-group", NULL, &rk), 0);
    get(rd_kafka_conf(rk), "fetch.wait.max.ms", "100");
    rd_kafka_destroy(rk);
    assert_int_equal(lgw_kafka_follow_wait_ms(&cfg), 100);
    cfg.kafka_mock = false;

    /* The dev mock cluster is plaintext: the security settings stay off there, the pass-through applies. */
    cfg.kafka_mock = true;
    conf = lgw_kafka_conf_new(&cfg, "t");
    assert_non_null(conf);
    get(conf, "security.protocol", "plaintext");
    get(conf, "client.rack", "rack-7");
    rd_kafka_conf_destroy(conf);
}

static void test_topic_replication_from_config(void **state)
{
    (void)state;
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    for (int i = 0; i < LGW_TOPIC__COUNT; i++) {
        assert_int_equal(lgw_topic_replication(&cfg, (enum lgw_topic)i), -1);
        assert_int_equal(lgw_topic_min_insync(&cfg, (enum lgw_topic)i), 0);
    }
    cfg.kafka_replication_factor = 3;
    cfg.kafka_min_insync_replicas = 2;
    for (int i = 0; i < LGW_TOPIC__COUNT; i++) {
        assert_int_equal(lgw_topic_replication(&cfg, (enum lgw_topic)i), 3);
        assert_int_equal(lgw_topic_min_insync(&cfg, (enum lgw_topic)i), 2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_pass),
        cmocka_unit_test(test_sasl_needs_mechanism_user_password),
        cmocka_unit_test(test_settings_the_protocol_ignores_are_refused),
        cmocka_unit_test(test_pass_through_refusals),
        cmocka_unit_test(test_clients_carry_the_settings),
        cmocka_unit_test(test_group_members_get_the_rebalance_protocol),
        cmocka_unit_test(test_topic_replication_from_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
