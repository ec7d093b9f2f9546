/* kafka_wait.c - a role's start waits for its Kafka cluster (kafka_wait.h). */
#include "common/kafka_wait.h"

#include <stdio.h>

#include "common/errors.h"
#include "common/kafka.h"
#include "common/start_wait.h"

#define PROBE_MS 2000 /* one metadata request's wait */

static enum lgw_start_probe probe(void *rk)
{
    return lgw_kafka_reachable(rk, PROBE_MS) ? LGW_PROBE_UP : LGW_PROBE_NOT_YET;
}

int lgw_kafka_wait_for_cluster(const struct lgw_config *cfg, const char *role, const atomic_bool *stop)
{
    char client_id[64];
    snprintf(client_id, sizeof(client_id), "llmgw-%s-start", role);
    rd_kafka_t *rk = NULL;
    int rc = lgw_kafka_producer_new(cfg, client_id, 0, NULL, NULL, &rk);
    if (rc)
        return rc;
    rc = lgw_start_wait(role, "the Kafka cluster", cfg->kafka_brokers, probe, rk, stop);
    rd_kafka_destroy(rk);
    return rc;
}
