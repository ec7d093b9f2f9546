/* kafka_lag.c - per-partition consumer lag gauges, refreshed on a thread of their own (see kafka_lag.h). */
#include "common/kafka_lag.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"

#define NAME "llmgw_kafka_consumer_lag"
/* The bound of each broker call (the committed offsets, the latest offsets, the earliest ones),
 * far above a broker's round trip. Nothing waits on them but the refresh thread, and a stop, which waits for
 * the refresh under way: together they bound a stop at under a second when the broker is away (a role's stop
 * then has its own broker waits to bound). */
#define BROKER_CALL_TIMEOUT_MS 250
#define RETRY_SOON_MS 250

struct lgw_kafka_lag {
    struct lgw_metrics *m;
    char role[32];
    rd_kafka_t *rk; /* the consumer, between start and stop */
    pthread_t thread;
    bool started;
    pthread_mutex_t lock; /* guards stop and refresh_now, with wake */
    pthread_cond_t wake;
    bool stop;
    bool refresh_now;
    /* The refresh thread's own (and lgw_kafka_lag_free's, once it is joined): */
    char **shown; /* label texts of the series set by the last refresh */
    size_t nshown;
    bool warned;
};

struct lgw_kafka_lag *lgw_kafka_lag_new(struct lgw_metrics *m, const char *role)
{
    struct lgw_kafka_lag *lag = lgw_calloc(1, sizeof(*lag));
    lag->m = m;
    snprintf(lag->role, sizeof(lag->role), "%s", role);
    pthread_mutex_init(&lag->lock, NULL);
    lgw_cond_init_mono(&lag->wake);
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

/* Partitions with no position take the group's committed offset instead: one broker round trip, only for
 * those. */
static void fill_committed(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *ask = rd_kafka_topic_partition_list_new(4);
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].offset < 0)
            rd_kafka_topic_partition_list_add(ask, parts->elems[i].topic, parts->elems[i].partition);
    if (ask->cnt > 0 && rd_kafka_committed(rk, ask, BROKER_CALL_TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR) {
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
    if (!lag || !paused)
        return;
    pthread_mutex_lock(&lag->lock);
    lag->refresh_now = true; /* a backlog is what a pause means: show it now, not up to 2 s later */
    pthread_cond_signal(&lag->wake);
    pthread_mutex_unlock(&lag->lock);
}

/* The broker's offsets for the first n of parts (only those with no offset of their own when unplaced):
 * which is RD_KAFKA_OFFSET_END (the high watermark) or RD_KAFKA_OFFSET_BEGINNING (the low one). One call,
 * one request per leader, bounded by BROKER_CALL_TIMEOUT_MS. Not rd_kafka_query_watermark_offsets: in the
 * librdkafka this builds with (2.0) it waits for the broker's answer however long that takes, whatever its
 * timeout says (test_kafka_lag's slow broker). NULL when there is nothing to ask or no answer; the caller
 * owns the result. */
static rd_kafka_topic_partition_list_t *broker_offsets(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *parts,
                                                       size_t n, int64_t which, bool unplaced)
{
    rd_kafka_topic_partition_list_t *ask = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        if (!unplaced || parts->elems[i].offset < 0)
            rd_kafka_topic_partition_list_add(ask, parts->elems[i].topic, parts->elems[i].partition)->offset = which;
    if (ask->cnt == 0 || rd_kafka_offsets_for_times(rk, ask, BROKER_CALL_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_topic_partition_list_destroy(ask);
        return NULL;
    }
    return ask;
}

/* An offset the broker gave for p in got, or -1. */
static int64_t answered(const rd_kafka_topic_partition_list_t *got, const rd_kafka_topic_partition_t *p)
{
    const rd_kafka_topic_partition_t *a =
        got ? rd_kafka_topic_partition_list_find(got, p->topic, p->partition) : NULL;
    return a && a->err == RD_KAFKA_RESP_ERR_NO_ERROR && a->offset >= 0 ? a->offset : -1;
}

/* A partition's watermarks: the broker's answers, or where there are none, librdkafka's cached ones. Those
 * are updated by fetch responses, so they are current for an idle partition but not for a paused one: it is
 * not fetched, and its cached ones stay where the pause left them. Returns false when the high one is not
 * known. */
static bool watermarks(rd_kafka_t *rk, const rd_kafka_topic_partition_t *p,
                       const rd_kafka_topic_partition_list_t *latest, const rd_kafka_topic_partition_list_t *earliest,
                       int64_t *lo, int64_t *hi)
{
    if (rd_kafka_get_watermark_offsets(rk, p->topic, p->partition, lo, hi) != RD_KAFKA_RESP_ERR_NO_ERROR)
        *lo = *hi = -1;
    int64_t b = answered(latest, p);
    if (b >= 0)
        *hi = b;
    if ((b = answered(earliest, p)) >= 0)
        *lo = b;
    return *hi >= 0;
}

/* One refresh of every gauge. Returns how long until the next one. */
static int64_t refresh(struct lgw_kafka_lag *lag)
{
    int64_t next_ms = LGW_KAFKA_LAG_INTERVAL_MS;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(lag->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts)
        return next_ms;
    rd_kafka_position(lag->rk, parts); /* local: the offset after the last message handed to the application */
    fill_committed(lag->rk, parts);
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
        next_ms = RETRY_SOON_MS;
    rd_kafka_topic_partition_list_t *latest = NULL, *earliest = NULL;
    if (n > 0) { /* a request per leader every 2 s: nothing to a broker */
        latest = broker_offsets(lag->rk, parts, n, RD_KAFKA_OFFSET_END, false);
        earliest = broker_offsets(lag->rk, parts, n, RD_KAFKA_OFFSET_BEGINNING, true);
    }
    char **now_shown = lgw_calloc(n ? n : 1, sizeof(*now_shown));
    size_t nnow = 0;
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t lo = 0, hi = 0;
        /* Unknown before the first fetch (and the broker did not say): nothing to say yet. */
        if (!watermarks(lag->rk, p, latest, earliest, &lo, &hi)) {
            next_ms = RETRY_SOON_MS;
            continue;
        }
        /* Neither a position nor a committed offset: the group starts at the low watermark
         * (auto.offset.reset=earliest), so everything from there on is ahead of it (from 0 while even that is
         * not known: nothing was deleted yet, as far as anyone here knows). */
        int64_t pos = p->offset >= 0 ? p->offset : lo >= 0 ? lo : 0;
        char labels[320];
        snprintf(labels, sizeof(labels), "role=\"%s\",topic=\"%s\",partition=\"%d\"", lag->role, p->topic,
                 (int)p->partition);
        lgw_metrics_gauge_set(lag->m, NAME, labels, hi > pos ? hi - pos : 0);
        now_shown[nnow++] = lgw_strdup(labels);
    }
    if (latest)
        rd_kafka_topic_partition_list_destroy(latest);
    if (earliest)
        rd_kafka_topic_partition_list_destroy(earliest);
    rd_kafka_topic_partition_list_destroy(parts);
    forget_shown(lag, now_shown, nnow);
    lag->shown = now_shown;
    lag->nshown = nnow;
    return next_ms;
}

static void *refresh_main(void *arg)
{
    pthread_setname_np(pthread_self(), "kafka-lag"); /* its CPU apart in top -H, perf and /proc/<pid>/task */
    struct lgw_kafka_lag *lag = arg;
    int64_t wait_ms = 0;
    pthread_mutex_lock(&lag->lock);
    while (!lag->stop) {
        struct timespec until = lgw_deadline_in_ms(CLOCK_MONOTONIC, wait_ms);
        while (!lag->stop && !lag->refresh_now && pthread_cond_timedwait(&lag->wake, &lag->lock, &until) == 0) {
        }
        if (lag->stop)
            break;
        lag->refresh_now = false;
        /* Unlocked: a refresh may wait on the broker, and a pause must not wait behind it. */
        pthread_mutex_unlock(&lag->lock);
        wait_ms = refresh(lag);
        pthread_mutex_lock(&lag->lock);
    }
    pthread_mutex_unlock(&lag->lock);
    return NULL;
}

void lgw_kafka_lag_start(struct lgw_kafka_lag *lag, rd_kafka_t *rk)
{
    if (!lag || lag->started)
        return;
    lag->rk = rk;
    if (pthread_create(&lag->thread, NULL, refresh_main, lag) != 0) {
        LGW_ERROR("kafka", "%s: cannot start the consumer lag thread; no lag gauges", lag->role);
        lag->rk = NULL;
        return;
    }
    lag->started = true;
}

void lgw_kafka_lag_stop(struct lgw_kafka_lag *lag)
{
    if (!lag || !lag->started)
        return;
    pthread_mutex_lock(&lag->lock);
    lag->stop = true;
    pthread_cond_signal(&lag->wake);
    pthread_mutex_unlock(&lag->lock);
    pthread_join(lag->thread, NULL);
    lag->started = false;
    lag->rk = NULL;
}

void lgw_kafka_lag_free(struct lgw_kafka_lag *lag)
{
    if (!lag)
        return;
    lgw_kafka_lag_stop(lag);
    forget_shown(lag, NULL, 0);
    pthread_cond_destroy(&lag->wake);
    pthread_mutex_destroy(&lag->lock);
    free(lag);
}
