/* batch_flow.c - the batch lines' share of a worker and its split between partitions (see batch_flow.h). */
#include "workers/batch_flow.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/topics.h"

/* Partitions per batch topic the flow keeps apart: kafka_partitions' own bound. A topic made larger by hand
 * folds its partitions above this into the last entry (they then share one cap; the total share still holds). */
#define PARTS_MAX 1024

struct lgw_batch_slot {
    struct lgw_batch_flow *flow;
    atomic_long inflight; /* lines of this partition running here: taken on the consumer thread, given back anywhere */
    /* consumer thread only */
    bool assigned;
    bool paused;            /* paused by the flow */
    int64_t waiting_offset; /* a refused record the partition was sought back to; -1: none */
    int64_t next_offset;    /* the offset after the last record seen; -1: none seen since assigned */
};

struct lgw_batch_flow {
    struct lgw_metrics *m;
    int64_t slots;
    char topics[2][LGW_TOPIC_MAX];
    atomic_long total; /* batch lines held, all partitions */
    int64_t cap;       /* per partition, as the last tick computed (consumer thread) */
    /* The fewest lines a partition with a refused record waiting holds (INT64_MAX: none waits), as the last
     * tick computed: a partition holding more lines than that gives the next free slot to the waiting one,
     * so freed slots go to the partitions furthest below their share first (consumer thread). */
    int64_t min_waiting;
    struct lgw_batch_slot parts[2][PARTS_MAX];
    /* The assigned batch partitions, so a tick walks those only (consumer thread). */
    struct lgw_batch_slot *assigned[2 * PARTS_MAX];
    int tp[2 * PARTS_MAX][2]; /* each one's topic index and partition */
    int nassigned;
};

int64_t lgw_batch_flow_slots(int64_t concurrency, int64_t share_pct)
{
    int64_t s = concurrency * share_pct / 100;
    return s < 1 ? 1 : s;
}

int64_t lgw_batch_flow_cap(int64_t slots, int64_t busy)
{
    if (busy <= 0)
        return slots;
    return (slots + busy - 1) / busy;
}

struct lgw_batch_flow *lgw_batch_flow_new(const struct lgw_config *cfg, struct lgw_metrics *m, const char *topic_chat,
                                          const char *topic_embeddings)
{
    struct lgw_batch_flow *f = lgw_calloc(1, sizeof(*f));
    f->m = m;
    f->slots = lgw_batch_flow_slots(cfg->worker_concurrency, cfg->worker_batch_share_pct);
    f->cap = f->slots;
    f->min_waiting = INT64_MAX;
    lgw_strlcpy(f->topics[0], topic_chat, sizeof(f->topics[0]));
    lgw_strlcpy(f->topics[1], topic_embeddings, sizeof(f->topics[1]));
    for (int t = 0; t < 2; t++)
        for (int p = 0; p < PARTS_MAX; p++) {
            struct lgw_batch_slot *s = &f->parts[t][p];
            s->flow = f;
            atomic_init(&s->inflight, 0);
            s->waiting_offset = s->next_offset = -1;
        }
    lgw_metrics_declare(m, "llmgw_batch_in_flight", LGW_METRIC_GAUGE,
                        "Batch lines a worker holds (at most worker_batch_share_pct of worker_concurrency).");
    lgw_metrics_declare(m, "llmgw_batch_slots", LGW_METRIC_GAUGE,
                        "Batch lines a worker may hold at once: its share of worker_concurrency.");
    lgw_metrics_declare(m, "llmgw_batch_partition_cap", LGW_METRIC_GAUGE,
                        "Batch lines one batch partition may hold now: the slots shared by the busy partitions.");
    lgw_metrics_gauge_set(m, "llmgw_batch_in_flight", NULL, 0);
    lgw_metrics_gauge_set(m, "llmgw_batch_slots", NULL, f->slots);
    lgw_metrics_gauge_set(m, "llmgw_batch_partition_cap", NULL, f->cap);
    LGW_INFO("worker", "batch lines may hold %lld of %lld slot(s)", (long long)f->slots,
             (long long)cfg->worker_concurrency);
    return f;
}

void lgw_batch_flow_free(struct lgw_batch_flow *f)
{
    free(f);
}

static int topic_index(const struct lgw_batch_flow *f, const char *topic)
{
    for (int t = 0; t < 2; t++)
        if (strcmp(topic, f->topics[t]) == 0)
            return t;
    return -1;
}

bool lgw_batch_flow_is_batch(const struct lgw_batch_flow *f, const char *topic)
{
    return f && topic_index(f, topic) >= 0;
}

static struct lgw_batch_slot *slot_of(struct lgw_batch_flow *f, int t, int32_t partition)
{
    if (partition < 0)
        partition = 0;
    return &f->parts[t][partition < PARTS_MAX ? partition : PARTS_MAX - 1];
}

static void pause_one(struct lgw_batch_flow *f, rd_kafka_t *rk, int t, int32_t partition, bool paused)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, f->topics[t], partition);
    if (paused)
        rd_kafka_pause_partitions(rk, l);
    else
        rd_kafka_resume_partitions(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    slot_of(f, t, partition)->paused = paused;
}

