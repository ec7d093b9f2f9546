/* kafka_wait.c - a role's start waits for its Kafka cluster (kafka_wait.h). */
#include "common/kafka_wait.h"

#include <stdio.h>
#include <time.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/kafka.h"
#include "common/log.h"

#define PROBE_MS 2000    /* one metadata request's wait */
#define FIRST_PAUSE_MS 250
#define MAX_PAUSE_MS 5000
#define LOG_EVERY_MS 30000

/* Sleeps ms, or less when *stop is set meanwhile. */
static void pause_ms(int64_t ms, const atomic_bool *stop)
{
    for (int64_t until = lgw_mono_ms() + ms; !atomic_load(stop) && lgw_mono_ms() < until;) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

int lgw_kafka_wait_for_cluster(const struct lgw_config *cfg, const char *role, const atomic_bool *stop)
{
    char client_id[64];
    snprintf(client_id, sizeof(client_id), "llmgw-%s-start", role);
    rd_kafka_t *rk = NULL;
    int rc = lgw_kafka_producer_new(cfg, client_id, 0, NULL, NULL, &rk);
    if (rc)
        return rc;
    int64_t since = lgw_mono_ms(), next_log = since, pause = FIRST_PAUSE_MS;
    bool waited = false;
    rc = LGW_ERR(UNAVAILABLE);
    while (!atomic_load(stop)) {
        if (lgw_kafka_reachable(rk, PROBE_MS)) {
            rc = LGW_OK;
            break;
        }
        int64_t now = lgw_mono_ms();
        if (now >= next_log) {
            LGW_WARN("kafka", "%s: waiting for the Kafka cluster at %s (%lld s so far; /readyz says starting)", role,
                     cfg->kafka_brokers, (long long)((now - since) / 1000));
            next_log = now + LOG_EVERY_MS;
        }
        waited = true;
        pause_ms(pause, stop);
        pause = pause * 2 > MAX_PAUSE_MS ? MAX_PAUSE_MS : pause * 2;
    }
    if (rc == LGW_OK && waited)
        LGW_INFO("kafka", "%s: the Kafka cluster answered after %lld s", role,
                 (long long)((lgw_mono_ms() - since) / 1000));
    rd_kafka_destroy(rk);
    return rc;
}
