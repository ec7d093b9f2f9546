/* kafka_lag.c - per-partition consumer lag gauges (see kafka_lag.h). */
#include "common/kafka_lag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"

#define NAME "llmgw_kafka_consumer_lag"
/* The consumer loop waits this long at most, every LGW_KAFKA_LAG_INTERVAL_MS, and only while a partition
 * has no position. */
#define COMMITTED_TIMEOUT_MS 200
#define RETRY_SOON_MS 250
/* While the consumer's partitions are paused, the most one refresh spends asking the broker for their high
 * watermarks (all partitions together): it runs on the consumer thread, which has nothing to fetch then,
 * but must still get back to resuming promptly. */
#define BROKER_WATERMARK_BUDGET_MS 100

struct lgw_kafka_lag {
    struct lgw_metrics *m;
    char role[32];
    int64_t next_ms; /* monotonic time of the next refresh */
    char **shown;    /* label texts of the series set by the last refresh */
    size_t nshown;
    bool warned;
    bool ask_broker; /* partitions paused: the cached high watermarks are frozen (see lgw_kafka_lag_paused) */
};

struct lgw_kafka_lag *lgw_kafka_lag_new(struct lgw_metrics *m, const char *role)
{
    struct lgw_kafka_lag *lag = lgw_calloc(1, sizeof(*lag));
    lag->m = m;
    snprintf(lag->role, sizeof(lag->role), "%s", role);
    struct lgw_metric_def def = {
        .name = NAME,
        .type = LGW_METRIC_GAUGE,
        .help = "Messages a consumer is behind, per partition it owns: the partition's high watermark minus the "
                "consumer's position, refreshed every 2 s.",
        .otel_name = "llmgw.kafka.consumer.lag",
        .unit = "{message}",
    };
    lgw_metrics_define(m, &def);
    return lag;
}

static void forget_shown(struct lgw_kafka_lag *lag, char **keep, size_t nkeep)
{
    for (size_t i = 0; i < lag->nshown; i++) {
        bool kept = false;
        for (size_t k = 0; k < nkeep && !kept; k++)
            kept = strcmp(lag->shown[i], keep[k]) == 0;
        if (!kept)
            lgw_metrics_remove(lag->m, NAME, lag->shown[i]);
        free(lag->shown[i]);
    }
    free(lag->shown);
    lag->shown = NULL;
    lag->nshown = 0;
}

void lgw_kafka_lag_free(struct lgw_kafka_lag *lag)
{
    if (!lag)
        return;
    forget_shown(lag, NULL, 0);
    free(lag);
}

/* Partitions with no position (nothing handed to the application since the assignment, e.g. an idle one)
 * take the group's committed offset instead: one broker round trip, only for those, with a short timeout. */
static void fill_committed(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *ask = rd_kafka_topic_partition_list_new(4);
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].offset < 0)
            rd_kafka_topic_partition_list_add(ask, parts->elems[i].topic, parts->elems[i].partition);
    if (ask->cnt > 0 && rd_kafka_committed(rk, ask, COMMITTED_TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < ask->cnt; i++) {
            rd_kafka_topic_partition_t *p =
                rd_kafka_topic_partition_list_find(parts, ask->elems[i].topic, ask->elems[i].partition);
            if (p && ask->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR)
                p->offset = ask->elems[i].offset;
        }
    }
    rd_kafka_topic_partition_list_destroy(ask);
}

void lgw_kafka_lag_paused(struct lgw_kafka_lag *lag, bool paused)
{
    if (!lag)
        return;
    lag->ask_broker = paused;
    if (paused)
        lag->next_ms = 0; /* a backlog is what a pause means: show it at the next turn, not 2 s later */
}

/* The high watermark of one partition: librdkafka's cached one, updated by fetch responses (so an idle
 * consumer's is current too), or, while paused, when nothing is fetched and the cached one stays where the
 * pause left it, the broker's, within what is left of *budget_ms. Returns false when it is not known. */
static bool high_watermark(struct lgw_kafka_lag *lag, rd_kafka_t *rk, const rd_kafka_topic_partition_t *p,
                           int64_t *budget_ms, int64_t *lo, int64_t *hi)
{
    if (lag->ask_broker && *budget_ms > 0) {
        int64_t t0 = lgw_mono_ms();
        rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, lo, hi, (int)*budget_ms);
        *budget_ms -= lgw_mono_ms() - t0;
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR && *hi >= 0)
            return true;
    }
    return rd_kafka_get_watermark_offsets(rk, p->topic, p->partition, lo, hi) == RD_KAFKA_RESP_ERR_NO_ERROR &&
           *hi >= 0;
}

void lgw_kafka_lag_tick(struct lgw_kafka_lag *lag, rd_kafka_t *rk)
{
    int64_t now = lgw_mono_ms();
    if (!lag || now < lag->next_ms)
        return;
    lag->next_ms = now + LGW_KAFKA_LAG_INTERVAL_MS;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts)
        return;
    rd_kafka_position(rk, parts); /* local: the offset after the last message handed to the application */
    fill_committed(rk, parts);
    size_t n = (size_t)parts->cnt;
    if (n > LGW_KAFKA_LAG_MAX_PARTITIONS) {
        if (!lag->warned)
            LGW_WARN("kafka", "%s owns %zu partitions; lag is reported for the first %d", lag->role, n,
                     LGW_KAFKA_LAG_MAX_PARTITIONS);
        lag->warned = true;
        n = LGW_KAFKA_LAG_MAX_PARTITIONS;
    }
    /* Nothing assigned yet, or a partition not fetched yet: look again soon rather than a full interval
     * later, so a fresh consumer's lag appears within a fraction of a second of its first fetch. */
    if (n == 0)
        lag->next_ms = now + RETRY_SOON_MS;
    int64_t budget_ms = BROKER_WATERMARK_BUDGET_MS;
    char **now_shown = lgw_calloc(n ? n : 1, sizeof(*now_shown));
    size_t nnow = 0;
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t lo = 0, hi = 0;
        /* Unknown before the first fetch (and the broker did not say): nothing to say yet. */
        if (!high_watermark(lag, rk, p, &budget_ms, &lo, &hi)) {
            lag->next_ms = now + RETRY_SOON_MS;
            continue;
        }
        /* Neither a position nor a committed offset: the group starts at the low watermark
         * (auto.offset.reset=earliest), so everything from there on is ahead of it. */
        int64_t pos = p->offset >= 0 ? p->offset : lo;
        char labels[320];
        snprintf(labels, sizeof(labels), "role=\"%s\",topic=\"%s\",partition=\"%d\"", lag->role, p->topic,
                 (int)p->partition);
        lgw_metrics_gauge_set(lag->m, NAME, labels, hi > pos ? hi - pos : 0);
        now_shown[nnow++] = lgw_strdup(labels);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    forget_shown(lag, now_shown, nnow);
    lag->shown = now_shown;
    lag->nshown = nnow;
}