/* Pauses the partition and goes back to offset, so the refused record is fetched again when it resumes. */
static void hold_back(struct lgw_batch_flow *f, rd_kafka_t *rk, int t, int32_t partition, int64_t offset)
{
    struct lgw_batch_slot *s = slot_of(f, t, partition);
    pause_one(f, rk, t, partition, true);
    s->waiting_offset = offset;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, f->topics[t], partition)->offset = offset;
    /* Asynchronous (0): the seek is queued on the partition ahead of any later resume. */
    rd_kafka_error_t *err = rd_kafka_seek_partitions(rk, l, 0);
    if (err) {
        LGW_WARN("worker", "seek %s/%d to %lld: %s", f->topics[t], (int)partition, (long long)offset,
                 rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

struct lgw_batch_slot *lgw_batch_flow_take(struct lgw_batch_flow *f, rd_kafka_t *rk, const char *topic,
                                           int32_t partition, int64_t offset)
{
    int t = topic_index(f, topic);
    if (t < 0)
        return NULL;
    struct lgw_batch_slot *s = slot_of(f, t, partition);
    if (s->waiting_offset >= 0) {
        /* Sought back to waiting_offset: a record after it was fetched before the seek and comes again. */
        if (offset != s->waiting_offset)
            return NULL;
        s->waiting_offset = -1;
    }
    long held = atomic_load(&s->inflight);
    if (atomic_load(&f->total) >= f->slots || held >= f->cap || held > f->min_waiting) {
        hold_back(f, rk, t, partition, offset);
        return NULL;
    }
    s->next_offset = offset + 1;
    atomic_fetch_add(&s->inflight, 1);
    atomic_fetch_add(&f->total, 1);
    lgw_metrics_gauge_add(f->m, "llmgw_batch_in_flight", NULL, 1);
    return s;
}

void lgw_batch_flow_done(struct lgw_batch_slot *s)
{
    if (!s)
        return;
    atomic_fetch_sub(&s->inflight, 1);
    atomic_fetch_sub(&s->flow->total, 1);
    lgw_metrics_gauge_add(s->flow->m, "llmgw_batch_in_flight", NULL, -1);
}

/* Has the partition work? Lines running, a refused record waiting, or records past the last one seen (the
 * high watermark librdkafka last fetched: cached, no request). A partition never read from since it was
 * assigned counts once its first record is seen: until then the others may use its share, and they give it
 * back within one line's run of it asking (its record is refused, which makes it busy). */
static bool busy(struct lgw_batch_flow *f, rd_kafka_t *rk, int t, int32_t partition)
{
    struct lgw_batch_slot *s = slot_of(f, t, partition);
    if (atomic_load(&s->inflight) > 0 || s->waiting_offset >= 0)
        return true;
    int64_t lo = -1, hi = -1;
    if (s->next_offset < 0 || rd_kafka_get_watermark_offsets(rk, f->topics[t], partition, &lo, &hi))
        return false;
    return hi > s->next_offset;
}

void lgw_batch_flow_tick(struct lgw_batch_flow *f, rd_kafka_t *rk, bool worker_paused)
{
    int64_t nbusy = 0, min_waiting = INT64_MAX;
    for (int i = 0; i < f->nassigned; i++) {
        if (busy(f, rk, f->tp[i][0], f->tp[i][1]))
            nbusy++;
        long held = atomic_load(&f->assigned[i]->inflight);
        if (f->assigned[i]->waiting_offset >= 0 && held < min_waiting)
            min_waiting = held;
    }
    f->min_waiting = min_waiting;
    int64_t cap = lgw_batch_flow_cap(f->slots, nbusy);
    if (cap != f->cap) {
        f->cap = cap;
        lgw_metrics_gauge_set(f->m, "llmgw_batch_partition_cap", NULL, cap);
    }
    bool full = atomic_load(&f->total) >= f->slots;
    for (int i = 0; i < f->nassigned; i++) {
        struct lgw_batch_slot *s = f->assigned[i];
        long held = atomic_load(&s->inflight);
        /* A partition with nothing here stays fetching even when the share is full: its first record is
         * refused, which makes it waiting, and waiting partitions with the fewest lines get the next slots. */
        bool hold = (full && held > 0) || held >= cap || held > min_waiting;
        /* While the whole worker is paused, resuming is the worker's (lgw_batch_flow_reapply follows it). */
        if (hold != s->paused && (hold || !worker_paused))
            pause_one(f, rk, f->tp[i][0], f->tp[i][1], hold);
    }
}

void lgw_batch_flow_reapply(struct lgw_batch_flow *f, rd_kafka_t *rk)
{
    for (int i = 0; i < f->nassigned; i++)
        if (f->assigned[i]->paused)
            pause_one(f, rk, f->tp[i][0], f->tp[i][1], true);
}

void lgw_batch_flow_assign(struct lgw_batch_flow *f, const rd_kafka_topic_partition_list_t *parts, bool assigned)
{
    for (int i = 0; i < parts->cnt; i++) {
        int t = topic_index(f, parts->elems[i].topic);
        if (t < 0)
            continue;
        struct lgw_batch_slot *s = slot_of(f, t, parts->elems[i].partition);
        s->assigned = assigned;
        s->paused = false; /* a fresh assignment starts resumed (the worker pauses it if it is full) */
        s->waiting_offset = s->next_offset = -1;
    }
    f->nassigned = 0;
    for (int t = 0; t < 2; t++)
        for (int32_t p = 0; p < PARTS_MAX; p++)
            if (f->parts[t][p].assigned) {
                f->assigned[f->nassigned] = &f->parts[t][p];
                f->tp[f->nassigned][0] = t;
                f->tp[f->nassigned][1] = p;
                f->nassigned++;
            }
}

int64_t lgw_batch_flow_inflight(const struct lgw_batch_flow *f)
{
    return atomic_load(&f->total);
}
