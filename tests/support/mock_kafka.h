/* mock_kafka.h - librdkafka's in-process mock cluster for unit tests: a one-broker cluster held by a client
 * handle made for it, and clients of that cluster configured by key/value pairs. Quiet: librdkafka logs
 * errors only, so a test's output is its own. */
#ifndef LGW_TEST_MOCK_KAFKA_H
#define LGW_TEST_MOCK_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

struct lgw_test_kafka {
    rd_kafka_t *owner; /* the handle the cluster lives in: destroyed after the cluster */
    rd_kafka_mock_cluster_t *mc;
};

/* Starts a one-broker mock cluster in k. Returns 0, or -1 with nothing held. */
int lgw_test_kafka_start(struct lgw_test_kafka *k);
/* The cluster's bootstrap.servers list; valid until lgw_test_kafka_stop. */
const char *lgw_test_kafka_bootstraps(const struct lgw_test_kafka *k);
/* A new client of k's cluster, of type; conf is NULL or a NULL-terminated list of key, value pairs set after
 * bootstrap.servers. The caller destroys it before lgw_test_kafka_stop. Returns NULL (with the reason on
 * stderr) when a setting is refused or the handle cannot be made. */
rd_kafka_t *lgw_test_kafka_client(const struct lgw_test_kafka *k, rd_kafka_type_t type, const char *const *conf);
/* Destroys the cluster, then its owner; k may have been left empty by a failed start. */
void lgw_test_kafka_stop(struct lgw_test_kafka *k);

#endif
