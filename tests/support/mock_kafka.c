/* mock_kafka.c - the mock cluster under a unit test and its clients (see mock_kafka.h). */
#include "mock_kafka.h"

#include <stdio.h>
#include <string.h>

/* Sets each pair of conf (NULL-terminated key, value list); on a refused one says which and returns -1. */
static int set_all(rd_kafka_conf_t *c, const char *const *conf)
{
    char errstr[256];
    for (; conf && conf[0]; conf += 2) {
        if (!conf[1] || rd_kafka_conf_set(c, conf[0], conf[1], errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "mock_kafka: %s: %s\n", conf[0], conf[1] ? errstr : "no value");
            return -1;
        }
    }
    return 0;
}

/* A client with the settings of base, then of conf (either may be NULL). */
static rd_kafka_t *new_client(rd_kafka_type_t type, const char *const *base, const char *const *conf)
{
    char errstr[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    if (set_all(c, base) || set_all(c, conf)) {
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(type, c, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "mock_kafka: rd_kafka_new: %s\n", errstr);
        rd_kafka_conf_destroy(c); /* rd_kafka_new takes the conf only when it succeeds */
    }
    return rk;
}

int lgw_test_kafka_start(struct lgw_test_kafka *k)
{
    static const char *const quiet[] = {"log_level", "3", NULL};
    memset(k, 0, sizeof(*k));
    k->owner = new_client(RD_KAFKA_PRODUCER, quiet, NULL);
    k->mc = k->owner ? rd_kafka_mock_cluster_new(k->owner, 1) : NULL;
    if (!k->mc) {
        lgw_test_kafka_stop(k);
        return -1;
    }
    return 0;
}

const char *lgw_test_kafka_bootstraps(const struct lgw_test_kafka *k)
{
    return rd_kafka_mock_cluster_bootstraps(k->mc);
}

rd_kafka_t *lgw_test_kafka_client(const struct lgw_test_kafka *k, rd_kafka_type_t type, const char *const *conf)
{
    const char *const where[] = {"bootstrap.servers", lgw_test_kafka_bootstraps(k), "log_level", "3", NULL};
    return new_client(type, where, conf);
}

void lgw_test_kafka_stop(struct lgw_test_kafka *k)
{
    if (k->mc)
        rd_kafka_mock_cluster_destroy(k->mc);
    if (k->owner)
        rd_kafka_destroy(k->owner);
    k->mc = NULL;
    k->owner = NULL;
}
